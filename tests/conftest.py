"""Shared fixtures. Unit tests (tests/unit) never start processes; integration and e2e tests start
real servers on random ports and always stop them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STANDIN = ROOT / "examples" / "standin"
REFERENCE = ROOT / "tests" / "data" / "omnetpp-reference"  # a copy of ../shared/omnetpp-reference


@pytest.fixture
def standin_project(tmp_path: Path) -> Path:
    """A private copy of the stand-in simulation project, safe to edit."""
    target = tmp_path / "standin"
    shutil.copytree(STANDIN, target, ignore=shutil.ignore_patterns("results", "opp-ci-out"))
    return target
