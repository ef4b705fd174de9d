"""Scheduling: which queue jobs a campaign's runs become, and in which order they are enqueued.

Two things from the wall times earlier campaigns recorded (`opp_ci.history`):

- **Longest first.** A skewed campaign (a few long runs among many short ones) ends with one long run
  on one worker when the long runs come last; started first, it approaches max(longest run, total / N).
  Runs never seen are expected to be long (they start early).
- **Short runs batched.** A queue job costs a few milliseconds of Redis round trips on the worker and
  the orchestrator; for a run of a few milliseconds that is most of its cost. Runs whose history says
  they take less than BATCH_RUNS_BELOW go into batch jobs of about BATCH_SECONDS each, but never fewer
  than MIN_BATCHES of them (so the short runs still spread over the workers). Without history nothing
  is batched.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from opp_ci.history import expected_seconds
from opp_ci.payloads import MAX_BATCH, BatchPayload, RunPayload, batch_job_id
from opp_ci.planning import PlannedRun

#: Runs expected to take less than this (seconds of wall time) are batched.
BATCH_RUNS_BELOW = 0.5
#: A batch job takes about this long (expected seconds).
BATCH_SECONDS = 2.0
#: The short runs become at least this many jobs (fewer only when there are fewer runs).
MIN_BATCHES = 16


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


def longest_first(planned: list[PlannedRun], history: Mapping[str, float]) -> list[PlannedRun]:
    """The runs, the longest expected first; without history, in their planned order."""
    if not history:
        return list(planned)
    return sorted(planned, key=lambda p: -expected_of(p, history))


def schedule(planned: list[PlannedRun], history: Mapping[str, float]) -> list[Unit]:
    """The queue jobs for `planned`, in the order to enqueue them: the longest expected first, the
    runs history says are short in batches."""
    if not history:
        return [single(p) for p in planned]
    expected = {p.job_id: expected_of(p, history) for p in planned}
    short = [p for p in planned if expected[p.job_id] < BATCH_RUNS_BELOW]
    units = [single(p, expected[p.job_id]) for p in planned if expected[p.job_id] >= BATCH_RUNS_BELOW]
    units += _batches(short, expected)
    return sorted(units, key=lambda unit: -unit.expected)


def _batches(short: list[PlannedRun], expected: Mapping[str, float]) -> list[Unit]:
    """Short runs in batches of about BATCH_SECONDS, at least MIN_BATCHES of them; a run alone stays single."""
    if not short:
        return []
    total = sum(expected[p.job_id] for p in short)
    count = max(min(MIN_BATCHES, len(short)), math.ceil(total / BATCH_SECONDS), math.ceil(len(short) / MAX_BATCH))
    size = math.ceil(len(short) / count)
    groups = [short[start:start + size] for start in range(0, len(short), size)]
    return [_unit_of(group, expected) for group in groups]


def _unit_of(group: list[PlannedRun], expected: Mapping[str, float]) -> Unit:
    seconds = sum(expected[p.job_id] for p in group)
    if len(group) == 1:
        return single(group[0], seconds)
    payload = BatchPayload(tuple(p.payload for p in group))
    return Unit(batch_job_id([p.job_id for p in group]), tuple(group), payload, seconds)
