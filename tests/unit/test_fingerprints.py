"""The fingerprint store: opp-ci's JSON file and INET's CSV format, and the update cycle."""

from __future__ import annotations

import json

import pytest

from opp_ci.errors import UserError
from opp_ci.fingerprints import checks, stores
from opp_ci.fingerprints.stores import RunId
from opp_ci.fingerprints.suites import Action

QUICK = RunId.of("Quick", 0)
ALOHA = RunId.of("AlohaExperiment", 3, {"numHosts": "20", "iaMean": "1"})

# Rows as INET writes them (tests/fingerprint/*.csv): comments, alignment, groups and alternatives.
INET_CSV = """\
# working directory, command line arguments, simulation time limit, fingerprint, expected result, tags
.,        -f omnetpp.ini -c Quick -r 0,           10min,      964d-5361/tplx, PASS,   quick
.,        -f omnetpp.ini -c AlohaExperiment -r 3, 30min,      1111-2222/tplx;aaaa-bbbb/~tNl, PASS,
# .,      -f omnetpp.ini -c Broken -r 0,          1s,         0000-0000/tplx, PASS,   # disabled
.,        -f other.ini -c Quick -r 0,             10min,      9999-9999/tplx 8888-8888/tplx, FAIL,   other
"""


def test_json_store_insert_keep_update_cycle(tmp_path):
    path = tmp_path / "opp-ci-fingerprints.json"
    store = stores.open_store(path)
    assert store.expected(QUICK, ["tplx"]) is None
    assert [c.action for c in store.record(QUICK, {"tplx": "964d-5361"})] == [Action.INSERT]
    store.save()

    store = stores.open_store(path)
    assert store.expected(QUICK, ["tplx"]) == "964d-5361/tplx"
    assert store.expected(QUICK, ["tplx", "~tNl"]) is None  # one ingredient set has no entry
    assert [c.action for c in store.record(QUICK, {"tplx": "964d-5361"})] == [Action.KEEP]
    change = store.record(QUICK, {"tplx": "abcd-ef01"})[0]
    assert (change.action, change.old, change.new) == (Action.UPDATE, "964d-5361", "abcd-ef01")
    assert "UPDATE" in change.describe() and "964d-5361 -> abcd-ef01" in change.describe()


def test_json_store_keys_include_itervars_and_ingredients(tmp_path):
    store = stores.open_store(tmp_path / "fp.json")
    store.record(ALOHA, {"tplx": "1111-2222", "~tNl": "aaaa-bbbb"})
    store.save()
    data = json.loads((tmp_path / "fp.json").read_text())
    assert data["fingerprints"][0]["itervars"] == {"iaMean": "1", "numHosts": "20"}
    store = stores.open_store(tmp_path / "fp.json")
    assert store.expected(ALOHA, ["tplx", "~tNl"]) == "1111-2222/tplx,aaaa-bbbb/~tNl"
    assert store.expected(RunId.of("AlohaExperiment", 3, {"numHosts": "10", "iaMean": "1"}), ["tplx"]) is None


def test_a_broken_json_store_is_a_user_error(tmp_path):
    (tmp_path / "fp.json").write_text('{"fingerprints": [{"config": "Quick"}]}')
    with pytest.raises(UserError, match="not an opp-ci fingerprint file"):
        stores.open_store(tmp_path / "fp.json")


def test_inet_csv_rows():
    rows = stores.parse_inet_csv(INET_CSV)
    assert [(r.config, r.run, r.ini, r.expected_result) for r in rows] == [
        ("Quick", 0, "omnetpp.ini", "PASS"), ("AlohaExperiment", 3, "omnetpp.ini", "PASS"),
        ("Quick", 0, "other.ini", "FAIL")]
    assert rows[0].sim_time_limit == "10min" and rows[0].tags == "quick" and rows[0].working_dir == "."
    assert rows[1].expected() == "1111-2222/tplx,aaaa-bbbb/~tNl"


@pytest.mark.parametrize(("text", "message"), [
    (".,  -f omnetpp.ini -c Quick -r 0,  10s,  964d-5361/tplx, PASS\n", "6 fields"),
    (".,  -f omnetpp.ini -c Quick -r 0,  10s,  964d-5361/tplx, MAYBE, \n", "PASS, FAIL or ERROR"),
])
def test_inet_csv_errors_name_the_line(text, message):
    with pytest.raises(UserError, match=message):
        stores.parse_inet_csv(text, "fp.csv")


