"""How much does opp-ci cost over running the same runs with one process per run, N at a time?

The floor is one process per run, N at a time, no queue, no reports: `xargs -PN` over the run numbers
(`opp_runall -jN` is close, but runs up to 5 runs in one process). Both are measured in the same
invocation on the same runs of the stand-in simulation. Scenarios:

- `trivial`: 400 runs of ~0 s (one simulated second): the per-run cost of queueing and collecting,
  and the fixed cost of starting and stopping Redis and the workers.
- `half_second`: 100 runs of 0.5 s wall time each: how well the workers are kept busy.
- `skewed`: a few long runs among many short ones, the long ones last (the worst order for a FIFO
  queue). opp-ci runs it twice in the same output directory: the first time without history (FIFO),
  the second with the wall times the first recorded (longest expected first). Its makespan is
  compared with the bound no scheduler beats, max(longest run, total / N), from the runs' own
  wall times as the second campaign recorded them.

When OMNeT++ is on PATH (its `setenv` sourced) and its `samples/aloha` is built, it also runs aloha's
PureAlohaExperiment (42 runs with OMNeT++'s default result recording) through opp-ci against one
process per run (`xargs -PN`; `opp_runall -jN`, batches of up to 5 runs a process, is shown beside it),
each timed from the listing of the run numbers (`-q runnumbers`) on, as opp-ci lists them itself.

Before each timed way the disk has written back everything earlier ways wrote (`sync`, untimed) and
their outputs are removed: otherwise the later ways pay for the writeback of the earlier ones' files.

It ends with one line: `ratio_trivial=A ratio_half_second=B skew_vs_bound=C` (A, B: opp-ci's wall
time over the floor's; C: opp-ci's wall time on the skewed campaign with history over the bound).
Beside the wall times it prints opp-ci's own CPU time a run: the CPU time of its whole process tree
(orchestrator, Redis, workers, reapers and runs, from the children's resource usage: every process of
the tree is waited for by its parent, `perf stat` counts the same) less the runs' own, as
campaign.json records them, over the number of runs. The fixed cost (start-up, shutdown, reports) is
part of it. The floor's runs take as much CPU, so this is the cost opp-ci adds.
Each ratio is the median of the ratios of single repetitions, each of which measured both ways
seconds apart: a shared machine's speed drifts by more than the differences measured (the same
Python loop took 0.53 to 0.76 s here within a minute). Aloha, 2 s a way, is repeated ALOHA_REPEAT
times as often as the others (at least ALOHA_MIN_REPEAT times).

usage: benchmarks/run [--workers N] [--repeat K] [--scale F]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from opp_ci.execution import children_cpu

ROOT = Path(__file__).resolve().parent.parent
STANDIN = ROOT / "examples" / "standin"


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    config: str
    ini: str


def scenarios(scale: float) -> list[Scenario]:
    trivial, half, short = max(1, round(400 * scale)), max(1, round(100 * scale)), max(1, round(48 * scale))
    durations = ",".join(["0.25"] * short + ["4"] * 3)  # the long runs last: FIFO's worst order
    return [
        Scenario("trivial", f"{trivial} runs of ~0 s", "BenchTrivial",
                 f"[Config BenchTrivial]\nsim-time-limit = 1s\nrepeat = {trivial}\n"),
        Scenario("half_second", f"{half} runs of 0.5 s", "BenchHalf",
                 f"[Config BenchHalf]\nsim-time-limit = 1s\nrepeat = {half}\n**.wallTime = 0.5s\n"),
        Scenario("skewed", f"{short} x 0.25 s, then 3 x 4 s", "BenchSkewed",
                 f"[Config BenchSkewed]\nsim-time-limit = 1s\n**.wallTime = ${{d={durations}}}s\n"),
    ]


def standin_argv(config: str) -> list[str]:
    return ["./standin", "-u", "Cmdenv", "-f", "omnetpp.ini", "-f", "bench.ini", "-c", config]


def settle() -> None:
    """Before a timed way: waits until the disk has written back what earlier ways wrote (and the
    removal of their outputs), so that no way pays for another's result files (aloha writes 110 MB a way)."""
    os.sync()


def run_numbers(project: Path, config: str) -> list[str]:
    listing = subprocess.run([*standin_argv(config), "-s", "-q", "runnumbers"], cwd=project, capture_output=True,
                             text=True, check=True)
    return listing.stdout.split()


