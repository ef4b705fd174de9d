"""The real tier: OMNeT++'s own samples, from their sources, built and run through opp-ci with a real
OMNeT++ that is not on PATH (opp-ci finds it in OMNETPP_ROOT, as it would in OMNeT++'s image)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from real_models import copy_sample

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "upstream" / "aloha" / "opp-ci.toml"


@pytest.fixture(scope="module")
def aloha_project(omnetpp_root, tmp_path_factory) -> Path:
    """OMNeT++'s samples/aloha from its sources, with examples/upstream/aloha/opp-ci.toml (opp_makemake)."""
    project = copy_sample(omnetpp_root, "aloha", tmp_path_factory.mktemp("repository"))
    shutil.copy(EXAMPLE, project / "opp-ci.toml")  # what the README tells a user to add, as it is
    return project
