"""Load: one campaign of many short stand-in runs with two workers; prints the peak memory (RSS) of
the orchestrator and of the private redis-server, and the runs per second.

usage: .venv/bin/python benchmarks/load.py [--runs 10000] [--workers 2]
Not part of the test suite (it takes many minutes on a small machine).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
STANDIN = ROOT / "examples" / "standin"


def sample(process: psutil.Process, peaks: dict[str, int], stop: threading.Event) -> None:
    """Every second: the orchestrator's RSS and that of the redis-server among its children."""
    while not stop.is_set():
        try:
            peaks["orchestrator"] = max(peaks["orchestrator"], process.memory_info().rss)
            for child in process.children(recursive=True):
                if "redis-server" in child.name():
                    peaks["redis"] = max(peaks["redis"], child.memory_info().rss)
        except psutil.Error:
            pass
        stop.wait(1.0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="opp-ci-load-") as temp:
        project = Path(temp) / "project"
        shutil.copytree(STANDIN, project, ignore=shutil.ignore_patterns("results", "opp-ci-out"))
        (project / "load.ini").write_text(f"[Config Load]\nextends = Quick\nrepeat = {args.runs}\n"
                                          "sim-time-limit = 1s\n")
        out = Path(temp) / "out"
        argv = [sys.executable, "-m", "opp_ci", "run", str(project), "-c", "Load", "-f", "omnetpp.ini",
                "-f", "load.ini", "-j", str(args.workers), "-o", str(out)]
        started = time.monotonic()
        process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        peaks, stop = {"orchestrator": 0, "redis": 0}, threading.Event()
        sampler = threading.Thread(target=sample, args=(psutil.Process(process.pid), peaks, stop), daemon=True)
        sampler.start()
        _out, err = process.communicate()
        wall = time.monotonic() - started
        stop.set()
        sampler.join()
        runs = json.loads((out / "campaign.json").read_text())["runs"] if (out / "campaign.json").exists() else []
        passed = sum(r["status"] == "passed" for r in runs)
        print(f"exit {process.returncode}; {len(runs)} records, {passed} passed of {args.runs} runs, "
              f"{args.workers} workers")
        print(f"wall {wall:.1f} s, {len(runs) / wall:.2f} runs/s")
        print(f"peak RSS: orchestrator {peaks['orchestrator'] / 2**20:.1f} MiB, "
              f"redis-server {peaks['redis'] / 2**20:.1f} MiB")
        print("\n".join(err.strip().splitlines()[-2:]))
        return 0 if process.returncode == 0 and passed == args.runs else 1


if __name__ == "__main__":
    sys.exit(main())
