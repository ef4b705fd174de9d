"""A helper server that does not come up fails its fixture with the end of its own log."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from ports import ServerDidNotStart, free_port, wait_for_port

pytestmark = pytest.mark.integration


def start(script: str, log: Path, *args: str) -> subprocess.Popen:
    with open(log, "w") as out:
        return subprocess.Popen([sys.executable, "-c", script, *args], stdout=out, stderr=subprocess.STDOUT)


def test_a_server_that_exits_shows_its_log(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    process = start("import sys; print('line 1'); sys.exit('fatal: no such config file')", log)
    with pytest.raises(ServerDidNotStart, match=r"(?s)toy-server .*exited with status 1.*fatal: no such config"):
        wait_for_port(free_port(), process, log, "toy-server", timeout=20)


def test_a_server_that_never_listens_shows_its_log_when_the_time_is_up(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    process = start("import time; print('still loading the description', flush=True); time.sleep(60)", log)
    try:
        with pytest.raises(ServerDidNotStart, match=r"(?s)not ready after 2s.*still loading the description"):
            wait_for_port(free_port(), process, log, "toy-server", timeout=2)
    finally:
        process.kill()
        process.wait()


def test_a_server_that_listens_is_ready(tmp_path: Path) -> None:
    port = free_port()
    script = ("import socket, sys, time; s = socket.socket(); s.bind(('127.0.0.1', int(sys.argv[1]))); "
              "s.listen(); time.sleep(60)")
    process = start(script, tmp_path / "server.log", str(port))
    try:
        wait_for_port(port, process, tmp_path / "server.log", "toy-server", timeout=20)
        assert process.poll() is None
    finally:
        process.kill()
        process.wait()
