"""Ports for the servers the tests start, and waiting for them (importable from every test: tests/ is
on sys.path). A server that does not come up fails the test with the tail of its own log."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

LOG_TAIL_LINES = 40


class ServerDidNotStart(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listens(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def log_tail(log: Path | None, lines: int = LOG_TAIL_LINES) -> str:
    """The last lines of a server's log, or why there are none."""
    if log is None:
        return "(no log kept)"
    try:
        text = log.read_text(errors="replace").rstrip()
    except OSError as e:
        return f"(cannot read {log}: {e.strerror})"
    return "\n".join(text.splitlines()[-lines:]) if text else f"({log} is empty)"


def wait_until_ready(name: str, ready: Callable[[], bool], process: subprocess.Popen, log: Path | None,
                     timeout: float = 30.0) -> None:
    """Waits until ready() holds; if the server exits or the time runs out, raises with its log's tail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerDidNotStart(f"{name} exited with status {process.returncode} before it was ready; "
                                    f"the end of its log {log}:\n{log_tail(log)}")
        if ready():
            return
        time.sleep(0.1)
    raise ServerDidNotStart(f"{name} not ready after {timeout:g}s; the end of its log {log}:\n{log_tail(log)}")


def wait_for_port(port: int, process: subprocess.Popen, log: Path | None, name: str = "server",
                  timeout: float = 30.0) -> None:
    """Waits until `process` listens on 127.0.0.1:port."""
    wait_until_ready(f"{name} (127.0.0.1:{port})", lambda: listens(port), process, log, timeout)


def tagged_pids(tag: str) -> list[int]:
    """The live processes whose environment carries OPP_CI_TEST_TAG=tag (what a test started, whatever
    they are called)."""
    pids = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if f"OPP_CI_TEST_TAG={tag}".encode() in environ.read_bytes().split(b"\0"):
                pids.append(int(environ.parent.name))
        except OSError:
            continue
    return pids
