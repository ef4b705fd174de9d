"""Scalar regression checks: the scalars of a candidate campaign against a baseline's.

Runs are matched by (config, iteration variables, repetition), not by run id (which carries a
date and a process id); scalars within a run by (module, name). Tolerances are per scalar name,
given as glob patterns: `{"*:mean": {"rel": 0.01}, "duration": {"abs": 0}}`. The first pattern
that matches wins; a scalar no pattern matches must be equal.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from opp_ci import statistics
from opp_ci.checks import Judgements, judge_campaign
from opp_ci.comparison import ComparisonSummary, MetricShift, ScalarChange
from opp_ci.errors import UserError
from opp_ci.plots import Bars, Distribution, file_name, write_plots
from opp_ci.records import Campaign, Judgement, RunStatus, Verdict
from opp_ci.results import RunResults, read_runs

MatchKey = tuple[str, tuple[tuple[str, str], ...], str]
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
        limit = max(self.abs, self.rel * abs(base))
        magnitude = max(abs(base), abs(candidate))
        if limit > 0 and math.isfinite(magnitude):  # exactly at the tolerance passes, whatever the rounding
            limit += 4 * sys.float_info.epsilon * magnitude
        return abs(candidate - base) <= limit


EXACT = Tolerance()


@dataclass(frozen=True)
class ScalarDifference:
    run: MatchKey
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


def _describe_run(key: MatchKey) -> str:
    config, itervars, repetition = key
    variables = ", ".join(f"${name}={value}" for name, value in itervars)
    return f"{config}[{variables}{', ' if variables else ''}#{repetition}]"


def run_key(run: RunResults) -> MatchKey:
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


def _scalars_by_run(runs: Iterable[RunResults]) -> dict[MatchKey, dict[tuple[str, str], float]]:
    by_run: dict[MatchKey, dict[tuple[str, str], float]] = {}
    for run in runs:
        key = run_key(run)
        if key in by_run:
            raise UserError(f"two runs of {_describe_run(key)} (one from {run.file}): "
                            "cannot tell which to compare")
        by_run[key] = {(scalar.module, scalar.name): scalar.value for scalar in run.scalars}
    return by_run


def _compare_run(key: MatchKey, base: dict[tuple[str, str], float], candidate: dict[tuple[str, str], float],
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


def compare_scalars(base_runs: Iterable[RunResults], cand_runs: Iterable[RunResults],
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


# --- campaigns: two output directories, verdicts into the candidate's campaign.json ---

#: Starts the message of a run this check failed.
REGRESSION_PREFIX = "Regression: "
#: The check's name in verdicts.
COMPARISON = "comparison"
#: Where campaign.json keeps the ComparisonSummary.
SUMMARY_KEY = "regression"
#: How many scalar differences campaign.json keeps (largest first); the rest are counted.
STORED_DIFFERENCES = 2000
#: How many differences a run's failure message lists.
LISTED_DIFFERENCES = 3


@dataclass(frozen=True)
class Settings:
    """How two campaigns are compared (opp-ci.toml keys `tolerances`, `alpha`, `correction`, `metrics`).

    `metrics` are the scalar names (globs) compared statistically, over the repetitions of each
    config and iteration-variable combination; every other scalar is compared run by run.
    """

    tolerances: Mapping[str, Mapping[str, float]] = dataclasses.field(default_factory=dict)
    alpha: float = statistics.DEFAULT_ALPHA
    correction: statistics.Correction = statistics.Correction.HOLM
    metrics: tuple[str, ...] = ()

    @classmethod
    def from_mapping(cls, settings: Mapping[str, Any]) -> Settings:
        alpha, correction = statistics.check_settings(settings.get("alpha", statistics.DEFAULT_ALPHA),
                                                      settings.get("correction", "holm"))
        tolerances = dict(settings.get("tolerances") or {})
        parse_tolerances(tolerances)  # checked now, so a typo fails before anything runs
        metrics = settings.get("metrics") or ()
        return cls(tolerances, alpha, correction, tuple([metrics] if isinstance(metrics, str) else metrics))

    def to_json(self) -> dict[str, Any]:
        return {"tolerances": {k: dict(v) for k, v in self.tolerances.items()}, "alpha": self.alpha,
                "correction": self.correction.value, "metrics": list(self.metrics)}

    def is_statistical(self, module: str, name: str) -> bool:
        return any(fnmatchcase(name, p) or fnmatchcase(f"{module}.{name}", p) for p in self.metrics)


GroupKey = tuple[str, tuple[tuple[str, str], ...]]
"""(config, sorted iteration variables): the runs whose repetitions form one sample."""


@dataclass(frozen=True)
class StatisticalChange:
    group: GroupKey
    module: str
    name: str
    test: statistics.TwoSampleTest
    p_adjusted: float
    significant: bool
    alpha: float = statistics.DEFAULT_ALPHA

    def shift(self) -> MetricShift:
        t = self.test
        return MetricShift(
            config=self.group[0], itervars=dict(self.group[1]), module=self.module, name=self.name,
            n_base=t.n_base, n_candidate=t.n_candidate, mean_base=t.mean_base, mean_candidate=t.mean_candidate,
            difference=t.difference, relative=_finite(t.relative), hedges_g=_finite(t.hedges_g), t=_finite(t.t),
            df=_finite(t.df), p=t.p_value, p_adjusted=self.p_adjusted, ci=list(t.interval(self.alpha)),
            significant=self.significant, sd_base=_finite(t.sd_base), sd_candidate=_finite(t.sd_candidate))

    def describe(self) -> str:
        t = self.test
        return (f"{self.module} {self.name}: mean {t.mean_base:.6g} -> {t.mean_candidate:.6g} "
                f"({_percent(t.relative)}, Hedges' g {t.hedges_g:.2f}, adjusted p {self.p_adjusted:.3g}, "
                f"n {t.n_base}/{t.n_candidate})")


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _percent(relative: float) -> str:
    return f"{relative:+.2%}" if math.isfinite(relative) else "new non-zero value"


def group_key(run: RunResults) -> GroupKey:
    return run.config_name, tuple(sorted((k, v) for k, v in run.itervars.items() if k != "repetition"))


def statistical_changes(base_runs: list[RunResults], cand_runs: list[RunResults],
                        settings: Settings) -> list[StatisticalChange]:
    """Welch's t-test for every chosen scalar of every group with two or more repetitions on both
    sides, with the p-values adjusted for the number of tests."""
    samples = _samples(base_runs, settings), _samples(cand_runs, settings)
    keys = sorted(samples[0].keys() & samples[1].keys())
    tests = [(key, statistics.welch_test(samples[0][key], samples[1][key])) for key in keys
             if len(samples[0][key]) >= 2 and len(samples[1][key]) >= 2]
    adjusted = statistics.adjust([t.p_value for _, t in tests], settings.correction)
    return [StatisticalChange(group, module, name, test, p, p < settings.alpha, settings.alpha)
            for ((group, module, name), test), p in zip(tests, adjusted, strict=True)]


def _samples(runs: list[RunResults], settings: Settings) -> dict[tuple[GroupKey, str, str], list[float]]:
    samples: dict[tuple[GroupKey, str, str], list[float]] = {}
    for run in runs:
        for scalar in run.scalars:
            if settings.is_statistical(scalar.module, scalar.name) and math.isfinite(scalar.value):
                samples.setdefault((group_key(run), scalar.module, scalar.name), []).append(scalar.value)
    return samples


def _without_statistical(runs: list[RunResults], settings: Settings, groups: set[GroupKey]) -> list[RunResults]:
    """The runs with the statistically compared scalars of tested groups left out."""
    kept = []
    for run in runs:
        if group_key(run) in groups:
            scalars = [s for s in run.scalars if not settings.is_statistical(s.module, s.name)]
            run = dataclasses.replace(run, scalars=scalars)
        kept.append(run)
    return kept


def load_campaign_runs(out_dir: Path, campaign: Campaign) -> tuple[list[list[RunResults]], list[tuple[str, str]]]:
    """The runs in the .sca files of each record whose simulation ran to the end (in the campaign's
    order), and the files that could not be read, with why."""
    by_record, broken = [], []
    for record in campaign.runs:
        runs: list[RunResults] = []
        if record.execution is RunStatus.PASSED:
            for name in record.result_files:
                if name.endswith(".sca") and _linked(out_dir, name):
                    broken.append((name, "a symbolic link (an output directory of an older opp-ci?): not read"))
                elif name.endswith(".sca") and (out_dir / name).is_file():
                    try:
                        runs.extend(read_runs(out_dir / name))
                    except UserError as error:
                        broken.append((name, error.message))
        by_record.append(runs)
    return by_record, broken


def _linked(out_dir: Path, name: str) -> bool:
    """Whether `name`, or a directory on its way below `out_dir`, is a symbolic link: what it reaches is no
    result of the campaign's (only an older opp-ci collected links)."""
    path = Path(out_dir)
    for part in Path(name).parts:
        path = path / part
        if path.is_symlink():
            return True
    return False


