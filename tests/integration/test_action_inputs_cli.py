"""The real CLI given an action's inputs (OPP_CI_INPUTS), as the composite actions call it, and the
content digest of build-image, which must stay the digest its bash computed (ECR holds images by it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]

#: build-image's digest step as it was in bash (before `opp-ci image digest`), for comparison.
BASH_DIGEST = r"""
content=$(git -C "$INPUT_CONTEXT" rev-parse HEAD:./ 2>/dev/null \
  || (cd "$INPUT_CONTEXT" && find . -type f -not -path './.git/*' -print0 | sort -z | xargs -0 sha256sum))
digest=$( { echo "$content"; sha256sum < "$DOCKERFILE"
            echo "$INPUT_BASE_IMAGE"; echo "$INPUT_PROJECT_DIR"; echo "$INPUT_BUILD_COMMAND"; echo "$INPUT_PACKAGES"
            "$OPP_CI" --version; } | sha256sum | cut -c1-20)
echo "content-$digest"
"""

INPUTS = {"context": "ctx", "base-image": "ghcr.io/omnetpp/omnetpp:u24.04-6.2.0", "project-dir": "sim",
          "build-command": "make MODE=release -j$(nproc)", "packages": "libpcap-dev zip", "repository": "r",
          "python": "python3"}


def opp_ci(*args: str, inputs: dict | None = None, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in ("OPP_CI_INPUTS", "GITHUB_OUTPUT")} | env
    if inputs is not None:
        environ["OPP_CI_INPUTS"] = json.dumps(inputs)
    return subprocess.run([sys.executable, "-m", "opp_ci", *args], cwd=cwd, env=environ, capture_output=True,
                          text=True, timeout=120)


def bash_digest(tmp_path: Path) -> str:
    wrapper = tmp_path / "opp-ci"
    wrapper.write_text(f"#!/bin/sh\nexec {sys.executable} -m opp_ci \"$@\"\n")
    wrapper.chmod(0o755)
    env = {**os.environ, "OPP_CI": str(wrapper), "DOCKERFILE": str(ROOT / "worker" / "Dockerfile"),
           **{"INPUT_" + k.upper().replace("-", "_"): v for k, v in INPUTS.items()}}
    env.pop("OPP_CI_INPUTS", None)
    done = subprocess.run(["bash", "-c", BASH_DIGEST], cwd=tmp_path, env=env, capture_output=True, text=True,
                          check=True)
    return done.stdout.strip()


def test_the_digest_is_the_one_build_image_computed_in_bash(tmp_path):
    context = tmp_path / "ctx"
    (context / "sim" / "sub").mkdir(parents=True)
    (context / "sim" / "a.ned").write_text("network A {}\n")
    (context / "sim" / "sub" / "b b.cc").write_text("int b;\n")
    (context / "link").symlink_to("sim/a.ned")
    output = tmp_path / "github-output"
    outside_git = opp_ci("image", "digest", inputs=INPUTS, cwd=tmp_path, GITHUB_OUTPUT=str(output))
    assert outside_git.returncode == 0, outside_git.stderr
    assert outside_git.stdout.strip() == bash_digest(tmp_path)
    assert output.read_text() == f"content-tag={outside_git.stdout.strip()}\n"
    git = ["git", "-C", str(context), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "model"], check=True)
    in_git = opp_ci("image", "digest", inputs=INPUTS, cwd=tmp_path)
    assert in_git.stdout.strip() == bash_digest(tmp_path) != outside_git.stdout.strip()
    changed = opp_ci("image", "digest", inputs={**INPUTS, "packages": "zip"}, cwd=tmp_path)
    assert changed.stdout.strip() != in_git.stdout.strip()


def test_an_unknown_input_is_refused_with_one_line_and_exit_2(tmp_path):
    done = opp_ci("cluster", "down", inputs={"campaign": "c", "regoin": "eu-west-1"}, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "opp-ci: error: action input 'regoin' is not an option of opp-ci cluster down (did you mean 'region'?)"]
    bad_bool = opp_ci("run", inputs={"spot": "yes"}, cwd=tmp_path)
    assert bad_bool.returncode == 2 and len(bad_bool.stderr.strip().splitlines()) == 1, bad_bool.stderr


def test_image_settings_from_inputs_write_the_step_outputs(tmp_path):
    (tmp_path / "sim").mkdir()
    (tmp_path / "sim" / "opp-ci.toml").write_text('command = "./sim"\n[image]\nbuild = "make all"\n')
    output = tmp_path / "github-output"
    done = opp_ci("image", "settings", "--github-output", str(output), cwd=tmp_path,
                  inputs={"project-dir": "sim", "base-image": "", "build-command": "", "packages": "a\nb",
                          "python": "python3"})
    assert done.returncode == 0, done.stderr
    assert output.read_text() == (f"base-image={INPUTS['base-image']}\nbuild-command=make all\npackages=a b\n")
    assert "action inputs as flags: --project-dir=sim --package=a --package=b" in done.stderr
