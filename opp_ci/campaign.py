"""The orchestrator: enqueue the planned runs, wait, sweep jobs of dead workers, collect records
(the dispatch-and-collect stage of `opp_ci.pipeline`).

The orchestrator is the only writer of campaign state that matters: the runs it planned and the
records it collected (campaign.json, rewritten as records arrive). Redis is only a work queue: with
`--resume`, runs that already have a record are not run again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from rq import Worker
from rq.job import JobStatus

from opp_ci import output
from opp_ci.backends import Infrastructure
from opp_ci.collection import Collector
from opp_ci.history import read_history, write_history
from opp_ci.jobs import RunJob, failure_text, note_failed_attempt
from opp_ci.planning import PlannedRun
from opp_ci.processes import resume_collection
from opp_ci.progress import Counts, ProgressDisplay
from opp_ci.queue import JOB_MONITORING_INTERVAL, checked_connection, enqueue_runs, make_queue
from opp_ci.records import (
    Campaign,
    RunRecord,
    RunStatus,
)
from opp_ci.scheduling import HOLD_SECONDS, Unit, hold_back, probes_for, release, schedule, single
from opp_ci.store import open_store
from opp_ci.worker import ended_key

#: Longest wait for a worker to say a job ended; without word, the registries are scanned (and dead
#: workers looked for) this often.
WAIT_TIMEOUT = 0.5
#: How often the registries are scanned while workers keep saying which jobs ended (a safety net for a
#: word that got lost, e.g. a worker that could not reach Redis for a moment).
POLL_INTERVAL = 2.0
#: How often every waiting job is looked at, not only those the registries name.
FULL_CHECK_INTERVAL = 10.0
#: How often campaign.json is rewritten while records arrive (and once at the end), at most.
SAVE_INTERVAL = 2.0
#: The share of the orchestrator's time checkpoints may take: a big campaign's file takes longer to
#: write, so it is written less often (a fixed interval costs O(runs²) over a campaign).
SAVE_SHARE = 0.05
#: Seconds without any worker on the queue before the orchestrator says so.
NO_WORKER_WARNING = 30
#: A started job whose heartbeat is older than this was abandoned by a dead worker.
STALE_HEARTBEAT = 4 * JOB_MONITORING_INTERVAL + 10


class Orchestrator:
    """Enqueues planned runs on an infrastructure and waits for every one of them to have a record."""

    def __init__(
        self,
        campaign: Campaign,
        planned: list[PlannedRun],
        infrastructure: Infrastructure,
        out_dir: Path,
        display: ProgressDisplay,
        workers: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.clock = clock
        self.campaign = campaign
        self.planned = {p.job_id: p for p in planned}
        #: The queue jobs, by job id: a run each, or a batch of short runs (`opp_ci.scheduling`).
        self.units: dict[str, Unit] = {}
        #: Runs of configs never timed, held back until the config's first runs ended (`opp_ci.scheduling`).
        self.held: dict[str, list[PlannedRun]] = {}
        self._probe_walls: dict[str, list[float]] = {}
        self._hold_until = 0.0
        self._probes = probes_for(workers)
        self.workers = workers
        self.infrastructure = infrastructure
        self.out_dir = out_dir
        self.display = display
        self.connection = checked_connection(infrastructure.redis_url, tls=infrastructure.redis_tls)
        self.queue = make_queue(self.connection)
        #: The runs' files are collected from the campaign's store, whatever store a worker's reply names.
        self.collector = Collector(open_store(infrastructure.store_url, move_out=infrastructure.store_is_private),
                                   out_dir)
        self.records: dict[str, RunRecord] = {r.job_id: r for r in campaign.runs}
        self.running = 0
        self._started = self.clock()
        self._warned = False
        self.checkpoints = Checkpoints(out_dir, clock)
        self._last_full_check = self.clock()
        self._last_poll = 0.0
        self._reports_imported = False

    def run(self) -> Campaign:
        self._enqueue_missing()
        resume_collection()  # paused while the campaign started (opp_ci.cli)
        try:
            while len(self.records) < len(self.planned):
                ended = self._wait_for_ended()
                if ended:
                    self._take_ended(ended)
                    self._import_reports_near_the_end()
                self._sweep_dead_workers()
                if self.held:
                    self._release_held()
                if not ended or self.clock() - self._last_poll >= POLL_INTERVAL:
                    self._poll()
                else:
                    self._save()
                    self._show()
        finally:
            self._save(now=True)
        write_history(self.out_dir, self.records.values())
        return self.campaign

    def _import_reports_near_the_end(self) -> None:
        """Imports the report modules (13 ms) once no more runs are left than there are workers: while the
        last runs run, on a core the queue no longer keeps busy, instead of after them."""
        if self._reports_imported or self.held or len(self.planned) - len(self.records) > (self.workers or 1):
            return
        self._reports_imported = True
        import opp_ci.report  # noqa: F401

    def _wait_for_ended(self) -> list[str]:
        """Ids of jobs workers said ended, waiting up to WAIT_TIMEOUT for the first (BLPOP: no polling
        delay between a run ending and its record)."""
        key = ended_key(self.queue.name)
        first = self.connection.blpop([key], timeout=WAIT_TIMEOUT)
        if first is None:
            return []
        with self.connection.pipeline() as pipeline:
            pipeline.lrange(key, 0, -1)
            pipeline.delete(key)
            rest, _ = pipeline.execute()
        return [item.decode() for item in (first[1], *rest)]

    def _take_ended(self, identifiers: list[str]) -> None:
        """Collects the jobs workers said ended, fetched in one round trip."""
        for identifier, job in self._fetch([i for i in dict.fromkeys(identifiers) if self._is_waiting(i)]):
            if job is not None:
                self._handle(self.units[identifier], job, set())

    def _is_waiting(self, identifier: str) -> bool:
        """Whether `identifier` is one of this campaign's queue jobs with a run that has no record yet."""
        unit = self.units.get(identifier)
        return unit is not None and any(p.job_id not in self.records for p in unit.runs)

    def _waiting(self) -> set[str]:
        """Ids of the queue jobs with a run that has no record yet."""
        return {i for i in self.units if self._is_waiting(i)}

    def _enqueue_missing(self) -> None:
        """Enqueues runs without a record, longest expected first and short ones batched; a job that
        already exists and is not failed is adopted, so enqueueing the same campaign twice runs
        nothing twice."""
        history = read_history(self.out_dir)
        now, self.held = hold_back([p for p in self.planned.values() if p.job_id not in self.records], history,
                                   self._probes)
        self._hold_until = self.clock() + HOLD_SECONDS
        self.campaign.extra["queue_jobs"] = 0
        self._enqueue(schedule(now, history, self.workers))

    def _release_held(self) -> None:
        """Enqueues the held runs of each config whose probes tell how long its runs take (batched when
        they are tiny), and the others one job each once the hold is over and the workers are about to
        run out of work (a campaign of many configs runs the probes of all of them first)."""
        over = self.clock() >= self._hold_until and self.connection.llen(self.queue.key) <= (self.workers or 1)
        for config in list(self.held):
            units = release(self.held[config], self._probe_walls.get(config, []), self.workers)
            if units is None and over:
                units = [single(run) for run in self.held[config]]
            if units is not None:
                del self.held[config]
                self._enqueue(units)

    def _enqueue(self, missing: list[Unit]) -> None:
        self.units.update((unit.job_id, unit) for unit in missing)
        self.campaign.extra["queue_jobs"] += len(missing)
        existing = RunJob.fetch_many([u.job_id for u in missing], self.connection, serializer=self.queue.serializer)
        fresh = []
        for unit, job in zip(missing, existing, strict=True):
            if job is not None and job.get_status(refresh=False) in (
                    JobStatus.QUEUED, JobStatus.STARTED, JobStatus.FINISHED):
                continue
            if job is not None:
                job.delete()
            fresh.append(unit.enqueued())
        enqueue_runs(self.queue, fresh)

    def _poll(self) -> None:
        """One look at the queue. The registries say which jobs ended, so only those are fetched;
        the started ones are inspected when a worker died, and every job now and then (a job lost
        with a Redis restart is enqueued again)."""
        self._last_poll = self.clock()
        waiting = self._waiting()
        ended = [i for i in self._registry_ids(self.queue.finished_job_registry, self.queue.failed_job_registry)
                 if i in waiting]
        started = [i for i in self._registry_ids(self.queue.started_job_registry) if i in waiting]
        self.running = len(started)
        now = self.clock()
        due = now - self._last_full_check >= FULL_CHECK_INTERVAL
        if due:
            self._last_full_check = now
        for identifier, job in self._fetch(ended + (list(waiting) if due else [])):
            self._handle(self.units[identifier], job, set())
        self._save()
        self._warn_when_nobody_works()
        self._show()

    def _sweep_dead_workers(self) -> None:
        """Re-enqueues at once the jobs of workers the backend saw die (a cheap check, done on every
        wake-up: the local backend just reaps its children)."""
        dead_workers = self.infrastructure.check_workers()
        if not dead_workers:
            return
        waiting = self._waiting()
        started = [i for i in self._registry_ids(self.queue.started_job_registry) if i in waiting]
        for identifier, job in self._fetch(started):
            self._handle(self.units[identifier], job, dead_workers)

    def _registry_ids(self, *registries) -> list[str]:
        return [i for registry in registries for i in registry.get_job_ids(cleanup=False)]

    def _fetch(self, identifiers: list[str]) -> list[tuple[str, RunJob | None]]:
        unique = list(dict.fromkeys(identifiers))
        return list(zip(unique, RunJob.fetch_many(unique, self.connection, serializer=self.queue.serializer),
                        strict=True))

    def _handle(self, unit: Unit, job: RunJob | None, dead_workers: set[str]) -> None:
        if all(p.job_id in self.records for p in unit.runs):
            return
        if job is None:  # lost (Redis restarted without its data): run it again
            enqueue_runs(self.queue, [unit.enqueued()])
            return
        status = job.get_status(refresh=False)
        if status == JobStatus.FINISHED:
            self._collect(unit, job)
        elif status in (JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED):
            self._add_errors(unit, job, failure_text(job))
        elif status == JobStatus.STARTED and (job.worker_name in dead_workers or _heartbeat_is_stale(job)):
            self._sweep(unit, job)

    def _warn_when_nobody_works(self) -> None:
        """With workers started elsewhere (--workers 0), say so when none is there, instead of
        waiting in silence."""
        if self._warned or self.running or self.clock() - self._started < NO_WORKER_WARNING:
            return
        if Worker.count(connection=self.connection, queue=self.queue) == 0:
            self._warned = True
            output.warning("no worker is listening on the queue; start some with "
                           "`opp-ci worker --redis-url URL --project DIR`")

    def _collect(self, unit: Unit, job: RunJob) -> None:
        for record in self.collector.records_of(unit, job, self.records):
            self._add(record)

    def _sweep(self, unit: Unit, job: RunJob) -> None:
        """Re-enqueues (within its retry budget) a job whose worker died; RQ itself would only notice
        after the heartbeat expires, and only if some worker ran its maintenance."""
        exhausted = not job.retries_left
        with self.connection.pipeline() as pipeline:
            self.queue.started_job_registry.remove_executions(job, pipeline=pipeline)
            note_failed_attempt(job, f"worker {job.worker_name} died while running this run", job.worker_name or "",
                                pipeline)
            if exhausted:
                job.set_status(JobStatus.FAILED, pipeline=pipeline)
            else:
                job.retry(self.queue, pipeline)
            pipeline.execute()
        if exhausted:
            self._add_errors(unit, job, f"worker {job.worker_name} died while running this run")

    def _add_errors(self, unit: Unit, job: RunJob, reason: str) -> None:
        for record in self.collector.error_records(unit, job, reason, self.records):
            self._add(record)

    def _add(self, record: RunRecord) -> None:
        self.records[record.job_id] = record
        if record.wall_seconds > 0 and record.config in self.held and record.suite_row is None:
            self._probe_walls.setdefault(record.config, []).append(record.wall_seconds)
        self.checkpoints.unsaved = True

    def _save(self, now: bool = False) -> None:
        self.checkpoints.save(self.campaign, self.records, now)

    def _show(self) -> None:
        done = len(self.records)
        failed = sum(r.status is not RunStatus.PASSED for r in self.records.values())
        self.display.update(Counts(total=len(self.planned), done=done, failed=failed, running=self.running))


def _heartbeat_is_stale(job: RunJob) -> bool:
    beat = job.last_heartbeat
    if beat is None:
        return False
    if beat.tzinfo is None:
        beat = beat.replace(tzinfo=UTC)
    return (datetime.now(UTC) - beat).total_seconds() > STALE_HEARTBEAT


class Checkpoints:
    """campaign.json rewritten while records arrive (compact; the reports rewrite it indented): at most once per
    interval, which grows with the time a write takes (at most SAVE_SHARE of the time)."""

    def __init__(self, out_dir: Path, clock: Callable[[], float] = time.monotonic) -> None:
        self.out_dir = out_dir
        self.clock = clock
        self.unsaved = False
        self._last = 0.0
        self._interval = SAVE_INTERVAL

    def save(self, campaign: Campaign, records: dict[str, RunRecord], now: bool = False) -> None:
        """A checkpoint when records arrived since the last: `now`, or when the interval is over."""
        if not self.unsaved or (not now and self.clock() - self._last < self._interval):
            return
        started = self.clock()
        campaign.runs = list(records.values())
        campaign.write(self.out_dir, compact=True)
        self._last = self.clock()
        self._interval = max(SAVE_INTERVAL, (self._last - started) / SAVE_SHARE)
        self.unsaved = False