def test_inet_csv_store_prefers_the_campaigns_ini_and_updates_in_place(tmp_path):
    path = tmp_path / "fingerprints.csv"
    path.write_text(INET_CSV)
    store = stores.store_with_ini(stores.open_store(path), ["omnetpp.ini"])
    assert store.expected(QUICK, ["tplx"]) == "964d-5361/tplx"
    assert stores.store_with_ini(stores.open_store(path), ["other.ini"]).expected(
        QUICK, ["tplx"]) == "9999-9999/tplx 8888-8888/tplx"

    assert [c.action for c in store.record(QUICK, {"tplx": "964d-5361"})] == [Action.KEEP]
    assert [c.action for c in store.record(ALOHA, {"tplx": "3333-4444", "~tNl": "aaaa-bbbb"})] == [
        Action.UPDATE, Action.KEEP]
    assert [c.action for c in store.record(RunId.of("Slow", 0), {"tplx": "5555-6666"})] == [Action.INSERT]
    store.save()
    lines = path.read_text().splitlines()
    assert lines[2] == (".,        -f omnetpp.ini -c AlohaExperiment -r 3, 30min,      "
                        "3333-4444/tplx;aaaa-bbbb/~tNl, PASS,")
    assert lines[3].startswith("# .,")  # comments stay
    assert [r.config for r in stores.parse_inet_csv(path.read_text())] == [
        "Quick", "AlohaExperiment", "Quick", "Slow"]


def test_calculated_fingerprints_and_the_dummy():
    assert stores.split_calculated("b9aa-4a66/tplx,1234-ABCD/~tNl") == {"tplx": "b9aa-4a66", "~tNl": "1234-abcd"}
    assert stores.split_calculated(None) == {}
    assert stores.dummy_expected(["tplx", "~tNl"]) == "0000-0000/tplx,0000-0000/~tNl"
    assert stores.is_dummy("0000-0000/tplx,0000-0000/~tNl")
    assert not stores.is_dummy("964d-5361/tplx")
    assert stores.parse_ingredients("tplx, ~tNl") == ["tplx", "~tNl"]
    with pytest.raises(UserError):
        stores.parse_ingredients("tp lx;")


def _check(tmp_path, store: str, recording: bool = False) -> checks.FingerprintCheck:
    from types import SimpleNamespace

    from opp_ci.spec import CheckSettings

    settings = CheckSettings(check=["fingerprints"], fingerprints=store, record_fingerprints=recording)
    return checks.FingerprintCheck.from_spec(SimpleNamespace(project_dir=tmp_path, ini=["omnetpp.ini"],
                                                                   checks=settings))


def _planned(config: str, number: int):
    from opp_ci.omnetpp import ListedRun
    from opp_ci.payloads import RunPayload
    from opp_ci.planning import PlannedRun
    from opp_ci.spec import ConfigSpec

    return PlannedRun(ListedRun(config, number), ConfigSpec(config), f"job{number}",
                      RunPayload(config=config, run=number, prefix=f"job{number}"))


def test_expected_fingerprints_go_into_payloads_and_job_ids(tmp_path):
    store = stores.open_store(tmp_path / "fp.json")
    store.record(QUICK, {"tplx": "964d-5361"})
    store.save()
    planned = [_planned("Quick", 0), _planned("Quick", 1)]
    checked = _check(tmp_path, "fp.json").prepare(planned)
    assert checked[0].payload.fingerprint == "964d-5361/tplx" and checked[0].job_id != "job0"
    assert checked[0].payload.prefix == checked[0].job_id
    assert checked[1] is planned[1]  # no entry: runs without, and fails afterwards
    recording = _check(tmp_path, "fp.json", recording=True).prepare(planned)
    assert {p.payload.fingerprint for p in recording} == {"0000-0000/tplx"}


def test_inet_expected_results_fail_and_error(tmp_path):
    from opp_ci.checks import judge_campaign
    from opp_ci.fingerprints.verdicts import FingerprintVerdict
    from opp_ci.records import Campaign, RunRecord, RunStatus

    (tmp_path / "fp.csv").write_text(".,  -f omnetpp.ini -c Quick -r 0,  1s,  1111-1111/tplx,  FAIL,\n"
                                     ".,  -f omnetpp.ini -c Quick -r 1,  1s,  2222-2222/tplx,  ERROR,\n"
                                     ".,  -f omnetpp.ini -c Quick -r 2,  1s,  3333-3333/tplx,  FAIL,\n")
    mismatch = RunRecord("Quick", 0, status=RunStatus.FAILED, fingerprint=FingerprintVerdict.MISMATCH,
                         error="Fingerprint mismatch! calculated: 9999-9999/tplx, expected: 1111-1111/tplx")
    crashed = RunRecord("Quick", 1, status=RunStatus.FAILED, error="Simulated failure")
    verified = RunRecord("Quick", 2, status=RunStatus.PASSED, fingerprint=FingerprintVerdict.VERIFIED)
    campaign = Campaign("c", [mismatch, crashed, verified])
    check = _check(tmp_path, "fp.csv")
    judge_campaign([check], campaign, tmp_path)
    assert [r.status for r in campaign.runs] == [RunStatus.PASSED, RunStatus.PASSED, RunStatus.FAILED]
    assert "expected a fingerprint mismatch" in verified.error
    # judging again is a recomputation: the same verdicts, not an undo of the first
    judge_campaign([check], campaign, tmp_path)
    assert [r.status for r in campaign.runs] == [RunStatus.PASSED, RunStatus.PASSED, RunStatus.FAILED]
    assert [v.judgement.value for r in campaign.runs for v in r.verdicts] == ["expected", "expected", "fail"]
    assert mismatch.execution is RunStatus.FAILED and mismatch.execution_error.startswith("Fingerprint mismatch")
