"""Who killed a run: a signal opp-ci did not send (its machine going away, the OOM killer) is an infrastructure
failure, retried within `retries`; only when every attempt dies so is it the run's error, saying so. A crash of
the simulation's own (SIGSEGV) is the simulation's failure, not retried."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

#: The stand-in, whose runs (not its listing) then end as the project's `ending` file says: killed by a signal.
ENDING = """#!/bin/sh
./standin "$@" || exit $?
case "$*" in *--result-dir=*) kill -"$(cat ending)" $$;; esac
"""


def project_ending_with(standin_project: Path, sig: str) -> Path:
    (standin_project / "ending").write_text(sig)
    script = standin_project / "ends"
    script.write_text(ENDING)
    script.chmod(0o755)
    return standin_project


def run_quick(project: Path, out: Path) -> tuple[subprocess.CompletedProcess, dict]:
    done = subprocess.run([sys.executable, "-m", "opp_ci", "run", str(project), "-c", "Quick", "--command", "./ends",
                           "--retries", "1", "-j", "1", "-o", str(out)], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "NO_COLOR": "1"})
    [record] = json.loads((out / "campaign.json").read_text())["runs"]
    return done, record


def test_a_run_killed_from_outside_on_every_attempt_is_an_error_that_says_so(standin_project, tmp_path):
    done, record = run_quick(project_ending_with(standin_project, "KILL"), tmp_path / "out")
    assert done.returncode == 1, done.stderr
    assert record["status"] == "error" and record["attempts"] == 2
    assert record["error"].startswith("infrastructure error: the run was killed by SIGKILL, which opp-ci did not "
                                      "send"), record["error"]
    reason = record["error"].removeprefix("infrastructure error: ")
    assert [f["reason"] for f in record["failed_attempts"]] == [reason, reason]


def test_a_crash_of_the_simulations_own_is_its_failure_and_not_retried(standin_project, tmp_path):
    done, record = run_quick(project_ending_with(standin_project, "SEGV"), tmp_path / "out")
    assert done.returncode == 1, done.stderr
    assert record["status"] == "failed" and record["attempts"] == 1
    assert record["error"] == "killed by signal SIGSEGV"
