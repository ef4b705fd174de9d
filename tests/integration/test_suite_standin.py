"""The stand-in fingerprint suite (examples/suite) run row by row with the real stand-in, each row planned
into its payload and started as the worker starts it (no queue, no campaign): verdicts, the planted row,
--repeat 2 and an update cycle."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from opp_ci.execution import WorkerSettings, run_command
from opp_ci.fingerprints import suites
from opp_ci.fingerprints.checks import judge_row
from opp_ci.fingerprints.log import RunOutput, read_run_output
from opp_ci.fingerprints.verdicts import Expected, Outcome
from opp_ci.omnetpp import Simulation
from opp_ci.planning import plan_suites
from opp_ci.spec import resolve

ROOT = Path(__file__).resolve().parents[2]
SUITE = ROOT / "examples" / "suite"
STANDIN = ROOT / "examples" / "standin" / "standin"
pytestmark = pytest.mark.usefixtures("standin_executable")  # built by the stand-in's own build command


def run_row(row: suites.SuiteRow, root: Path, tmp: Path, ingredients=()) -> RunOutput:
    """The row's run as opp-ci's planner and worker make it (its payload, then the worker's command line)."""
    flags = {"suite": [row.file.name], "ingredients": list(ingredients), "suite-cpu-time-limit": "60s"}
    spec = resolve(root, flags, environ={})
    [payload] = [p.payload for p in plan_suites(spec, built=False) if p.row is not None and p.row.line == row.line]
    settings = WorkerSettings(Simulation(tuple(spec.command), spec.working_dir), store=None,  # type: ignore[arg-type]
                              scratch=tmp, root=root)
    simulation, argv = run_command(payload, settings, tmp / f"r{row.line}")
    done = subprocess.run(argv, cwd=simulation.working_dir, capture_output=True, text=True, timeout=60)
    return read_run_output(done.stdout + done.stderr, done.returncode)


def test_every_row_gets_its_expected_verdict(tmp_path):
    rows = suites.read_suite(SUITE / "suite.csv")
    assert len({r.workingdir for r in rows}) >= 3 and len({r.executable for r in rows}) >= 3  # 2 + spec's
    verdicts = {r.line: judge_row(r, [run_row(r, SUITE, tmp_path)]).describe() for r in rows}
    assert verdicts == {3: "PASS", 4: "PASS", 5: "PASS", 8: "PASS", 9: "FAIL (expected)", 12: "PASS",
                        13: "PASS", 14: "ERROR (expected)", 15: "ERROR (expected)"}


def test_row_args_keep_vector_recording(tmp_path):
    rows = {r.line: r for r in suites.read_suite(SUITE / "suite.csv")}
    run_row(rows[12], SUITE, tmp_path)
    run_row(rows[13], SUITE, tmp_path)
    assert not list((tmp_path / "r12").glob("*.vec")) and list((tmp_path / "r13").glob("*.vec"))
    assert list((tmp_path / "r12").glob("*.sca"))


def test_a_planted_wrong_fingerprint_fails_exactly_its_row(tmp_path):
    work = tmp_path / "suite"
    shutil.copytree(SUITE, work, symlinks=True)
    (tmp_path / "standin").symlink_to(STANDIN.parent)  # ../../standin/standin, seen from suite/quick/
    path = work / "suite.csv"
    path.write_text(path.read_text().replace("2ed3-2ea9/tplx", "2ed3-2eaa/tplx"))
    rows = suites.read_suite(path)
    failed = [r.line for r in rows if not judge_row(r, [run_row(r, work, tmp_path)]).passed]
    assert failed == [4]


def test_only_chosen_ingredients_are_checked(tmp_path):
    row = next(r for r in suites.read_suite(SUITE / "suite.csv") if len(r.fingerprints) == 3)
    out = run_row(row, SUITE, tmp_path, ingredients=["~tNl"])
    assert out.log.calculated == ("a6f2-7c6e/~tNl",) and judge_row(row, [out], ["~tNl"]).passed


def test_repeat_2_catches_the_nondeterministic_row(tmp_path):
    row = suites.read_suite(SUITE / "unstable.csv")[0]
    runs = [run_row(row, SUITE, tmp_path) for _ in range(2)]
    verdict = judge_row(row, runs)
    assert verdict.outcome is Outcome.FAIL and not verdict.passed
    stable = suites.read_suite(SUITE / "suite.csv")[0]
    assert judge_row(stable, [run_row(stable, SUITE, tmp_path) for _ in range(2)]).passed


@pytest.mark.parametrize("name", ["suite.csv"])
def test_update_cycle_with_real_fingerprints_is_byte_identical(tmp_path, name):
    text = (SUITE / name).read_text()
    rows = suites.read_suite(SUITE / name)
    calculated = {}
    for row in rows:
        out = run_row(row, SUITE, tmp_path)
        if out.exit_code == 0 and row.expected is Expected.PASS:
            calculated[row.line] = out.log.calculated
    update = suites.update_suite(text, rows, calculated)
    assert update.text == text and {c.action for c in update.changes} == {suites.Action.KEEP}
