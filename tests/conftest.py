"""Shared fixtures. Unit tests (tests/unit) never start processes; integration and e2e tests start
real servers on random ports and always stop them."""

from __future__ import annotations

from pathlib import Path

import pytest
from projects import STANDIN, build_project, copy_standin

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "tests" / "data" / "omnetpp-reference"  # a copy of ../shared/omnetpp-reference


@pytest.fixture(scope="session")
def standin_executable() -> Path:
    """examples/standin/standin, built in place by the project's build command."""
    return build_project(STANDIN) / "standin"


@pytest.fixture
def standin_project(tmp_path: Path) -> Path:
    """A private copy of the stand-in simulation project, built, safe to edit."""
    return copy_standin(tmp_path / "standin")
