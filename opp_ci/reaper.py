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
import time
from collections.abc import Callable, Iterable

from opp_ci.processes import can_fork, set_death_signal

#: What Linux sends the reaper when its worker dies.
WORKER_DIED = signal.SIGUSR1


class Reaper:
    """The reaper of this process's runs; `alive` says whether runs may rely on it. Its runs carry
    `variable=MARK.…` in their environment (MARK: this process's own, `mark`)."""

    def __init__(self, variable: str) -> None:
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


#: At most this many looks for processes to kill: again after a kill (a process may have forked before
#: it died) and while one's environment cannot be read yet (it is being exec'd).
LOOKS = 200


def kill_carriers(needle: bytes, candidates: Callable[[], Iterable[int]] | None = None) -> set[int]:
    """SIGKILLs every process (of `candidates`) whose environment has an entry starting with `needle`;
    their pids. Linux shows an empty environment for a process between the start of its exec and its
    new stack being set up (and to a read of its environ opened before), so such a process is looked at
    again, a millisecond later, until it tells."""
    killed: set[int] = set()
    for _look in range(LOOKS):
        found, undecided = [], False
        for pid in (candidates or every_process)():
            if pid in killed:
                continue
            verdict = carries(pid, needle)
            found += [pid] if verdict else []
            undecided |= verdict is None and _may_tell_later(pid)
        for pid in found:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        killed.update(found)
        if not found and not undecided:
            break
        if not found:
            time.sleep(0.001)
    return killed


def every_process() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _may_tell_later(pid: int) -> bool:
    """Whether a process whose environment read empty can show one when asked again: it is being
    exec'd (the end of its environment, `/proc/PID/stat`'s field 51, is not set yet) or was exec'd
    between our open and read of its environ (which then read the old, released memory). Not when its
    environment is empty indeed (its start and end are equal), nor for a zombie or a kernel thread."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rpartition(b")")[2].split()  # from field 3, the state, on
        state, parent, start, end = fields[0], int(fields[1]), int(fields[47]), int(fields[48])
    except (OSError, IndexError, ValueError):
        return False
    return state not in (b"Z", b"X") and parent not in (0, 2) and (end == 0 or end > start)


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
