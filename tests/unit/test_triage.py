"""Triage's decisions on records: the findings from attempts and a baseline, the environment a
baseline-outdated finding names, the gate with --fail-on and the quarantine, and the entries' checks."""

from __future__ import annotations

import datetime
import tomllib
from pathlib import Path

import pytest

from opp_ci.errors import UserError
from opp_ci.records import Campaign, RunRecord, RunStatus
from opp_ci.triage import (
    Baseline,
    decide,
    default_confirm,
    judge,
    match_key,
    parse_quarantine,
    proposed_entry,
    triage_record,
)

TODAY = datetime.date(2026, 12, 6)


def failed(run: int = 0, calculated: str = "aaaa-bbbb/tplx", **fields) -> RunRecord:
    return RunRecord("Aloha", run, status=RunStatus.FAILED, exit_code=0, fingerprint_calculated=calculated,
                     itervars={"numHosts": str(10 + run)}, repetition=0, **fields)


def baseline_of(*records: RunRecord, environment: dict | None = None) -> Baseline:
    campaign = Campaign("base", list(records), extra={"environment": environment or {}})
    return Baseline(campaign, Path("/nonexistent"), {match_key(r): r for r in records})


def test_results_that_differ_between_attempts_are_nondeterministic_whatever_the_baseline_says(tmp_path):
    record = failed(triage={"results": [{"exit": 0, "fingerprints": "a"}, {"exit": 0, "fingerprints": "b"}]})
    found = triage_record(record, tmp_path, baseline_of(failed()), {})
    assert found["finding"] == "nondeterministic"
    assert found["evidence"] == ["calculated fingerprints differ between attempts: a | b"]


def test_a_stable_result_is_judged_by_what_the_baseline_produced(tmp_path):
    same, other = failed(run=1), failed(run=1, calculated="cccc-dddd/tplx")
    assert triage_record(failed(run=1), tmp_path, baseline_of(same), {})["finding"] == "baseline-outdated"
    assert triage_record(failed(run=1), tmp_path, baseline_of(other), {})["finding"] == "changed"
    assert triage_record(failed(run=1), tmp_path, baseline_of(failed(run=2)), {})["evidence"][0].startswith(
        "the baseline campaign base has no such run")
    assert triage_record(failed(run=1), tmp_path, None, {})["finding"] == "unknown"


def test_a_baseline_outdated_finding_names_what_differs_in_the_environment_but_not_the_commit(tmp_path):
    base = baseline_of(failed(), environment={"omnetpp": "6.1.0", "commit": "a", "compiler": "gcc 12"})
    candidate = Campaign("pr", [failed()], extra={"environment": {"omnetpp": "6.2.0", "commit": "b",
                                                                   "compiler": "gcc 12"}})
    environment = base.environment_differences(candidate)
    assert environment == {"omnetpp": ["6.1.0", "6.2.0"]}
    found = triage_record(failed(), tmp_path, base, environment)
    assert found["evidence"][1] == "environment differs from the baseline's: omnetpp 6.1.0 → 6.2.0"


def records_with(*findings: str | None, quarantine: dict | None = None) -> list[RunRecord]:
    records = [RunRecord("Aloha", 99, status=RunStatus.PASSED)]
    for run, finding in enumerate(findings):
        record = failed(run=run, triage={"finding": finding} if finding else None)
        if quarantine and record.triage is not None and finding == quarantine.get("finding"):
            record.triage["quarantine"] = quarantine
        records.append(record)
    return records


def test_fail_on_any_fails_for_every_failure_and_changed_only_for_what_the_change_did():
    records = records_with("nondeterministic", "baseline-outdated")
    assert decide(records, "any", [], TODAY)["passed"] is False
    assert decide(records, "changed", [], TODAY) == {"passed": True, "failing": 0, "tolerated": 2,
                                                     "quarantined": 0, "expired": []}
    assert decide(records_with("unknown"), "changed", [], TODAY)["passed"] is False
    assert decide(records_with("changed"), "changed", [], TODAY)["passed"] is False
    assert decide(records_with(None), "changed", [], TODAY)["passed"] is False  # not triaged: an error


