"""Fingerprints: the expected ones kept in the project (`stores`: opp-ci's JSON, INET's CSV), fingerprint suites
(`suites`: OMNeT++/INET test CSVs), what a run printed about them (`log`: the one reader of opp_run's `<!>` lines,
for the worker and the checks alike), the verdict types (`verdicts`), and the checks and `baseline update` targets
that judge and record them (`checks`)."""
