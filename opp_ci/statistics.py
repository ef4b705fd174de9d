"""Statistics for regression checks of stochastic models: two-sample tests between the repetitions
of a baseline and a candidate campaign, corrections for many comparisons, and effect sizes.

scipy is used when it is installed (the `stats` extra); otherwise the Student t distribution comes
from the regularized incomplete beta function, evaluated with Lentz's continued fraction
(Numerical Recipes, 3rd ed., section 6.4), which is tested against known values.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from opp_ci.errors import UserError

DEFAULT_ALPHA = 0.05
_EPSILON = 3e-16
_TINY = 1e-300
_MAX_ITERATIONS = 300


class Correction(StrEnum):
    HOLM = "holm"  # controls the family-wise error rate
    BH = "bh"  # Benjamini-Hochberg: controls the false discovery rate
    NONE = "none"


@dataclass(frozen=True)
class TwoSampleTest:
    """Baseline versus candidate samples of one metric, with the effect size of the change."""

    n_base: int
    n_candidate: int
    mean_base: float
    mean_candidate: float
    t: float
    df: float
    p_value: float
    standard_error: float  # of the difference of means
    hedges_g: float
    sd_base: float = math.nan  # sample standard deviations (n - 1)
    sd_candidate: float = math.nan

    @property
    def difference(self) -> float:
        return self.mean_candidate - self.mean_base

    def interval(self, alpha: float = DEFAULT_ALPHA) -> tuple[float, float]:
        """The (1 - alpha) confidence interval of the difference of means (Welch's)."""
        if self.standard_error == 0 or math.isnan(self.df):
            return self.difference, self.difference
        half_width = t_quantile(1.0 - alpha / 2.0, self.df) * self.standard_error
        return self.difference - half_width, self.difference + half_width

    @property
    def relative(self) -> float:
        if self.mean_base == 0:
            return 0.0 if self.difference == 0 else math.inf
        return self.difference / abs(self.mean_base)


# --- the t distribution ---


def _beta_continued_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta function, by the modified Lentz method."""
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > _TINY else _TINY)
    h = d
    for m in range(1, _MAX_ITERATIONS + 1):
        m2 = 2 * m
        for numerator in (m * (b - m) * x / ((qam + m2) * (a + m2)),
                          -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > _TINY else _TINY)
            c = 1.0 + numerator / c
            c = c if abs(c) > _TINY else _TINY
            h *= d * c
        if abs(d * c - 1.0) < _EPSILON:
            return h
    return h  # converged to working precision for every a, b used here (tested)


def regularized_beta(a: float, b: float, x: float) -> float:
    """I_x(a, b), the regularized incomplete beta function, for a, b > 0 and 0 <= x <= 1."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                 + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_continued_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_continued_fraction(b, a, 1.0 - x) / b


def t_sf_two_sided(t: float, df: float) -> float:
    """P(|T| >= |t|) for Student's t with df degrees of freedom (df may be fractional)."""
    if math.isnan(t) or df <= 0:
        return math.nan
    if math.isinf(t):
        return 0.0
    try:
        from scipy import stats as scipy_stats
    except ImportError:
        return regularized_beta(df / 2.0, 0.5, df / (df + t * t))
    return float(2.0 * scipy_stats.t.sf(abs(t), df))


def t_quantile(probability: float, df: float) -> float:
    """The t with P(T <= t) = probability, for 0.5 <= probability < 1 (bisection on the CDF)."""
    try:
        from scipy import stats as scipy_stats
    except ImportError:
        return _t_quantile_bisection(probability, df)
    return float(scipy_stats.t.ppf(probability, df))


def _t_quantile_bisection(probability: float, df: float) -> float:
    target = 2.0 * (1.0 - probability)  # the two-sided tail probability at the quantile
    low, high = 0.0, 1.0
    while regularized_beta(df / 2.0, 0.5, df / (df + high * high)) > target:
        high *= 2.0
    for _ in range(200):
        middle = (low + high) / 2.0
        if regularized_beta(df / 2.0, 0.5, df / (df + middle * middle)) > target:
            low = middle
        else:
            high = middle
        if high - low < 1e-12 * max(1.0, high):
            break
    return (low + high) / 2.0


# --- tests and effect sizes ---


def hedges_g(base: Sequence[float], candidate: Sequence[float]) -> float:
    """Cohen's d with the pooled standard deviation, times Hedges' small-sample correction."""
    n1, n2 = len(base), len(candidate)
    if n1 < 2 or n2 < 2:
        return math.nan
    pooled = ((n1 - 1) * statistics.variance(base) + (n2 - 1) * statistics.variance(candidate)) / (n1 + n2 - 2)
    difference = statistics.fmean(candidate) - statistics.fmean(base)
    if pooled == 0:
        return 0.0 if difference == 0 else math.copysign(math.inf, difference)
    correction = 1.0 - 3.0 / (4.0 * (n1 + n2) - 9.0)
    return difference / math.sqrt(pooled) * correction


def welch_test(base: Sequence[float], candidate: Sequence[float]) -> TwoSampleTest:
    """Welch's t-test of equal means (two-sided), with Hedges' g as the effect size.

    Needs two values on each side. Two constant samples give p = 1 when equal, 0 when not.
    """
    n1, n2 = len(base), len(candidate)
    if n1 < 2 or n2 < 2:
        raise ValueError("Welch's t-test needs at least two values on each side")
    m1, m2 = statistics.fmean(base), statistics.fmean(candidate)
    se1, se2 = statistics.variance(base) / n1, statistics.variance(candidate) / n2
    se = math.sqrt(se1 + se2)
    g = hedges_g(base, candidate)
    spreads = math.sqrt(se1 * n1), math.sqrt(se2 * n2)
    if se == 0:
        p = 1.0 if m1 == m2 else 0.0
        return TwoSampleTest(n1, n2, m1, m2, 0.0 if m1 == m2 else math.inf, math.nan, p, 0.0, g, *spreads)
    df = (se1 + se2) ** 2 / (se1 ** 2 / (n1 - 1) + se2 ** 2 / (n2 - 1))
    t = (m2 - m1) / se
    return TwoSampleTest(n1, n2, m1, m2, t, df, t_sf_two_sided(t, df), se, g, *spreads)


def adjust(p_values: Sequence[float], correction: Correction) -> list[float]:
    """p-values adjusted for many comparisons (compare each with alpha)."""
    if correction is Correction.HOLM:
        return _holm(p_values)
    if correction is Correction.BH:
        return _benjamini_hochberg(p_values)
    return list(p_values)


def _holm(p_values: Sequence[float]) -> list[float]:
    m = len(p_values)
    adjusted = [0.0] * m
    running = 0.0
    for rank, index in enumerate(sorted(range(m), key=lambda i: p_values[i])):
        running = max(running, min(1.0, (m - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted


def _benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
    m = len(p_values)
    adjusted = [0.0] * m
    running = 1.0
    for rank, index in reversed(list(enumerate(sorted(range(m), key=lambda i: p_values[i]), start=1))):
        running = min(running, m * p_values[index] / rank)
        adjusted[index] = min(1.0, running)
    return adjusted


def check_settings(alpha: float, correction: str) -> tuple[float, Correction]:
    """Validates the statistical settings from opp-ci.toml or flags."""
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0 < alpha < 1:
        raise UserError(f"alpha: {alpha!r} must be a number between 0 and 1, e.g. 0.05")
    try:
        chosen_correction = Correction(correction)
    except ValueError:
        raise UserError(f"correction {correction!r}: use one of {', '.join(c.value for c in Correction)}") from None
    return float(alpha), chosen_correction
