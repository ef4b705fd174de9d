"""Reports from a campaign file: junit.xml for CI tools, summary.md for people.

Both are built from campaign.json alone, so `opp-ci report OUT_DIR` rebuilds them anywhere.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from junit_xml import TestCase, TestSuite, to_xml_report_string

from opp_ci.records import Campaign, RunRecord, RunStatus

JUNIT_FILE = "junit.xml"
SUMMARY_FILE = "summary.md"
SLOWEST = 5
#: How many failures the summary lists in full; the rest are counted.
LISTED_FAILURES = 50
_ICONS = {RunStatus.PASSED: "✅", RunStatus.FAILED: "❌", RunStatus.ERROR: "💥", RunStatus.TIMEOUT: "⏱️"}


def write_reports(campaign: Campaign, out_dir: Path) -> None:
    (out_dir / JUNIT_FILE).write_text(junit_xml(campaign))
    (out_dir / SUMMARY_FILE).write_text(summary_markdown(campaign))


def junit_xml(campaign: Campaign) -> str:
    """One testsuite per config, one testcase per run named with its iteration variables."""
    by_config: dict[str, list[RunRecord]] = defaultdict(list)
    for record in sorted(campaign.runs, key=lambda r: r.key):
        by_config[record.config].append(record)
    suites = [TestSuite(config, [_test_case(r) for r in records]) for config, records in by_config.items()]
    return to_xml_report_string(suites, prettyprint=True)


def _test_case(record: RunRecord) -> TestCase:
    case = TestCase(
        name=record.name,
        classname=record.config,
        elapsed_sec=record.wall_seconds,
        stdout=record.log_tail or None,
        file=record.log,
    )
    message = record.error or record.status.value
    if record.status in (RunStatus.FAILED, RunStatus.TIMEOUT):
        case.add_failure_info(message=message, output=record.log_tail or None, failure_type=record.status.value)
    elif record.status is RunStatus.ERROR:
        case.add_error_info(message=message, output=record.log_tail or None, error_type="infrastructure")
    return case


def summary_markdown(campaign: Campaign) -> str:
    """GitHub-flavoured Markdown: totals, failures first with their error, the slowest runs."""
    totals = campaign.totals()
    verdict = "✅ all runs passed" if campaign.all_passed else "❌ some runs did not pass"
    lines = [
        f"## OMNeT++ campaign `{campaign.campaign}`: {verdict}",
        "",
        "| runs | passed | failed | timeout | error | wall time | CPU time (sum of runs) |",
        "|---:|---:|---:|---:|---:|---:|---:|",
        f"| {totals['total']} | {totals['passed']} | {totals['failed']} | {totals['timeout']} | {totals['error']} "
        f"| {_seconds(campaign.wall_seconds)} | {_seconds(sum(r.cpu_seconds for r in campaign.runs))} |",
        "",
    ]
    lines += _failures(campaign.runs)
    lines += _slowest(campaign.runs)
    lines += _extras(campaign)
    return "\n".join(lines) + "\n"


def _failures(records: list[RunRecord]) -> list[str]:
    bad = sorted((r for r in records if r.status is not RunStatus.PASSED), key=lambda r: r.key)
    if not bad:
        return []
    lines = ["### Runs that did not pass", "", "| | config | run | error | log |", "|---|---|---|---|---|"]
    for record in bad[:LISTED_FAILURES]:
        log = f"`{record.log}`" if record.log else ""
        lines.append(f"| {_ICONS[record.status]} {record.status.value} | {record.config} | {_cell(record.name)} "
                     f"| {_cell(record.error or '')} | {log} |")
    if len(bad) > LISTED_FAILURES:
        lines.append(f"\n…and {len(bad) - LISTED_FAILURES} more: see campaign.json or junit.xml.")
    return [*lines, ""]


def _slowest(records: list[RunRecord]) -> list[str]:
    if not records:
        return []
    lines = ["### Slowest runs", "", "| config | run | wall | CPU | worker |", "|---|---|---:|---:|---|"]
    for record in sorted(records, key=lambda r: r.wall_seconds, reverse=True)[:SLOWEST]:
        lines.append(f"| {record.config} | {_cell(record.name)} | {_seconds(record.wall_seconds)} "
                     f"| {_seconds(record.cpu_seconds)} | {_cell(record.worker)} |")
    return [*lines, ""]


def _extras(campaign: Campaign) -> list[str]:
    cost = campaign.extra.get("cost")
    if isinstance(cost, dict) and "total_usd" in cost:
        return [f"Estimated cloud cost: **${cost['total_usd']:.4f}** ({cost.get('description', 'AWS Fargate')})", ""]
    return []


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell: one line, pipes escaped, at most 300 characters."""
    one_line = " ".join(str(text).split()).replace("|", "\\|")
    return one_line if len(one_line) <= 300 else one_line[:297] + "…"


def _seconds(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.2f} s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{rest:02d}" if minutes >= 60 else f"{minutes}m {rest:02d}s"
