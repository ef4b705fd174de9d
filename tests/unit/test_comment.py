"""The comment a reviewer reads (issue 25 item 6): failures first with short errors, the comparison by metric
and parameter point (mean ± sd of the repetitions, verdict beside), the relative change in charts whose labels
tell the metrics apart, and the whole within GitHub's limit on a comment with 2,000 runs."""

from __future__ import annotations

import random
import re

import pytest
from comment_campaign import METRICS, POINTS, REPETITIONS, RUNS, STATISTICAL, big_campaign, compared

from opp_ci import github
from opp_ci.charts import metric_labels, point_labels
from opp_ci.comparison import ComparisonSummary, MetricShift
from opp_ci.records import Campaign, RunRecord, RunStatus
from opp_ci.regression import failure_headline
from opp_ci.report import LISTED_FAILURES, summary_markdown


@pytest.fixture(scope="module")
def comment(tmp_path_factory) -> str:
    return summary_markdown(compared(tmp_path_factory.mktemp("comment")))


def section(markdown: str, heading: str) -> str:
    start = markdown.index(heading)
    end = markdown.find("\n### ", start + 1)
    return markdown[start:] if end < 0 else markdown[start:end]


def table_rows(markdown: str) -> list[list[str]]:
    lines = [line for line in markdown.splitlines() if line.startswith("| ") and "---" not in line]
    return [re.split(r"(?<!\\)\|", line)[1:-1] for line in lines[1:]]


def x_axes(markdown: str) -> list[list[str]]:
    return [re.findall(r'"([^"]*)"', line) for line in markdown.splitlines() if line.strip().startswith("x-axis")]


def test_the_table_has_one_row_per_metric_and_parameter_point_with_mean_and_spread(comment):
    rows = table_rows(section(comment, "### Comparison with the baseline"))
    assert len(rows) == len(METRICS) * len(POINTS) == 12  # not one per run (48)
    keys = {(point.strip(), metric.strip()) for point, metric, *_ in rows}
    assert keys == {(f"AlohaExperiment \\$numHosts={hosts}", f"{module} {name}".replace("[", "\\[").replace("]", "\\]"))
                    for hosts in POINTS for module, name in METRICS}
    for _, _, base, candidate, n, change, verdict in rows:
        assert " ± " in base and " ± " in candidate and n.strip() == f"{REPETITIONS}/{REPETITIONS}"
        assert change.strip().endswith("%") and verdict.strip().startswith("❌")
    shifted = [row for row in rows if "Welch" in row[6]]
    assert sorted(row[1].split()[-1] for row in shifted) == sorted(STATISTICAL * len(POINTS))
    assert "+250.00%" in comment and "-40.00%" in comment and "+0.40%" in comment


def test_the_charts_show_the_relative_change_with_distinct_labels(comment):
    axes = x_axes(comment)
    labels = [label for axis in axes for label in axis]
    assert len(labels) == len(METRICS) * len(POINTS) and len(set(labels)) == len(labels)
    assert not any(re.search(r"( #\d+| \(\d+\))$", label) or "…" in label for label in labels), labels
    assert "host(0) radioState:timeavg numHosts=10" in labels and "host(1) radioState:timeavg numHosts=10" in labels
    assert len(axes) >= 3  # +250 %, -40 %/+30 %, +5 %/+2 %, +0.4 %: one chart per order of magnitude
    for body in re.findall(r"```mermaid\n(.*?)```", comment, re.S):
        bars = re.search(r"bar \[(.*)\]", body).group(1).split(", ")
        low, high = map(float, re.search(r'y-axis "% of baseline" (\S+) --> (\S+)', body).groups())
        assert all(low < float(bar) < high for bar in bars) and low < 100 < high


def test_failures_come_first_and_their_errors_leave_the_metrics_to_the_table(comment):
    assert comment.index(f"### Runs that did not pass ({RUNS})") < comment.index("### Comparison with the baseline")
    failures = section(comment, "### Runs that did not pass")
    assert len(table_rows(failures)) == RUNS
    assert not any(name in failures for _, name in METRICS)
    assert "Regression: 4 scalar(s) beyond tolerance; 2 metric(s) changed significantly" in failures


