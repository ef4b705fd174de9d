"""The worker: an RQ worker that takes run jobs from Redis and hands each to `opp_ci.execution`.

It reads JSON only and refuses, before loading it, any job that does not call opp-ci's own job
function (`opp_ci.jobs`), and keeps running after a refusal.
"""

from __future__ import annotations

from redis import Redis
from rq import Worker
from rq.serializers import JSONSerializer

from opp_ci.execution import WorkerSettings, configure
from opp_ci.jobs import RunJob, refusal
from opp_ci.queue import JOB_MONITORING_INTERVAL, QUEUE_NAME, make_queue


class RunWorker(Worker):
    """An RQ worker that reads JSON only and refuses any job not calling opp-ci's run function."""

    job_class = RunJob

    def execute_job(self, job, queue):
        reason = refusal(job)
        if reason:
            self.log.warning("refusing job %s: %s", job.id, reason)
            self.handle_job_failure(job, queue, exc_string=f"ForeignJobError: {reason}")
            return None
        return super().execute_job(job, queue)


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
    configure(settings)
    worker = RunWorker(
        [make_queue(redis, queue_name)],
        connection=redis,
        name=name,
        serializer=JSONSerializer,
        job_monitoring_interval=JOB_MONITORING_INTERVAL,
    )
    return worker.work(burst=burst, with_scheduler=False, logging_level="WARNING", max_idle_time=max_idle)
