"""Executing one job: a simulation run in its own process group with a wall-clock timeout, its
files put in the store, and a `RunOutcome` returned (or, for a list job, the runs of a config).

`Executor.execute` is the one job function an opp-ci worker runs (`opp_ci.jobs.JOB_FUNCTION` names it). The
simulation command, its working directory and the result store are the worker's own settings,
given when it starts (`configure` makes its executor); a job only chooses which run.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import functools
import os
import re
import resource
import secrets
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from opp_ci.errors import UserError
from opp_ci.fingerprints.log import parse_log
from opp_ci.omnetpp import Simulation, list_runs
from opp_ci.payloads import BatchPayload, ListPayload, PayloadError, RunPayload
from opp_ci.processes import die_with_parent, kill_group, libc, owned_temp_dir
from opp_ci.reaper import Reaper, every_process, kill_carriers
from opp_ci.records import RunOutcome, RunStatus, derive_status, worker_reply
from opp_ci.run_files import own_files, read_log, refuse, same_file
from opp_ci.store import LOG_NAME, RESULTS_DIR, Store, open_store, with_retries
from opp_ci.store_files import walk_files

LOG_TAIL_BYTES = 4000


@dataclass(frozen=True)
class WorkerSettings:
    simulation: Simulation
    store: Store
    scratch: Path
    root: Path | None = None  # the project root suite rows are relative to (default: the simulation's directory)


class Executor:
    """What a worker's jobs run: `execute`, the job function (`opp_ci.jobs.JOB_FUNCTION` names it), with the
    worker's settings and the reaper of its runs (None: each run asks for PDEATHSIG itself)."""

    def __init__(self, settings: WorkerSettings, reaper: Reaper | None = None) -> None:
        self.settings = settings
        self.reaper = reaper

    def execute(self, payload: dict[str, Any]) -> dict[str, Any]:
        """One simulation run, returning its record as JSON; a batch of runs (kind "batch"); or the runs
        of a config (kind "list")."""
        kind = payload.get("kind") if isinstance(payload, dict) else None
        if kind == "list":
            return list_runs_for(ListPayload.from_json(payload), self.settings.simulation)
        if kind == "batch":
            return {"batch": [self._perform_in_batch(run) for run in BatchPayload.from_json(payload).runs]}
        return self._perform_in_scratch(RunPayload.from_json(payload))

    def _perform_in_scratch(self, run: RunPayload) -> dict[str, Any]:
        scratch = Path(tempfile.mkdtemp(prefix="run-", dir=self.settings.scratch))
        try:
            return perform(run, self.settings, scratch, self.reaper)
        finally:  # a local store moved it away already
            shutil.rmtree(scratch, ignore_errors=True)

    def _perform_in_batch(self, run: RunPayload) -> dict[str, Any]:
        """One run of a batch: what would fail its job alone (a working directory that is not there, a
        store that cannot be written) is an error of this run, not of the runs around it."""
        try:
            return self._perform_in_scratch(run)
        except (PayloadError, OSError, UserError) as error:
            outcome = RunOutcome(status=RunStatus.ERROR, error=f"infrastructure error: {error}", worker=_worker_name())
            return worker_reply(outcome, self.settings.store.url)


def configure(settings: WorkerSettings) -> Executor:
    """The executor of a worker process's jobs; called once when it starts (with no other thread: it forks
    the reaper of its runs)."""
    become_subreaper()
    reaper = Reaper(RUN_MARKER)
    return Executor(settings, reaper if reaper.start() else None)


def perform(run: RunPayload, settings: WorkerSettings, scratch: Path, reaper: Reaper | None = None) -> dict[str, Any]:
    """Runs one run in `scratch`, puts its result files and log in the store, returns the reply."""
    result_dir = scratch / RESULTS_DIR
    result_dir.mkdir()
    before = os.lstat(scratch)
    log_path = scratch / LOG_NAME
    simulation, argv = run_command(run, settings, result_dir)
    limits = Limits(log=run.log_limit, results=run.result_limit, memory=run.memory_limit)
    oom_kills_before = oom_kills()
    execution = run_process(argv, simulation.working_dir, log_path, run.timeout, limits, reaper)
    if reason := killed_from_outside(execution, oom_kills_before):
        raise KilledFromOutside(reason)  # not the simulation's doing until proven otherwise: an attempt that failed
    if not same_file(scratch, before):  # replaced (by a link elsewhere?): nothing in it is touched or collected
        outcome = judge(execution, "", run.timeout)
        refuse(outcome, [f"the run replaced the directory of its results and log ({scratch.name}): nothing "
                         f"collected"])
        return worker_reply(outcome, settings.store.url)
    refused = own_files(scratch)
    outcome = judge(execution, read_log(log_path), run.timeout)
    refuse(outcome, refused)
    _bound_results(outcome, result_dir, limits)
    names = with_retries(lambda: settings.store.upload_dir(scratch, run.prefix))  # results/ and the log
    outcome.result_files = [name.removeprefix(f"{RESULTS_DIR}/") for name in names
                            if name.startswith(f"{RESULTS_DIR}/")]
    outcome.log = LOG_NAME
    return worker_reply(outcome, settings.store.url)


