"""Shared fixtures. Unit tests (tests/unit) never start processes; integration and e2e tests start
real servers on random ports and always stop them."""

from __future__ import annotations

import os
from collections.abc import Iterator
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


# --- the real tier: a real OMNeT++ (marker `omnetpp`) ---

#: Set by tests/run: the root of a built OMNeT++ (from OPP_CI_OMNETPP_SOURCE, or the one on PATH).
OMNETPP_VARIABLE = "OPP_CI_TEST_OMNETPP"


@pytest.fixture(scope="session")
def omnetpp_root() -> Path:
    """The real OMNeT++ of the real tier; the test skips, saying how to enable it, when there is none."""
    root = os.environ.get(OMNETPP_VARIABLE)
    if not root or not (Path(root) / "bin" / "opp_run").is_file():
        pytest.skip("no real OMNeT++: run ./tests/run with OPP_CI_OMNETPP_SOURCE=omnetpp-VERSION-src.tar.gz "
                    "(or with OMNeT++ on PATH)")
    return Path(root)


def pytest_terminal_summary(terminalreporter) -> None:
    """One line CI's log shows: how many tests of the real tier ran, and how many were skipped."""
    counts: dict[str, int] = {}
    for outcome in ("passed", "failed", "error", "skipped"):
        for report in terminalreporter.stats.get(outcome, []):
            if "omnetpp" in getattr(report, "keywords", {}) and (report.when == "call" or outcome == "skipped"):
                counts[outcome] = counts.get(outcome, 0) + 1
    if counts:
        figures = ", ".join(f"{n} {outcome}" for outcome, n in counts.items())
        where = os.environ.get(OMNETPP_VARIABLE) or "none"
        terminalreporter.write_line(f"real OMNeT++ tier (marker omnetpp, {where}): {figures}")


@pytest.fixture(scope="module")
def prism(tmp_path_factory) -> Iterator[int]:
    """`prism mock` of api.github.com (GitHub's OpenAPI description) on 127.0.0.1; yields its port."""
    from github_api import start_prism

    with start_prism(tmp_path_factory.mktemp("prism")) as port:
        yield port
