"""`opp-ci image model --archive`: the model built once and packed, then run elsewhere without a build (the
shard jobs of the reusable workflow)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from projects import copy_standin

pytestmark = pytest.mark.integration


#: Extraction refuses absolute paths and links out of the target where tarfile can (Python 3.11.4 and later:
#: Debian 12's 3.11.2 has no `filter`).
SAFE_EXTRACTION = {"filter": "tar"} if hasattr(tarfile, "tar_filter") else {}

def opp_ci(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "opp_ci", *args], capture_output=True, text=True, timeout=300,
                          cwd=cwd)


def test_the_model_built_once_runs_elsewhere_from_its_archive(tmp_path):
    repository = tmp_path / "repository"
    copy_standin(repository / "simulations", build=False)
    (repository / "simulations" / "leftover.o").write_bytes(b"\0" * 1000)  # compiler output: not packed
    (repository / ".git").mkdir()
    (repository / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    os.symlink("simulations", repository / "models")
    archive = tmp_path / "made" / "built.tar.gz"  # its directory is made
    done = opp_ci("image", "model", str(repository), "--project-dir", "simulations", "--build-command", "make",
                  "--archive", str(archive))
    assert done.returncode == 0, done.stderr
    assert f"into {archive}" in done.stdout

    with tarfile.open(archive) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert "simulations/standin" in members and members["simulations/standin"].mode & 0o111
        assert members["models"].issym() and members["models"].linkname == "simulations"
        assert not [n for n in members if n.endswith(".o") or n.startswith(".git")]
        elsewhere = tmp_path / "elsewhere"
        tar.extractall(elsewhere, **SAFE_EXTRACTION)

    out = tmp_path / "out"
    run = opp_ci("run", str(elsewhere / "simulations"), "--no-build", "-c", "Quick", "-j", "1", "-o", str(out))
    assert run.returncode == 0, run.stderr
    assert json.loads((out / "campaign.json").read_text())["totals"]["passed"] == 1


@pytest.mark.parametrize("archive, message", [
    ("built.zip", "name it .tar, .tar.gz or .tgz"),
    ("a-file/built.tar", "cannot make its directory"),
])
def test_a_bad_archive_is_refused_before_the_build(tmp_path, archive, message):
    project = copy_standin(tmp_path / "standin", build=False)
    (tmp_path / "a-file").write_text("not a directory\n")
    done = opp_ci("image", "model", str(project), "--build-command", "make", "--archive", str(tmp_path / archive))
    assert done.returncode == 2 and message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert not (project / "standin").exists()  # nothing built
