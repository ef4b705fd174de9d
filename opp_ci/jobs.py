"""The run job: an RQ job class that runs nothing but opp-ci's own job function, whoever wrote to
Redis, and the check a worker applies before it loads a job at all."""

from __future__ import annotations

import re
from typing import Any

from rq.exceptions import DeserializationError
from rq.job import Job

#: The one function a worker runs; everything a job says beyond its payload is ignored.
JOB_FUNCTION = "opp_ci.execution.execute"


class ForeignJobError(RuntimeError):
    """A job that names a function other than opp-ci's run function: refused, never run."""


class RunJob(Job):
    """An RQ job that can only ever call opp-ci's run function.

    `func` is where RQ turns the stored function name into something callable (with
    `import_attribute`, i.e. any importable name such as `os.system`); here it refuses every name
    but ours. Callbacks are names too, so they are refused the same way.
    """

    #: The worker's `opp_ci.execution.Executor`, set by the worker that performs the job.
    executor: Any = None

    @property
    def func(self):
        if self.func_name != JOB_FUNCTION or self.instance is not None:
            raise ForeignJobError(f"refusing to run {self.func_name!r}: an opp-ci worker only runs {JOB_FUNCTION}")
        if self.executor is None:
            raise RuntimeError("no executor: a run job is performed by `opp-ci worker`")
        return self.executor.execute

    @property
    def success_callback(self):
        return None

    @property
    def failure_callback(self):
        return None

    @property
    def stopped_callback(self):
        return None


def refusal(job: Job) -> str | None:
    """Why a job must not run (not JSON, or not opp-ci's run function), or None."""
    try:
        name = job.func_name
    except DeserializationError:
        return "its data is not JSON (pickled jobs are never loaded)"
    if name != JOB_FUNCTION or job.instance is not None:
        return f"it calls {name!r}, and an opp-ci worker only runs {JOB_FUNCTION}"
    return None


def failure_text(job: Job) -> str:
    """The last line of a failed job's exception, as an infrastructure error."""
    result = job.latest_result()
    text = (result.exc_string if result is not None else "") or "the job failed"
    return f"infrastructure error: {_last_line(text)}"


def note_failed_attempt(job: Job, reason: str, worker_name: str, pipeline) -> None:
    """Keeps why an attempt of `job` did not count (RQ keeps no result for an attempt it retries), so
    the run's record can say so."""
    from rq.results import Result

    Result.create_failure(job, job.failure_ttl, exc_string=reason, worker_name=worker_name, pipeline=pipeline)


def failed_attempts(job: Job) -> list[dict[str, str]]:
    """When and why each failed attempt of `job` failed, oldest first (one round trip)."""
    from rq.results import Result

    failures = [r for r in job.results() if r.type == Result.Type.FAILED]
    return [{"at": r.created_at.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z", "worker": r.worker_name or "",
             "reason": _last_line(r.exc_string or "")} for r in reversed(failures)]


def _last_line(text: str) -> str:
    """The exception's last line, without the class of an exception of opp-ci's own (its message says it all)."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return re.sub(r"^opp_ci\.[\w.]+: ", "", lines[-1]) if lines else "the job failed"
