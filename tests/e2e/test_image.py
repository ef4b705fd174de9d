"""worker/Dockerfile, built and run for real without a Docker engine.

A Debian bookworm minbase rootfs (debootstrap, cached) stands in for the OMNeT++ base image; the
stand-in simulation is the model. buildah builds the image (vfs, chroot isolation), pushes it to a
Debian docker-registry on 127.0.0.1, and podman pulls it from there and runs it: `--help`, then as a
worker that completes a campaign's jobs from a local Redis.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from opp_ci.backends.local import start_redis, stop_process_tree

ROOT = Path(__file__).resolve().parents[2]
STANDIN = ROOT / "examples" / "standin"
BUILDAH = ["buildah", "--storage-driver", "vfs"]
PODMAN = ["podman", "--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--runtime", "runc"]
PODMAN_RUN = [*PODMAN, "run", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024", "--network=host",
              "--tls-verify=false"]
#: The "model build": proves it runs once, at build time, in the project directory, in release mode.
BUILD_COMMAND = 'test -x ./standin && echo "built in $MODE mode" > .opp-ci-build'

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(2400)]


def run(command: list[str], **options) -> subprocess.CompletedProcess:
    result = subprocess.run(command, capture_output=True, text=True, **options)
    assert result.returncode == 0, f"{' '.join(command[:6])}… failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def base_image(base_rootfs) -> str:
    """The cached rootfs imported as a local image (what an OMNeT++ base image would be)."""
    name = "localhost/opp-ci-test-base:bookworm"
    if subprocess.run([*BUILDAH, "inspect", "--type", "image", name], capture_output=True).returncode == 0:
        return name
    container = run([*BUILDAH, "from", "scratch"]).stdout.strip()
    try:
        run([*BUILDAH, "add", container, str(base_rootfs), "/"])
        run([*BUILDAH, "commit", "-q", container, name])
    finally:
        subprocess.run([*BUILDAH, "rm", container], capture_output=True)
    return name


@pytest.fixture(scope="module")
def context(tmp_path_factory) -> Path:
    """A model repository as build context: the stand-in in simulations/, opp-ci's wheels in .opp-ci-dist/."""
    context = tmp_path_factory.mktemp("context")
    shutil.copytree(STANDIN, context / "simulations", ignore=shutil.ignore_patterns("results", "opp-ci-out"))
    # With its dependencies' wheels, so the build needs no index (actions/build-image puts only opp-ci's).
    run([sys.executable, "-m", "pip", "wheel", "-q", "-w", str(context / ".opp-ci-dist"), f"{ROOT}[aws]"])
    return context


def pip_cert_options() -> list[str]:
    """This machine's pip CA bundle (PIP_CERT, for a TLS-intercepting proxy), mounted into the build."""
    cert = os.environ.get("PIP_CERT")
    if not cert or not Path(cert).is_file():
        return []
    return ["--volume", f"{cert}:/etc/opp-ci-build-ca.crt:ro", "--build-arg", "PIP_CERT=/etc/opp-ci-build-ca.crt"]


@pytest.fixture(scope="module")
def pushed_image(base_image, context, registry) -> Iterator[str]:
    """Built with buildah from worker/Dockerfile, pushed to the local registry, removed locally."""
    image = f"{registry}/opp-ci-simulation:test-{uuid.uuid4().hex[:8]}"
    run([*BUILDAH, "bud", "--isolation", "chroot", "-f", str(ROOT / "worker" / "Dockerfile"), *pip_cert_options(),
         "--build-arg", f"BASE_IMAGE={base_image}", "--build-arg", "PROJECT_DIR=simulations",
         "--build-arg", f"BUILD_COMMAND={BUILD_COMMAND}", "-t", image, str(context)], timeout=1800)
    run([*BUILDAH, "push", "--tls-verify=false", image, f"docker://{image}"], timeout=600)
    run([*BUILDAH, "rmi", image])  # podman must pull it from the registry
    try:
        yield image
    finally:
        subprocess.run([*PODMAN, "rmi", "-f", image], capture_output=True)


def test_image_runs_opp_ci_as_a_non_root_user(pushed_image):
    result = run([*PODMAN_RUN, "--rm", pushed_image, "--help"], timeout=600)
    assert "Usage: opp-ci" in result.stdout and "worker" in result.stdout
    config = json.loads(run([*PODMAN, "image", "inspect", pushed_image]).stdout)[0]["Config"]
    assert config["User"] == "opp"
    assert config["Entrypoint"] == ["/opt/opp-ci/bin/opp-ci"] and config["Cmd"][0] == "worker"
    assert config["WorkingDir"] == "/project"
    script = "id -un; cat .opp-ci-build; readlink /project; command -v opp-ci"
    who = run([*PODMAN_RUN, "--rm", "--entrypoint", "sh", pushed_image, "-c", script])
    expected = ["opp", "built in release mode", "/model/simulations", "/usr/local/bin/opp-ci"]
    assert who.stdout.split("\n")[:4] == expected


def test_container_worker_completes_a_campaign(pushed_image, standin_project, tmp_path):
    redis = start_redis(tmp_path)
    store = tmp_path / "store"  # the same path inside and outside, so the orchestrator finds the files
    store.mkdir()
    store.chmod(0o777)
    name = f"opp-ci-worker-{uuid.uuid4().hex[:8]}"
    try:
        run([*PODMAN_RUN, "-d", "--name", name, "-e", f"OPP_CI_REDIS_URL={redis.url}",
             "-e", f"OPP_CI_STORE={store}", "-v", f"{store}:{store}", "--entrypoint", "opp-ci", pushed_image,
             "worker", "--project", "/project"], timeout=300)  # as `opp-ci cluster up` starts it
        campaign = subprocess.run(
            [sys.executable, "-m", "opp_ci", "run", str(standin_project), "--config", "Quick", "--workers", "0",
             "--redis-url", redis.url, "--out", str(tmp_path / "out"), "--timeout", "2m"],
            capture_output=True, text=True, timeout=900, env={**os.environ, "NO_COLOR": "1"})
        logs = subprocess.run([*PODMAN, "logs", name], capture_output=True, text=True).stdout
    finally:
        subprocess.run([*PODMAN, "rm", "-f", name], capture_output=True)
        stop_process_tree(redis.process.pid)
    assert campaign.returncode == 0, f"{campaign.stdout[-2000:]}\n{campaign.stderr[-2000:]}\nworker:\n{logs[-2000:]}"
    records = json.loads((tmp_path / "out" / "campaign.json").read_text())["runs"]
    assert records and all(r["status"] == "passed" for r in records)
    assert all((tmp_path / "out" / f).is_file() for r in records for f in r["result_files"])
