"""Child processes that never outlive their parent, killing a whole process group, and temporary
directories that do not outlive their process."""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import functools
import gc
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path


def pause_collection() -> None:
    """Pauses Python's cyclic garbage collector while a campaign starts: start-up makes hundreds of
    thousands of objects that live as long as the process (modules, the plan) and frees none, and the
    collector ran 100 times in it (15 ms before aloha's first run). `resume_collection` ends the pause."""
    gc.disable()


def resume_collection() -> None:
    """Ends `pause_collection`: what start-up made is frozen (never scanned again) and the collector
    runs again."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def die_with_parent() -> None:
    """In a child before exec: ask Linux to SIGKILL it when its parent dies (the orchestrator for Redis
    and workers), so nothing outlives a killed parent."""
    set_death_signal(signal.SIGKILL)


def set_death_signal(signum: int) -> None:
    """Ask Linux to send this process `signum` when its parent dies (PR_SET_PDEATHSIG)."""
    with contextlib.suppress(OSError, AttributeError):
        libc().prctl(1, signum)


@functools.cache
def libc() -> ctypes.CDLL:
    return ctypes.CDLL("libc.so.6", use_errno=True)


def kill_group(process: subprocess.Popen) -> None:
    """SIGKILLs the process group `process` leads, and reaps the leader."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


#: Temporary directories of opp-ci processes: `opp-ci-KIND-PID-RANDOM` in TMPDIR.
_OWNED = re.compile(r"^opp-ci-[a-z]+-(\d+)-[A-Za-z0-9_]+$")


def owned_temp_dir(kind: str) -> Path:
    """A temporary directory named after this process, removed at exit; one left behind by a killed
    process is removed by the next opp-ci process that starts (`remove_stale_temp_dirs`)."""
    remove_stale_temp_dirs()
    path = Path(tempfile.mkdtemp(prefix=f"opp-ci-{kind}-{os.getpid()}-"))
    atexit.register(shutil.rmtree, path, True)
    return path


def remove_stale_temp_dirs(root: Path | None = None) -> list[Path]:
    """Removes the temporary directories of opp-ci processes that no longer exist; returns them."""
    root = Path(root or tempfile.gettempdir())
    removed = []
    for path in root.glob("opp-ci-*-*-*"):
        match = _OWNED.match(path.name)
        if not match or not path.is_dir() or path.is_symlink() or path.stat().st_uid != os.getuid():
            continue
        if not _alive(int(match.group(1))):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False


class ForkedProcess:
    """A child forked from this process (not exec'd), with the part of `subprocess.Popen` that a
    worker pool uses: pid, poll, wait, returncode."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        return self._wait(os.WNOHANG)

    def wait(self) -> int:
        code = self._wait(0)
        assert code is not None
        return code

    def _wait(self, flags: int) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, flags)
            except ChildProcessError:  # reaped elsewhere (psutil's wait_procs): its status is gone, as Popen says
                pid, status = self.pid, 0
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode


def can_fork() -> bool:
    """Whether this process can fork a child that runs Python code: only while it has no other thread
    (a lock another thread holds would stay locked in the child)."""
    import threading

    return threading.active_count() == 1


def fork_child(body: Callable[[], int], log: Path, environ: dict[str, str], title: str) -> ForkedProcess:
    """Runs `body` in a forked child, as a subprocess started with `start_new_session`, PDEATHSIG, stdin
    from /dev/null and stdout and stderr appended to `log` would: the modules this process imported are
    not imported again (a Python process takes ~0.2 s of CPU to import RQ and redis). The child has
    `environ` and shows `title` as its command line; it exits with what `body` returns."""
    sys.stdout.flush()
    sys.stderr.flush()
    gc.freeze()  # the child does not write to the parent's objects when it collects: their pages stay shared
    pid = os.fork()
    if pid:
        return ForkedProcess(pid)
    code = 1
    try:
        gc.enable()
        os.setsid()
        die_with_parent()
        _redirect(log)
        for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
            signal.signal(number, signal.SIG_DFL)
        with contextlib.suppress(ImportError):  # before the environment changes: it moves the environment
            import setproctitle

            setproctitle.setproctitle(title)
        os.environ.clear()
        os.environ.update(environ)
        code = body()
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    except BaseException:  # the child must never return into the parent's code
        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _redirect(log: Path) -> None:
    null = os.open(os.devnull, os.O_RDONLY)
    out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(null, 0)
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.close(null)
    os.close(out)
    sys.stdin = open(0, closefd=False)  # noqa: SIM115 (the child's standard streams, open until it exits)
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
