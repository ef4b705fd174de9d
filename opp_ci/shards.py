"""Shards: one campaign split over N CI jobs (`opp-ci run --shard I/N`), balanced from the run-time history.

Every shard job plans the whole campaign the same way `run` does, assigns every run to a shard, and runs only
its own. The assignment is longest-processing-time-first (LPT) over the runs' expected wall times: the units
(a run; all repetitions of a suite row, which are judged together) sorted longest first, each given to the
shard with the least planned load so far (ties: the lowest shard number). Its makespan is at most 4/3 of the
optimum, and close to max(longest run, total / N) when runs are many (benchmarks/shard_balance.py).

A shard's planned load is its expected seconds plus NOISE_MARGIN of its runs' expected seconds added in
quadrature: a run's next time is not its expected one, and independent runs' deviations partly cancel. A shard
holding one long run keeps a margin of a tenth of it, a shard of many short runs almost none, so the short
runs plain LPT would pile onto the long run's shard (the estimate that is least certain in seconds) go to
the others. Over suites drawn from OMNeT++'s measured run times and noise this keeps LPT within 1.05 of the
bound where plain LPT missed it (benchmarks/shard_balance.py).

A run the history has never seen is given the median of the known runs of its group (its config; a suite row's
working directory), else of all known runs, else 1 s. The median, not the mean: run times are heavy-tailed
(a few long runs carry the mean) and the typical unseen run is a typical one. The unseen runs of a group then
share one estimate and are consecutive in the LPT order, so they are dealt out one per shard in turn, from the
least loaded: each shard gets a fair share of every config and working directory, also with no history at all.

Deterministic: the assignment depends only on the run list (its runs' identities, not their job ids, which
include the build's digest) and the history; no hash randomisation, stable sort keys. A re-run shard job runs
exactly the same runs.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import math
import shutil
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opp_ci import output
from opp_ci.errors import UserError
from opp_ci.history import HISTORY_FILE, read_history_file, run_key, usable

if TYPE_CHECKING:
    from opp_ci.planning import PlannedRun
    from opp_ci.spec import Shard

#: What a run never seen is expected to take when the history knows no run at all.
UNKNOWN_SECONDS = 1.0
#: A run's margin over its expected time, as a fraction of it: about the 90th percentile of the run-to-run
#: |log ratio| of OMNeT++ 6.1's samples in CPU time (0.118; benchmarks/data/omnetpp_samples_times.json).
NOISE_MARGIN = 0.1
#: Where campaign.json keeps the shard information.
SHARD_KEY = "shard"


def check_count(count: int) -> int:
    if count < 1:
        raise UserError(f"--shards {count}: give 1 or more shards")
    return count


def history_path(given: str | None, out_dir: Path) -> Path:
    """`--history FILE`, else the output directory's history."""
    if given and not Path(given).is_file():
        output.warning(f"--history {given}: no such file; every run counts as not seen before")
    return Path(given) if given else Path(out_dir) / HISTORY_FILE


def seed_history(given: str | None, out_dir: Path) -> None:
    """`--history FILE` copied into an output directory that has no history yet (a CI job's fresh one): the
    campaign's longest-first order uses it too, and the history it leaves keeps its entries."""
    target = Path(out_dir) / HISTORY_FILE
    if given and Path(given).is_file() and not target.exists():
        shutil.copyfile(given, target)


# --- identities: what names a run across shard jobs (a job id includes the build's digest) ---


def identity(planned: PlannedRun) -> str:
    if planned.row is not None:
        return f"row {planned.history_row} {planned.repeat}"
    return f"run {planned.info.config} {planned.info.number}"


def record_identity(record: Any) -> str:
    """The identity of a RunRecord (or a planned entry of campaign.json), as `identity` gives it."""
    if record.suite_row:
        return f"row {record.suite_row} {record.repeat}"
    return f"run {record.config} {record.run}"


def _unit_key(planned: PlannedRun) -> str:
    """Runs that must go to the same shard: the repetitions of a suite row are judged together."""
    return f"row {planned.history_row}" if planned.row is not None else identity(planned)


def _order(planned: PlannedRun) -> tuple[str, int, int]:
    if planned.row is not None:
        return (str(planned.row.file), planned.row.line, planned.repeat)
    return (planned.info.config, planned.info.number, 0)


def _group(planned: PlannedRun) -> str:
    return f"dir {planned.payload.working_dir}" if planned.row is not None else f"config {planned.info.config}"


# --- expected times and the assignment ---


