"""How well `--shard I/N` balances an INET-sized fingerprint suite, against INET's own split.

INET's CI splits its fingerprint suite over N jobs by position (`testcases[i::n]`, round-robin). opp-ci assigns
the runs longest-first (LPT) from the run-time history (opp_ci.shards.assign, the code `run --shard` uses). A
suite of 1,774 rows (INET's fingerprint suite) is drawn with run times from a lognormal distribution fitted to
the per-run times of OMNeT++'s own samples (the `Elapsed:` of the real OMNeT++ 6.1 runs in
../shared/omnetpp-reference/transcripts; the run stopped by --cpu-time-limit is left out, its time is the
limit's): six runs span two orders of magnitude (0.3 ms to 38 ms), a log-standard deviation of about 1.9, so a
few rows carry much of the total, as INET's long rows do. The median is put at 5 s (only the shape matters for the
ratios). The history LPT sees is the true times perturbed by ±20 % (uniform): the next run differs from the
recorded one. Makespans are measured on the true times, against the bound max(longest run, total / N). The
last column is LPT from the true times themselves: what is left between it and the LPT column is the history's
error, not the assignment's.

usage: .venv/bin/python benchmarks/shard_balance.py [--rows 1774] [--seed 24] [--noise 0.2]
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
from pathlib import Path
from types import SimpleNamespace

from opp_ci.history import run_key
from opp_ci.shards import assign

#: The `Elapsed:` seconds OMNeT++ 6.1 printed for the runs of its samples in the reference transcripts
#: (fifo TandemQueueExperiment r1; aloha PureAloha1 with a malformed, a wrong and a right fingerprint;
#: PureAlohaExperiment r3 and r4).
SAMPLE_SECONDS = (0.000312, 0.038442, 0.028347, 0.029293, 0.002549, 0.001794)
MEDIAN_SECONDS = 5.0
SHARD_COUNTS = (4, 8, 16, 32)


def fitted_sigma(samples: tuple[float, ...] = SAMPLE_SECONDS) -> float:
    """The lognormal's shape: the standard deviation of the samples' logarithms."""
    return statistics.stdev(math.log(s) for s in samples)


def draw_suite(rows: int, sigma: float, rng: random.Random) -> list[float]:
    return [MEDIAN_SECONDS * math.exp(rng.gauss(0.0, sigma)) for _ in range(rows)]


def planned_rows(rows: int) -> list[SimpleNamespace]:
    """Stand-ins for planned suite rows: what the assignment reads of a PlannedRun (30 working directories)."""
    file = Path("fingerprints.csv")
    return [SimpleNamespace(info=SimpleNamespace(config="General", number=0, itervars={}),
                            row=SimpleNamespace(file=file, line=line), history_row=f"{file}:{line}", repeat=0,
                            payload=SimpleNamespace(working_dir=f"examples/dir{line % 30}"))
            for line in range(1, rows + 1)]


def makespan(times: list[float], shards: list[int], count: int) -> float:
    loads = [0.0] * count
    for seconds, shard in zip(times, shards, strict=True):
        loads[shard - 1] += seconds
    return max(loads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1774)
    parser.add_argument("--seed", type=int, default=24)
    parser.add_argument("--noise", type=float, default=0.2)
    arguments = parser.parse_args()
    rng = random.Random(arguments.seed)
    sigma = fitted_sigma()
    times = draw_suite(arguments.rows, sigma, rng)
    planned = planned_rows(arguments.rows)
    history = {run_key("General", {}, p.history_row): t * rng.uniform(1 - arguments.noise, 1 + arguments.noise)
               for p, t in zip(planned, times, strict=True)}
    print(f"{arguments.rows} rows, lognormal(median {MEDIAN_SECONDS} s, sigma {sigma:.2f} fitted to "
          f"{len(SAMPLE_SECONDS)} OMNeT++ sample runs), total {sum(times):.0f} s, longest {max(times):.0f} s; "
          f"history = true x U(1-{arguments.noise}, 1+{arguments.noise}), seed {arguments.seed}")
    exact = {run_key("General", {}, p.history_row): t for p, t in zip(planned, times, strict=True)}
    print(f"{'N':>3} {'bound s':>9} {'round-robin s':>14} {'ratio':>6} {'LPT s':>9} {'ratio':>6} "
          f"{'LPT exact-history ratio':>24}")
    for count in SHARD_COUNTS:
        bound = max(max(times), sum(times) / count)
        robin = makespan(times, [i % count + 1 for i in range(len(times))], count)
        lpt = makespan(times, assign(planned, history, count), count)
        oracle = makespan(times, assign(planned, exact, count), count)
        print(f"{count:>3} {bound:>9.0f} {robin:>14.0f} {robin / bound:>6.3f} {lpt:>9.0f} {lpt / bound:>6.3f} "
              f"{oracle / bound:>24.3f}")


if __name__ == "__main__":
    main()