def run_command(run: RunPayload, settings: WorkerSettings, result_dir: Path) -> tuple[Simulation, list[str]]:
    """The simulation a run starts (where, which program) and its command line, as `perform` runs it."""
    simulation = simulation_for(run, settings)
    return simulation, simulation.run_argv(run.config, run.run, result_dir, sim_time_limit=run.sim_time_limit,
                                           cpu_time_limit=run.cpu_time_limit, fingerprint=run.fingerprint,
                                           args=run.args)


def _bound_results(outcome: RunOutcome, result_dir: Path, limits: Limits) -> None:
    """More results than result-limit fail a run that passed, and a run that did not pass keeps none of them."""
    result_bytes = _size_of(result_dir)
    if limits.results and result_bytes > limits.results and outcome.status is RunStatus.PASSED:
        outcome.status = RunStatus.FAILED
        outcome.error = (f"the run wrote {result_bytes} bytes of results, more than result-limit "
                         f"({limits.results}); its result files were dropped")
    if outcome.status is not RunStatus.PASSED and limits.results and result_bytes > limits.results:
        shutil.rmtree(result_dir)
        result_dir.mkdir()


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


def _size_of(directory: Path) -> int:
    return sum(entry.stat(follow_symlinks=False).st_size for _name, entry in walk_files(directory)
               if not entry.is_symlink())


def list_runs_for(request: ListPayload, simulation: Simulation) -> dict[str, Any]:
    """The runs of a config as the worker's simulation lists them, or the simulation's error."""
    simulation = replace(simulation, ini=request.ini)
    try:
        runs = list_runs(simulation, request.config, request.runs, request.args)
    except UserError as error:
        return {"error": error.message, "runs": [], "digest": ""}
    return {"error": None, "runs": [asdict(run) for run in runs], "digest": simulation.digest(),
            **_where_runs_run(simulation.working_dir)}


@functools.cache
def _where_runs_run(directory: Path) -> dict[str, Any]:
    """The worker's OMNeT++ (applied when it started) and environment, for campaign.json: where the runs
    run, not where the campaign was started. Asked once per worker, not at every config's listing (it
    starts opp_run -v, git and the compiler)."""
    from opp_ci import omnetpp_root, provenance

    found = omnetpp_root.locate()
    described = found.describe() if found else None
    version = described["version"] if described else None
    return {"omnetpp": described, "environment": provenance.describe(directory, found, version)}


@dataclass(frozen=True)
class Limits:
    """Bounds of one run, in bytes; 0 means none."""

    log: int = 0
    results: int = 0
    memory: int = 0


@dataclass(frozen=True)
class Execution:
    exit_code: int | None
    timed_out: bool
    wall_seconds: float
    cpu_seconds: float
    start_error: str | None = None
    log_dropped: int = 0  # bytes of the log's middle not kept (log-limit)
    stragglers: int = 0  # processes the run left behind that were killed after it


#: Environment variables a simulation never sees: the worker's credentials.
SECRET_VARIABLE = re.compile(
    r"^(OPP_CI_REDIS_.*|AWS_ACCESS_KEY_ID|AWS_CONTAINER_AUTHORIZATION_TOKEN|AWS_CONTAINER_CREDENTIALS_.*"
    r"|GITHUB_TOKEN|GH_TOKEN|ACTIONS_RUNTIME_TOKEN|ACTIONS_ID_TOKEN_REQUEST_.*|.*(SECRET|PASSWORD|PASSWD|TOKEN).*)$",
    re.IGNORECASE,
)
#: Marks every process of one run (inherited through fork, exec and setsid) so the sweep finds them.
RUN_MARKER = "OPP_CI_RUN"


