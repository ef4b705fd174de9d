"""Helpers of the real tier: OMNeT++'s samples from their sources, and opp-ci run with OMNeT++ not on PATH."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from projects import without_omnetpp

#: Builds a sample from its sources, which have no Makefile: what `[image] build` says for each.
MAKEMAKE = "opp_makemake -f --deep -O out -o {name} && make MODE=release -j$(nproc)"
#: queueinglib as a shared library (libqueueinglib.so), which queuenet loads with `opp_run -l`.
MAKEMAKE_LIBRARY = "opp_makemake -f --deep -s -O out -o {name} && make MODE=release -j$(nproc)"


def copy_sample(omnetpp_root: Path, name: str, target: Path) -> Path:
    """A sample's sources only (no Makefile, no build products), as a user's repository holds them."""
    source = omnetpp_root / "samples" / name
    shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("out", "Makefile", name, f"lib{name}.so",
                                                                          "*.o", "*_m.cc", "*_m.h", "results"))
    return target / name


def opp_ci_env(omnetpp_root: Path, **extra: str) -> dict[str, str]:
    """opp-ci's environment: OMNeT++ only in OMNETPP_ROOT, nowhere on PATH."""
    return {**without_omnetpp(), "OMNETPP_ROOT": str(omnetpp_root), **extra}


def opp_ci(*args: str, env: dict[str, str], timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "opp_ci", *args], env=env, capture_output=True, text=True,
                          timeout=timeout)
