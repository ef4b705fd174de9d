"""A fingerprint suite of 100+ rows through opp-ci, against a plain pool running the same row commands.

The rows are the PASS rows of the stand-in suite (examples/suite), repeated to N rows in one CSV, so
they span its three working directories and its executables. The pool runs each row's command line
exactly as opp-ci's worker builds it (the planner's payload, then opp_ci.execution.run_command), 2 at a
time, with no queue and no reports: what `opp_fingerprinttest -n 2` would do. Both are measured now, on
this machine.

usage: .venv/bin/python benchmarks/suite.py [--rows 120] [--workers 2]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from opp_ci.execution import WorkerSettings, run_command
from opp_ci.omnetpp import Simulation
from opp_ci.planning import PlannedRun, plan_suites
from opp_ci.spec import resolve

ROOT = Path(__file__).resolve().parent.parent


def make_suite(work: Path, rows: int) -> Path:
    shutil.copytree(ROOT / "examples" / "standin", work / "standin", ignore=shutil.ignore_patterns("results"))
    subprocess.run(["make", "-s", "-C", str(work / "standin")], check=True)  # the stand-in's build
    shutil.copytree(ROOT / "examples" / "suite", work / "suite")
    source = [line for line in (work / "suite" / "suite.csv").read_text().splitlines()
              if line.strip() and not line.lstrip().startswith("#") and ", PASS," in line.replace("   ", " ")]
    lines = [source[i % len(source)] for i in range(rows)]
    (work / "suite" / "bench.csv").write_text("\n".join(lines) + "\n")
    (work / "suite" / "opp-ci.toml").write_text('command = "../standin/standin"\nsuite = ["bench.csv"]\n'
                                                '[image]\nbuild = "make -s -C ../standin"\n')
    return work / "suite"


def pool(project: Path, workers: int, out: Path) -> float:
    spec = resolve(project, {}, environ={})
    planned = plan_suites(spec)
    settings = WorkerSettings(Simulation(tuple(spec.command), spec.working_dir), store=None,  # type: ignore[arg-type]
                              scratch=out, root=project)

    def run(index_run: tuple[int, PlannedRun]) -> None:
        index, run = index_run
        (out / f"r{index}").mkdir(parents=True)
        simulation, argv = run_command(run.payload, settings, out / f"r{index}")
        subprocess.run(argv, cwd=simulation.working_dir, capture_output=True, check=False)

    started = time.monotonic()
    with ThreadPoolExecutor(workers) as executor:
        list(executor.map(run, enumerate(planned)))
    return time.monotonic() - started


def opp_ci(project: Path, workers: int, out: Path) -> float:
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "opp_ci", "run", str(project), "-j", str(workers), "-o", str(out)],
                          capture_output=True, text=True)
    wall = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"opp-ci run failed ({done.returncode}): {done.stderr[-2000:]}")
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=120)
    parser.add_argument("--workers", type=int, default=2)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="opp-ci-suite-bench-") as temp:
        project = make_suite(Path(temp), options.rows)
        baseline = pool(project, options.workers, Path(temp) / "pool")
        ours = opp_ci(project, options.workers, Path(temp) / "out")
    print(f"| way | {options.rows} suite rows, {options.workers} at a time | vs pool |")
    print("|---|---:|---:|")
    print(f"| plain pool of {options.workers} processes (row commands) | {baseline:.2f} s | 1.00 |")
    print(f"| opp-ci run --suite, {options.workers} workers | {ours:.2f} s | {ours / baseline:.2f} |")
    print(f"ratio_suite={ours / baseline:.2f}")


if __name__ == "__main__":
    main()
