"""Reports from a campaign file: junit.xml for CI tools, summary.md for people.

Both are built from campaign.json alone, so `opp-ci report OUT_DIR` rebuilds them anywhere. Every text in
them that opp-ci did not write itself (names, error messages, output) goes through `opp_ci.safe_text`:
`xml_text` for junit.xml, the `md_*` functions for summary.md.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from junit_xml import TestCase, TestSuite, to_xml_report_string

from opp_ci import charts
from opp_ci.comparison import ComparisonSummary
from opp_ci.records import Campaign, RunRecord, RunStatus
from opp_ci.safe_text import md_cell, md_code, md_fence, md_inline, md_url, shell_join, xml_text

JUNIT_FILE = "junit.xml"
SUMMARY_FILE = "summary.md"
SLOWEST = 5
#: How many failures the summary lists in full; the rest are counted.
LISTED_FAILURES = 50
_ICONS = {RunStatus.PASSED: "✅", RunStatus.FAILED: "❌", RunStatus.ERROR: "💥", RunStatus.TIMEOUT: "⏱️"}


def write_reports(campaign: Campaign, out_dir: Path) -> None:
    (out_dir / JUNIT_FILE).write_text(junit_xml(campaign), encoding="utf-8")
    (out_dir / SUMMARY_FILE).write_text(summary_markdown(campaign), encoding="utf-8")


def junit_xml(campaign: Campaign) -> str:
    """One testsuite per config (for suite rows: per CSV file and working directory), one testcase per
    run named with its iteration variables (a suite row: by its `workingdir args`)."""
    by_group: dict[str, list[RunRecord]] = defaultdict(list)
    for record in sorted(campaign.runs, key=lambda r: r.key):
        by_group[_group(record)].append(record)
    suites = [TestSuite(xml_text(group), [_test_case(r) for r in records]) for group, records in by_group.items()]
    return to_xml_report_string(suites, prettyprint=True)


def _group(record: RunRecord) -> str:
    if record.suite_row and record.test:
        return f"{record.suite_row.rpartition(':')[0]} {record.test.split(' ', 1)[0]}"
    return record.config


def _test_case(record: RunRecord) -> TestCase:
    """Every text through `xml_text`: one character XML 1.0 cannot carry makes junit_xml's parser refuse all."""
    output = xml_text(record.log_tail) if record.log_tail else None
    case = TestCase(
        name=xml_text(record.name),
        classname=xml_text(_group(record)),
        elapsed_sec=record.wall_seconds,
        stdout=output,
        file=xml_text(record.log) if record.log else None,
    )
    message = xml_text(record.error or record.status.value)
    if record.status in (RunStatus.FAILED, RunStatus.TIMEOUT):
        case.add_failure_info(message=message, output=output, failure_type=record.status.value)
    elif record.status is RunStatus.ERROR:
        case.add_error_info(message=message, output=output, error_type="infrastructure")
    return case


def summary_markdown(campaign: Campaign) -> str:
    """GitHub-flavoured Markdown: totals, failures first with their error, the slowest runs. It is also the
    job summary, the check run's text and the PR comment: untrusted text only through the `md_*` functions."""
    totals = campaign.totals()
    verdict = "✅ all runs passed" if campaign.all_passed else "❌ some runs did not pass"
    lines = [
        f"## OMNeT++ campaign {md_code(campaign.campaign)}: {verdict}",
        "",
        "| runs | passed | failed | timeout | error | wall time | CPU time (sum of runs) |",
        "|---:|---:|---:|---:|---:|---:|---:|",
        f"| {totals['total']} | {totals['passed']} | {totals['failed']} | {totals['timeout']} | {totals['error']} "
        f"| {_seconds(campaign.wall_seconds)} | {_seconds(sum(r.cpu_seconds for r in campaign.runs))} |",
        "",
    ]
    lines += suite_markdown(campaign)
    lines += _failures(campaign.runs)
    lines += _retried(campaign.runs)
    lines += _slowest(campaign.runs)
    lines += _extras(campaign)
    lines += regression_markdown(campaign.extra.get("regression"))
    return "\n".join(lines) + "\n"


def _failures(records: list[RunRecord]) -> list[str]:
    bad = sorted((r for r in records if r.status is not RunStatus.PASSED), key=lambda r: r.key)
    if not bad:
        return []
    lines = ["### Runs that did not pass", "", "| | config | run | error | log |", "|---|---|---|---|---|"]
    for record in bad[:LISTED_FAILURES]:
        log = md_code(record.log, cell=True) if record.log else ""
        lines.append(f"| {_ICONS[record.status]} {record.status.value} | {md_cell(record.config)} "
                     f"| {md_cell(record.name)} | {md_cell(record.error or '')} | {log} |")
    if len(bad) > LISTED_FAILURES:
        lines.append(f"\n…and {len(bad) - LISTED_FAILURES} more: see campaign.json or junit.xml.")
    return [*lines, ""]


