"""The comparison with a baseline by metric and parameter point, for people: what the table and the chart of
summary.md show. A parameter point is a config with its iteration variables other than `$repetition`; the
repetitions of one point are folded into mean ± standard deviation beside the statistical verdict.

The spread is the sample standard deviation (n - 1) of the repetitions: of every repetition for a metric
tested statistically (Welch's t-test), of the repetitions whose value changed beyond tolerance otherwise.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass

from opp_ci.comparison import ComparisonSummary, MetricShift, ScalarChange

Point = tuple[str, tuple[tuple[str, str], ...]]
"""(config, sorted iteration variables without $repetition)."""


def point_of(config: str, itervars: dict[str, str]) -> Point:
    return config, tuple(sorted((k, v) for k, v in itervars.items() if k != "repetition"))


@dataclass(frozen=True)
class Spread:
    """Repetitions of one metric at one parameter point: how many, their mean and standard deviation."""

    n: int
    mean: float
    sd: float | None  # sample standard deviation (n - 1); None for one value

    @classmethod
    def of(cls, values: Iterable[float]) -> Spread:
        values = list(values)
        spread = len(values) > 1 and all(math.isfinite(v) for v in values)
        return cls(len(values), statistics.fmean(values), statistics.stdev(values) if spread else None)

    def text(self) -> str:
        return f"{self.mean:.6g}" if self.sd is None else f"{self.mean:.6g} ± {self.sd:.2g}"


@dataclass(frozen=True)
class MetricRow:
    """One metric at one parameter point that changed: the baseline's and the candidate's repetitions (None
    on the side it is missing from) and the verdict."""

    point: Point
    module: str
    name: str
    base: Spread | None
    candidate: Spread | None
    verdict: str

    @property
    def relative(self) -> float | None:
        """(candidate mean - baseline mean) / |baseline mean|; None when one side is missing or the base is 0."""
        if self.base is None or self.candidate is None or self.base.mean == 0:
            return None
        value = (self.candidate.mean - self.base.mean) / abs(self.base.mean)
        return value if math.isfinite(value) else None


def metric_rows(summary: ComparisonSummary) -> list[MetricRow]:
    """The significant shifts (smallest adjusted p first), then the metrics beyond tolerance by parameter
    point (largest relative change first), then the ones on one side only."""
    shifted = sorted((s for s in summary.statistical if s.significant), key=lambda s: s.p_adjusted)
    rows = [_shift_row(s) for s in shifted]
    grouped: dict[tuple[Point, str, str, str], list[ScalarChange]] = {}
    for change in summary.differences:
        key = (point_of(change.config, change.itervars), change.module, change.name, change.kind)
        grouped.setdefault(key, []).append(change)
    by_tolerance = [_tolerance_row(changes) for changes in grouped.values()]
    by_tolerance.sort(key=lambda r: (r.relative is None, -round(abs(r.relative or 0.0), 9), r.module, r.name, r.point))
    return rows + by_tolerance


def _shift_row(shift: MetricShift) -> MetricRow:
    g = f", g={shift.hedges_g:.2f}" if shift.hedges_g is not None else ""
    return MetricRow(point_of(shift.config, shift.itervars), shift.module, shift.name,
                     Spread(shift.n_base, shift.mean_base, shift.sd_base),
                     Spread(shift.n_candidate, shift.mean_candidate, shift.sd_candidate),
                     f"❌ shifted (Welch's t-test p_adj={shift.p_adjusted:.2g}{g})")


_KIND_VERDICT = {"changed": "beyond tolerance", "missing": "missing in the candidate",
                 "added": "new in the candidate"}


def _tolerance_row(changes: list[ScalarChange]) -> MetricRow:
    first = changes[0]
    bases = [c.base for c in changes if c.base is not None]
    candidates = [c.candidate for c in changes if c.candidate is not None]
    verdict = f"❌ {_KIND_VERDICT.get(first.kind, first.kind)}: {len(changes)} run(s)"
    return MetricRow(point_of(first.config, first.itervars), first.module, first.name,
                     Spread.of(bases) if bases else None, Spread.of(candidates) if candidates else None, verdict)
