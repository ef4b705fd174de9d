"""Whole campaigns through the CLI on the local backend: a real redis-server, real worker processes,
the stand-in simulation."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import psutil
import pytest

pytestmark = pytest.mark.integration

TEST_CONFIGS = """
[Config TMixed]
extends = Quick
**.behaviour = ${behaviour="normal","fail"}

[Config THang]
extends = Quick
**.behaviour = "hang"

[Config TMany]
extends = Quick
repeat = 15
**.behaviour = ${behaviour="normal","fail"}

[Config TSlow]
extends = Quick
repeat = 6
**.wallTime = 1.5s
"""


@pytest.fixture
def project(standin_project: Path) -> Path:
    (standin_project / "tests.ini").write_text(TEST_CONFIGS)
    return standin_project


def records(out: Path) -> list[dict]:
    return json.loads((out / "campaign.json").read_text())["runs"]


def junit_cases(out: Path) -> list[ET.Element]:
    return list(ET.parse(out / "junit.xml").getroot().iter("testcase"))


def listed_runs(project: Path, config: str, *ini: str) -> int:
    files = [arg for name in (ini or ("omnetpp.ini",)) for arg in ("-f", name)]
    listing = subprocess.run(["./standin", "-u", "Cmdenv", *files, "-c", config, "-s", "-q", "runs"], cwd=project,
                             capture_output=True, text=True, check=True)
    return sum(line.startswith("Run ") for line in listing.stdout.splitlines())


def test_demo_campaign_with_two_workers(project, tagged, tmp_path):
    out = tmp_path / "out"
    done = tagged.run("run", str(project), "--workers", "2", "--out", str(out))

    assert done.returncode == 0, done.stderr
    expected = sum(listed_runs(project, c) for c in ("Quick", "AlohaExperiment"))
    assert expected >= 4
    assert len(records(out)) == expected
    assert all(r["status"] == "passed" and r["attempts"] == 1 for r in records(out))
    assert len(junit_cases(out)) == expected
    assert all(r["worker"].startswith("local-") for r in records(out))
    for record in records(out):
        assert record["result_files"] and all((out / f).is_file() for f in record["result_files"])
        assert (out / record["log"]).is_file()
    assert (out / "summary.md").read_text().startswith("## OMNeT++ campaign")
    assert "outputs in" in done.stderr  # a message, not what the command prints
    assert tagged.alive() == []
    assert not (out / ".opp-ci-store").exists()


def test_failed_hung_and_mismatched_runs_are_reported(project, tagged, tmp_path):
    out = tmp_path / "out"
    common = ["--ini", "omnetpp.ini", "--ini", "tests.ini", "--out", str(out), "--workers", "2"]
    done = tagged.run("run", str(project), "--config", "TMixed", "--config", "THang", "--timeout", "3s", *common)

    assert done.returncode == 1, done.stderr
    by_status = {}
    for record in records(out):
        by_status.setdefault(record["status"], []).append(record)
    assert len(by_status["passed"]) == 1
    [failed] = by_status["failed"]
    assert failed["itervars"] == {"behaviour": '"fail"'}
    assert failed["exit_code"] == 1 and failed["error"]
    [hung] = by_status["timeout"]
    assert hung["config"] == "THang" and hung["wall_seconds"] < 30
    assert "timed out after 3s" in hung["error"]
    failures = {c.get("name"): c.find("failure") for c in junit_cases(out)}
    assert sum(f is not None for f in failures.values()) == 2
    assert any(f is not None and failed["error"] in f.get("message") for f in failures.values())

    mismatch_out = tmp_path / "mismatch"
    done = tagged.run("run", str(project), "--config", "Quick", "--arg", "--fingerprint=0000-0000/tplx",
                      "--out", str(mismatch_out), "--workers", "1")
    assert done.returncode == 1
    [record] = records(mismatch_out)
    assert record["status"] == "failed" and record["exit_code"] == 0
    assert record["fingerprint"] == "mismatch" and record["fingerprint_expected"] == "0000-0000/tplx"
    [case] = junit_cases(mismatch_out)
    assert "Fingerprint mismatch" in case.find("failure").get("message")
    assert tagged.alive() == []


def _workers_of(process: psutil.Process) -> list[psutil.Process]:
    workers = []
    for child in process.children(recursive=True):
        try:
            command = child.cmdline()
        except psutil.Error:  # a run that just ended
            continue
        started = "worker" in command and "opp_ci" in command  # `python -m opp_ci worker`, or forked (RQ's title)
        if (started or " ".join(command).startswith("rq:worker:")) and child.ppid() == process.pid:
            workers.append(child)
    return workers


def test_a_worker_killed_mid_run_does_not_lose_or_duplicate_runs(project, tagged, tmp_path):
    out = tmp_path / "out"
    campaign = tagged.start("run", str(project), "--ini", "omnetpp.ini", "--ini", "tests.ini", "--config", "TSlow",
                            "--workers", "2", "--retries", "2", "--out", str(out))
    victim = _wait_for_busy_worker(psutil.Process(campaign.pid))
    for process in [victim, *victim.children(recursive=True)]:  # the worker, its reaper, the simulation it runs
        with contextlib.suppress(ProcessLookupError):  # the reaper ends as soon as the worker died
            os.kill(process.pid, signal.SIGKILL)

    _stdout, stderr = campaign.communicate(timeout=180)

    assert campaign.returncode == 0, stderr
    runs = records(out)
    assert len(runs) == 6
    assert len({(r["config"], r["run"]) for r in runs}) == 6
    assert all(r["status"] == "passed" for r in runs)
    assert any(r["attempts"] == 2 for r in runs)
    assert len(junit_cases(out)) == 6
    assert tagged.alive() == []


def _wait_for_busy_worker(orchestrator: psutil.Process, timeout: float = 60) -> psutil.Process:
    """A worker that is running a simulation right now (the simulation is among its descendants)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for worker in _workers_of(orchestrator):
            try:
                if any(_is_simulation(child.cmdline()) for child in worker.children(recursive=True)):
                    return worker
            except psutil.Error:
                continue
        time.sleep(0.1)
    raise AssertionError("no worker started a run")