def _retried(records: list[RunRecord]) -> list[str]:
    """Runs that took more than one attempt, and why the earlier ones failed."""
    retried = sorted((r for r in records if r.attempts > 1), key=lambda r: r.key)
    if not retried:
        return []
    lines = [f"### Runs that took more than one attempt ({len(retried)})", "",
             "| config | run | attempts | status | why attempts failed |", "|---|---|---:|---|---|"]
    for record in retried[:LISTED_FAILURES]:
        reasons = "; ".join(dict.fromkeys(f["reason"] for f in record.failed_attempts)) or "not known"
        lines.append(f"| {md_cell(record.config)} | {md_cell(record.name)} | {record.attempts} "
                     f"| {record.status.value} | {md_cell(reasons)} |")
    if len(retried) > LISTED_FAILURES:
        lines.append(f"\n…and {len(retried) - LISTED_FAILURES} more: see campaign.json.")
    return [*lines, ""]


def suite_markdown(campaign: Campaign) -> list[str]:
    """The fingerprint suite's outcome as a chart GitHub renders, and how to accept new fingerprints."""
    suite = campaign.extra.get("suite")
    if not isinstance(suite, dict):
        return []
    verdict = "✅ every row as expected" if suite["passed"] == suite["rows"] else \
        f"❌ {suite['rows'] - suite['passed']} row(s) not as expected"
    lines = [f"### Fingerprint suite: {verdict}", "",
             f"{md_inline(suite['passed'])} of {md_inline(suite['rows'])} rows as expected.", "",
             charts.outcome_pie(suite.get("outcomes", {}), "Suite rows"), ""]
    if suite["passed"] != suite["rows"]:
        lines += ["If the new fingerprints are right, accept them (the CSV is rewritten in place, comments and "
                  "alignment kept):", "", md_fence(accept_command(suite.get("files", [])), "sh"), ""]
    return lines


def accept_command(files: list[str]) -> str:
    """`opp-ci baseline update --suite FILE... --from OUT_DIR`, shell-quoted to copy as it is."""
    suites = [word for name in files for word in ("--suite", str(name))]
    return shell_join(["opp-ci", "baseline", "update", *suites, "--from"]) + " OUT_DIR"


def _slowest(records: list[RunRecord]) -> list[str]:
    if not records:
        return []
    lines = ["### Slowest runs", "", "| config | run | wall | CPU | worker |", "|---|---|---:|---:|---|"]
    for record in sorted(records, key=lambda r: r.wall_seconds, reverse=True)[:SLOWEST]:
        lines.append(f"| {md_cell(record.config)} | {md_cell(record.name)} | {_seconds(record.wall_seconds)} "
                     f"| {_seconds(record.cpu_seconds)} | {md_cell(record.worker)} |")
    return [*lines, ""]


def _extras(campaign: Campaign) -> list[str]:
    lines = []
    omnetpp = campaign.extra.get("omnetpp")
    if isinstance(omnetpp, dict) and omnetpp.get("root"):
        lines += [f"OMNeT++ {md_cell(omnetpp.get('version') or '(version unknown)')} in {md_code(omnetpp['root'])}",
                  ""]
    environment = campaign.extra.get("environment")
    if isinstance(environment, dict) and environment:
        rows = [f"| {md_cell(str(key))} | {md_code(str(value), cell=True)} |" for key, value in environment.items()]
        lines += ["<details><summary>Environment</summary>", "", "| | |", "|---|---|", *rows, "", "</details>", ""]
    cost = campaign.extra.get("cost")
    if isinstance(cost, dict) and "total_usd" in cost:
        lines += [f"Estimated cloud cost: **${cost['total_usd']:.4f}** "
                  f"({md_cell(cost.get('description', 'AWS Fargate'))})", ""]
    return lines


def _seconds(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.2f} s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{rest:02d}" if minutes >= 60 else f"{minutes}m {rest:02d}s"


# --- the comparison with a baseline (opp_ci/regression.py keeps a ComparisonSummary in campaign.json) ---

#: How many rows the regression table shows; the rest are counted.
LISTED_REGRESSIONS = 30


