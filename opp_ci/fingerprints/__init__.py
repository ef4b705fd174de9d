"""Fingerprints, one package: the expected ones kept in the project (`stores`: opp-ci's JSON, INET's CSV),
fingerprint suites (`suites`: OMNeT++/INET test CSVs read, selected and updated in place), what a run printed
about them (`log`: the one reader of opp_run's `<!>` lines, for the worker and the checks alike), the verdict
types (`verdicts`), the checks that judge runs and rows (`checks`), and `baseline update`'s two targets
(`baseline`)."""
