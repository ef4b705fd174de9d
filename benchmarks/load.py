"""Load: one campaign of many short stand-in runs with two workers; prints the peak memory (RSS) of
the orchestrator and of the private redis-server, and the runs per second.

usage: .venv/bin/python benchmarks/load.py [--runs 10000] [--workers 2] [--configs 100]
Not part of the test suite (it takes many minutes on a small machine).

The runs are spread over --configs configs of the stand-in (`repeat` = runs / configs each): the
stand-in, a Python imitation of an OMNeT++ simulation, expands every repetition of its config when
it starts, so one config of 10,000 repetitions costs each run 0.8 s of CPU instead of 0.15 s, which
measures the stand-in, not opp-ci.
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
    """Every second: the orchestrator's RSS, that of the redis-server among its children, and the
    largest of its workers'."""
    while not stop.is_set():
        try:
            peaks["orchestrator"] = max(peaks["orchestrator"], process.memory_info().rss)
            for child in process.children(recursive=True):
                if "redis-server" in child.name():
                    peaks["redis"] = max(peaks["redis"], child.memory_info().rss)
                elif child.ppid() == process.pid:
                    peaks["worker"] = max(peaks["worker"], child.memory_info().rss)
        except psutil.Error:
            pass
        stop.wait(1.0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--configs", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="opp-ci-load-") as temp:
        project = Path(temp) / "project"
        shutil.copytree(STANDIN, project, ignore=shutil.ignore_patterns("results", "opp-ci-out"))
        configs = [f"Load{n}" for n in range(args.configs)]
        sizes = [args.runs // args.configs + (n < args.runs % args.configs) for n in range(args.configs)]
        sections = [f"[Config {name}]\nextends = Quick\nrepeat = {size}\nsim-time-limit = 1s\n"
                    for name, size in zip(configs, sizes, strict=True)]
        (project / "load.ini").write_text("".join(sections))
        out = Path(temp) / "out"
        argv = [sys.executable, "-m", "opp_ci", "run", str(project), *[w for c in configs for w in ("-c", c)],
                "-f", "omnetpp.ini",
                "-f", "load.ini", "-j", str(args.workers), "-o", str(out)]
        started = time.monotonic()
        process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        peaks, stop = {"orchestrator": 0, "redis": 0, "worker": 0}, threading.Event()
        sampler = threading.Thread(target=sample, args=(psutil.Process(process.pid), peaks, stop), daemon=True)
        sampler.start()
        _out, err = process.communicate()
        wall = time.monotonic() - started
        stop.set()
        sampler.join()
        campaign = json.loads((out / "campaign.json").read_text()) if (out / "campaign.json").exists() else {}
        runs = campaign.get("runs", [])
        passed = sum(r["status"] == "passed" for r in runs)
        print(f"exit {process.returncode}; {len(runs)} records, {passed} passed of {args.runs} runs, "
              f"{args.workers} workers")
        print(f"wall {wall:.1f} s, {len(runs) / wall:.2f} runs/s, {campaign.get('queue_jobs')} queue jobs")
        print(f"peak RSS: orchestrator {peaks['orchestrator'] / 2**20:.1f} MiB, "
              f"redis-server {peaks['redis'] / 2**20:.1f} MiB, largest worker {peaks['worker'] / 2**20:.1f} MiB")
        print("\n".join(err.strip().splitlines()[-2:]))
        return 0 if process.returncode == 0 and passed == args.runs else 1


if __name__ == "__main__":
    sys.exit(main())
