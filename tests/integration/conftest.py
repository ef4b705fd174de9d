"""Fixtures that start real servers on random ports, and always stop them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest
import redis
from ports import tagged_pids

from opp_ci.backends.local import RedisServer, start_redis, stop_process_tree


@pytest.fixture
def redis_server(tmp_path_factory) -> Iterator[RedisServer]:
    """A real redis-server on 127.0.0.1, a random port and a random password."""
    server = start_redis(tmp_path_factory.mktemp("redis"))
    try:
        yield server
    finally:
        stop_process_tree(server.process.pid)


@pytest.fixture
def redis_client(redis_server) -> redis.Redis:
    return redis.Redis.from_url(redis_server.url)


class Tagged:
    """Runs opp-ci with a unique environment tag that every process it starts inherits, so a test can
    tell which of its processes are still alive, whatever they are called."""

    def __init__(self) -> None:
        self.tag = f"opp-ci-test-{uuid.uuid4().hex}"

    def env(self, **extra: str) -> dict[str, str]:
        return {**os.environ, "OPP_CI_TEST_TAG": self.tag, **extra}

    def run(self, *args: str, timeout: float = 180, **extra: str) -> subprocess.CompletedProcess:
        return subprocess.run(opp_ci(*args), env=self.env(**extra), capture_output=True, text=True, timeout=timeout)

    def start(self, *args: str, **extra: str) -> subprocess.Popen:
        # SIGINT as a terminal's Ctrl-C finds it: a shell that started these tests in the background
        # (`./tests/run &`) leaves it ignored for every process below, and Python then keeps it ignored
        return subprocess.Popen(opp_ci(*args), env=self.env(**extra), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))

    def alive(self) -> list[int]:
        return tagged_pids(self.tag)


def opp_ci(*args: str) -> list[str]:
    return [sys.executable, "-m", "opp_ci", *args]


@pytest.fixture
def tagged() -> Iterator[Tagged]:
    runner = Tagged()
    yield runner
    for pid in runner.alive():  # never leave anything behind, even when a test failed
        stop_process_tree(pid, grace=0.5)
