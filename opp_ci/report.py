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
from opp_ci.metric_rows import MetricRow, Spread, metric_rows
from opp_ci.records import Campaign, RunRecord, RunStatus
from opp_ci.safe_text import md_cell, md_code, md_fence, md_inline, md_url, shell_join, xml_text

JUNIT_FILE = "junit.xml"
SUMMARY_FILE = "summary.md"
SLOWEST = 5
#: How many failures the summary lists in full; the rest are counted.
LISTED_FAILURES = 50
#: A failed run's error in the summary: its first line, at most this long (campaign.json and junit.xml keep it all).
ERROR_CHARS = 200
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
    details = xml_text("\n".join([*_triage_lines(record), record.log_tail or ""])) or None
    if record.status in (RunStatus.FAILED, RunStatus.TIMEOUT):
        case.add_failure_info(message=message, output=details, failure_type=record.status.value)
    elif record.status is RunStatus.ERROR:
        case.add_error_info(message=message, output=details, error_type="infrastructure")
    return case


def _triage_lines(record: RunRecord) -> list[str]:
    """The finding and its evidence, first in a failure's text (the log's tail follows)."""
    triage = record.triage or {}
    if not triage.get("finding"):
        return []
    return [f"triage: {triage['finding']}", *(f"  {line}" for line in triage.get("evidence", [])), ""]


def summary_markdown(campaign: Campaign) -> str:
    """GitHub-flavoured Markdown: totals, failures first with their error, the slowest runs. It is also the
    job summary, the check run's text and the PR comment: untrusted text only through the `md_*` functions."""
    totals = campaign.totals()
    verdict = ("✅ all runs passed" if campaign.all_passed else "✅ passed: every failure is let pass"
               if campaign.passed else "❌ some runs did not pass")
    lines = [
        f"## OMNeT++ campaign {md_code(campaign.campaign)}: {verdict}",
        "",
        "| runs | passed | failed | timeout | error | wall time | CPU time (sum of runs) |",
        "|---:|---:|---:|---:|---:|---:|---:|",
        f"| {totals['total']} | {totals['passed']} | {totals['failed']} | {totals['timeout']} | {totals['error']} "
        f"| {_seconds(campaign.wall_seconds)} | {_seconds(sum(r.cpu_seconds for r in campaign.runs))} |",
        "",
    ]
    lines += failures_markdown(campaign.runs, campaign.extra.get("gate"))
    lines += regression_markdown(campaign.extra.get("regression"))
    lines += suite_markdown(campaign)
    lines += acceptance_markdown(campaign.extra.get("baseline_update"))
    lines += _retried(campaign.runs)
    lines += _slowest(campaign.runs)
    lines += _extras(campaign)
    return "\n".join(lines) + "\n"


#: The summary's groups of failures, in its order: what this change did first, what it did not last.
FAILURE_GROUPS = (
    ("changed", "Changed: the baseline campaign produced something else"),
    ("unknown", "Not explained: nothing to compare with (no baseline campaign, or no result on one side)"),
    (None, "Not triaged"),
    ("baseline-outdated", "Baseline out of date: the baseline campaign produced the same"),
    ("nondeterministic", "Nondeterministic: results differ between attempts on the same build"),
    ("quarantined", "Quarantined: reported, not failing the check"),
)


def failure_groups(bad: list[RunRecord]) -> list[tuple[str | None, str, list[RunRecord]]]:
    """The runs that did not pass, under the headings the summary shows them, by their triage
    (`opp_ci.triage`): (group, heading, runs) in FAILURE_GROUPS' order, empty groups left out."""
    by_group: dict[str | None, list[RunRecord]] = defaultdict(list)
    for record in bad:
        by_group[_triage_group(record)].append(record)
    if list(by_group) == [None]:
        return [(None, "Runs that did not pass", bad)]
    return [(key, heading, by_group[key]) for key, heading in FAILURE_GROUPS if by_group.get(key)]


def _triage_group(record: RunRecord) -> str | None:
    triage = record.triage or {}
    quarantine = triage.get("quarantine")
    return "quarantined" if quarantine and not quarantine.get("expired") else triage.get("finding")