def floor(project: Path, config: str, workers: int, out: Path) -> float:
    """One process per run, `workers` at a time (the run listing is part of it). Not opp_runall: it runs up
    to 5 runs in one process (`-b`), which is not what opp-ci is measured against."""
    settle()
    started = time.perf_counter()
    numbers = "\n".join(run_numbers(project, config)) + "\n"
    subprocess.run(["xargs", f"-P{workers}", "-I{}", *standin_argv(config), "-r", "{}", "-s",
                    f"--result-dir={out}"], cwd=project, input=numbers, text=True, stdout=subprocess.DEVNULL,
                   check=True)
    return time.perf_counter() - started


def opp_ci(project: Path, config: str, workers: int, out: Path) -> tuple[float, float]:
    """opp-ci's wall seconds, and CPU seconds a run of its own (without the runs')."""
    settle()
    started, cpu = time.perf_counter(), children_cpu()
    subprocess.run(
        [sys.executable, "-m", "opp_ci", "run", str(project), "--ini", "omnetpp.ini", "--ini", "bench.ini",
         "--config", config, "--workers", str(workers), "--out", str(out), "--no-build"],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    wall, tree_cpu = time.perf_counter() - started, children_cpu() - cpu
    runs = recorded_runs(out)
    return wall, (tree_cpu - runs_cpu(runs)) / len(runs)


def recorded_runs(out: Path) -> list[dict]:
    """The run records of the campaign in `out`."""
    return json.loads((out / "campaign.json").read_text())["runs"]


def runs_cpu(runs: list[dict]) -> float:
    """The CPU seconds of the runs themselves, as their records give them."""
    return sum(r["cpu_seconds"] for r in runs)


def bound(out: Path, workers: int) -> float:
    """max(longest run, total / N) from the run wall times the campaign recorded."""
    walls = [r["wall_seconds"] for r in recorded_runs(out)]
    return max(max(walls), sum(walls) / workers)


def measure(project: Path, scenario: Scenario, workers: int, temp: Path, attempt: int) -> dict[str, float]:
    (project / "bench.ini").write_text(scenario.ini)
    out, floor_out = temp / f"o-{scenario.name}-{attempt}", temp / f"f-{scenario.name}-{attempt}"
    figures = {"floor": floor(project, scenario.config, workers, floor_out)}
    shutil.rmtree(floor_out)
    figures["opp_ci"], figures["own_cpu"] = opp_ci(project, scenario.config, workers, out)
    if scenario.name == "skewed":
        figures["fifo"] = figures["opp_ci"]
        figures["opp_ci"], figures["own_cpu"] = opp_ci(project, scenario.config, workers, out)  # with history
        figures["bound"] = bound(out, workers)
    shutil.rmtree(out)
    return figures


def aloha_directory() -> Path | None:
    """OMNeT++'s samples/aloha, when OMNeT++ is on PATH and the sample is built."""
    opp_run = shutil.which("opp_run")
    if not opp_run:
        return None
    directory = Path(opp_run).resolve().parent.parent / "samples" / "aloha"
    return directory if (directory / "aloha").is_file() else None


ALOHA_CONFIG = "PureAlohaExperiment"
ALOHA_REPEAT = 5
ALOHA_MIN_REPEAT = 9


def paired(runs: list[dict[str, float]], numerator: str, denominator: str) -> float:
    """The median of each repetition's ratio (both of its measurements were taken seconds apart)."""
    return statistics.median(r[numerator] / r[denominator] for r in runs)


def aloha_argv() -> list[str]:
    return ["./aloha", "-u", "Cmdenv", "-c", ALOHA_CONFIG]


def measure_aloha(project: Path, workers: int, temp: Path, attempt: int) -> dict[str, float]:
    """One process per run (xargs), opp_runall and opp-ci on aloha's PureAlohaExperiment, in this order
    in even attempts and in the reverse order in odd ones (a machine that slows down or speeds up over
    a repetition favours neither)."""
    def floor() -> float:  # the floor lists the runs too, as opp-ci does
        numbers = subprocess.run([*aloha_argv(), "-s", "-q", "runnumbers"], cwd=project, capture_output=True,
                                 text=True, check=True).stdout.split()
        figures["runs"] = len(numbers)
        subprocess.run(["xargs", f"-P{workers}", "-I{}", *aloha_argv(), "-r", "{}", "-s",
                        f"--result-dir={temp / 'a-floor'}"], cwd=project, input="\n".join(numbers) + "\n",
                       text=True, stdout=subprocess.DEVNULL, check=True)

    def opp_runall() -> None:
        subprocess.run(["opp_runall", f"-j{workers}", *aloha_argv(), "-s", f"--result-dir={temp / 'a-opp_runall'}"],
                       cwd=project, stdout=subprocess.DEVNULL, check=True)

    def opp_ci() -> None:
        subprocess.run([sys.executable, "-m", "opp_ci", "run", str(project), "--command", "./aloha", "--config",
                        ALOHA_CONFIG, "--workers", str(workers), "--out", str(temp / "a-opp_ci"), "--no-build"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    figures: dict[str, float] = {}
    ways = [floor, opp_runall, opp_ci]
    for way in ways if attempt % 2 == 0 else reversed(ways):
        settle()
        started, cpu = time.perf_counter(), children_cpu()
        way()
        figures[way.__name__] = time.perf_counter() - started
        if way is opp_ci:
            figures["own_cpu"] = children_cpu() - cpu - runs_cpu(recorded_runs(temp / "a-opp_ci"))
        shutil.rmtree(temp / f"a-{way.__name__}", ignore_errors=True)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=1, help="Measure each this often; medians are printed.")
    parser.add_argument("--scale", type=float, default=1.0, help="Scale the number of runs (quick looks: 0.25).")
    options = parser.parse_args()
    print(f"| scenario | runs | xargs -P{options.workers} s | opp-ci s | ratio | notes |")
    print("|---|---|---|---|---|---|")
    ratios = {}
    with tempfile.TemporaryDirectory() as temp_name:
        temp = Path(temp_name)
        project = temp / "standin"
        shutil.copytree(STANDIN, project, ignore=shutil.ignore_patterns("standin", "results", "opp-ci-out"))
        subprocess.run(["make", "-s"], cwd=project, check=True)  # the stand-in's build, as opp-ci.toml's [image]
        for scenario in scenarios(options.scale):
            runs = [measure(project, scenario, options.workers, temp, a) for a in range(options.repeat)]
            median = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
            ratio = paired(runs, "opp_ci", "floor")
            notes = f"opp-ci's own CPU {median['own_cpu'] * 1000:.1f} ms a run"
            if scenario.name == "skewed":
                ratios["skew_vs_bound"] = paired(runs, "opp_ci", "bound")
                notes += (f"; with history; first run (FIFO) {median['fifo']:.2f} s, bound {median['bound']:.2f} s, "
                          f"with history / bound {ratios['skew_vs_bound']:.3f}, FIFO / bound "
                          f"{paired(runs, 'fifo', 'bound'):.3f}")
            else:
                ratios[f"ratio_{scenario.name}"] = ratio
            print(f"| {scenario.name} | {scenario.description} | {median['floor']:.2f} | {median['opp_ci']:.2f} | "
                  f"{ratio:.3f} | {notes} |", flush=True)
        aloha = aloha_directory()
        if aloha is not None:
            shutil.copytree(aloha, temp / "aloha", ignore=shutil.ignore_patterns("results", "out"))
            repeat = max(ALOHA_MIN_REPEAT, ALOHA_REPEAT * options.repeat)
            runs = [measure_aloha(temp / "aloha", options.workers, temp, a) for a in range(repeat)]
            median = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
            ratios["ratio_aloha"] = paired(runs, "opp_ci", "floor")
            spread = sorted(round(r["opp_ci"] / r["floor"], 2) for r in runs)
            print(f"| aloha | {ALOHA_CONFIG}, {median['runs']:.0f} runs | {median['floor']:.2f} | "
                  f"{median['opp_ci']:.2f} | {ratios['ratio_aloha']:.3f} | OMNeT++'s samples/aloha, {repeat} "
                  f"repetitions (ratios {spread[0]}-{spread[-1]}); opp_runall -j{options.workers} "
                  f"{median['opp_runall']:.2f} s; opp-ci's own CPU {median['own_cpu']:.2f} s in all |", flush=True)
    print(f"(times: medians of {options.repeat}; ratios: medians of each repetition's ratio; {options.workers} "
          f"workers; ratio = opp-ci / floor, lower is better)")
    print(f"ratio_trivial={ratios['ratio_trivial']:.3f} ratio_half_second={ratios['ratio_half_second']:.3f} "
          f"skew_vs_bound={ratios['skew_vs_bound']:.3f}"
          + (f" ratio_aloha={ratios['ratio_aloha']:.3f}" if "ratio_aloha" in ratios else ""))


if __name__ == "__main__":
    main()
