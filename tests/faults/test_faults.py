"""Faults under a running campaign of 100 stand-in runs: workers SIGKILLed (whole tree) and
SIGTERMed, Redis killed (private: exit 2 with reports, --resume completes; external: restarted, the
campaign completes), the orchestrator killed and resumed, the store failing for a while, and runs that
hang, hog memory or output, or leave a child in its own session."""

from __future__ import annotations

import contextlib
import json
import os
import random
import secrets
import shutil
import signal
import subprocess
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import psutil
import pytest
from faultkit import RUNS, check_complete, kill_tree, make_project

from opp_ci.backends.local import redis_server_binary, stop_process_tree

pytestmark = pytest.mark.faults


def table_row(fault: str, records: list[dict], detection: float | None, said: str) -> None:
    """One row of the fault table (fault, runs, lost, duplicated, detection time, what the report said),
    appended to $OPP_CI_FAULT_TABLE when set."""
    path = os.environ.get("OPP_CI_FAULT_TABLE")
    if not path:
        return
    ids = Counter(r["job_id"] for r in records)
    row = {"fault": fault, "runs": RUNS, "records": len(ids), "lost": RUNS - len(ids),
           "duplicated": sum(n - 1 for n in ids.values()), "detection_s": detection, "report": said}
    with open(path, "a") as f:
        f.write(json.dumps(row) + "\n")


def attempts_said(records: list[dict]) -> str:
    retried = [r for r in records if r.get("attempts", 1) > 1]
    statuses = Counter(r["status"] for r in records)
    return f"{dict(statuses)}; {len(retried)} run(s) with attempts>1"


def wait_for_workers(campaign, count: int = 2, timeout: float = 30) -> list[psutil.Process]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        workers = campaign.workers()
        if len(workers) >= count:
            return workers
        time.sleep(0.1)
    raise AssertionError("workers did not start")


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["sigkill-tree", "sigterm"])
def test_workers_killed_at_random_moments(campaign, sig):
    campaign.start("-j", "2")
    campaign.wait_for_records(5)
    rng = random.Random(11)
    kills: list[float] = []
    busy: list[bool] = []
    for _ in range(4):
        time.sleep(rng.uniform(0.3, 2.5))
        if campaign.process.poll() is not None or len(campaign.records()) >= RUNS - 10:
            break  # short runs are batched: the campaign may be almost done before the fourth kill
        workers = wait_for_workers(campaign)
        victim = rng.choice(workers)
        with contextlib.suppress(psutil.Error):
            busy.append(bool(victim.children()))  # running a simulation (else killed between two jobs)
        kills.append(time.time())
        if sig == signal.SIGKILL:
            kill_tree(victim)  # the worker, its work horse and the simulation, at once
        else:
            victim.send_signal(sig)
    code, err = campaign.finish()
    assert code == 0, err
    records = check_complete(campaign)
    assert all(r["status"] == "passed" for r in records)
    retried = [r for r in records if r["attempts"] > 1]
    assert len(kills) >= 2, kills
    for record in retried:  # each says why its earlier attempts failed, and when that was noticed
        failures = record["failed_attempts"]
        assert len(failures) == record["attempts"] - 1
        assert all(f["reason"] == f"worker {f['worker']} died while running this run" for f in failures), failures
    detection = _detection(kills, [f["at"] for r in retried for f in r["failed_attempts"]])
    if sig == signal.SIGKILL and any(busy):  # a worker killed while it ran something: its runs were retried
        assert retried and detection is not None and detection < 5, (detection, busy)
    table_row(f"{signal.Signals(sig).name} of a worker{' tree' if sig == signal.SIGKILL else ''} x4", records,
              detection, attempts_said(records))
    summary = (campaign.out / "summary.md").read_text()
    assert ("took more than one attempt" in summary) == bool(retried)
    assert campaign.alive() == []
    assert list(campaign.temp.iterdir()) == []  # killed workers' scratch dirs were removed by their successors


#: The runs of the campaign whose workers are killed simulation first.
LONG_RUNS = 16


