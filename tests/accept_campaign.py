"""A real campaign whose fingerprint check failed, for the tests of `/opp-ci accept`: the stand-in's fingerprints
recorded by `opp-ci baseline update`, one of them changed in the store, then `opp-ci run --check fingerprints`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from projects import copy_standin

#: The runs of the campaign (AlohaExperiment runs about a second each).
RUNS = ("--config", "AlohaExperiment", "--runs", "0..1")
STORE = "opp-ci-fingerprints.json"


def opp_ci(*args: str, cwd: Path | None = None, expect: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "opp_ci", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode in expect, f"opp-ci {' '.join(args)}: exit {done.returncode}\n{done.stderr[-3000:]}"
    return done


def recorded_store(tmp_path: Path) -> str:
    """The stand-in's store as `baseline update` records it, with run 1's fingerprint changed to a wrong one."""
    project = copy_standin(tmp_path / "recording")
    opp_ci("baseline", "update", str(project), *RUNS, "--workers", "2", "--out", str(tmp_path / "recording-out"))
    store = json.loads((project / STORE).read_text())
    store["fingerprints"][1]["fingerprint"] = "0bad-cafe"
    return json.dumps(store, indent=2) + "\n"


def mismatching_campaign(project: Path, out: Path) -> Path:
    """`opp-ci run --check fingerprints` of the built `project` (whose store expects one wrong fingerprint) into
    `out`: one run fails its fingerprint check, and `out` has the patch that accepts the new one."""
    opp_ci("run", str(project), *RUNS, "--workers", "2", "--check", "fingerprints", "--out", str(out), expect=(1,))
    assert (out / "baseline-update.patch").is_file(), f"no patch in {out}"
    return out