def simulation_environment(marker: str, environ: dict[str, str] | None = None) -> dict[str, str]:
    """The worker's environment without its secrets, plus the run's marker."""
    environ = dict(os.environ if environ is None else environ)
    return {**{k: v for k, v in environ.items() if not _is_secret(k)}, RUN_MARKER: marker}


@functools.lru_cache(maxsize=4096)
def _is_secret(name: str) -> bool:
    """Whether a variable is a secret (cached: the same names are asked before every run)."""
    return SECRET_VARIABLE.match(name) is not None


def run_process(argv: list[str], cwd: Path, log_path: Path, timeout: float, limits: Limits = Limits(),
                reaper: Reaper | None = None) -> Execution:
    """Runs argv (never through a shell) in its own process group, stdout and stderr to one log.

    The environment has no secret of the worker's. The log keeps at most `limits.log` bytes (its head
    and tail), the process's address space is bounded, and when the run ends (or times out) every
    process it started is killed, even one in a session of its own: each carries the run's marker in
    its environment, and this process is their subreaper. The simulation dies with this process, so
    a killed worker leaves no simulation behind: its reaper kills it (`opp_ci.reaper`; the run is
    spawned with vfork and its limits set right after exec), or, in a process without one, PDEATHSIG
    and the limits are set before exec.
    """
    cpu_before = children_cpu()
    started = time.monotonic()
    reaped = reaper is not None and reaper.alive
    marker = run_marker(reaper)
    if not reaped:
        become_subreaper()
    read_end, write_end = os.pipe()
    try:
        process = subprocess.Popen(
            argv, cwd=cwd, stdout=write_end, stderr=write_end, stdin=subprocess.DEVNULL,
            env=simulation_environment(marker), start_new_session=True,
            preexec_fn=None if reaped else lambda: _prepare_child(limits),
        )
    except OSError as error:
        os.close(read_end)
        log_path.write_bytes(b"")
        return Execution(None, False, 0.0, 0.0, _start_error(argv[0], error))
    finally:
        os.close(write_end)
    if reaped:
        _limit(process.pid, limits)
    log = BoundedLog(log_path, limits.log)
    timed_out = False
    try:
        timed_out = not _pump(process, read_end, log, started + timeout)
        if timed_out:
            kill_group(process)
    except BaseException:
        kill_group(process)
        raise
    finally:
        stragglers = sweep(marker, spare=reaper.pid if reaper else None)
        _drain(read_end, log)
        os.close(read_end)
        if stragglers:
            log.write(f"\n[opp-ci: {stragglers} process(es) the run left behind were killed]\n".encode())
        log.close()
    return Execution(process.returncode, timed_out, time.monotonic() - started, children_cpu() - cpu_before,
                     log_dropped=log.dropped, stragglers=stragglers)


def _prepare_child(limits: Limits) -> None:
    """In the child before exec, when no reaper watches this process: PDEATHSIG and the limits."""
    die_with_parent()
    if limits.memory:
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory, limits.memory))
    if limits.results:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.results, limits.results))


def _limit(pid: int, limits: Limits) -> None:
    """The limits of a run spawned without `preexec_fn`, set as soon as it has been exec'd: its first
    fraction of a millisecond (the dynamic loader) is not bounded."""
    with contextlib.suppress(ProcessLookupError):
        if limits.memory:
            resource.prlimit(pid, resource.RLIMIT_AS, (limits.memory, limits.memory))
        if limits.results:
            resource.prlimit(pid, resource.RLIMIT_FSIZE, (limits.results, limits.results))


def run_marker(reaper: Reaper | None) -> str:
    """A new run's marker: the mark its reaper looks for (if any) and the run's own."""
    return f"{reaper.mark if reaper else secrets.token_hex(8)}.{secrets.token_hex(6)}"


def _start_error(program: str, error: OSError) -> str:
    if error.errno == errno.ENOEXEC:
        return (f"cannot start {program!r}: it is not a program (a script needs a first line such as "
                f"`#!/bin/sh`)")
    return f"cannot start {program!r}: {error.strerror or error}"