def test_a_machine_going_away_is_no_simulation_failure(campaign):
    """The whole tree of a worker SIGKILLed with its simulation a moment first (the order is arbitrary when a
    container or VM dies), four times: the run is retried as an infrastructure failure, never recorded as the
    simulation's ("killed by signal SIGKILL" was a false regression in 1 of 2 tries on real aloha). Runs of
    1.2 s, one job each: a batch, which is retried whole when its worker dies, would hide the false failure."""
    make_project(campaign.project, runs=LONG_RUNS, wall="1.2s")
    campaign.start("-j", "2")
    campaign.wait_for_records(2)
    rng = random.Random(7)
    kills = 0
    for _ in range(12):
        if kills == 4 or campaign.process.poll() is not None or len(campaign.records()) >= LONG_RUNS - 4:
            break
        time.sleep(rng.uniform(0.2, 1.0))
        with contextlib.suppress(psutil.Error, AssertionError):
            victim = next(w for w in wait_for_workers(campaign, timeout=5) if _simulations(w))
            for simulation in _simulations(victim):
                simulation.kill()
            time.sleep(rng.uniform(0.05, 0.2))  # what the worker does in this moment must not count
            kill_tree(victim)
            kills += 1
    code, err = campaign.finish()
    records = check_complete(campaign, LONG_RUNS)
    assert all(r["status"] == "passed" for r in records), [r["error"] for r in records if r["status"] != "passed"]
    assert code == 0, err
    retried = [r for r in records if r["attempts"] > 1]
    assert kills >= 2 and retried, (kills, len(retried))
    reasons = {f["reason"] for r in retried for f in r["failed_attempts"]}
    assert all("died while running this run" in why or "which opp-ci did not send" in why for why in reasons), reasons
    table_row(f"a worker tree SIGKILLed, its simulation first, x{kills}", records, None, attempts_said(records))


def _simulations(worker: psutil.Process) -> list[psutil.Process]:
    return [p for p in worker.children(recursive=True) if "standin" in " ".join(p.cmdline())]


