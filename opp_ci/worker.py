"""The worker: takes run jobs from Redis and runs the simulation, one process per run.

`opp-ci worker` is an RQ worker that only knows one job function, `execute`. The simulation
command, its working directory and the result store are the worker's own settings, given when it
starts; a job only chooses which run. Each run gets its own result directory and process group;
the timeout kills the whole group. The result files go to the store and the job returns a small
JSON record.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from redis import Redis
from rq import Worker
from rq.exceptions import DeserializationError
from rq.serializers import JSONSerializer

from opp_ci.errors import UserError
from opp_ci.omnetpp import Simulation, list_runs, read_outcome
from opp_ci.queue import JOB_FUNCTION, QUEUE_NAME, ListPayload, RunJob, RunPayload
from opp_ci.records import FingerprintVerdict, RunStatus
from opp_ci.store import Store, open_store

LOG_NAME = "log.txt"
RESULTS_DIR = "results"
LOG_TAIL_BYTES = 4000
#: How often a busy worker refreshes its heartbeat; the orchestrator treats a job whose heartbeat is
#: several intervals old as abandoned by a dead worker.
JOB_MONITORING_INTERVAL = 5


@dataclass(frozen=True)
class WorkerSettings:
    simulation: Simulation
    store: Store
    scratch: Path


_settings: WorkerSettings | None = None


def configure(settings: WorkerSettings) -> None:
    """Sets what `execute` runs; called once when the worker process starts."""
    global _settings
    _settings = settings


def execute(payload: dict[str, Any]) -> dict[str, Any]:
    """The job function, the only one a worker runs: one simulation run, returning its record as
    JSON, or (kind "list") the runs of a config."""
    if _settings is None:
        raise RuntimeError("worker not configured: start it with `opp-ci worker`")
    if isinstance(payload, dict) and payload.get("kind") == "list":
        return list_runs_for(ListPayload.from_json(payload), _settings.simulation)
    run = RunPayload.from_json(payload)
    with tempfile.TemporaryDirectory(prefix="run-", dir=_settings.scratch) as scratch:
        return perform(run, _settings, Path(scratch))


def perform(run: RunPayload, settings: WorkerSettings, scratch: Path) -> dict[str, Any]:
    result_dir = scratch / RESULTS_DIR
    result_dir.mkdir()
    log_path = scratch / LOG_NAME
    simulation = replace(settings.simulation, ini=run.ini)
    argv = simulation.run_argv(
        run.config, run.run, result_dir,
        sim_time_limit=run.sim_time_limit, cpu_time_limit=run.cpu_time_limit,
        fingerprint=run.fingerprint, args=run.args,
    )
    execution = run_process(argv, simulation.working_dir, log_path, run.timeout)
    record = judge(execution, log_path.read_text(errors="replace"), run.timeout)
    record["result_files"] = settings.store.upload_dir(result_dir, f"{run.prefix}/{RESULTS_DIR}")
    settings.store.upload_dir(_only(log_path, scratch / "log"), run.prefix)
    record["log"] = LOG_NAME
    record["store"] = settings.store.url
    return record


def list_runs_for(request: ListPayload, simulation: Simulation) -> dict[str, Any]:
    """The runs of a config as the worker's simulation lists them, or the simulation's error."""
    simulation = replace(simulation, ini=request.ini)
    try:
        runs = list_runs(simulation, request.config, request.runs, request.args)
    except UserError as error:
        return {"error": error.message, "runs": [], "digest": ""}
    return {"error": None, "runs": [asdict(run) for run in runs], "digest": simulation.digest()}


@dataclass(frozen=True)
class Execution:
    exit_code: int | None
    timed_out: bool
    wall_seconds: float
    cpu_seconds: float
    start_error: str | None = None


def run_process(argv: list[str], cwd: Path, log_path: Path, timeout: float) -> Execution:
    """Runs argv (never through a shell) in its own process group, stdout and stderr to one log.

    The group is killed on timeout, and the simulation dies with this process (PDEATHSIG), so a
    killed worker leaves no simulation behind.
    """
    cpu_before = _children_cpu()
    started = time.monotonic()
    with open(log_path, "wb") as log:
        try:
            process = subprocess.Popen(
                argv, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, preexec_fn=die_with_parent,
            )
        except OSError as error:
            return Execution(None, False, 0.0, 0.0, f"cannot start {argv[0]!r}: {error.strerror or error}")
        timed_out = False
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(process)
        except BaseException:
            _kill_group(process)
            raise
    return Execution(process.returncode, timed_out, time.monotonic() - started, _children_cpu() - cpu_before)


def judge(execution: Execution, output: str, timeout: float) -> dict[str, Any]:
    """Turns an execution and its output into the record fields a worker knows."""
    outcome = read_outcome(output)
    status, error = RunStatus.PASSED, None
    if execution.start_error:
        status, error = RunStatus.ERROR, execution.start_error
    elif execution.timed_out:
        status, error = RunStatus.TIMEOUT, f"timed out after {timeout:g}s (wall clock); the process group was killed"
    elif execution.exit_code != 0:
        status = RunStatus.FAILED
        error = outcome.error or _exit_description(execution.exit_code)
    elif outcome.fingerprint is FingerprintVerdict.MISMATCH:
        status = RunStatus.FAILED
        error = (f"Fingerprint mismatch! calculated: {outcome.fingerprint_calculated}, "
                 f"expected: {outcome.fingerprint_expected}")
    return {
        "status": status.value,
        "exit_code": execution.exit_code,
        "wall_seconds": round(execution.wall_seconds, 3),
        "cpu_seconds": round(execution.cpu_seconds, 3),
        "error": error,
        "fingerprint": outcome.fingerprint.value,
        "fingerprint_calculated": outcome.fingerprint_calculated,
        "fingerprint_expected": outcome.fingerprint_expected,
        "sim_time": outcome.sim_time,
        "events": outcome.events,
        "worker": os.environ.get("RQ_WORKER_ID", socket.gethostname()),
        "log_tail": output[-LOG_TAIL_BYTES:],
    }


def _exit_description(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


def _only(path: Path, directory: Path) -> Path:
    """A directory holding just `path` (hard-linked), to upload one file with upload_dir."""
    directory.mkdir(exist_ok=True)
    os.link(path, directory / path.name)
    return directory


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _kill_group(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def die_with_parent() -> None:
    """In a child before exec: ask Linux to SIGKILL it when its parent dies (the work horse for a
    simulation, the orchestrator for Redis and workers), so nothing outlives a killed parent."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class RunWorker(Worker):
    """An RQ worker that reads JSON only and refuses any job not calling opp-ci's run function."""

    job_class = RunJob

    def execute_job(self, job, queue):
        refusal = _refusal(job)
        if refusal:
            self.log.warning("refusing job %s: %s", job.id, refusal)
            self.handle_job_failure(job, queue, exc_string=f"ForeignJobError: {refusal}")
            return None
        return super().execute_job(job, queue)


def _refusal(job) -> str | None:
    """Why a job must not run (not JSON, or not opp-ci's run function), or None."""
    try:
        name = job.func_name
    except DeserializationError:
        return "its data is not JSON (pickled jobs are never loaded)"
    if name != JOB_FUNCTION or job.instance is not None:
        return f"it calls {name!r}, and an opp-ci worker only runs {JOB_FUNCTION}"
    return None


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
    from opp_ci.queue import make_queue

    configure(settings)
    worker = RunWorker(
        [make_queue(redis, queue_name)],
        connection=redis,
        name=name,
        serializer=JSONSerializer,
        job_monitoring_interval=JOB_MONITORING_INTERVAL,
    )
    return worker.work(burst=burst, with_scheduler=False, logging_level="WARNING", max_idle_time=max_idle)


def worker_settings(simulation: Simulation, store_url: str, scratch: Path | None = None) -> WorkerSettings:
    scratch = Path(scratch or tempfile.gettempdir())
    scratch.mkdir(parents=True, exist_ok=True)
    return WorkerSettings(simulation=simulation, store=open_store(store_url), scratch=scratch)