@dataclass
class ComparisonCheck:
    """Compares the campaign's scalars with a baseline campaign's: run by run within tolerances, and
    the chosen metrics statistically over repetitions. Its summary is campaign.json's `regression`."""

    baseline: Path
    settings: Settings
    plots: bool = True
    name: str = "comparison"

    @classmethod
    def from_spec(cls, spec: Any) -> ComparisonCheck:
        """Checks the settings and that the baseline is readable, before anything starts."""
        settings = Settings.from_mapping(spec.checks.comparison)
        baseline = Path(spec.checks.baseline)
        if baseline.resolve() == Path(spec.out).resolve():
            raise UserError(f"--baseline {baseline} is the output directory itself; the campaign would replace it")
        _read_campaign(baseline)
        return cls(baseline, settings)

    def prepare(self, planned: list[Any]) -> list[Any]:
        return planned

    def judge(self, campaign: Campaign, out_dir: Path) -> Judgements:
        base = _read_campaign(self.baseline)
        configs = {r.config for r in campaign.runs}
        base_by_record, base_broken = load_campaign_runs(self.baseline, base)
        base_runs = [run for runs in base_by_record for run in runs if run.config_name in configs]
        cand_by_record, cand_broken = load_campaign_runs(out_dir, campaign)
        cand_runs = [run for runs in cand_by_record for run in runs]
        only_base, only_candidate = _unmatched(base_runs, cand_runs)
        base_runs = [r for r in base_runs if run_key(r) not in only_base]
        cand_runs = [r for r in cand_runs if run_key(r) not in only_candidate]
        changes = statistical_changes(base_runs, cand_runs, self.settings)
        tested = {c.group for c in changes}
        per_run = _without_statistical(cand_runs, self.settings, tested)
        differences = compare_scalars(_without_statistical(base_runs, self.settings, tested), per_run,
                                      self.settings.tolerances)
        verdicts = _verdicts(campaign, cand_by_record, differences, changes, dict(cand_broken))
        summary = _summary(self.baseline, base, self.settings, base_runs, per_run, differences, changes)
        summary.runs_only_in_baseline = sorted(_describe_run(k) for k in only_base)
        summary.runs_only_in_candidate = sorted(_describe_run(k) for k in only_candidate)
        summary.unreadable_files = [f"baseline {name}: {why}" for name, why in base_broken] + [
            f"{name}: {why}" for name, why in cand_broken]
        if self.plots:
            summary.plots = write_plots(out_dir, _figures(base_runs, cand_runs, differences, changes))
        summary.regressed_runs = sum(
            r.execution is RunStatus.PASSED and any(v.judgement is Judgement.FAIL for v in found)
            for r, found in zip(campaign.runs, verdicts, strict=True))
        return Judgements(verdicts, summary.to_json(), summary_key=SUMMARY_KEY)


