"""How much does opp-ci cost over running the same runs with a plain process pool?

The baseline is what `opp_runall -jN` does: N processes at a time, one per run, no queue, no reports.
Both are measured here, in the same session, on the same runs of the stand-in simulation, and the
ratio is printed (1.00 = no overhead). Scenarios:

- `short`: many runs of a few milliseconds each: the per-run overhead of queueing, collecting, reporting.
- `busy`: runs that take a given wall time: how well the workers keep busy (scheduling efficiency).
- `long`: fewer, longer runs, closer to a real campaign: the fixed costs (Redis, worker start-up,
  reports) spread over more work.

usage: benchmarks/run [--workers N] [--repeat K]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STANDIN = ROOT / "examples" / "standin"

SCENARIOS = {
    # name: (ini text, config, description)
    "short": ("[Config BenchShort]\nextends = Quick\nrepeat = 60\n", "BenchShort", "60 runs of a few ms"),
    "busy": ("[Config BenchBusy]\nextends = Quick\nrepeat = 12\n**.wallTime = 0.5s\n", "BenchBusy",
             "12 runs of 0.5 s wall time"),
    "long": ("[Config BenchLong]\nextends = Quick\nrepeat = 8\n**.wallTime = 3s\n", "BenchLong",
             "8 runs of 3 s wall time"),
}


def run_numbers(project: Path, config: str) -> list[int]:
    listing = subprocess.run(
        ["./standin", "-u", "Cmdenv", "-f", "omnetpp.ini", "-f", "bench.ini", "-c", config, "-s", "-q", "runnumbers"],
        cwd=project, capture_output=True, text=True, check=True,
    )
    return [int(n) for n in listing.stdout.split()]


def baseline(project: Path, config: str, workers: int, out: Path) -> float:
    """opp_runall -jN: a pool of N processes, one per run."""

    def one(run: int) -> None:
        subprocess.run(
            ["./standin", "-u", "Cmdenv", "-f", "omnetpp.ini", "-f", "bench.ini", "-c", config, "-r", str(run), "-s",
             f"--result-dir={out}"], cwd=project, stdout=subprocess.DEVNULL, check=True,
        )

    started = time.perf_counter()
    runs = run_numbers(project, config)  # opp_runall asks for the runs too
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, runs))
    return time.perf_counter() - started


def opp_ci(project: Path, config: str, workers: int, out: Path) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "opp_ci", "run", str(project), "--ini", "omnetpp.ini", "--ini", "bench.ini",
         "--config", config, "--workers", str(workers), "--out", str(out), "--no-build"],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()
    print(f"{'scenario':<8} {'runs':<28} {'baseline s':>11} {'opp-ci s':>9} {'ratio':>6}")
    with tempfile.TemporaryDirectory() as temp:
        project = Path(temp) / "standin"
        shutil.copytree(STANDIN, project)
        subprocess.run(["make", "-s"], cwd=project, check=True)  # the stand-in's build, once (then --no-build)
        for name, (ini, config, description) in SCENARIOS.items():
            (project / "bench.ini").write_text(ini)
            base, ours = [], []
            for attempt in range(options.repeat):
                base.append(baseline(project, config, options.workers, Path(temp) / f"b-{name}-{attempt}"))
                ours.append(opp_ci(project, config, options.workers, Path(temp) / f"o-{name}-{attempt}"))
            b, o = statistics.median(base), statistics.median(ours)
            print(f"{name:<8} {description:<28} {b:>11.2f} {o:>9.2f} {o / b:>6.2f}")
    print(f"(medians of {options.repeat}; {options.workers} workers; ratio = opp-ci / baseline, lower is better)")


if __name__ == "__main__":
    main()
