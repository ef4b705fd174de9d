from __future__ import annotations

from pathlib import Path

import pytest

from opp_ci.errors import UserError
from opp_ci.execution import WorkerSettings, run_command
from opp_ci.fingerprints.checks import judge_row
from opp_ci.fingerprints.log import read_run_output
from opp_ci.fingerprints.suites import Action, parse_suite, select, update_suite
from opp_ci.fingerprints.verdicts import Expected, Outcome
from opp_ci.omnetpp import Simulation
from opp_ci.planning import plan_suites
from opp_ci.spec import resolve

SUITE = """\
# workingdir,    cmdLine,                                   limit, fingerprint,                    expected, tags
/samples/aloha/, ./aloha -f omnetpp.ini -c PureAloha1 -r 0, 5000s, bb79-95ff/tplx,                 PASS,
/examples/aodv/, -f omnetpp.ini -c Static -r 0,             50s,   13b7-47d5/tplx;c303-2955/~tNl,  PASS, wireless adhoc
# /x/,           -f omnetpp.ini -c Off -r 0,                1s,    0000-0000/tplx,                 PASS,
/t/,             -f omnetpp.ini -c Alt -r 0,                100s, 9f10-b921/rsz 3f9a-91a1/rsz, FAIL,  # 2 alternatives

/t/,             -f omnetpp.ini -c Bad -r 0,                ,      0000-0000/tplx,                 ERROR,   slow
"""


def rows():
    return parse_suite(SUITE, Path("s.csv"))


def test_parses_rows_like_opp_fingerprinttest():
    r = rows()
    assert [x.line for x in r] == [2, 3, 5, 7]
    assert r[0].executable == "./aloha" and r[0].args == ("-f", "omnetpp.ini", "-c", "PureAloha1", "-r", "0")
    assert r[1].executable is None and r[1].tags == ("wireless", "adhoc")
    assert [s.ingredients for s in r[1].fingerprints] == ["tplx", "~tNl"]
    assert r[2].fingerprints[0].hashes == ("9f10-b921", "3f9a-91a1") and r[2].expected is Expected.FAIL
    assert r[3].sim_time_limit == "" and r[3].title == "/t/ -f omnetpp.ini -c Bad -r 0"


def test_fingerprints_read_as_omnetpp_reads_them():
    """OMNeT++'s own samples.csv writes `0` for neddemo's rows: cHasher::parse ignores '-' and ':'."""
    [row] = parse_suite("/samples/neddemo/, -f omnetpp.ini -c C -r 0, 0s, 0, PASS,\n"
                        .replace(", 0, PASS", ", 0 45000673, PASS"), Path("x.csv"))
    assert row.fingerprints[0].hashes == ("0000-0000", "4500-0673") and row.fingerprints[0].ingredients == "tplx"


@pytest.mark.parametrize("line, words", [
    ("., -f a.ini -c X, 1s, 123456789/tplx, PASS, t", "at most 8 hex digits"),
    ("., -f a.ini -c X, 1s, 0000-0000/tplx, PASS", "6 fields"),
    ("., -f a.ini -c X, 1s, 0000-0000/tplx, OK, t", "PASS, FAIL or ERROR"),
    ("., -f a.ini -c X, 1s, zzzz/tplx, PASS, t", "not a fingerprint"),
    ("., -f a.ini -c X, 1s, 0000-0000/tplx 0000-0001/tNl, PASS, t", "different ingredients"),
])
def test_bad_rows_name_file_and_line(line, words):
    with pytest.raises(UserError) as error:
        parse_suite("# c\n" + line + "\n", Path("x.csv"))
    assert error.value.message.startswith("x.csv:2: ") and words in error.value.message


def test_select_match_exclude_tags():
    r = rows()
    assert [x.line for x in select(r, match=["aodv", "Alt"])] == [3, 5]
    assert [x.line for x in select(r, exclude=[r"-c (Alt|Bad)"])] == [2, 3]
    assert [x.line for x in select(r, tags=["adhoc"])] == [3]
    assert [x.line for x in select(r, exclude_tags=["slow"])] == [2, 3, 5]
    with pytest.raises(UserError):
        select(r, match=["("])


def worker_command(tmp_path: Path, line: str, **flags) -> tuple[Simulation, list[str]]:
    """A suite row's run as the worker starts it: planned into a payload, then the worker's command line."""
    (tmp_path / "examples" / "aodv").mkdir(parents=True, exist_ok=True)
    (tmp_path / "s.csv").write_text(line)
    spec = resolve(tmp_path, {"suite": ["s.csv"], **flags}, environ={})
    [planned] = plan_suites(spec, built=False)
    settings = WorkerSettings(Simulation(tuple(spec.command), tmp_path), store=None, scratch=tmp_path)  # type: ignore[arg-type]
    return run_command(planned.payload, settings, Path("/out/r"))


def test_a_row_runs_with_opp_fingerprinttest_safeguards(tmp_path):
    line = "/examples/aodv/, -f omnetpp.ini -c Static -r 0, 50s, 13b7-47d5/tplx;c303-2955/~tNl, PASS, wireless\n"
    simulation, argv = worker_command(tmp_path, line, **{"ingredients": ["tplx", "~tNl"],
                                                         "suite-cpu-time-limit": "60s"})
    assert simulation.working_dir == (tmp_path / "examples/aodv").resolve()
    assert argv == ["opp_run", "-u", "Cmdenv", "-f", "omnetpp.ini", "-c", "Static", "-r", "0", "-s",
                    "--result-dir=/out/r", "--sim-time-limit=50s", "--cpu-time-limit=60s",
                    "--fingerprint=13b7-47d5/tplx, c303-2955/~tNl", "--vector-recording=false",
                    "--scalar-recording=true"]
    _, only = worker_command(tmp_path, line, ingredients=["~tNl"])
    assert "--fingerprint=c303-2955/~tNl" in only