def compare_campaigns(base_dir: Path, cand_dir: Path, settings: Settings,
                      candidate: Campaign | None = None, plots: bool = True) -> Campaign:
    """Compares the candidate output directory with the baseline's; writes nothing but plots, returns
    the candidate campaign with the verdicts applied and the summary in `extra["regression"]`."""
    candidate = candidate if candidate is not None else _read_campaign(cand_dir)
    return judge_campaign([ComparisonCheck(Path(base_dir), settings, plots)], candidate, Path(cand_dir))


def _unmatched(base_runs: list[RunResults], cand_runs: list[RunResults]) -> tuple[set[MatchKey], set[MatchKey]]:
    """Runs on one side only (a run that failed, or a changed run filter): reported, not compared."""
    base_keys, cand_keys = {run_key(r) for r in base_runs}, {run_key(r) for r in cand_runs}
    return base_keys - cand_keys, cand_keys - base_keys


def _read_campaign(out_dir: Path) -> Campaign:
    try:
        return Campaign.read(out_dir)
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise UserError(f"{out_dir}: not an opp-ci output directory (cannot read campaign.json: {error})") from None


def _summary(base_dir: Path, base: Campaign, settings: Settings, base_runs: list[RunResults],
             cand_runs: list[RunResults], differences: list[ScalarDifference],
             changes: list[StatisticalChange]) -> ComparisonSummary:
    return ComparisonSummary(
        baseline=str(Path(base_dir).resolve()),
        baseline_campaign=base.campaign,
        settings=settings.to_json(),
        runs_compared=len(cand_runs),
        baseline_runs=len(base_runs),
        scalars_compared=sum(len(r.scalars) for r in cand_runs),
        scalars_changed=len(differences),
        differences=[_scalar_change(d) for d in differences[:STORED_DIFFERENCES]],
        differences_not_stored=max(0, len(differences) - STORED_DIFFERENCES),
        statistical_tests=len(changes),
        statistical=[c.shift() for c in changes],
        significant=sum(c.significant for c in changes),
        artifacts_url=artifacts_url(os.environ),
    )


