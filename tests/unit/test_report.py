"""junit.xml and summary.md against golden files.

Regenerate the golden files after an intended change with:
    OPP_CI_REGENERATE_GOLDEN=1 .venv/bin/pytest tests/unit/test_report.py
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from comment_campaign import compared

from opp_ci.cost import Prices, TaskUsage, estimate
from opp_ci.fingerprints.verdicts import FingerprintVerdict
from opp_ci.records import Campaign, RunRecord, RunStatus
from opp_ci.report import junit_xml, summary_markdown

GOLDEN = Path(__file__).parent / "golden"


def campaign() -> Campaign:
    def record(config, run, status, wall, **fields):
        return RunRecord(config=config, run=run, job_id=f"id-{config}-{run}", status=status, wall_seconds=wall,
                         cpu_seconds=wall * 0.9, worker="local-1", log=f"logs/{config}-{run}.log",
                         exit_code=0 if status is RunStatus.PASSED else 1, **fields)

    return Campaign(
        campaign="20261125-060000-abcdef",
        wall_seconds=12.5,
        runs=[
            record("Quick", 0, RunStatus.PASSED, 0.4, repetition=0, log_tail="Quick run 0: , $repetition=0\n",
                   attempts=2, failed_attempts=[{"at": "2026-11-25T06:00:03.120Z", "worker": "local-1-2",
                                                 "reason": "worker local-1-2 died while running this run"}]),
            record("Experiment", 0, RunStatus.PASSED, 2.5, itervars={"numHosts": "10"}, repetition=0),
            record("Experiment", 1, RunStatus.FAILED, 1.5, itervars={"numHosts": "10"}, repetition=1,
                   error="Simulated failure -- in module (Server) Aloha.server (id=2), at t=3s, event #17",
                   log_tail="\n<!> Error: Simulated failure\n"),
            record("Experiment", 2, RunStatus.FAILED, 3.0, itervars={"numHosts": "20"}, repetition=0,
                   fingerprint=FingerprintVerdict.MISMATCH, fingerprint_calculated="b9aa-4a66/tplx",
                   fingerprint_expected="0000-0000/tplx",
                   error="Fingerprint mismatch! calculated: b9aa-4a66/tplx, expected: 0000-0000/tplx"),
            record("Experiment", 3, RunStatus.TIMEOUT, 60.0, itervars={"numHosts": "20"}, repetition=1,
                   error="timed out after 60s (wall clock); the process group was killed"),
            record("Hang", 0, RunStatus.ERROR, 0.0, error="worker local-2 died while running this run | twice"),
        ],
    )


@pytest.mark.parametrize(("name", "render"), [("junit.xml", junit_xml), ("summary.md", summary_markdown)])
def test_golden(name, render):
    check_golden(name, render(campaign()))


def test_golden_comparison(tmp_path, monkeypatch):
    """The comment of a regressed parameter study (tests/comment_campaign.py), as a reviewer gets it."""
    for name in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID"):  # no link to a run page
        monkeypatch.delenv(name, raising=False)
    check_golden("comparison.md", summary_markdown(compared(tmp_path)))


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("OPP_CI_REGENERATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text()


def test_junit_has_one_suite_per_config_and_one_case_per_run():
    root = ET.fromstring(junit_xml(campaign()))
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert sorted(suites) == ["Experiment", "Hang", "Quick"]
    assert [c.get("name") for c in suites["Experiment"].iter("testcase")] == [
        "#0: $numHosts=10, $repetition=0", "#1: $numHosts=10, $repetition=1",
        "#2: $numHosts=20, $repetition=0", "#3: $numHosts=20, $repetition=1",
    ]
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("6", "3", "1")
    mismatch = suites["Experiment"].findall("testcase")[2].find("failure")
    assert "calculated: b9aa-4a66/tplx, expected: 0000-0000/tplx" in mismatch.get("message")


def test_summary_lists_failures_before_the_slowest_runs_and_escapes_pipes():
    text = summary_markdown(campaign())
    assert text.index("did not pass") < text.index("Slowest runs")
    assert "died while running this run \\| twice" in text
    assert "| 6 | 2 | 2 | 1 | 1 |" in text


def test_summary_says_which_runs_took_more_than_one_attempt_and_why():
    text = summary_markdown(campaign())
    assert "### Runs that took more than one attempt (1)" in text
    assert "| Quick | #0 | 2 | passed | worker local-1-2 died while running this run |" in text
    assert "more than one attempt" not in summary_markdown(Campaign(campaign="c", runs=campaign().runs[1:]))


def test_summary_shows_the_cost_estimate_of_a_cloud_campaign():
    """The ecs backend puts `cost.estimate(...)` into campaign.extra["cost"]; the summary prints its total."""
    priced = campaign()
    priced.extra["cost"] = estimate([TaskUsage("redis", 0.5, 1.0, 3600)], Prices(vcpu_hour=1.0, gb_hour=0.1))
    assert "Estimated cloud cost: **$0.6000** (AWS Fargate, redis: 1 task(s), 1.00 task-h)" in summary_markdown(priced)
    assert "Estimated cloud cost" not in summary_markdown(campaign())
