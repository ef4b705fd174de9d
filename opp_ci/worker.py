"""The worker: an RQ worker that takes run jobs from Redis and hands each to `opp_ci.execution`.

It reads JSON only and refuses, before loading it, any job that does not call opp-ci's own job
function (`opp_ci.jobs`), and keeps running after a refusal.

It runs each job in its own process, without RQ's per-job fork: the simulation already runs in a
process group of its own, with its wall-clock timeout and kill (`execution.run_process`). A thread
keeps the job's heartbeat fresh while it runs, so the orchestrator can tell a busy worker from a dead
one, and when a job has ended the worker says so on the queue's ended list, so the orchestrator
collects it at once instead of polling.
"""

from __future__ import annotations

import math
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from rq import SimpleWorker
from rq.serializers import JSONSerializer
from rq.worker import WorkerStatus

from opp_ci import omnetpp_root
from opp_ci.execution import Executor, WorkerSettings, configure, worker_settings
from opp_ci.jobs import RunJob, note_failed_attempt, refusal
from opp_ci.naming import WORKER_STORE
from opp_ci.omnetpp import Simulation
from opp_ci.queue import JOB_MONITORING_INTERVAL, QUEUE_NAME, checked_connection, make_queue
from opp_ci.spec import resolve_simulation

#: How long a starting worker waits for Redis (the local backend starts both at once).
REDIS_WAIT = 15.0
#: RQ's own heartbeats closer together than this (seconds) are left out.
HEARTBEAT_SPACING = 1.0
#: How long the ended list lives without a new entry (nobody may be reading it: workers started elsewhere).
ENDED_TTL = 86400


def ended_key(queue_name: str) -> str:
    """The list a worker pushes the id of each job it ended to (finished, failed or refused)."""
    return f"opp-ci:ended:{queue_name}"


class RunWorker(SimpleWorker):
    """An RQ worker that reads JSON only, refuses any job not calling opp-ci's run function, and runs
    the others in its own process."""

    job_class = RunJob
    _last_own_heartbeat = -math.inf
    #: What the jobs run (`start_worker` sets it): each job is handed it before it is performed.
    executor: Executor | None = None

    def heartbeat(self, timeout=None, pipeline=None):
        """RQ's, in one round trip, and left out when RQ sent one less than HEARTBEAT_SPACING ago (it sends
        three around every job; the worker's key lives for minutes)."""
        if pipeline is not None:
            return super().heartbeat(timeout, pipeline)
        if timeout is None and time.monotonic() - self._last_own_heartbeat < HEARTBEAT_SPACING:
            return None
        with self.connection.pipeline(transaction=False) as own:
            super().heartbeat(timeout, own)
            own.execute()
        if timeout is None:
            self._last_own_heartbeat = time.monotonic()
        return None

    def set_state(self, state, pipeline=None):
        """RQ's, without writing again the state the worker is in (RQ sets `idle` twice between jobs)."""
        if pipeline is None and state == self.get_state():
            return
        super().set_state(state, pipeline)

    def execute_job(self, job, queue):
        reason = refusal(job)
        if reason:
            self.log.warning("refusing job %s: %s", job.id, reason)
            self.handle_job_failure(job, queue, exc_string=f"ForeignJobError: {reason}")
        else:
            os.environ["RQ_WORKER_ID"], os.environ["RQ_JOB_ID"] = self.name, job.id  # as RQ's work horse has them
            job.executor = self.executor
            execution = self.prepare_execution(job)
            with _Heartbeats(self, job, execution):
                self.perform_job(job, queue, execution)
            self.set_state(WorkerStatus.IDLE)
        self._say_ended(job, queue)

    def handle_job_failure(self, job, queue, started_job_registry=None, exc_string="", execution=None):
        """RQ's, keeping why the attempt failed when the job is retried (RQ itself keeps only the last)."""
        if job.should_retry and self._stopped_job_id != job.id:
            try:
                note_failed_attempt(job, exc_string, self.name, None)
            except RedisError as error:
                self.log.warning("could not keep why job %s failed: %s", job.id, error)
        super().handle_job_failure(job, queue, started_job_registry, exc_string, execution)

    def _say_ended(self, job, queue) -> None:
        try:
            with self.connection.pipeline() as pipeline:
                pipeline.rpush(ended_key(queue.name), job.id)
                pipeline.expire(ended_key(queue.name), ENDED_TTL)
                pipeline.execute()
        except RedisError as error:  # the orchestrator also scans the registries; it only learns later
            self.log.warning("could not report job %s as ended: %s", job.id, error)


