"""The run reaper: a small process, forked once per worker, that kills the worker's simulations when
the worker dies, however it dies (SIGKILL included).

A simulation would otherwise be told by PDEATHSIG, which a child can only ask for between fork and
exec: with Python's `preexec_fn`, which makes every spawn a full fork of the worker (3.3 ms for a
run of aloha against 0.45 ms with the vfork `subprocess` uses without it). The reaper asks for it
once, for itself: when the worker dies, Linux signals the reaper, and the reaper kills every process
whose environment carries the worker's run marker (`execution.RUN_MARKER`), wherever it was
re-parented to.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal

from opp_ci.processes import can_fork, set_death_signal

#: What Linux sends the reaper when its worker dies.
WORKER_DIED = signal.SIGUSR1


class Reaper:
    """The reaper of this process's runs; `alive` says whether runs may rely on it. Its runs carry
    `variable=MARK.…` in their environment (MARK: this process's own, `mark`)."""

    def __init__(self, variable: str) -> None:
        self.owner = os.getpid()
        self.mark = secrets.token_hex(8)
        self.needle = f"{variable}={self.mark}.".encode()
        self.pid: int | None = None

    @property
    def alive(self) -> bool:
        if self.pid is None:
            return False
        try:
            pid, _status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            pid = self.pid
        if pid:
            self.pid = None
        return self.pid is not None

    def start(self) -> bool:
        """Forks the reaper (only while this process has no other thread); whether it runs."""
        if self.alive:
            return True
        if not can_fork():
            return False
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:
            _reap_when_parent_dies(parent, self.needle)
        self.pid = pid
        return True


def _reap_when_parent_dies(parent: int, needle: bytes) -> None:
    """The reaper's body: waits for its parent's death, kills the processes carrying `needle`, exits."""
    try:
        os.setsid()  # a signal to the worker's group is not for the reaper
        with contextlib.suppress(ImportError):
            import setproctitle

            setproctitle.setproctitle(f"opp-ci run reaper of process {parent}")
        os.closerange(3, 65536)  # the worker's Redis connection and pipes stay the worker's alone
        for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(number, signal.SIG_IGN)
        signal.pthread_sigmask(signal.SIG_BLOCK, {WORKER_DIED})
        set_death_signal(WORKER_DIED)
        if os.getppid() == parent:  # else the parent died before the death signal was set
            signal.sigwait({WORKER_DIED})
        kill_carriers(needle)
    finally:
        os._exit(0)


def kill_carriers(needle: bytes) -> int:
    """SIGKILLs every process whose environment has an entry starting with `needle`; how many."""
    killed = 0
    for name in os.listdir("/proc"):
        if name.isdigit() and carries(int(name), needle):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(name), signal.SIGKILL)
                killed += 1
    return killed


def carries(pid: int, needle: bytes) -> bool | None:
    """Whether process `pid` has an environment entry starting with `needle`; None when its environment
    reads empty (a process being exec'd, a zombie or a kernel thread: asked again, it may tell)."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as environ:
            content = environ.read()
    except OSError:
        return False
    if not content:
        return None
    return any(entry.startswith(needle) for entry in content.split(b"\0"))
