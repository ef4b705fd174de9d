"""Helpers of the fault suite (tests/faults): campaigns of at least 100 short stand-in runs, with
workers, Redis, the store and the orchestrator failing under them. Every test checks that each run
ends with exactly one record and its files, and that the record says what happened."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psutil
from ports import tagged_pids

RUNS = 100

FAULT_INI = """
[Config Many]
extends = Quick
repeat = {runs}
sim-time-limit = 1s
**.wallTime = {wall}
"""

FAULT_TOML = """command = "./standin"
ini = ["omnetpp.ini", "faults.ini"]
timeout = "20s"
retries = 3

[configs.Many]
"""


class Campaign:
    """One `opp-ci run` in the background, tagged so that every process it starts can be found."""

    def __init__(self, project: Path, out: Path, temp: Path) -> None:
        self.project, self.out, self.temp = project, out, temp
        self.tag = f"opp-ci-fault-{uuid.uuid4().hex}"
        self.process: subprocess.Popen | None = None
        self.started = 0.0

    def env(self, **extra: str) -> dict[str, str]:
        return {**os.environ, "OPP_CI_TEST_TAG": self.tag, "TMPDIR": str(self.temp), **extra}

    def start(self, *args: str) -> subprocess.Popen:
        argv = [sys.executable, "-m", "opp_ci", "run", str(self.project), "-o", str(self.out), *args]
        self.started = time.monotonic()
        self.process = subprocess.Popen(argv, env=self.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True)
        return self.process

    def finish(self, timeout: float = 300) -> tuple[int, str]:
        assert self.process is not None
        _out, err = self.process.communicate(timeout=timeout)
        return self.process.returncode, err

    def run(self, *args: str, timeout: float = 300) -> tuple[int, str]:
        self.start(*args)
        return self.finish(timeout)

    def workers(self) -> list[psutil.Process]:
        assert self.process is not None
        try:
            children = psutil.Process(self.process.pid).children()
        except psutil.NoSuchProcess:
            return []
        return [c for c in children if "worker" in " ".join(_cmdline(c))]

    def redis(self) -> psutil.Process | None:
        assert self.process is not None
        for child in psutil.Process(self.process.pid).children():
            if "redis-server" in child.name():
                return child
        return None

    def records(self) -> list[dict]:
        path = self.out / "campaign.json"
        try:
            return json.loads(path.read_text())["runs"]
        except (OSError, ValueError, KeyError):
            return []

    def wait_for_records(self, count: int, timeout: float = 120) -> float:
        """Waits until campaign.json has `count` records; the time it took since start."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.records()) >= count:
                return time.monotonic() - self.started
            time.sleep(0.2)
        raise AssertionError(f"fewer than {count} records after {timeout}s")

    def alive(self) -> list[int]:
        return tagged_pids(self.tag)


def _cmdline(process: psutil.Process) -> list[str]:
    try:
        return process.cmdline()
    except psutil.Error:
        return []


def kill_tree(process: psutil.Process, sig: int = signal.SIGKILL) -> None:
    """Signals a process and all its descendants at once."""
    try:
        tree = [process, *process.children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    for member in tree:
        with contextlib.suppress(psutil.NoSuchProcess):
            member.send_signal(sig)


def check_complete(campaign: Campaign, runs: int = RUNS) -> list[dict]:
    """Exactly one record per planned run, each with its log and (when passed) its result files."""
    records = campaign.records()
    ids = [r["job_id"] for r in records]
    assert len(ids) == len(set(ids)), "a run has two records"
    assert len(records) == runs, f"{len(records)} records for {runs} runs"
    for record in records:
        if record["status"] in ("passed", "failed", "timeout"):
            assert record.get("log") and (campaign.out / record["log"]).is_file(), record
        if record["status"] == "passed":
            assert record["result_files"], record
            for name in record["result_files"]:
                assert (campaign.out / name).is_file(), name
    assert (campaign.out / "junit.xml").is_file() and (campaign.out / "summary.md").is_file()
    return records


def make_project(standin_project: Path, runs: int = RUNS, wall: str = "0.2s") -> Path:
    (standin_project / "faults.ini").write_text(FAULT_INI.format(runs=runs, wall=wall))
    (standin_project / "opp-ci.toml").write_text(FAULT_TOML)
    return standin_project
