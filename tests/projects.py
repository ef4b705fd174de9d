"""The stand-in project for tests: copied and built the way a user's model is, by its own build command."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STANDIN = ROOT / "examples" / "standin"

#: What a copy of the stand-in leaves out: outputs, and its build products (each copy builds its own).
STANDIN_IGNORE = shutil.ignore_patterns("results", "opp-ci-out", "standin", "standin.tmp")


def build_project(project: Path) -> Path:
    """Builds a project with its own build command (opp-ci.toml's [image] build), as `opp-ci run` and
    the image do; returns the project."""
    from opp_ci import image

    command = image.file_settings(project).get("build")
    assert command, f"{project} has no [image] build command"
    done = subprocess.run(["sh", "-c", command], cwd=project, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"build of {project} failed:\n{done.stdout}{done.stderr}"
    return project


def copy_standin(target: Path, build: bool = True) -> Path:
    """A private copy of the stand-in project (without any build product), built unless `build=False`."""
    shutil.copytree(STANDIN, target, ignore=STANDIN_IGNORE)
    return build_project(target) if build else target
