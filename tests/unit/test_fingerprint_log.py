"""The one reader of what a run printed, and the status the worker gives a run from it."""

from __future__ import annotations

from pathlib import Path

from opp_ci.execution import Execution, judge
from opp_ci.fingerprints.log import parse_log
from opp_ci.fingerprints.verdicts import Expected, FingerprintVerdict, Outcome, RowVerdict
from opp_ci.records import RunStatus

TRANSCRIPTS = Path(__file__).resolve().parents[1] / "data" / "omnetpp-reference" / "transcripts"
MISMATCH = (TRANSCRIPTS / "fingerprint-mismatch.stdout").read_text()
VERIFIED = (TRANSCRIPTS / "fingerprint-verified.stdout").read_text()


def test_one_reading_gives_the_worker_view_and_the_suite_view():
    log = parse_log(MISMATCH)
    assert log.fingerprint is FingerprintVerdict.MISMATCH and log.fingerprint_ok is False
    assert log.calculated == ("b9aa-4a66/tplx",) and log.fingerprint_calculated == "b9aa-4a66/tplx"
    verified = parse_log(VERIFIED)
    assert verified.fingerprint is FingerprintVerdict.VERIFIED and verified.fingerprint_ok is True
    assert parse_log("nothing").verdicts() == [] and verified.verdicts() == []


def test_a_mismatch_fails_a_run_that_exited_0_and_only_that():
    done = Execution(exit_code=0, timed_out=False, wall_seconds=1.0, cpu_seconds=1.0)
    mismatch = judge(done, MISMATCH, 60)
    assert mismatch.status is RunStatus.FAILED and mismatch.fingerprint is FingerprintVerdict.MISMATCH
    assert mismatch.error == "Fingerprint mismatch! calculated: b9aa-4a66/tplx, expected: 0000-0000/tplx"
    assert judge(done, VERIFIED, 60).status is RunStatus.PASSED
    crashed = judge(Execution(1, False, 1.0, 1.0), MISMATCH + "<!> Error: boom\n", 60)
    assert (crashed.status, crashed.error) == (RunStatus.FAILED, "boom")
    late = judge(Execution(None, True, 60.0, 1.0, stragglers=1), MISMATCH, 60)
    assert late.status is RunStatus.TIMEOUT and late.error == (
        "timed out after 60s (wall clock); the process group was killed; 1 process(es) the run left behind were "
        "killed")


def test_a_row_not_judged_is_a_verdict_with_its_own_category():
    verdict = RowVerdict.not_judged(Expected.ERROR)
    assert not verdict.passed and verdict.outcome is Outcome.ERROR
    assert verdict.category == "not judged"
    assert verdict.describe() == "not judged: a run of the row did not execute"