def test_a_quarantined_failure_passes_until_its_entry_expires():
    entries = parse_quarantine({"Aloha #0": {"reason": "inet#929", "expires": datetime.date(2027, 1, 1)}})
    active = {"finding": "changed", "entry": "Aloha #0", "expired": False}
    assert decide(records_with("changed", quarantine=active), "any", entries, TODAY)["passed"] is True
    expired = decide(records_with("changed", quarantine={**active, "expired": True}), "any", entries,
                     datetime.date(2027, 1, 2))
    assert expired["passed"] is False and expired["failing"] == 1
    assert expired["expired"] == ["quarantine entry 'Aloha #0' expired on 2027-01-01 (inet#929): fix the run and "
                                  "remove the entry, or extend `expires`"]


def test_judge_marks_the_covering_entry_and_keeps_the_gate_in_the_campaign(tmp_path):
    campaign = Campaign("pr", [failed(run=3)], extra={"gate": {"fail_on": "any", "quarantine": {
        "Aloha #*": {"reason": "flaky", "expires": "2027-01-01"}}}})
    decision = judge(campaign, tmp_path, TODAY)
    assert decision["passed"] is True and campaign.passed and not campaign.all_passed
    assert campaign.runs[0].triage["quarantine"] == {"entry": "Aloha #*", "reason": "flaky", "expires": "2027-01-01",
                                                     "expired": False}


def test_the_proposed_entry_is_one_opp_ci_reads_back():
    record = failed(run=4, test='/inet/ -f omnetpp.ini -c "Jitter" -r 0')
    text = proposed_entry(record, TODAY)
    [entry] = parse_quarantine(tomllib.loads(f"[quarantine]\n{text}")["quarantine"])
    assert entry.pattern == record.test and entry.expires == datetime.date(2027, 1, 5) and entry.covers(record)


@pytest.mark.parametrize("entry, problem", [
    ({"reason": "x"}, "must be { reason"),
    ({"reason": " ", "expires": "2027-01-01"}, "reason must say why"),
    ({"reason": "x", "expires": "next week"}, "is not a date"),
    ("x", "must be { reason"),
])
def test_a_malformed_entry_is_refused_with_its_name(entry, problem):
    with pytest.raises(UserError, match=problem) as raised:
        parse_quarantine({"Aloha #1": entry})
    assert "quarantine entry 'Aloha #1'" in str(raised.value)


def test_a_pull_request_confirms_twice_by_default():
    assert default_confirm({"GITHUB_EVENT_NAME": "pull_request"}) == 2
    assert default_confirm({"GITHUB_EVENT_NAME": "push"}) == 0 and default_confirm({}) == 0


def test_a_suite_row_is_matched_by_its_test_and_a_run_by_its_variables_not_its_number():
    assert match_key(failed(run=1, test="/a/ -c X", suite_row="s.csv:3")) == match_key(
        failed(run=7, test="/a/ -c X", suite_row="s.csv:9"))
    moved = failed(run=5)
    moved.itervars = failed(run=1).itervars
    assert match_key(moved) == match_key(failed(run=1))


def test_an_infrastructure_error_on_either_side_is_unknown_not_a_change(tmp_path):
    error = failed(run=1, calculated=None)
    error.status, error.error = RunStatus.ERROR, "worker died"
    assert triage_record(error, tmp_path, baseline_of(failed(run=1)), {})["finding"] == "unknown"
    found = triage_record(failed(run=1), tmp_path, baseline_of(error), {})
    assert found["finding"] == "unknown" and "infrastructure failed: worker died" in found["evidence"][0]


def test_a_failure_let_pass_is_a_warning_annotation_with_its_finding_and_evidence(tmp_path):
    from opp_ci.github import annotations

    tolerated = failed(run=1, triage={"finding": "nondeterministic", "evidence": ["fingerprints differ: a | b"]})
    changed = failed(run=2, triage={"finding": "changed", "evidence": ["the baseline produced x"]})
    campaign = Campaign("pr", [tolerated, changed], extra={"gate": {"fail_on": "changed"}})
    first, second = annotations(campaign, tmp_path, tmp_path)
    assert (first["annotation_level"], second["annotation_level"]) == ("warning", "failure")
    assert first["title"].endswith("failed (nondeterministic)")
    assert first["message"].endswith("\nfingerprints differ: a | b")