def test_row_that_sets_recording_keeps_it(tmp_path):
    _, argv = worker_command(tmp_path, ".,-f a.ini -c X --**.vector-recording=true,1s,0000-0000/tplx,PASS,\n")
    assert "--vector-recording=false" not in argv and "--scalar-recording=true" in argv
    assert argv[-1] == "--**.vector-recording=true"  # the row's own word comes after the defaults


VERIFIED = "<!> Simulation time limit reached -- at t=50s, event #10\n\n<!> Fingerprint successfully verified: " \
           "13b7-47d5/tplx, c303-2955/~tNl\n"
MISMATCH = "<!> Simulation time limit reached -- at t=50s, event #10\n\n<!> Fingerprint mismatch! calculated: " \
           "13b7-47d5/tplx, ffff-0000/~tNl, expected: 13b7-47d5/tplx, c303-2955/~tNl\n"


def test_verdicts_in_opp_fingerprinttest_words():
    r = rows()[1]
    ok = judge_row(r, [read_run_output(VERIFIED, 0)])
    assert ok.outcome is Outcome.PASS and ok.passed and ok.describe() == "PASS"
    bad = judge_row(r, [read_run_output(MISMATCH, 0)])
    assert bad.outcome is Outcome.FAIL and not bad.passed
    assert bad.message == "some fingerprint mismatch: actual 'ffff-0000/~tNl', expected: 'c303-2955/~tNl'"
    assert bad.describe().startswith("FAIL (should be PASS): some fingerprint mismatch")
    crash = judge_row(r, [read_run_output("<!> Error: boom -- at t=3s, event #4\n", 1)])
    assert crash.outcome is Outcome.ERROR and crash.message == \
        "runtime error with exitcode=1: <!> Error: boom -- at t=3s, event #4"
    zero = judge_row(r, [read_run_output("<!> No more events, simulation completed -- at t=0s, event #0\n"
                                         "<!> Fingerprint successfully verified: 13b7-47d5/tplx, c303-2955/~tNl", 0)])
    assert zero.message == "zero time simulated"
    cpu = judge_row(r, [read_run_output("<!> CPU time limit reached -- at t=2s, event #9\n" + VERIFIED, 0)])
    assert cpu.message == "cpu time limit exceeded"
    assert judge_row(r, [read_run_output("nothing", 0)]).message == "other"


def test_expected_fail_and_error_rows():
    fail_row, error_row = rows()[2], rows()[3]
    out = read_run_output("<!> Fingerprint mismatch! calculated: 0000-1111/rsz, expected: 9f10-b921/rsz "
                          "3f9a-91a1/rsz", 0)
    assert judge_row(fail_row, [out]).describe() == "FAIL (expected)"
    passing = read_run_output("<!> Fingerprint successfully verified: 9f10-b921/rsz", 0)
    assert judge_row(fail_row, [passing]).describe() == "PASS (unexpected)"
    err = judge_row(error_row, [read_run_output("<!> Error: x", 1)])
    assert err.passed and err.describe() == "ERROR (expected)"


def test_repetitions_that_disagree_fail():
    r = rows()[1]
    a = read_run_output(VERIFIED, 0)
    b = read_run_output(MISMATCH, 0)
    assert judge_row(r, [a, a]).passed
    assert judge_row(r, [a, b]).outcome is Outcome.FAIL
    nondet = rows()[0]
    x = read_run_output("<!> Fingerprint successfully verified: bb79-95ff/tplx", 0)
    y = read_run_output("<!> Fingerprint successfully verified: bb79-95fe/tplx", 0)
    assert "differ between repetitions" in judge_row(nondet, [x, y]).message


def test_newer_omnetpp_mismatch_with_exit_1_is_a_failure():
    r = rows()[1]
    out = read_run_output(MISMATCH.replace("<!> Fingerprint", "<!> Error: Fingerprint"), 1)
    assert judge_row(r, [out]).outcome is Outcome.FAIL


def test_update_cycle_without_changes_is_byte_identical():
    r = rows()
    calculated = {2: ["bb79-95ff/tplx"], 3: ["13b7-47d5/tplx", "c303-2955/~tNl"], 5: ["3f9a-91a1/rsz"]}
    update = update_suite(SUITE, r, calculated)
    assert update.text == SUITE
    assert [c.action for c in update.changes] == [Action.KEEP] * 3


def test_update_touches_only_the_changed_field():
    r = rows()
    update = update_suite(SUITE, r, {3: ["13b7-47d5/tplx", "abcd-0123/~tNl"], 5: ["1111-2222/rsz"]})
    old, new = SUITE.splitlines(keepends=True), update.text.splitlines(keepends=True)
    assert [i for i, (a, b) in enumerate(zip(old, new, strict=True)) if a != b] == [2, 4]
    assert new[2] == old[2].replace("c303-2955/~tNl", "abcd-0123/~tNl")
    assert new[4] == old[4].replace("9f10-b921/rsz 3f9a-91a1/rsz", "1111-2222/rsz")
    assert [c.action for c in update.changes] == [Action.UPDATE, Action.UPDATE]
    assert parse_suite(update.text, Path("s.csv"))[1].fingerprints[1].hashes == ("abcd-0123",)


def test_update_appends_a_new_ingredient_set():
    r = rows()
    update = update_suite(SUITE, r, {2: ["bb79-95ff/tplx", "1234-5678/~tNl"]})
    assert "bb79-95ff/tplx;1234-5678/~tNl,                 PASS," in update.text
