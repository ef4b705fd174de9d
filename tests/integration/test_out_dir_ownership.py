"""A project used as its own --out (its results/ is OMNeT++'s default): opp-ci replaces only the files it
wrote, refuses to start (exit 2, nothing touched) when a file it did not write is where outputs go, and
knows its files again after a campaign that was killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.integration


def opp_ci(*args: str, **options) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "opp_ci", *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "NO_COLOR": "1"}, **options)


def test_a_users_files_in_results_are_never_deleted(standin_project):
    first = opp_ci("run", str(standin_project), "--config", "Quick", "-o", str(standin_project), "-j", "2")
    assert first.returncode == 0, first.stderr
    results = standin_project / "results"
    ours = sorted(p.name for p in results.iterdir())
    (results / "my-notes.txt").write_text("mine")
    (results / "Slow-#0.sca").write_text("run by hand\n")  # as a simulation run by hand would leave it
    second = opp_ci("run", str(standin_project), "--config", "Quick", "-o", str(standin_project), "-j", "2")
    assert second.returncode == 2
    [line] = second.stderr.strip().splitlines()
    assert line.endswith(" (and 1 more) was not written by opp-ci: move it away, or choose another --out"), line
    assert f"{results}/my-notes.txt" in line or f"{results}/Slow-#0.sca" in line
    assert (results / "my-notes.txt").read_text() == "mine" and (results / "Slow-#0.sca").read_text() == "run by hand\n"
    assert sorted(p.name for p in results.iterdir()) == sorted([*ours, "my-notes.txt", "Slow-#0.sca"])
    # moved away: the next campaign replaces exactly its own files
    (results / "my-notes.txt").unlink()
    (results / "Slow-#0.sca").unlink()
    third = opp_ci("run", str(standin_project), "--config", "Quick", "-o", str(standin_project), "-j", "2")
    assert third.returncode == 0, third.stderr
    assert sorted(p.name for p in results.iterdir()) == ours


def test_a_changed_output_of_opp_ci_is_someone_elses(standin_project, tmp_path):
    out = tmp_path / "out"
    assert opp_ci("run", str(standin_project), "--config", "Quick", "-o", str(out)).returncode == 0
    log = sorted((out / "logs").glob("*.log"))[0]
    log.write_text("my edited log\n")
    again = opp_ci("run", str(standin_project), "--config", "Quick", "-o", str(out))
    assert again.returncode == 2 and "was not written by opp-ci" in again.stderr
    assert log.read_text() == "my edited log\n"


def test_after_a_killed_campaign_its_files_are_still_its_own(standin_project, tmp_path):
    out = tmp_path / "out"
    process = subprocess.Popen([sys.executable, "-m", "opp_ci", "run", str(standin_project), "--config",
                                "AlohaExperiment", "-o", str(out), "-j", "2"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not list((out / "results").glob("*.sca")):
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)  # the orchestrator and everything it started, at once
    process.wait()
    manifest = json.loads((out / ".opp-ci-manifest.json").read_text())
    assert manifest["state"] == "writing"  # it never ended
    again = opp_ci("run", str(standin_project), "--config", "Quick", "-o", str(out))
    assert again.returncode == 0, again.stderr
    assert json.loads((out / ".opp-ci-manifest.json").read_text())["state"] == "done"


def test_resume_into_another_projects_output_is_refused(standin_project, tmp_path):
    out = tmp_path / "out"
    assert opp_ci("run", str(standin_project), "--config", "Quick", "-o", str(out)).returncode == 0
    other = tmp_path / "other"
    import shutil

    shutil.copytree(standin_project, other)
    before = sorted(p.name for p in (out / "results").iterdir())
    done = opp_ci("run", str(other), "--config", "Quick", "-o", str(out), "--resume")
    assert done.returncode == 2
    assert done.stderr.strip() == (f"opp-ci: error: --resume: {out} holds a campaign of another project "
                                   f"({standin_project}); run without --resume, or choose another --out")
    assert sorted(p.name for p in (out / "results").iterdir()) == before
    assert opp_ci("run", str(standin_project), "--config", "Quick", "-o", str(out), "--resume").returncode == 0
