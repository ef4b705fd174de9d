"""What a comparison with a baseline found, as typed values: built by the regression check, kept in
campaign.json under `regression`, rendered by the reports. JSON is read and written here only."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ScalarChange:
    """A scalar of one run that changed beyond its tolerance, or exists on one side only."""

    config: str
    itervars: dict[str, str]
    repetition: str
    module: str
    name: str
    kind: str  # changed, missing (in the candidate), added (in the candidate)
    base: float | None
    candidate: float | None
    relative: float | None
    absolute: float | None

    @property
    def signed_relative(self) -> float | None:
        if self.base is None or self.candidate is None or self.base == 0:
            return None
        return (self.candidate - self.base) / abs(self.base)


@dataclass(frozen=True)
class MetricShift:
    """Welch's t-test of one metric over the repetitions of a config and iteration-variable combination."""

    config: str
    itervars: dict[str, str]
    module: str
    name: str
    n_base: int
    n_candidate: int
    mean_base: float
    mean_candidate: float
    difference: float
    relative: float | None
    hedges_g: float | None
    t: float | None
    df: float | None
    p: float
    p_adjusted: float
    ci: list[float]
    significant: bool
    #: The samples' standard deviations (n - 1); None in a campaign.json of an older opp-ci.
    sd_base: float | None = None
    sd_candidate: float | None = None


@dataclass
class ComparisonSummary:
    """The whole comparison: what was compared under which settings, what changed, where to look."""

    baseline: str
    baseline_campaign: str
    settings: dict[str, Any]
    runs_compared: int = 0
    baseline_runs: int = 0
    scalars_compared: int = 0
    scalars_changed: int = 0
    differences: list[ScalarChange] = field(default_factory=list)  # the largest, at most STORED_DIFFERENCES
    differences_not_stored: int = 0
    statistical_tests: int = 0
    statistical: list[MetricShift] = field(default_factory=list)
    significant: int = 0
    artifacts_url: str | None = None
    runs_only_in_baseline: list[str] = field(default_factory=list)
    runs_only_in_candidate: list[str] = field(default_factory=list)
    unreadable_files: list[str] = field(default_factory=list)
    plots: list[str] = field(default_factory=list)
    regressed_runs: int = 0

    @property
    def unchanged(self) -> int:
        return self.scalars_compared - self.scalars_changed

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ComparisonSummary:
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["differences"] = [ScalarChange(**d) for d in values.get("differences", [])]
        values["statistical"] = [MetricShift(**s) for s in values.get("statistical", [])]
        return cls(**values)