class _Heartbeats:
    """Refreshes the worker's, the execution's and the job's heartbeats every monitoring interval
    while a job runs (RQ's forking worker does this while it waits for its work horse)."""

    def __init__(self, worker: RunWorker, job, execution) -> None:
        self.worker, self.job, self.execution = worker, job, execution
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="heartbeats", daemon=True)

    def __enter__(self) -> _Heartbeats:
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        while not self._stop.wait(self.worker.job_monitoring_interval):
            try:
                self.worker.maintain_heartbeats(self.job, self.execution)
            except RedisError as error:  # Redis away for a moment: the next beat tries again
                self.worker.log.warning("heartbeat of job %s failed: %s", self.job.id, error)


def wait_for_redis(redis: Redis, timeout: float = REDIS_WAIT) -> None:
    """Returns once Redis answers (a worker may start before the Redis it was given is up)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            redis.ping()
            return
        except RedisConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def start_worker(
    redis: Redis,
    settings: WorkerSettings,
    *,
    queue_name: str = QUEUE_NAME,
    name: str | None = None,
    burst: bool = False,
    max_idle: int | None = None,
) -> bool:
    """Runs the worker loop until stopped (or, with burst, until the queue is empty)."""
    executor = configure(settings)
    wait_for_redis(redis)
    worker = RunWorker(
        [make_queue(redis, queue_name)],
        connection=redis,
        name=name,
        serializer=JSONSerializer,
        job_monitoring_interval=JOB_MONITORING_INTERVAL,
    )
    worker.executor = executor
    return worker.work(burst=burst, with_scheduler=False, logging_level="WARNING", max_idle_time=max_idle)


@dataclass(frozen=True)
class WorkerOptions:
    """What `opp-ci worker` is told (its command-line options)."""

    redis_url: str
    project_dir: Path = Path(".")
    command: str | None = None
    working_dir: Path | None = None
    store: str = WORKER_STORE
    queue_name: str = QUEUE_NAME
    name: str | None = None
    burst: bool = False
    max_idle: int | None = None
    scratch: Path | None = None
    #: Already resolved by whoever forked this worker (the local backend): opp-ci.toml is not read again.
    simulation: Simulation | None = None


    def argv(self) -> list[str]:
        """These options as `opp-ci worker` arguments (the Redis URL, with its password, is left out:
        it goes in the environment)."""
        optional = {"--command": self.command, "--working-dir": self.working_dir, "--scratch": self.scratch,
                    "--name": self.name, "--max-idle": self.max_idle}
        return [
            "--project", str(self.project_dir), "--store", self.store,
            *(["--queue", self.queue_name] if self.queue_name != QUEUE_NAME else []),
            *[word for option, value in optional.items() if value for word in (option, str(value))],
            *(["--burst"] if self.burst else []),
        ]


def run_worker(options: WorkerOptions) -> bool:
    """`opp-ci worker`: checks its Redis (down or a wrong password: a UserError, before anything) and
    its simulation, then runs the worker loop."""
    simulation = options.simulation or Simulation(*_resolved(options))
    omnetpp_root.activate(needed=omnetpp_root.needs_omnetpp([list(simulation.command)]))
    redis = checked_connection(options.redis_url)
    settings = worker_settings(simulation, options.store, options.scratch, root=Path(options.project_dir).resolve())
    return start_worker(redis, settings, queue_name=options.queue_name, name=options.name,
                        burst=options.burst, max_idle=options.max_idle)


def _resolved(options: WorkerOptions) -> tuple[tuple[str, ...], Path]:
    argv, directory = resolve_simulation(options.project_dir, options.command, options.working_dir)
    return tuple(argv), directory
