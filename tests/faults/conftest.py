"""The fault suite's fixture: a campaign of 100 short stand-in runs in the background."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from faultkit import Campaign, make_project

from opp_ci.backends.local import stop_process_tree


@pytest.fixture
def campaign(standin_project: Path, tmp_path: Path) -> Iterator[Campaign]:
    temp = tmp_path / "tmpdir"
    temp.mkdir()
    running = Campaign(make_project(standin_project), tmp_path / "out", temp)
    yield running
    if running.process and running.process.poll() is None:
        running.process.kill()
        running.process.wait()
    for pid in running.alive():
        stop_process_tree(pid, grace=0.5)