def failures_markdown(records: list[RunRecord], gate: dict | None = None) -> list[str]:
    """The first section after the totals: the gate's verdict when it let failures pass or an entry expired, then
    each run that did not pass with a short error and the triage's evidence, grouped by finding (the metrics a
    regression changed are in the comparison's table, by parameter point, not repeated per run)."""
    bad = sorted((r for r in records if r.status is not RunStatus.PASSED), key=lambda r: r.key)
    lines: list[str] = _gate_markdown(gate or {})
    room = LISTED_FAILURES
    for key, heading, group in failure_groups(bad):
        lines += [f"### {heading} ({len(group)})", "", "| | config | run | error | evidence | log |",
                  "|---|---|---|---|---|---|"]
        lines += [_failure_row(record) for record in group[:room]]
        if len(group) > room:
            lines.append(f"\n…and {len(group) - room} more: see campaign.json or junit.xml.")
        lines.append("")
        if key == "nondeterministic":
            lines += _quarantine_proposal(group)
        room = max(0, room - len(group))
    return lines


def _gate_markdown(gate: dict) -> list[str]:
    lines = [f"> ❌ {md_inline(message)}" for message in gate.get("expired", [])]
    let_pass = [f"{gate[key]} {what}" for key, what in (("tolerated", "let pass by `--fail-on changed`"),
                                                       ("quarantined", "quarantined")) if gate.get(key)]
    if let_pass:
        lines.append(f"> Failures that do not fail the check: {', '.join(let_pass)}.")
    return [*lines, ""] if lines else []


def _quarantine_proposal(group: list[RunRecord]) -> list[str]:
    """The opp-ci.toml entries that would quarantine these runs while their nondeterminism is fixed."""
    from datetime import date

    from opp_ci.triage import proposed_entry

    entries = [proposed_entry(record, date.today()) for record in group[:LISTED_FAILURES]]
    return ["To quarantine them while the cause is found, add to `opp-ci.toml`:", "",
            *md_fence("\n".join(["[quarantine]", *dict.fromkeys(entries)]), "toml").splitlines(), ""]


def _failure_row(record: RunRecord) -> str:
    log = md_code(record.log, cell=True) if record.log else ""
    triage = record.triage or {}
    evidence = "; ".join(triage.get("evidence", []))
    if triage.get("quarantine"):
        entry = triage["quarantine"]
        evidence += f"; quarantined until {entry['expires']}: {entry['reason']}" + (
            " (expired)" if entry.get("expired") else "")
    return (f"| {_ICONS[record.status]} {record.status.value} | {md_cell(record.config)} "
            f"| {md_cell(record.name)} | {md_cell(short_error(record.error))} | {md_cell(evidence)} | {log} |")


def short_error(error: str | None) -> str:
    """A run's error for the summary: a regression's without the metrics it lists, the first line, cut."""
    from opp_ci.regression import failure_headline

    lines = failure_headline(error or "").strip().splitlines()
    first = lines[0] if lines else ""
    return first if len(first) <= ERROR_CHARS and len(lines) < 2 else first[: ERROR_CHARS - 1] + "…"


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


def acceptance_markdown(proposal: dict | None) -> list[str]:
    """The patch that accepts the new fingerprints (opp_ci.fingerprints.acceptance), collapsed: how to accept it
    with one comment or one command, and the patch (its start, when long: the whole one is in the artifact)."""
    if not isinstance(proposal, dict) or not proposal.get("files"):
        return []
    command = accept_command(proposal.get("suites") or []) if proposal.get("suites") else \
        "opp-ci baseline update --from OUT_DIR"
    patch, total = str(proposal.get("preview", "")), proposal.get("patch_chars", 0)
    lines = [f"<details><summary>Accept the new fingerprints ({_rows(proposal.get('rows'))})</summary>",
             "", "If they are right: comment `/opp-ci accept` on this pull request (a maintainer; a pull request "
             "from a fork gets the patch as an answer), or run in the project directory, OUT_DIR being this "
             "campaign's output directory (its artifact):", "", md_fence(command, "sh"), "",
             f"or apply {md_code(proposal.get('patch', 'baseline-update.patch'))} from the artifact with "
             f"`git apply`. It changes {', '.join(md_code(f) for f in proposal['files'])}:", "",
             md_fence(patch, "diff"), ""]
    if len(patch) < int(total or 0):
        lines += [f"✂️ The patch is cut here ({len(patch)} of {md_inline(total)} characters shown): the whole patch "
                  f"is {md_code(proposal.get('patch', 'baseline-update.patch'))} in the artifact.", ""]
    return [*lines, "</details>", ""]


