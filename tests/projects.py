"""The stand-in project for tests: copied and built the way a user's model is, by its own build command."""

from __future__ import annotations

import os
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


def without_omnetpp(environ: dict[str, str] | None = None) -> dict[str, str]:
    """An environment in which OMNeT++ is not on PATH, as in a GitHub job container of OMNeT++'s image:
    opp-ci must find it itself."""
    environ = dict(os.environ if environ is None else environ)
    for name in ("OMNETPP_ROOT", "__omnetpp_root_dir", "OMNETPP_RELEASE", "OPP_CI_TEST_OMNETPP"):
        environ.pop(name, None)
    entries = environ.get("PATH", "").split(os.pathsep)
    environ["PATH"] = os.pathsep.join(p for p in entries if not (Path(p) / "opp_run").exists())
    return environ