def test_a_long_or_multi_line_error_is_cut_in_the_summary():
    records = [RunRecord(config="C", run=0, job_id="j", status=RunStatus.FAILED, error="first line\n" + "x" * 500),
               RunRecord(config="C", run=1, job_id="k", status=RunStatus.FAILED, error="y" * 500)]
    failures = section(summary_markdown(Campaign("c", records)), "### Runs that did not pass")
    assert "first line…" in failures and "x" not in failures.replace("xx", "") and "y" * 199 + "…" in failures
    assert failure_headline("Simulated failure") == "Simulated failure"


def test_labels_drop_the_common_prefix_and_keep_what_tells_metrics_apart():
    labels = metric_labels([("Net.host[0].app", "rtt:mean"), ("Net.host[1].app", "rtt:mean"),
                            ("Net.server.app", "rtt:mean"), ("Net.server.app", "sent:count")])
    assert list(labels.values()) == ["host(0).app rtt:mean", "host(1).app rtt:mean", "server.app rtt:mean",
                                     "sent:count"]
    assert metric_labels([("AlohaExperiment.Aloha.server", "channelUtilization:last")]) == {
        ("AlohaExperiment.Aloha.server", "channelUtilization:last"): "channelUtilization:last"}
    assert point_labels([("C", (("n", "1"), ("p", "x"))), ("C", (("n", "2"), ("p", "x")))]) == {
        ("C", (("n", "1"), ("p", "x"))): "n=1", ("C", (("n", "2"), ("p", "x"))): "n=2"}


@pytest.mark.parametrize("seed", range(20))
def test_labels_are_never_alike_and_never_too_long(seed):
    rng = random.Random(seed)
    parts = ["Net", "host[0]", "host[1]", "a" * 30, "mac", "app[2]", "x"]
    names = ["rtt:mean", "sent:count", "endToEndDelayOfAVeryLongSignalName:histogram", "q"]
    metrics = [(".".join(rng.choices(parts, k=rng.randint(1, 5))), rng.choice(names)) for _ in range(25)]
    labels = list(metric_labels(metrics).values())
    assert len(set(labels)) == len(labels) == len(set(metrics))
    assert all(0 < len(label) <= 32 for label in labels), labels


def test_the_comment_of_2000_runs_stays_within_github_s_limit_uncut():
    markdown = summary_markdown(big_campaign(2000))
    body = github.comment_body(github.report_markdown(markdown, "https://github.com/o/r/actions/runs/1",
                                                      github.COMMENT_CHARS - len(github.COMMENT_MARKER) - 1))
    assert len(body) <= github.COMMENT_CHARS
    assert "Truncated" not in body and "### Comparison with the baseline" in body and "```mermaid" in body
    assert f"…and {2000 - LISTED_FAILURES} more" in body


def test_a_shift_from_an_older_campaign_json_shows_its_means_without_a_spread():
    """campaign.json of an opp-ci before the standard deviations were kept: the table still reads it."""
    shift = {"config": "C", "itervars": {"n": "1"}, "module": "Net.a", "name": "x", "n_base": 3, "n_candidate": 3,
             "mean_base": 2.0, "mean_candidate": 3.0, "difference": 1.0, "relative": 0.5, "hedges_g": 4.0, "t": 5.0,
             "df": 4.0, "p": 0.001, "p_adjusted": 0.002, "ci": [0.5, 1.5], "significant": True}
    summary = ComparisonSummary("/base", "base", {}, 6, 6, 6, 0, statistical=[MetricShift(**shift)],
                                statistical_tests=1, significant=1)
    markdown = summary_markdown(Campaign("c", [], extra={"regression": summary.to_json()}))
    row = "| C \\$n=1 | Net.a x | 2 | 3 | 3/3 | +50.00% | ❌ shifted (Welch's t-test p_adj=0.002, g=4.00) |"
    assert row in markdown
    assert x_axes(markdown) == [["x"]] and "bar [150]" in markdown
