"""Scheduling: which queue jobs a campaign's runs become, and in which order they are enqueued.

Two things from the wall times earlier campaigns recorded (`opp_ci.history`):

- **Longest first.** A skewed campaign (a few long runs among many short ones) ends with one long run
  on one worker when the long runs come last; started first, it approaches max(longest run, total / N).
  Runs never seen are expected to be long (they start early).
- **Short runs batched.** A queue job costs a few milliseconds of Redis round trips on the worker and
  the orchestrator; for a run of a few milliseconds that is most of its cost. Runs whose history says
  they take less than BATCH_RUNS_BELOW go into batch jobs of at most BATCH_SECONDS each, shrinking
  towards the end (guided self-scheduling: each takes 1/(BATCHES_PER_WORKER × workers) of the runs
  left), so the short runs still spread over the workers and the workers end together. Without history nothing
  is batched from history, but a campaign learns from its own first runs: of a config never timed, only
  the first PROBES_PER_WORKER runs per worker are enqueued at once, the rest held back until
  MIN_PROBES of them ended (at most HOLD_SECONDS). When every one of those took under TINY_SECONDS,
  the rest are batched by their mean; otherwise they are enqueued one job each, as without history.
- **Spread, not sliced.** A parameter study's run times follow its iteration variables (aloha's
  20-host runs take 8 times as long as its 10-host ones, and come last), so a batch of consecutive
  runs can take several times another of the same size, and the probes, the first runs, would say
  little of the rest. Probes and batches take runs spread over the config's run numbers instead
  (`spread`): a batch then lasts about as long as its share, and the workers end together.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from opp_ci.history import expected_seconds
from opp_ci.payloads import MAX_BATCH, BatchPayload, RunPayload, batch_job_id
from opp_ci.planning import PlannedRun

#: Runs expected to take less than this (seconds of wall time) are batched.
BATCH_RUNS_BELOW = 1.0
#: A batch job takes about this long (expected seconds).
BATCH_SECONDS = 2.0
#: Each batch takes 1/(this × workers) of the short runs left: 1 is guided self-scheduling as
#: Polychronopoulos and Kuck define it (2 workers take half of what is left, then a quarter, ...).
BATCHES_PER_WORKER = 1
#: ... and when the number of workers is not known (workers started elsewhere), 1/MIN_BATCHES of it.
MIN_BATCHES = 16
#: Runs of a config never timed that are enqueued at once, per worker (the rest wait for their timings).
PROBES_PER_WORKER = 2
#: Probes when the number of workers is not known (workers started elsewhere).
DEFAULT_PROBES = 16
#: Ended probes of a config that tell whether its runs are tiny.
MIN_PROBES = 2
#: A config's held runs are enqueued at the latest this long after the probes, once no more jobs than
#: workers are queued (runs that take longer gain nothing from batching, and no worker waits for them).
HOLD_SECONDS = 1.5
#: Probes that all took less than this make the config's other runs batched (as history would).
TINY_SECONDS = BATCH_RUNS_BELOW


@dataclass(frozen=True)
class Unit:
    """One queue job: a planned run, or a batch of short ones that one worker runs one after another."""

    job_id: str
    runs: tuple[PlannedRun, ...]
    payload: RunPayload | BatchPayload
    expected: float = math.inf

    @property
    def is_batch(self) -> bool:
        return isinstance(self.payload, BatchPayload)

    @property
    def retries(self) -> int:
        """Infrastructure retries: a batch gets the most any of its runs has."""
        return max(run.config.retries for run in self.runs)

    @property
    def description(self) -> str:
        if not self.is_batch:
            return self.runs[0].description
        return f"batch of {len(self.runs)} runs: {self.runs[0].description} …"

    def enqueued(self) -> tuple[str, RunPayload | BatchPayload, int, str]:
        """What `queue.enqueue_runs` takes."""
        return self.job_id, self.payload, self.retries, self.description


def single(planned: PlannedRun, expected: float = math.inf) -> Unit:
    return Unit(planned.job_id, (planned,), planned.payload, expected)


def expected_of(planned: PlannedRun, history: Mapping[str, float]) -> float:
    return expected_seconds(history, planned.info.config, planned.info.itervars, planned.history_row)


def schedule(planned: list[PlannedRun], history: Mapping[str, float], workers: int | None = None) -> list[Unit]:
    """The queue jobs for `planned`, in the order to enqueue them: the longest expected first, the
    runs history says are short in batches."""
    if not history:
        return [single(p) for p in planned]
    expected = {p.job_id: expected_of(p, history) for p in planned}
    short = [p for p in planned if expected[p.job_id] < BATCH_RUNS_BELOW]
    units = [single(p, expected[p.job_id]) for p in planned if expected[p.job_id] >= BATCH_RUNS_BELOW]
    units += _batches(short, expected, workers)
    return sorted(units, key=lambda unit: -unit.expected)


#: The golden ratio's fractional part: i × GOLDEN mod 1 spreads any number of points evenly over [0, 1).
GOLDEN = (math.sqrt(5) - 1) / 2


def spread(runs: list[PlannedRun]) -> list[PlannedRun]:
    """`runs` reordered so that every stretch of the result samples the whole of `runs`: the p-th run
    is the one at about fraction p × GOLDEN mod 1 of the list (0, 26, 10, 36, 20, … of 42)."""
    by_point = sorted(range(len(runs)), key=lambda position: (position * GOLDEN) % 1.0)
    rank = sorted(range(len(runs)), key=by_point.__getitem__)  # rank[p]: where p comes in by_point
    return [runs[index] for index in rank]


def _batches(short: list[PlannedRun], expected: Mapping[str, float], workers: int | None) -> list[Unit]:
    """Short runs in batches of at most BATCH_SECONDS (and MAX_BATCH runs), shrinking towards the end
    (each takes a share of what is left, as guided self-scheduling does: fewer jobs than one per run, and
    the workers still end together); a run alone stays single."""
    if not short:
        return []
    short = spread(short)
    shares = BATCHES_PER_WORKER * workers if workers else MIN_BATCHES
    mean = sum(expected[p.job_id] for p in short) / len(short)
    largest = max(1, min(MAX_BATCH, math.floor(BATCH_SECONDS / mean) if mean > 0 else MAX_BATCH))
    units, start = [], 0
    while start < len(short):
        size = max(1, min(largest, math.ceil((len(short) - start) / shares)))
        units.append(_unit_of(short[start:start + size], expected))
        start += size
    return units


def _unit_of(group: list[PlannedRun], expected: Mapping[str, float]) -> Unit:
    seconds = sum(expected[p.job_id] for p in group)
    if len(group) == 1:
        return single(group[0], seconds)
    payload = BatchPayload(tuple(p.payload for p in group))
    return Unit(batch_job_id([p.job_id for p in group]), tuple(group), payload, seconds)


def probes_for(workers: int | None) -> int:
    return max(MIN_PROBES, PROBES_PER_WORKER * workers) if workers else DEFAULT_PROBES


def hold_back(planned: list[PlannedRun], history: Mapping[str, float],
              probes: int) -> tuple[list[PlannedRun], dict[str, list[PlannedRun]]]:
    """The runs to enqueue now, and by config those held back: of a config that history does not know
    (suite rows are never held: they differ too much), all but `probes` runs spread over its runs."""
    unknown: dict[str, list[PlannedRun]] = {}
    for run in planned:
        if run.row is None and math.isinf(expected_of(run, history)):
            unknown.setdefault(run.info.config, []).append(run)
    held: dict[str, list[PlannedRun]] = {}
    for config, runs in unknown.items():
        probing = {run.job_id for run in spread(runs)[:probes]}
        if len(runs) > len(probing):
            held[config] = [run for run in runs if run.job_id not in probing]
    waiting = {run.job_id for runs in held.values() for run in runs}
    return [run for run in planned if run.job_id not in waiting], held


def release(held: list[PlannedRun], probe_walls: list[float], workers: int | None = None) -> list[Unit] | None:
    """The jobs for a config's held runs once its probes tell (batches when they are tiny), or None
    while too few of them ended to tell."""
    if len(probe_walls) < MIN_PROBES:
        return None
    if max(probe_walls) >= TINY_SECONDS:
        return [single(run) for run in held]
    mean = sum(probe_walls) / len(probe_walls)
    return _batches(held, {run.job_id: mean for run in held}, workers)
