"""Child processes that never outlive their parent, killing a whole process group, and temporary
directories that do not outlive their process."""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import re
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path


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