def _pump(process: subprocess.Popen, fd: int, log: BoundedLog, deadline: float) -> bool:
    """Copies the run's output into the log until it exits; False when the deadline came first.

    The run's exit wakes the select at once (its pidfd; Popen.wait with a timeout would poll with
    sleeps, a millisecond a run), whether or not a process it left behind still holds the pipe."""
    exit_fd = _pidfd(process.pid)
    watched = [fd] if exit_fd is None else [fd, exit_fd]
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            ready, _, _ = select.select(watched, [], [], min(remaining, 0.5))
            if fd in ready:
                chunk = os.read(fd, 1 << 16)
                if chunk:
                    log.write(chunk)
                    continue
                watched.remove(fd)  # end of file: every writer closed it; the exit comes next
                if not watched:  # no pidfd to wait on
                    return _exits_within(process, remaining)
            elif process.poll() is not None:  # exited (its pidfd, or the half-second look)
                return True
    finally:
        if exit_fd is not None:
            os.close(exit_fd)


def _pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except (OSError, AttributeError):  # Linux before 5.3
        return None


def _exits_within(process: subprocess.Popen, seconds: float) -> bool:
    try:
        process.wait(timeout=max(seconds, 0.01))
    except subprocess.TimeoutExpired:
        return False
    return True


def _drain(fd: int, log: BoundedLog) -> None:
    """What is left in the pipe once every process of the run is gone."""
    while select.select([fd], [], [], 0)[0]:
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return
        log.write(chunk)


class BoundedLog:
    """A log file keeping at most `limit` bytes: the first half as it comes, the last half in a
    ring buffer written at the end, with a line saying how much of the middle was dropped."""

    def __init__(self, path: Path, limit: int) -> None:
        self.file = open(path, "wb")  # noqa: SIM115 (closed by close())
        self.head_left = limit // 2 if limit else -1
        self.tail_size = limit - limit // 2 if limit else 0
        self.tail: collections.deque[bytes] = collections.deque()
        self.tail_bytes = 0
        self.dropped = 0

    def write(self, chunk: bytes) -> None:
        if self.head_left < 0:
            self.file.write(chunk)
            return
        head, chunk = chunk[:self.head_left], chunk[self.head_left:]
        if head:
            self.file.write(head)
            self.head_left -= len(head)
        if chunk:
            self.tail.append(chunk)
            self.tail_bytes += len(chunk)
            while self.tail_bytes - len(self.tail[0]) >= self.tail_size:
                self.tail_bytes -= len(self.tail[0])
                self.dropped += len(self.tail.popleft())

    def close(self) -> None:
        tail = b"".join(self.tail)
        cut = max(0, len(tail) - self.tail_size)
        self.dropped += cut
        if self.dropped:
            self.file.write(f"\n[opp-ci: {self.dropped} bytes of output dropped here (log-limit)]\n".encode())
        self.file.write(tail[cut:])
        self.file.close()


def become_subreaper() -> None:
    """Orphans of the run are re-parented to this process, not to init, so none leaves its ancestry."""
    with contextlib.suppress(OSError, AttributeError):
        libc().prctl(36, 1)  # PR_SET_CHILD_SUBREAPER


def sweep(marker: str, spare: int | None = None) -> int:
    """SIGKILLs every process carrying the run's marker and reaps those that are our children; how many.

    This process is the run's subreaper, so every process the run left behind is a descendant of it:
    only those are read, not every process of the machine (the sweep runs after every run). `spare`: the
    reaper, a child of this process too."""
    killed = kill_carriers(f"{RUN_MARKER}={marker}".encode(), lambda: _candidates(spare))
    for pid in killed:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
    return len(killed)


def _candidates(spare: int | None) -> list[int]:
    """This process's descendants (from /proc/PID/task/TID/children); every process when the kernel does
    not list children. None at all when this process has no child: a process the run left behind would
    have been re-parented to it."""
    try:
        os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)  # leaves an exited child as it is
    except ChildProcessError:
        return []
    try:
        descendants, pending = [], [pid for pid in _children(os.getpid()) if pid != spare]
    except OSError:
        return every_process()
    while pending:
        pid = pending.pop()
        descendants.append(pid)
        with contextlib.suppress(OSError):
            pending.extend(_children(pid))
    return descendants


def _children(pid: int) -> list[int]:
    children = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as listing:
            children.extend(int(child) for child in listing.read().split())
    return children


