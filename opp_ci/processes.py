"""Child processes that never outlive their parent, and killing a whole process group."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess


def die_with_parent() -> None:
    """In a child before exec: ask Linux to SIGKILL it when its parent dies (the work horse for a
    simulation, the orchestrator for Redis and workers), so nothing outlives a killed parent."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def kill_group(process: subprocess.Popen) -> None:
    """SIGKILLs the process group `process` leads, and reaps the leader."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
