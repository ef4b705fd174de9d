"""Executing one job: a simulation run in its own process group with a wall-clock timeout, its
files put in the store, and a `RunOutcome` returned (or, for a list job, the runs of a config).

`execute` is the one job function an opp-ci worker runs (`opp_ci.jobs.JOB_FUNCTION`). The
simulation command, its working directory and the result store are the worker's own settings,
given when it starts (`configure`); a job only chooses which run.
"""

from __future__ import annotations

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

from opp_ci.errors import UserError
from opp_ci.omnetpp import Simulation, list_runs, read_outcome
from opp_ci.payloads import ListPayload, PayloadError, RunPayload
from opp_ci.processes import die_with_parent, kill_group
from opp_ci.records import FingerprintVerdict, RunOutcome, RunStatus, worker_reply
from opp_ci.store import LOG_NAME, RESULTS_DIR, Store, open_store

LOG_TAIL_BYTES = 4000


@dataclass(frozen=True)
class WorkerSettings:
    simulation: Simulation
    store: Store
    scratch: Path
    root: Path | None = None  # the project root suite rows are relative to (default: the simulation's directory)


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
    """Runs one run in `scratch`, puts its result files and log in the store, returns the reply."""
    result_dir = scratch / RESULTS_DIR
    result_dir.mkdir()
    log_path = scratch / LOG_NAME
    simulation = simulation_for(run, settings)
    argv = simulation.run_argv(
        run.config, run.run, result_dir,
        sim_time_limit=run.sim_time_limit, cpu_time_limit=run.cpu_time_limit,
        fingerprint=run.fingerprint, args=run.args,
    )
    execution = run_process(argv, simulation.working_dir, log_path, run.timeout)
    outcome = judge(execution, log_path.read_text(errors="replace"), run.timeout)
    outcome.result_files = settings.store.upload_dir(result_dir, f"{run.prefix}/{RESULTS_DIR}")
    settings.store.upload_dir(_only(log_path, scratch / "log"), run.prefix)
    outcome.log = LOG_NAME
    return worker_reply(outcome, settings.store.url)


def simulation_for(run: RunPayload, settings: WorkerSettings) -> Simulation:
    """The worker's simulation with the payload's ini files and, for a suite row, its working directory
    and executable: both must lie inside the project root (a payload never names a program elsewhere)."""
    simulation = replace(settings.simulation, ini=run.ini)
    if run.working_dir is None and run.executable is None:
        return simulation
    root = (settings.root or simulation.working_dir).resolve()
    directory = _inside(root, run.working_dir or ".", "working directory", Path.is_dir)
    command = simulation.command
    if run.executable is not None:
        command = (str(_inside(root, run.executable, "executable", Path.is_file)),)
    else:  # the spec's command, from another directory: its paths are relative to the spec's directory
        command = tuple(_anchored(word, simulation.working_dir) for word in command)
    return replace(simulation, command=command, working_dir=directory)


def _anchored(word: str, base: Path) -> str:
    """`./sim`, `src/INET` (a library: `src/libINET.so`) or `src:examples`, paths under `base`, made absolute."""
    parts = word.split(":")
    if word.startswith("-") or not all(_is_path_under(part, base) for part in parts):
        return word
    return ":".join(str((base / part).resolve()) for part in parts)


def _is_path_under(part: str, base: Path) -> bool:
    return bool(part) and ((base / part).exists() or ("/" in part and (base / part).parent.is_dir()))


def _inside(root: Path, relative: str, what: str, exists) -> Path:
    path = (root / relative).resolve()
    if not path.is_relative_to(root) or not exists(path):
        raise PayloadError(f"{what} {relative!r} is not inside the project {root}")
    return path


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
            kill_group(process)
        except BaseException:
            kill_group(process)
            raise
    return Execution(process.returncode, timed_out, time.monotonic() - started, _children_cpu() - cpu_before)


def judge(execution: Execution, output: str, timeout: float) -> RunOutcome:
    """Turns an execution and its output into what a worker knows about the run."""
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
    return RunOutcome(
        status=status,
        exit_code=execution.exit_code,
        wall_seconds=round(execution.wall_seconds, 3),
        cpu_seconds=round(execution.cpu_seconds, 3),
        error=error,
        fingerprint=outcome.fingerprint,
        fingerprint_calculated=outcome.fingerprint_calculated,
        fingerprint_expected=outcome.fingerprint_expected,
        sim_time=outcome.sim_time,
        events=outcome.events,
        worker=os.environ.get("RQ_WORKER_ID", socket.gethostname()),
        log_tail=output[-LOG_TAIL_BYTES:],
    )


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


def worker_settings(simulation: Simulation, store_url: str, scratch: Path | None = None,
                    root: Path | None = None) -> WorkerSettings:
    scratch = Path(scratch or tempfile.gettempdir())
    scratch.mkdir(parents=True, exist_ok=True)
    return WorkerSettings(simulation=simulation, store=open_store(store_url), scratch=scratch, root=root)