def _detection(kills: list[float], noticed: list[str]) -> float | None:
    """The longest time from a kill to the orchestrator's note of the failed attempt it caused (the
    latest kill before the note; a worker killed between jobs causes none), in seconds."""
    times = {datetime.strptime(at, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp() for at in noticed}
    delays = [t - max(kill for kill in kills if kill <= t) for t in times if any(kill <= t for kill in kills)]
    return round(max(delays), 2) if delays else None


def test_private_redis_killed_then_resume(campaign):
    campaign.start("-j", "2")
    campaign.wait_for_records(20)
    redis = campaign.redis()
    assert redis is not None
    killed = time.monotonic()
    redis.kill()
    code, err = campaign.finish()
    detection = time.monotonic() - killed
    lines = [line for line in err.splitlines() if "error" in line]
    assert code == 2, err
    assert "Traceback" not in err
    assert len(lines) == 1 and "lost Redis" in lines[0] and "--resume" in lines[0], err
    collected = campaign.records()
    assert 20 <= len(collected) < RUNS
    assert (campaign.out / "junit.xml").is_file() and (campaign.out / "summary.md").is_file()
    code, err = campaign.run("-j", "2", "--resume")
    assert code == 0, err
    records = check_complete(campaign)
    table_row("private redis-server SIGKILLed", records, round(detection, 1),
              f"exit 2: {lines[0].split('error: ')[-1][:90]}...; --resume: {attempts_said(records)}")
    assert campaign.alive() == []


def _start_redis(port: int, password: str, directory: Path) -> subprocess.Popen:
    config = (f"bind 127.0.0.1\nport {port}\nrequirepass {password}\ndir {directory}\nappendonly yes\n"
              "save \"\"\ndaemonize no\n")
    process = subprocess.Popen([redis_server_binary(), "-"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    process.stdin.write(config.encode())
    process.stdin.close()
    time.sleep(0.5)
    return process


def test_external_redis_killed_and_restarted(campaign, tmp_path):
    from ports import free_port

    port, password = free_port(), secrets.token_hex(12)
    directory = tmp_path / "redis"
    directory.mkdir()
    server = _start_redis(port, password, directory)
    try:
        campaign.start("-j", "2", "--redis-url", f"redis://:{password}@127.0.0.1:{port}/0")
        campaign.wait_for_records(20)
        server.kill()
        server.wait()
        time.sleep(3)
        server = _start_redis(port, password, directory)
        code, err = campaign.finish()
        assert code == 0, err
        assert "waiting up to" in err and "goes on" in err
        records = check_complete(campaign)
        table_row("external Redis SIGKILLed, restarted after 3 s", records, None,
                  f"warning 'lost Redis ... waiting', then 'goes on'; {attempts_said(records)}")
    finally:
        stop_process_tree(server.pid, grace=1)
    assert password not in err


def test_orchestrator_killed_then_resume(campaign):
    campaign.start("-j", "2")
    campaign.wait_for_records(20)
    campaign.process.kill()  # its Redis and workers die with it (PDEATHSIG)
    campaign.process.wait()
    deadline = time.monotonic() + 15
    while campaign.alive() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert campaign.alive() == []
    code, err = campaign.run("-j", "2", "--resume")
    assert code == 0, err
    records = check_complete(campaign)
    leftovers = [p.name for p in campaign.temp.iterdir()]
    assert leftovers == [], leftovers  # the killed campaign's Redis dir and scratch dirs were removed
    table_row("orchestrator SIGKILLed, then --resume", records, None, attempts_said(records))


def test_store_failing_for_a_while(campaign):
    campaign.start("-j", "2")
    campaign.wait_for_records(20)
    store = campaign.out / ".opp-ci-store"
    aside = campaign.out / "store-aside"
    store.rename(aside)
    store.write_text("the store is down")  # every upload and download fails (NotADirectoryError)
    time.sleep(4)
    store.unlink()
    aside.rename(store)
    code, err = campaign.finish()
    assert code == 0, err
    records = check_complete(campaign)
    assert all(r["status"] == "passed" for r in records)
    table_row("store unavailable for 4 s", records, None, f"retried with backoff; {attempts_said(records)}")


MISBEHAVING_INI = """
[Config FHang]
extends = Quick
**.behaviour = "hang"

[Config FMem]
extends = Quick

[Config FOut]
extends = Quick

[Config FEscape]
extends = Quick
"""

#: Runs the stand-in, misbehaving first for the F* configs.
WRAPPER = """#!/usr/bin/env python3
import os, subprocess, sys
argv = sys.argv[1:]
config = argv[argv.index("-c") + 1] if "-c" in argv else ""
if "-q" not in argv:
    if config == "FMem":
        block = bytearray(3 << 30)  # 3 GB: above memory-limit
    if config == "FOut":
        line = b"x" * 1023 + b"\\n"
        for _ in range(200 * 1024):  # 200 MB of output
            sys.stdout.buffer.write(line)
        sys.stdout.flush()
    if config == "FEscape":
        print("environment:", " ".join(sorted(os.environ)), flush=True)
        subprocess.Popen(["setsid", "sleep", "1000"], start_new_session=True)
os.execv("./standin", ["./standin", *argv])
"""


def test_hang_memory_output_hog_and_escaping_child(campaign):
    project = campaign.project
    (project / "faults.ini").write_text((project / "faults.ini").read_text().replace("repeat = 100", "repeat = 96")
                                        + MISBEHAVING_INI)
    (project / "wrapper").write_text(WRAPPER)
    (project / "wrapper").chmod(0o755)
    toml = (project / "opp-ci.toml").read_text().replace('"./standin"', '"./wrapper"')
    toml = toml.replace('timeout = "20s"', 'timeout = "20s"\nlog-limit = "1MiB"\nmemory-limit = "1GiB"')
    (project / "opp-ci.toml").write_text(toml + "\n[configs.FHang]\ntimeout = \"3s\"\n[configs.FMem]\n"
                                         "[configs.FOut]\n[configs.FEscape]\n")
    code, err = campaign.run("-j", "2")
    assert code == 1, err  # the hang and the memory hog did not pass
    records = check_complete(campaign)
    by_config = {r["config"]: r for r in records if r["config"].startswith("F")}
    assert by_config["FHang"]["status"] == "timeout" and "timed out" in by_config["FHang"]["error"]
    assert by_config["FMem"]["status"] == "failed" and "out of memory" in by_config["FMem"]["error"]
    assert by_config["FOut"]["status"] == "passed"
    log = (campaign.out / by_config["FOut"]["log"]).read_bytes()
    assert len(log) < (1 << 20) + 4096 and b"dropped here (log-limit)" in log
    assert by_config["FEscape"]["status"] == "passed"
    escape_log = (campaign.out / by_config["FEscape"]["log"]).read_bytes()
    assert b"left behind were killed" in escape_log
    assert b"environment: " in escape_log and b"OPP_CI_REDIS" not in escape_log  # no secret reaches a run
    assert not [p for p in psutil.process_iter(["name"]) if p.info["name"] == "sleep"
                and p.pid in campaign.alive()]
    assert sum(r["status"] == "passed" for r in records) == 98
    table_row("hang / memory hog / 200 MB output / setsid child", records, None,
              f"FHang {by_config['FHang']['error'][:40]}; FMem {by_config['FMem']['error'][:40]}; FOut log "
              f"{len(log)} B with the middle dropped; FEscape child killed (noted in its log)")
    assert campaign.alive() == []
    shutil.rmtree(campaign.out / "results", ignore_errors=True)