def _is_simulation(command: list[str]) -> bool:
    """A run of the stand-in (not a worker, nor its reaper, whose titles may name the stand-in too)."""
    return any(word.endswith("standin") for word in command) and any(w.startswith("--result-dir=") for w in command)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--config", "NoSuchConfig"], "No such config: NoSuchConfig"),
        (["--config", "AlohaExperiment", "--runs", "$numHosts==12345"], "selects no runs"),
        (["--config", "Quick", "--ini", "broken.ini"], "broken.ini"),
        (["--config", "Quick", "--command", "./no-such-simulation"], "not found"),
    ],
)
def test_bad_input_stops_everything_with_one_line_and_exit_2(project, tagged, tmp_path, args, message):
    done = tagged.run("run", str(project), "--out", str(tmp_path / "out"), *args)

    assert done.returncode == 2
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()
    assert tagged.alive() == []


def test_unreachable_redis_is_a_clear_error(project, tagged, tmp_path):
    done = tagged.run("run", str(project), "--redis-url", "redis://:secret-pw@127.0.0.1:1/0", "--out", str(tmp_path))
    assert done.returncode == 2
    assert "cannot reach Redis at redis://:***@127.0.0.1:1/0" in done.stderr
    assert "secret-pw" not in done.stderr + done.stdout
    assert tagged.alive() == []


def test_sigint_stops_every_process_it_started(project, tagged, tmp_path):
    out = tmp_path / "out"
    campaign = tagged.start("run", str(project), "--ini", "omnetpp.ini", "--ini", "tests.ini", "--config", "TSlow",
                            "--workers", "2", "--out", str(out))
    _wait_for_busy_worker(psutil.Process(campaign.pid))
    temp_dirs = _private_temp_dirs(psutil.Process(campaign.pid))

    campaign.send_signal(signal.SIGINT)
    _stdout, stderr = campaign.communicate(timeout=60)

    assert campaign.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    time.sleep(0.5)
    assert tagged.alive() == []
    assert temp_dirs and not any(Path(d).exists() for d in temp_dirs)


def _private_temp_dirs(orchestrator: psutil.Process) -> list[str]:
    """The temp directory of the campaign's redis-server (its working directory: its `dir`)."""
    return [child.cwd() for child in orchestrator.children() if "redis" in child.name()]


def test_resume_runs_only_what_has_no_record(project, tagged, tmp_path):
    out = tmp_path / "out"
    first = tagged.run("run", str(project), "--workers", "2", "--out", str(out))
    assert first.returncode == 0, first.stderr
    before = records(out)
    kept, dropped = before[1:], before[0]
    data = json.loads((out / "campaign.json").read_text())
    data["runs"] = kept
    (out / "campaign.json").write_text(json.dumps(data))

    again = tagged.run("run", str(project), "--workers", "2", "--out", str(out), "--resume")

    assert again.returncode == 0, again.stderr
    after = {(r["config"], r["run"]): r for r in records(out)}
    assert len(after) == len(before)
    for record in kept:  # the very same records: not run again
        assert after[(record["config"], record["run"])] == record
    rerun = after[(dropped["config"], dropped["run"])]
    assert rerun["status"] == "passed" and rerun["job_id"] == dropped["job_id"]


