"""Scalar regression checks: the scalars of a candidate campaign against a baseline's.

Runs are matched by (config, iteration variables, repetition), not by run id (which carries a
date and a process id); scalars within a run by (module, name). Tolerances are per scalar name,
given as glob patterns: `{"*:mean": {"rel": 0.01}, "duration": {"abs": 0}}`. The first pattern
that matches wins; a scalar no pattern matches must be equal.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from fnmatch import fnmatchcase

from opp_ci.errors import UserError
from opp_ci.results import Run

RunKey = tuple[str, tuple[tuple[str, str], ...], str]
"""(config name, sorted iteration variables, repetition): what identifies a run across campaigns."""


class DifferenceKind(StrEnum):
    CHANGED = "changed"
    MISSING = "missing"  # in the baseline, not in the candidate
    ADDED = "added"  # in the candidate, not in the baseline


@dataclass(frozen=True)
class Tolerance:
    """A value is within tolerance when |candidate - base| <= max(abs, rel * |base|)."""

    rel: float = 0.0
    abs: float = 0.0

    def allows(self, base: float, candidate: float) -> bool:
        if base == candidate or (math.isnan(base) and math.isnan(candidate)):
            return True
        return abs(candidate - base) <= max(self.abs, self.rel * abs(base))


EXACT = Tolerance()


@dataclass(frozen=True)
class ScalarDifference:
    run: RunKey
    module: str
    name: str
    kind: DifferenceKind
    base: float | None = None
    candidate: float | None = None

    @property
    def absolute(self) -> float:
        """|candidate - base|; infinite for a missing or added scalar or a NaN on one side."""
        if self.base is None or self.candidate is None:
            return math.inf
        difference = abs(self.candidate - self.base)
        return math.inf if math.isnan(difference) else difference

    @property
    def relative(self) -> float:
        """The difference relative to |base|; infinite when the base is 0 and the values differ."""
        if self.base is None or not math.isfinite(self.absolute):
            return math.inf
        return self.absolute / abs(self.base) if self.base != 0 else math.inf

    def describe(self) -> str:
        where = f"{_describe_run(self.run)} {self.module} {self.name}"
        if self.kind is DifferenceKind.CHANGED:
            return f"{where}: {self.base!r} -> {self.candidate!r} (relative {self.relative:.3g})"
        return f"{where}: {self.kind.value}"


def _describe_run(key: RunKey) -> str:
    config, itervars, repetition = key
    variables = ", ".join(f"${name}={value}" for name, value in itervars)
    return f"{config}[{variables}{', ' if variables else ''}#{repetition}]"


def run_key(run: Run) -> RunKey:
    return run.config_name, tuple(sorted(run.itervars.items())), run.repetition


def parse_tolerances(spec: Mapping[str, Mapping[str, float]] | None) -> dict[str, Tolerance]:
    """Checks a `{pattern: {"rel": r, "abs": a}}` mapping, e.g. from opp-ci.toml, and builds Tolerances."""
    tolerances: dict[str, Tolerance] = {}
    for pattern, limits in (spec or {}).items():
        unknown = set(limits) - {"rel", "abs"}
        if unknown:
            first = sorted(unknown)[0]
            raise UserError(f"tolerance for {pattern!r}: unknown key {first!r}; use 'rel' or 'abs'")
        values = {key: limits[key] for key in ("rel", "abs") if key in limits}
        for key, value in values.items():
            if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
                raise UserError(f"tolerance for {pattern!r}: {key} must be a number >= 0, not {value!r}")
        tolerances[pattern] = Tolerance(**{key: float(value) for key, value in values.items()})
    return tolerances


def tolerance_for(module: str, name: str, tolerances: Mapping[str, Tolerance]) -> Tolerance:
    """The first pattern matching the scalar name (or `module.name`) gives the tolerance."""
    full_name = f"{module}.{name}"
    for pattern, tolerance in tolerances.items():
        if fnmatchcase(name, pattern) or fnmatchcase(full_name, pattern):
            return tolerance
    return EXACT


def _scalars_by_run(runs: Iterable[Run]) -> dict[RunKey, dict[tuple[str, str], float]]:
    by_run: dict[RunKey, dict[tuple[str, str], float]] = {}
    for run in runs:
        key = run_key(run)
        if key in by_run:
            raise UserError(f"two runs of {_describe_run(key)} (one from {run.file}): "
                            "cannot tell which to compare")
        by_run[key] = {(scalar.module, scalar.name): scalar.value for scalar in run.scalars}
    return by_run


def _compare_run(key: RunKey, base: dict[tuple[str, str], float], candidate: dict[tuple[str, str], float],
                 tolerances: Mapping[str, Tolerance]) -> list[ScalarDifference]:
    differences = []
    for (module, name), base_value in base.items():
        if (module, name) not in candidate:
            differences.append(ScalarDifference(key, module, name, DifferenceKind.MISSING, base=base_value))
        elif not tolerance_for(module, name, tolerances).allows(base_value, candidate[module, name]):
            differences.append(ScalarDifference(key, module, name, DifferenceKind.CHANGED,
                                                base_value, candidate[module, name]))
    differences += [ScalarDifference(key, module, name, DifferenceKind.ADDED, candidate=value)
                    for (module, name), value in candidate.items() if (module, name) not in base]
    return differences


def compare_scalars(base_runs: Iterable[Run], cand_runs: Iterable[Run],
                    tolerances: Mapping[str, Mapping[str, float]] | None = None) -> list[ScalarDifference]:
    """The scalars that differ beyond their tolerance, largest relative difference first.

    A run present on one side only counts as all of its scalars missing or added.
    """
    limits = parse_tolerances(tolerances)
    base, candidate = _scalars_by_run(base_runs), _scalars_by_run(cand_runs)
    differences: list[ScalarDifference] = []
    for key in base.keys() | candidate.keys():
        differences += _compare_run(key, base.get(key, {}), candidate.get(key, {}), limits)
    return sorted(differences, key=lambda d: (-d.relative, -d.absolute, d.run, d.module, d.name))