def regression_markdown(stored: dict | None) -> list[str]:
    """The comparison with the baseline: a table of what changed, what did not, plots and artifacts."""
    if not isinstance(stored, dict):
        return []
    summary = ComparisonSummary.from_json(stored)
    rows = _statistical_rows(summary) + _scalar_rows(summary)
    settings = summary.settings
    title = "❌ regressions" if rows else "✅ no regressions"
    lines = [f"### Comparison with the baseline: {title}", "",
             f"Baseline campaign {md_code(summary.baseline_campaign)}; {summary.runs_compared} runs "
             f"compared, **{summary.unchanged}** of {summary.scalars_compared} scalars unchanged within tolerance, "
             f"{summary.significant} of {summary.statistical_tests} statistical tests significant "
             f"(Welch's t-test, alpha {md_inline(settings.get('alpha', 0.05))}, "
             f"{md_inline(settings.get('correction', 'holm'))} correction).",
             ""]
    chart = charts.metric_bars([charts.MetricChange(f"{c.config} {c.module} {c.name}", c.base, c.candidate)
                                for c in summary.differences if c.base is not None and c.candidate is not None])
    if chart:
        lines += [chart, ""]
    if rows:
        lines += ["| run | metric | baseline | candidate | change | verdict |", "|---|---|---:|---:|---:|---|"]
        lines += rows[:LISTED_REGRESSIONS]
        if len(rows) > LISTED_REGRESSIONS:
            lines.append(f"\n…and {len(rows) - LISTED_REGRESSIONS} more: see `regression` in campaign.json.")
        lines.append("")
    lines += _only_one_side(summary) + _plots_and_artifacts(summary)
    return lines


def _variables(itervars: dict[str, str]) -> str:
    return ", ".join(f"${k}={v}" for k, v in itervars.items())


def _statistical_rows(summary: ComparisonSummary) -> list[str]:
    rows = []
    for test in (t for t in summary.statistical if t.significant):
        run = f"{test.config} {_variables(test.itervars)} (n={test.n_base}/{test.n_candidate})"
        g = test.hedges_g
        verdict_text = f"❌ shifted: p_adj={test.p_adjusted:.2g}" + (f", g={g:.2f}" if g is not None else "")
        rows.append(f"| {md_cell(run)} | {md_cell(test.module + ' ' + test.name)} | {test.mean_base:.6g} (mean) "
                    f"| {test.mean_candidate:.6g} (mean) | {_change(test.relative, test.difference)} "
                    f"| {verdict_text} |")
    return rows


def _scalar_rows(summary: ComparisonSummary) -> list[str]:
    rows = []
    for change in summary.differences:
        run = f"{change.config} {_variables(change.itervars)} #{change.repetition}"
        base, candidate = change.base, change.candidate
        difference = None if base is None or candidate is None else candidate - base
        kind = _KIND_TEXT.get(change.kind, change.kind)
        rows.append(f"| {md_cell(run)} | {md_cell(change.module + ' ' + change.name)} | {_number(base)} "
                    f"| {_number(candidate)} | {_change(change.signed_relative, difference)} | ❌ {kind} |")
    return rows


_KIND_TEXT = {"changed": "changed beyond tolerance", "missing": "missing in the candidate",
              "added": "new in the candidate"}


def _change(relative: float | None, difference: float | None) -> str:
    if difference is None:
        return "—"
    return f"{relative:+.2%}" if relative is not None else f"{difference:+.6g}"


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:.6g}"


def _only_one_side(summary: ComparisonSummary) -> list[str]:
    lines = [f"⚠️ could not read {md_cell(problem)}" for problem in summary.unreadable_files]
    for runs, where in ((summary.runs_only_in_baseline, "only in the baseline"),
                        (summary.runs_only_in_candidate, "only in this campaign")):
        if runs:
            lines.append(f"{len(runs)} run(s) {where}, not compared: {md_cell(', '.join(runs[:10]))}")
    return [*lines, ""] if lines else []


def _plots_and_artifacts(summary: ComparisonSummary) -> list[str]:
    lines = []
    url = md_url(summary.artifacts_url)
    if summary.plots:  # files inside an artifact have no URL of their own: link the run's artifacts
        names = ", ".join(md_code(p) for p in summary.plots)
        lines.append(f"Plots (baseline versus candidate) in [the artifact]({url}): {names}" if url else
                     f"Plots (baseline versus candidate): {names}")
    where = f"[the workflow run's artifacts]({url})" if url else "the output directory"
    lines.append(f"Details: `campaign.json` (key `regression`), `results/`, `plots/` in {where}.")
    return [*lines, ""]
