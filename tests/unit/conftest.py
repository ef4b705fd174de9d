from __future__ import annotations

import contextlib
import subprocess

import pytest


@pytest.fixture(scope="session", autouse=True)
def matplotlib_font_cache():
    """matplotlib builds its font cache with `fc-list` on first use; build it before processes are refused,
    so the unit tests pass on a fresh machine too."""
    with contextlib.suppress(ImportError):
        import matplotlib.font_manager  # noqa: F401


@pytest.fixture(autouse=True)
def no_subprocesses(monkeypatch, request):
    """Unit tests must not start processes: that is what integration tests are for."""
    if request.node.get_closest_marker("subprocess"):
        return

    def refuse(*args, **kwargs):
        raise AssertionError("unit tests must not start processes; move this test to tests/integration")

    monkeypatch.setattr(subprocess.Popen, "__init__", refuse)