def expected_times(planned: Sequence[PlannedRun], history: Mapping[str, float]) -> list[tuple[float, bool]]:
    """Each run's expected wall seconds, and whether the history knew it (else: its group's median)."""
    import statistics  # 5 ms that `opp-ci run` without --shard does not need
    known = [usable(history.get(run_key(p.info.config, p.info.itervars, p.history_row))) for p in planned]
    by_group: dict[str, list[float]] = defaultdict(list)
    for run, seconds in zip(planned, known, strict=True):
        if seconds is not None:
            by_group[_group(run)].append(seconds)
    every = [s for s in known if s is not None]
    overall = statistics.median(every) if every else UNKNOWN_SECONDS
    medians = {group: statistics.median(values) for group, values in by_group.items()}
    return [(seconds, True) if seconds is not None else (medians.get(_group(run), overall), False)
            for run, seconds in zip(planned, known, strict=True)]


def assign(planned: Sequence[PlannedRun], history: Mapping[str, float], count: int) -> list[int]:
    """The shard (1-based) of each planned run, LPT over the expected times the history gives."""
    return assign_expected(planned, [seconds for seconds, _known in expected_times(planned, history)], count)


def assign_expected(planned: Sequence[PlannedRun], expected: Sequence[float], count: int) -> list[int]:
    """The shard (1-based) of each planned run, LPT over its `expected` seconds."""
    units: dict[str, list[int]] = {}
    for position, run in enumerate(planned):
        units.setdefault(_unit_key(run), []).append(position)
    loads = lpt({key: sum(expected[i] for i in members) for key, members in units.items()},
                {key: (_group(planned[members[0]]), min(_order(planned[i]) for i in members))
                 for key, members in units.items()}, count)
    shards = [0] * len(planned)
    for key, members in units.items():
        for position in members:
            shards[position] = loads[key]
    return shards


def lpt(times: Mapping[str, float], tiebreak: Mapping[str, Any], count: int,
        margin: float = NOISE_MARGIN) -> dict[str, int]:
    """Longest first, each to the bin of `count` with the least planned load (ties: the lowest): its expected
    load plus `margin` of its items' times added in quadrature. The bin (1-based) by key."""
    heap = [(0.0, index, 0.0, 0.0) for index in range(1, count + 1)]  # (planned, bin, load, sum of squares)
    chosen = {}
    for key in sorted(times, key=lambda k: (-times[k], tiebreak[k], k)):
        _planned, index, load, squares = heapq.heappop(heap)
        chosen[key] = index
        load, squares = load + times[key], squares + (margin * times[key]) ** 2
        heapq.heappush(heap, (load + math.sqrt(squares), index, load, squares))
    return chosen


# --- what campaign.json keeps, and the plan `opp-ci plan --shards N` prints ---


@dataclass
class ShardPlan:
    """The assignment of a whole campaign: per run its shard and expected time."""

    count: int
    entries: list[dict[str, Any]]
    history: str

    @classmethod
    def make(cls, planned: Sequence[PlannedRun], history_file: Path, count: int) -> ShardPlan:
        expected = expected_times(planned, read_history_file(history_file))  # once: the median per group
        shards = assign_expected(planned, [seconds for seconds, _known in expected], count)
        entries = [_entry(run, shard, seconds, known) for run, shard, (seconds, known)
                   in zip(planned, shards, expected, strict=True)]
        return cls(count, sorted(entries, key=lambda e: e["order"]), str(history_file))

    @property
    def digest(self) -> str:
        """Names the plan: shards of one campaign (same runs, same assignment) share it."""
        pairs = [(e["id"], e["shard"]) for e in self.entries]
        return hashlib.sha256(json.dumps([self.count, pairs]).encode()).hexdigest()[:16]

    def expected_by_shard(self) -> list[float]:
        totals = [0.0] * self.count
        for entry in self.entries:
            totals[entry["shard"] - 1] += entry["expected_seconds"]
        return [round(t, 3) for t in totals]

    def runs_of(self, index: int) -> set[str]:
        return {e["id"] for e in self.entries if e["shard"] == index}

    def to_json(self, index: int | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {"index": index} if index is not None else {}
        return {**data, "count": self.count, "plan": self.digest, "history": self.history,
                "expected_seconds": self.expected_by_shard(),
                "runs": [{k: v for k, v in e.items() if k != "order"} for e in self.entries]}


def _entry(run: PlannedRun, shard: int, seconds: float, known: bool) -> dict[str, Any]:
    row = run.row
    return {"id": identity(run), "shard": shard, "expected_seconds": round(seconds, 3), "seen": known,
            "config": run.info.config, "run": run.info.number, "itervars": dict(run.info.itervars),
            "repetition": run.info.repetition, "suite_row": run.history_row, "test": row.title if row else None,
            "repeat": run.repeat, "order": list(_order(run))}


def select(planned: list[PlannedRun], shard: Shard, history_file: Path) -> tuple[list[PlannedRun], dict[str, Any]]:
    """The runs of `shard`, and what campaign.json keeps about the sharding (the whole plan, so that `merge`
    knows the runs of a shard that never reported)."""
    shard_plan = ShardPlan.make(planned, history_file, shard.count)
    mine = shard_plan.runs_of(shard.index)
    return [run for run in planned if identity(run) in mine], shard_plan.to_json(shard.index)
