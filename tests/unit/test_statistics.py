"""The t distribution (stdlib and scipy routes), Welch's test, corrections, effect sizes, and the
false-positive rate and power of the statistical check measured on synthetic samples."""

from __future__ import annotations

import builtins
import math
import random

import pytest

from opp_ci import statistics
from opp_ci.errors import UserError
from opp_ci.statistics import Correction


@pytest.fixture
def without_scipy(monkeypatch):
    """Forces the standard-library route even where scipy is installed."""
    real_import = builtins.__import__

    def refuse_scipy(name, *args, **kwargs):
        if name == "scipy" or name.startswith("scipy."):
            raise ImportError("scipy hidden by the test")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", refuse_scipy)


# Known values of I_x(a, b) (from scipy.special.betainc, and closed forms where they exist).
@pytest.mark.parametrize(("a", "b", "x", "expected"), [
    (1.0, 1.0, 0.4, 0.4),  # uniform
    (2.0, 1.0, 0.3, 0.09),  # x^2
    (0.5, 0.5, 0.3, 2 / math.pi * math.asin(math.sqrt(0.3))),  # arcsine distribution
    (5.0, 0.5, 0.9, 0.3166429150200122),
    (2.5, 0.5, 0.1, 0.001114437541507422),
    (50.0, 0.5, 0.99, 0.3173043978741973),
])
def test_regularized_beta_matches_known_values(a, b, x, expected):
    assert statistics.regularized_beta(a, b, x) == pytest.approx(expected, rel=1e-9)


# Two-sided tail probabilities of Student's t from printed tables: t_{0.975, df} and t_{0.995, df}.
@pytest.mark.parametrize(("t", "df", "expected"), [
    (12.706, 1, 0.05), (2.262, 9, 0.05), (2.086, 20, 0.05), (3.250, 9, 0.01), (1.960, 1e6, 0.05), (0.0, 5, 1.0),
])
def test_t_tail_from_tables_without_scipy(without_scipy, t, df, expected):
    assert statistics.t_sf_two_sided(t, df) == pytest.approx(expected, abs=2e-4)


def test_t_quantile_without_scipy(without_scipy):
    assert statistics.t_quantile(0.975, 9) == pytest.approx(2.2621571627, rel=1e-8)
    assert statistics.t_quantile(0.995, 4.5) == pytest.approx(4.272823993, rel=1e-6)


def test_stdlib_route_agrees_with_scipy(monkeypatch):
    from scipy import stats as scipy_stats  # a test dependency: the reference for the stdlib route

    for t, df in ((0.3, 2.5), (1.7, 7.3), (4.2, 18.0), (-2.5, 33.3)):
        expected = 2 * scipy_stats.t.sf(abs(t), df)
        assert statistics.regularized_beta(df / 2, 0.5, df / (df + t * t)) == pytest.approx(expected, rel=1e-10)


def test_welch_test_matches_a_worked_example():
    # scipy.stats.ttest_ind(candidate, base, equal_var=False): t = 2.07401, df = 10.2092, p = 0.064280.
    base = [19.8, 20.4, 19.6, 17.8, 18.5, 18.9, 18.3, 18.9, 19.5, 22.0]
    candidate = [28.2, 26.6, 20.1, 23.3, 25.2, 22.1, 17.7, 27.6, 20.6, 13.7]
    test = statistics.welch_test(base, candidate)
    assert test.t == pytest.approx(2.0740146, rel=1e-6)
    assert test.df == pytest.approx(10.2091854, rel=1e-6)
    assert test.p_value == pytest.approx(0.0642800, rel=1e-5)
    low, high = test.interval(0.05)
    assert low < 0 < high  # p > 0.05: the 95 % interval holds 0
    assert test.interval(0.10)[0] > 0  # p < 0.10: the 90 % interval does not
    assert test.hedges_g == pytest.approx(0.88834, abs=1e-4)  # d = 0.9275 times 1 - 3/71


def test_constant_samples():
    assert statistics.welch_test([1.0, 1.0], [1.0, 1.0]).p_value == 1.0
    assert statistics.welch_test([1.0, 1.0], [2.0, 2.0]).p_value == 0.0
    with pytest.raises(ValueError):
        statistics.welch_test([1.0], [1.0, 2.0])


def test_holm_and_benjamini_hochberg():
    p = [0.01, 0.04, 0.03, 0.005]
    assert statistics.adjust(p, Correction.HOLM) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert statistics.adjust(p, Correction.BH) == pytest.approx([0.02, 0.04, 0.04, 0.02])
    assert statistics.adjust(p, Correction.NONE) == p


def test_settings_are_checked():
    assert statistics.check_settings(0.01, "bh") == (0.01, Correction.BH)
    for alpha, correction in ((0, "holm"), (1.5, "holm"), (True, "holm"), (0.05, "bonferroni")):
        with pytest.raises(UserError):
            statistics.check_settings(alpha, correction)


# --- false-positive rate and power, on synthetic samples (fast, and the same on every run) ---
# The standard-library route is used here: it is the faster one, and agrees with scipy (tested above).

TRIALS = 2000
N = 10  # repetitions per side, as the stand-in's Stochastic config
ALPHA = 0.05
ALLOWED = ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / TRIALS)  # three standard errors above alpha


def _trials(shift_in_sd: float, metrics: int, seed: int) -> list[list[float]]:
    """p-values of `metrics` independent normal metrics per trial, the candidate shifted by `shift_in_sd`."""
    rng = random.Random(seed)
    return [[statistics.welch_test([rng.gauss(0.0, 1.0) for _ in range(N)],
                                   [rng.gauss(shift_in_sd, 1.0) for _ in range(N)]).p_value
             for _metric in range(metrics)] for _ in range(TRIALS)]


def _flagged(trials: list[list[float]], correction: Correction) -> float:
    """How often at least one metric of a trial is flagged."""
    return sum(any(p < ALPHA for p in statistics.adjust(ps, correction)) for ps in trials) / len(trials)


def test_same_distribution_is_flagged_at_most_at_the_significance_level(without_scipy):
    rate = _flagged(_trials(0.0, 1, seed=1), Correction.NONE)
    assert 0.02 <= rate <= ALLOWED  # not above alpha, and not vacuously conservative either


def test_corrections_keep_the_family_wise_rate_over_many_metrics(without_scipy):
    trials = _trials(0.0, 10, seed=2)
    assert _flagged(trials, Correction.NONE) > 0.3  # 1 - 0.95^10 = 0.40 without a correction
    assert _flagged(trials, Correction.HOLM) <= ALLOWED
    assert _flagged(trials, Correction.BH) <= ALLOWED  # all nulls true: BH controls the FWER too


@pytest.mark.parametrize(("shift", "minimum_power"), [(1.0, 0.50), (1.5, 0.85), (2.0, 0.97)])
def test_power_against_shifts_of_the_mean(without_scipy, shift, minimum_power):
    # Theoretical power of the two-sided t-test at n = 10 per side: 0.56, 0.89, 0.99.
    assert _flagged(_trials(shift, 1, seed=3), Correction.NONE) >= minimum_power
