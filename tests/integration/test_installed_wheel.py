"""opp-ci installed from its wheel (not a checkout), as a user who `pip install`s it has it: `image build`
must find its Dockerfile and put opp-ci's wheel, with its dependencies', into the build context."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]


def run(command: list[str], **options) -> subprocess.CompletedProcess:
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, **options)
    assert done.returncode == 0, f"{command[:4]} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    return done


def test_an_installed_wheel_puts_itself_and_its_dependencies_into_the_build_context(tmp_path):
    dist = tmp_path / "dist"
    run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist), str(ROOT)])
    [wheel] = dist.glob("opp_ci-*.whl")
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", str(venv)])
    run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "-c", str(ROOT / "tests" / "constraints.txt"),
         f"{wheel}[aws]"])
    context = tmp_path / "context"
    context.mkdir()
    # opp-ci is not on this machine's index: pip finds it beside the other wheels, as it would on PyPI
    env = {**os.environ, "PIP_FIND_LINKS": " ".join(filter(None, [str(dist), os.environ.get("PIP_FIND_LINKS")]))}
    script = ("import sys; from pathlib import Path; from opp_ci import image; "
              "assert not image.installed_source().startswith('/'), image.installed_source(); "
              "print(image.dockerfile().read_text().count('FROM')); "
              "image.write_wheel(Path(sys.argv[1]), dependencies=True)")
    done = run([str(venv / "bin" / "python"), "-c", script, str(context)], cwd=tmp_path, env=env)
    assert int(done.stdout) >= 1  # the Dockerfile ships inside the package
    wheels = sorted(p.name for p in (context / ".opp-ci-dist").glob("*.whl"))
    assert any(w.startswith("opp_ci-") for w in wheels) and any(w.startswith("boto3-") for w in wheels), wheels
