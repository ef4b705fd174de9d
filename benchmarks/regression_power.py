"""False-positive rate and detection power of the statistical regression check on real campaigns.

Make campaigns with many repetitions and disjoint seeds, e.g. with the stand-in (a mean shift of
0.002 is about half a standard deviation of channelUtilization:last):

    for spec in "base:0:0" "same:1000:0" "shift:2000:0.002" "shift4:3000:0.004"; do
      IFS=: read name seeds shift <<< "$spec"
      opp-ci run examples/standin -c Stochastic --arg=--repeat=400 "--arg=--seed-set=${seeds}\\${repetition}" \\
          "--arg=--**.meanShift=$shift" -o pw-$name
    done
    python benchmarks/regression_power.py pw-base pw-same pw-shift pw-shift4

The repetitions of each directory are cut into disjoint samples of --n (10, like the Stochastic
config); sample i of the baseline is compared with sample i of the other directory, so every
comparison is independent. The rate of significant comparisons is the false-positive rate for a
same-distribution directory, the power for a shifted one.
"""

from __future__ import annotations

import argparse
import math
import statistics as stdlib_statistics
from pathlib import Path

from opp_ci import statistics
from opp_ci.records import Campaign
from opp_ci.regression import load_campaign_runs


def samples(out_dir: Path, metric: str) -> list[float]:
    runs = [run for runs in load_campaign_runs(out_dir, Campaign.read(out_dir)).values() for run in runs]
    runs.sort(key=lambda run: int(run.repetition or 0))
    return [s.value for run in runs for s in run.scalars if s.name == metric]


def chunks(values: list[float], n: int) -> list[list[float]]:
    return [values[i:i + n] for i in range(0, len(values) - n + 1, n)]


def wilson(hits: int, trials: int, z: float = 1.96) -> tuple[float, float]:
    if trials == 0:
        return math.nan, math.nan
    p = hits / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return centre - half, centre + half


def rate(base: list[list[float]], other: list[list[float]], alpha: float) -> tuple[int, int]:
    pairs = list(zip(base, other, strict=False))
    return sum(statistics.welch_test(a, b).p_value < alpha for a, b in pairs), len(pairs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base", type=Path)
    parser.add_argument("others", type=Path, nargs="+")
    parser.add_argument("--metric", default="channelUtilization:last")
    parser.add_argument("--n", type=int, default=10)
    parser.add_argument("--alpha", type=float, default=0.05)
    options = parser.parse_args()
    base_values = samples(options.base, options.metric)
    print(f"{options.base}: {len(base_values)} repetitions, mean {stdlib_statistics.fmean(base_values):.6g}, "
          f"sd {stdlib_statistics.stdev(base_values):.4g}; samples of n={options.n}, alpha={options.alpha}")
    base = chunks(base_values, options.n)
    half = len(base) // 2
    hits, trials = rate(base[:half], base[half:], options.alpha)
    low, high = wilson(hits, trials)
    print(f"  baseline vs itself (disjoint seeds): {hits}/{trials} significant = {hits / trials:.3f} "
          f"(95% CI {low:.3f}..{high:.3f})")
    for other in options.others:
        values = samples(other, options.metric)
        shift = stdlib_statistics.fmean(values) - stdlib_statistics.fmean(base_values)
        hits, trials = rate(base, chunks(values, options.n), options.alpha)
        low, high = wilson(hits, trials)
        print(f"  vs {other}: mean shift {shift:+.5f} ({shift / stdlib_statistics.stdev(base_values):+.2f} sd): "
              f"{hits}/{trials} significant = {hits / trials:.3f} (95% CI {low:.3f}..{high:.3f})")


if __name__ == "__main__":
    main()