def _rows(count: object) -> str:
    number = count if isinstance(count, int) else 0
    return f"{number} row" if number == 1 else f"{number} rows"


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
    """The comparison with the baseline: what changed by metric and parameter point (repetitions folded
    into mean ± standard deviation), charted relative to the baseline, then what was not compared."""
    if not isinstance(stored, dict):
        return []
    summary = ComparisonSummary.from_json(stored)
    rows = metric_rows(summary)
    settings = summary.settings
    title = "❌ regressions" if rows else "✅ no regressions"
    lines = [f"### Comparison with the baseline: {title}", "",
             f"Baseline campaign {md_code(summary.baseline_campaign)}; {summary.runs_compared} runs "
             f"compared, **{summary.unchanged}** of {summary.scalars_compared} scalars unchanged within tolerance, "
             f"{summary.significant} of {summary.statistical_tests} statistical tests significant "
             f"(Welch's t-test, alpha {md_inline(settings.get('alpha', 0.05))}, "
             f"{md_inline(settings.get('correction', 'holm'))} correction).",
             ""]
    if rows:
        chart = relative_chart(rows)
        lines += [chart.rstrip("\n"), ""] if chart else []
        lines += _metric_table(rows)
    lines += _only_one_side(summary) + _plots_and_artifacts(summary)
    return lines


def _metric_table(rows: list[MetricRow]) -> list[str]:
    lines = ["Per metric and parameter point: mean ± standard deviation (sample, n − 1) over the repetitions, "
             "n baseline/candidate; a metric tested statistically counts every repetition, any other the "
             "repetitions that changed beyond tolerance.", "",
             "| parameter point | metric | baseline | candidate | n | change | verdict |",
             "|---|---|---:|---:|---:|---:|---|"]
    lines += [_metric_row(row) for row in rows[:LISTED_REGRESSIONS]]
    if len(rows) > LISTED_REGRESSIONS:
        lines.append(f"\n…and {len(rows) - LISTED_REGRESSIONS} more: see `regression` in campaign.json.")
    return [*lines, ""]


def _metric_row(row: MetricRow) -> str:
    config, variables = row.point
    point = f"{config} {_variables(dict(variables))}".strip()
    n = f"{row.base.n if row.base else 0}/{row.candidate.n if row.candidate else 0}"
    return (f"| {md_cell(point)} | {md_cell(row.module + ' ' + row.name)} | {_spread(row.base)} "
            f"| {_spread(row.candidate)} | {n} | {_change(row.relative)} | {row.verdict} |")


def relative_chart(rows: list[MetricRow]) -> str:
    """The rows' relative changes as small multiples (charts.relative_charts), labelled by the metric's
    distinguishing tail and, when there are several, the parameter point."""
    charted = sorted((row for row in rows if row.relative is not None), key=lambda r: (r.module, r.name, r.point))
    points = charts.point_labels([row.point for row in charted])
    room = charts.CHART_LABEL_LENGTH - max(map(len, points.values()), default=0) - 1
    metrics = charts.metric_labels([(row.module, row.name) for row in charted], max(room, 16))
    return charts.relative_charts([
        charts.RelativeBar(f"{metrics[row.module, row.name]} {points[row.point]}".strip(), row.relative or 0.0)
        for row in charted])


def _variables(itervars: dict[str, str]) -> str:
    return ", ".join(f"${k}={v}" for k, v in itervars.items())


def _spread(spread: Spread | None) -> str:
    return "—" if spread is None else spread.text()


def _change(relative: float | None) -> str:
    return "—" if relative is None else f"{relative:+.2%}"


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