def judge(execution: Execution, output: str, timeout: float) -> RunOutcome:
    """Turns an execution and its output into what a worker knows about the run: how the process ended, then
    the status `derive_status` gives it with what the log says (a fingerprint mismatch fails a run that exited 0)."""
    log = parse_log(output)
    status, error = RunStatus.PASSED, None
    notes = []
    if execution.log_dropped:
        notes.append(f"{execution.log_dropped} bytes of the log's middle were dropped (log-limit)")
    if execution.stragglers:
        notes.append(f"{execution.stragglers} process(es) the run left behind were killed")
    if execution.start_error:
        status, error = RunStatus.ERROR, execution.start_error
    elif execution.timed_out:
        status, error = RunStatus.TIMEOUT, f"timed out after {timeout:g}s (wall clock); the process group was killed"
    elif execution.exit_code != 0:
        status = RunStatus.FAILED
        error = log.error or _exit_description(execution.exit_code, output)
    status, error = derive_status(status, error, log.verdicts())
    if notes and status is not RunStatus.PASSED:
        error = "; ".join([error or "", *notes]).strip("; ")
    return RunOutcome(
        status=status,
        exit_code=execution.exit_code,
        wall_seconds=round(execution.wall_seconds, 3),
        cpu_seconds=round(execution.cpu_seconds, 3),
        error=error,
        fingerprint=log.fingerprint,
        fingerprint_calculated=log.fingerprint_calculated,
        fingerprint_expected=log.fingerprint_expected,
        sim_time=log.sim_time,
        events=log.events,
        worker=_worker_name(),
        log_tail=output[-LOG_TAIL_BYTES:],
    )


#: Signals a process gets from someone else: its container or machine going away, an operator, the kernel's
#: OOM killer. A crash (SIGSEGV, SIGABRT, SIGFPE, ...) and a limit's signal (SIGXFSZ) are the run's own.
FOREIGN_SIGNALS = frozenset({signal.SIGKILL, signal.SIGTERM, signal.SIGINT, signal.SIGHUP})


class KilledFromOutside(RuntimeError):
    """A run killed by a signal opp-ci did not send. Raised, not recorded: the job fails, RQ retries it within
    `retries` as an infrastructure failure, and only when every attempt died so is it the run's error."""


def killed_from_outside(execution: Execution, oom_kills_before: int | None) -> str | None:
    """Why the run ended, when a signal opp-ci did not send ended it (opp-ci's own kills are a timeout's)."""
    code = execution.exit_code
    if execution.timed_out or code is None or code >= 0 or -code not in FOREIGN_SIGNALS:
        return None
    name = signal.Signals(-code).name
    reason = f"the run was killed by {name}, which opp-ci did not send (its machine or container going away?)"
    after = oom_kills()
    if oom_kills_before is not None and after is not None and after > oom_kills_before:
        reason += (f"; the kernel's OOM killer killed {after - oom_kills_before} process(es) of this worker's "
                   f"cgroup meanwhile: out of memory")
    return reason


def oom_kills() -> int | None:
    """How many processes the kernel's OOM killer has killed in this process's cgroup (v2), None unknown."""
    events_file = _memory_events_file()
    if events_file is None:
        return None
    try:
        with open(events_file) as events:
            return next(int(line.split()[1]) for line in events if line.startswith("oom_kill "))
    except (OSError, StopIteration, ValueError, IndexError):
        return None


@functools.cache
def _memory_events_file() -> str | None:
    """This process's cgroup (v2) `memory.events`, found once: a worker stays in its cgroup, and every run
    reads the file before it starts."""
    try:
        with open("/proc/self/cgroup") as cgroup:
            path = next(line.split(":", 2)[2].strip() for line in cgroup if line.startswith("0::"))
    except (OSError, StopIteration, IndexError):
        return None
    return f"/sys/fs/cgroup{path}/memory.events"


def _worker_name() -> str:
    return os.environ.get("RQ_WORKER_ID", socket.gethostname())


def _exit_description(code: int | None, output: str = "") -> str:
    if code is not None and code > 0 and "MemoryError" in output[-LOG_TAIL_BYTES:]:
        return f"exit status {code}: out of memory (memory-limit)"
    if code == -signal.SIGXFSZ:
        return "killed by signal SIGXFSZ: a file grew beyond result-limit"
    if code is not None and code < 0:
        try:
            return f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def worker_settings(simulation: Simulation, store_url: str, scratch: Path | None = None,
                    root: Path | None = None) -> WorkerSettings:
    scratch = Path(scratch) if scratch else owned_temp_dir("worker")
    scratch.mkdir(parents=True, exist_ok=True)
    return WorkerSettings(simulation=simulation, store=open_store(store_url), scratch=scratch, root=root)