def test_workers_started_elsewhere_do_the_work(project, tagged, tmp_path, redis_server):
    store = tmp_path / "shared-store"
    workers = [
        tagged.start("worker", "--project", str(project), "--store", str(store), OPP_CI_REDIS_URL=redis_server.url)
        for _ in range(2)
    ]
    try:
        done = tagged.run("run", str(project), "--workers", "0", "--redis-url", redis_server.url,
                          "--store", str(store), "--out", str(tmp_path / "out"))
    finally:
        for worker in workers:
            worker.terminate()
            worker.communicate(timeout=30)
    assert done.returncode == 0, done.stderr
    assert all(r["status"] == "passed" for r in records(tmp_path / "out"))
    assert all((tmp_path / "out" / f).is_file() for r in records(tmp_path / "out") for f in r["result_files"])
    assert any(store.rglob("*.sca"))  # the workers' store is theirs: read, never emptied


def test_short_runs_are_batched_from_the_campaigns_own_first_runs_and_from_history(project, tagged, tmp_path):
    out = tmp_path / "out"
    common = ["--ini", "omnetpp.ini", "--ini", "tests.ini", "--config", "TMany", "--out", str(out), "--workers", "2"]
    first = tagged.run("run", str(project), *common)
    assert first.returncode == 1, first.stderr  # the "fail" half fails
    first_records = {r["job_id"]: r for r in records(out)}
    assert len(first_records) == 30 and json.loads((out / "campaign.json").read_text())["queue_jobs"] < 30
    assert all((out / r["log"]).is_file() and r["result_files"] for r in first_records.values())

    second = tagged.run("run", str(project), *common)

    assert second.returncode == 1, second.stderr
    campaign = json.loads((out / "campaign.json").read_text())
    assert campaign["queue_jobs"] < 30  # batches of short runs
    again = {r["job_id"]: r for r in campaign["runs"]}
    assert again.keys() == first_records.keys()  # every run once, each with its own record
    for identifier, record in again.items():
        assert record["status"] == first_records[identifier]["status"]
        assert record["result_files"] and all((out / f).is_file() for f in record["result_files"])
        assert (out / record["log"]).is_file()
    assert sum(r["status"] == "failed" for r in again.values()) == 15
    assert len(junit_cases(out)) == 30
    assert tagged.alive() == []


@pytest.mark.parametrize("with_thread", [False, True], ids=["forked", "exec"])
def test_workers_that_cannot_start_stop_the_campaign_instead_of_being_replaced_forever(tmp_path, with_thread):
    """Workers are forked from the orchestrator while it has no other thread, else started as
    `python -m opp_ci worker`: either way a worker that cannot start is reported, not replaced forever."""
    from opp_ci.backends.local import START_FAILURES, WorkerPool
    from opp_ci.errors import UserError
    from opp_ci.worker import WorkerOptions

    options = WorkerOptions("redis://127.0.0.1:1/0", project_dir=tmp_path, command="./standin")  # Redis is not there
    pool = WorkerPool(options=options, env=dict(os.environ), log_dir=tmp_path / "workers", size=2)
    other = threading.Event()
    if with_thread:
        threading.Thread(target=other.wait, daemon=True).start()
    pool.start()
    deadline = time.monotonic() + 60
    try:
        with pytest.raises(UserError) as error:
            while time.monotonic() < deadline:
                pool.check()
                time.sleep(0.05)
    finally:
        other.set()
        pool.stop(0)
    assert f"{START_FAILURES} workers in a row exited as they started" in error.value.message
    assert "cannot reach Redis at redis://127.0.0.1:1/0" in error.value.message
    assert pool.spawned < 3 * START_FAILURES  # not replaced forever


WORKER_OF = """
import sys
from pathlib import Path
from opp_ci.errors import UserError
from opp_ci.omnetpp import Simulation
from opp_ci.worker import WorkerOptions, run_worker

project = Path(sys.argv[2])
given = Simulation(("true",), project) if sys.argv[3] == "given" else None
try:
    run_worker(WorkerOptions(sys.argv[1], project_dir=project, burst=True, scratch=project, simulation=given))
except UserError as error:
    print(error.message)
else:
    print("worked")
"""


@pytest.mark.parametrize("simulation", ["given", "read"])
def test_a_forked_worker_does_not_read_opp_ci_toml_again(redis_server, tmp_path, simulation):
    """The local backend hands its workers the simulation it resolved: a worker reads opp-ci.toml only when
    started on its own (`opp-ci worker`)."""
    (tmp_path / "opp-ci.toml").write_text("command = [\n")  # not TOML: reading it is an error
    done = subprocess.run([sys.executable, "-c", WORKER_OF, redis_server.url, str(tmp_path), simulation],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    if simulation == "given":
        assert done.stdout.strip() == "worked"
    else:
        assert "opp-ci.toml" in done.stdout
