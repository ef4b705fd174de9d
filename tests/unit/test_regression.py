"""Scalar comparison between a baseline and a candidate campaign."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from opp_ci.errors import UserError
from opp_ci.regression import DifferenceKind, Tolerance, compare_scalars, parse_tolerances, run_key
from opp_ci.results.model import RunResults, Scalar


def make_run(scalars: dict[str, float], run_id: str = "Exp-0-x", repetition: str = "0",
             itervars: dict[str, str] | None = None, config: str = "Exp") -> RunResults:
    return RunResults(
        run_id=run_id, file=Path(f"{run_id}.sca"),
        attributes={"configname": config, "repetition": repetition},
        itervars=itervars or {},
        scalars=[Scalar("Net.server", name, value) for name, value in scalars.items()],
    )


def test_identical_runs_have_no_differences() -> None:
    assert compare_scalars([make_run({"a": 1.0, "b": math.nan})], [make_run({"a": 1.0, "b": math.nan})]) == []


def test_runs_are_matched_by_config_itervars_and_repetition_not_run_id() -> None:
    n1 = {"n": "1"}
    base = [make_run({"a": 1.0}, "Exp-0-2020", "0", n1), make_run({"a": 2.0}, "Exp-1-2020", "1", n1)]
    cand = [make_run({"a": 2.0}, "Exp-7-2026", "1", n1), make_run({"a": 1.0}, "Exp-6-2026", "0", n1)]
    assert compare_scalars(base, cand) == []
    assert run_key(base[0]) == ("Exp", (("n", "1"),), "0")


@pytest.mark.parametrize(("candidate", "within"), [
    (101.0, True),   # exactly at 1 %
    (99.0, True),
    (101.0001, False),  # just beyond
])
def test_relative_tolerance_at_and_beyond_its_limit(candidate: float, within: bool) -> None:
    differences = compare_scalars([make_run({"delay:mean": 100.0})], [make_run({"delay:mean": candidate})],
                                  {"*:mean": {"rel": 0.01}})
    assert (differences == []) is within


def test_absolute_zero_tolerance_means_exact() -> None:
    tolerances = {"duration": {"abs": 0}}
    assert compare_scalars([make_run({"duration": 600})], [make_run({"duration": 600})], tolerances) == []
    base, cand = [make_run({"duration": 600})], [make_run({"duration": 600.5})]
    (difference,) = compare_scalars(base, cand, tolerances)
    assert (difference.kind, difference.base, difference.candidate) == (DifferenceKind.CHANGED, 600, 600.5)
    assert difference.absolute == 0.5
    assert difference.relative == pytest.approx(0.5 / 600)


def test_absolute_tolerance_at_and_beyond_its_limit() -> None:
    tolerance = Tolerance(abs=0.5)
    assert tolerance.allows(10.0, 10.5) and tolerance.allows(10.0, 9.5)
    assert not tolerance.allows(10.0, 10.50001)


def test_unmatched_names_must_be_equal_and_first_pattern_wins() -> None:
    tolerances = {"Net.server.*:max": {"abs": 0}, "*:max": {"rel": 0.5}, "*": {"rel": 0.1}}
    base = make_run({"q:max": 10.0, "q:last": 10.0})
    cand = make_run({"q:max": 10.1, "q:last": 10.5})
    (difference,) = compare_scalars([base], [cand], tolerances)
    assert difference.name == "q:max"  # module.name pattern first: exact; q:last within 10 %
    (difference,) = compare_scalars([base], [make_run({"q:max": 10.0, "q:last": 10.000001})])
    assert difference.name == "q:last"


def test_differences_are_sorted_by_magnitude_and_include_missing_and_added() -> None:
    base = make_run({"small": 100.0, "large": 100.0, "gone": 1.0, "zero": 0.0})
    cand = make_run({"small": 101.0, "large": 150.0, "new": 1.0, "zero": 0.0})
    differences = compare_scalars([base], [cand])
    assert [(d.name, d.kind) for d in differences] == [
        ("gone", DifferenceKind.MISSING), ("new", DifferenceKind.ADDED),
        ("large", DifferenceKind.CHANGED), ("small", DifferenceKind.CHANGED),
    ]
    assert differences[2].relative == pytest.approx(0.5)
    assert "Exp[#0] Net.server large: 100.0 -> 150.0" in differences[2].describe()


def test_a_run_missing_from_the_candidate_reports_all_its_scalars() -> None:
    base = [make_run({"a": 1.0}), make_run({"a": 1.0, "b": 2.0}, "Exp-1-x", "1")]
    differences = compare_scalars(base, [make_run({"a": 1.0})])
    assert {(d.name, d.kind, d.run[2]) for d in differences} == {("a", DifferenceKind.MISSING, "1"),
                                                                 ("b", DifferenceKind.MISSING, "1")}


def test_nan_and_infinity_on_one_side_are_infinite_differences() -> None:
    differences = compare_scalars([make_run({"a": math.nan, "b": 1.0, "c": math.inf})],
                                  [make_run({"a": 1.0, "b": math.inf, "c": math.inf})], {"*": {"rel": 1e6}})
    assert sorted(d.name for d in differences) == ["a", "b"]
    assert all(d.relative == math.inf for d in differences)


def test_zero_base_with_relative_tolerance_needs_an_absolute_one() -> None:
    assert compare_scalars([make_run({"a": 0.0})], [make_run({"a": 1e-12})], {"a": {"rel": 0.1}})
    both = {"a": {"rel": 0.1, "abs": 1e-9}}
    assert not compare_scalars([make_run({"a": 0.0})], [make_run({"a": 1e-12})], both)


@pytest.mark.parametrize(("spec", "message"), [
    ({"*": {"relative": 0.1}}, "unknown key 'relative'"),
    ({"*": {"rel": -1}}, "must be a number >= 0"),
    ({"*": {"abs": "1"}}, "must be a number >= 0"),
    ({"*": {"abs": math.nan}}, "must be a number >= 0"),
])
def test_bad_tolerances_are_user_errors(spec: dict, message: str) -> None:
    with pytest.raises(UserError, match=message):
        parse_tolerances(spec)


def test_two_runs_with_the_same_key_are_a_user_error() -> None:
    with pytest.raises(UserError, match="two runs of Exp"):
        compare_scalars([make_run({"a": 1.0}), make_run({"a": 1.0}, "Exp-9-y")], [])
