from __future__ import annotations

import subprocess

import pytest


@pytest.fixture(autouse=True)
def no_subprocesses(monkeypatch, request):
    """Unit tests must not start processes: that is what integration tests are for."""
    if request.node.get_closest_marker("subprocess"):
        return

    def refuse(*args, **kwargs):
        raise AssertionError("unit tests must not start processes; move this test to tests/integration")

    monkeypatch.setattr(subprocess.Popen, "__init__", refuse)