def _scalar_change(difference: ScalarDifference) -> ScalarChange:
    config, itervars, repetition = difference.run
    return ScalarChange(config=config, itervars=dict(itervars), repetition=repetition, module=difference.module,
                        name=difference.name, kind=difference.kind.value, base=difference.base,
                        candidate=difference.candidate, relative=_finite(difference.relative),
                        absolute=_finite(difference.absolute))


def artifacts_url(environ: Mapping[str, str]) -> str | None:
    """The GitHub Actions run page (where the artifacts are), when running in GitHub Actions."""
    if all(environ.get(k) for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")):
        return f"{environ['GITHUB_SERVER_URL']}/{environ['GITHUB_REPOSITORY']}/actions/runs/{environ['GITHUB_RUN_ID']}"
    return None


def _verdicts(campaign: Campaign, runs_by_record: list[list[RunResults]], differences: list[ScalarDifference],
              changes: list[StatisticalChange], broken: dict[str, str]) -> list[list[Verdict]]:
    """Per record: a failing verdict for scalars beyond tolerance or significant shifts, an error for
    a result file that could not be read, a passing one otherwise."""
    by_key: dict[MatchKey, list[ScalarDifference]] = {}
    for difference in differences:
        by_key.setdefault(difference.run, []).append(difference)
    significant = [c for c in changes if c.significant]
    verdicts = []
    for record, runs in zip(campaign.runs, runs_by_record, strict=True):
        unreadable = [name for name in record.result_files if name in broken]
        found = [d for run in runs for d in by_key.get(run_key(run), [])]
        shifted = [c for run in runs for c in significant if c.group == group_key(run)]
        if unreadable:
            verdicts.append([Verdict(COMPARISON, Judgement.ERROR, f"cannot compare: {broken[unreadable[0]]}",
                                     file=unreadable[0])])
        elif found or shifted:
            verdicts.append([Verdict(COMPARISON, Judgement.FAIL, _failure_message(found, shifted))])
        elif runs:
            verdicts.append([Verdict(COMPARISON, Judgement.PASS, "within tolerance")])
        else:
            verdicts.append([])
    return verdicts


def _failure_message(found: list[ScalarDifference], shifted: list[StatisticalChange]) -> str:
    parts = []
    if found:
        largest = "; ".join(f"{d.module} {d.name}: " + _describe_value_change(d) for d in found[:LISTED_DIFFERENCES])
        more = f" (and {len(found) - LISTED_DIFFERENCES} more)" if len(found) > LISTED_DIFFERENCES else ""
        parts.append(f"{len(found)} scalar(s) beyond tolerance, largest: {largest}{more}")
    if shifted:
        listed = "; ".join(c.describe() for c in shifted[:LISTED_DIFFERENCES])
        parts.append(f"{len(shifted)} metric(s) changed significantly over the repetitions: {listed}")
    return REGRESSION_PREFIX + ". ".join(parts)


def failure_headline(message: str) -> str:
    """A run's regression message without the metrics it lists, which the summary's comparison table shows
    by parameter point; any other message as it is."""
    if not message.startswith(REGRESSION_PREFIX):
        return message
    counts = re.findall(r"(\d+) (scalar\(s\) beyond tolerance|metric\(s\) changed significantly)", message)
    return REGRESSION_PREFIX + "; ".join(f"{n} {what}" for n, what in counts) + " (see the comparison table)"


def _describe_value_change(difference: ScalarDifference) -> str:
    if difference.kind is not DifferenceKind.CHANGED:
        return difference.kind.value
    return f"{difference.base!r} -> {difference.candidate!r} ({_percent(_signed_relative(difference))})"


def _signed_relative(difference: ScalarDifference) -> float:
    if difference.base is None or difference.candidate is None:
        return math.inf
    if difference.base == 0:
        return math.inf
    return (difference.candidate - difference.base) / abs(difference.base)


def _figures(base_runs: list[RunResults], cand_runs: list[RunResults], differences: list[ScalarDifference],
             changes: list[StatisticalChange]) -> list[Distribution | Bars]:
    """What to draw: the significant shifts (smallest p first), then the largest scalar change of each
    metric, over the runs where it changed."""
    figures: list[Distribution | Bars] = []
    for change in sorted((c for c in changes if c.significant), key=lambda c: c.p_adjusted):
        variables = ", ".join(f"{k}={v}" for k, v in change.group[1])
        figures.append(Distribution(
            title=f"{change.group[0]} {variables}\n{change.module} {change.name}", axis=change.name,
            note=f"{change.test.relative:+.2%}, g={change.test.hedges_g:.2f}, p_adj={change.p_adjusted:.2g}",
            base=_values(base_runs, change.group, change.module, change.name),
            candidate=_values(cand_runs, change.group, change.module, change.name),
            name=file_name(change.group[0], variables, change.module, change.name)))
    changed = [d for d in differences if d.base is not None and d.candidate is not None]
    for first in _first_of_each_metric(changed):
        same = [d for d in changed if (d.run[0], d.module, d.name) == (first.run[0], first.module, first.name)]
        figures.append(Bars(
            title=f"{first.run[0]}: {first.module} {first.name}",
            labels=[", ".join(f"{k}={v}" for k, v in d.run[1]) + f" #{d.run[2]}" for d in same],
            base=[d.base for d in same], candidate=[d.candidate for d in same],
            name=file_name(first.run[0], first.module, first.name)))
    return figures


def _first_of_each_metric(differences: list[ScalarDifference]) -> list[ScalarDifference]:
    """The first (largest) difference of each (config, module, name)."""
    first: dict[tuple[str, str, str], ScalarDifference] = {}
    for difference in differences:
        first.setdefault((difference.run[0], difference.module, difference.name), difference)
    return list(first.values())


def _values(runs: list[RunResults], group: GroupKey, module: str, name: str) -> list[float]:
    return [s.value for run in runs if group_key(run) == group for s in run.scalars
            if s.module == module and s.name == name]


def read_tolerances_file(path: Path) -> dict[str, Any]:
    """A TOML or JSON file's `tolerances` table (or the whole file, when it has none), checked."""
    import json
    import tomllib

    try:
        text = Path(path).read_text()
        data = json.loads(text) if Path(path).suffix == ".json" else tomllib.loads(text)
    except (OSError, ValueError) as error:
        raise UserError(f"{path}: cannot read tolerances: {error}") from None
    table = data.get("tolerances", data) if isinstance(data, dict) else None
    if not isinstance(table, dict) or not all(isinstance(v, dict) for v in table.values()):
        raise UserError(f"{path}: expected a [tolerances] table of `\"GLOB\" = {{rel = R, abs = A}}`")
    parse_tolerances(table)
    return table
