"""worker/Dockerfile, built by `opp-ci image build` and run for real without a Docker engine.

A Debian bookworm minbase rootfs (debootstrap, cached) stands in for the OMNeT++ base image; the
stand-in simulation, unbuilt, is the model, built in the image by its own build command (`make`).
buildah builds the image (vfs, chroot isolation), pushes it to a Debian docker-registry on 127.0.0.1,
and podman pulls it from there and runs it: `--help`, a whole campaign inside the container (the
local backend, as the reusable workflow runs it), and a worker that completes a campaign's jobs from
a local Redis. A generated C++ model of 41 files shows that a second build after a one-file change
compiles that one file and takes the other 40 from ccache.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from projects import copy_standin

from opp_ci.backends.local import start_redis, stop_process_tree

ROOT = Path(__file__).resolve().parents[2]
BUILDAH = ["buildah", "--storage-driver", "vfs"]
PODMAN = ["podman", "--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--runtime", "runc"]
PODMAN_RUN = [*PODMAN, "run", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024", "--network=host",
              "--tls-verify=false"]
#: The Debian base has no compiler: the image's build gets one through [image] packages (--package).
PACKAGES = ["make", "g++"]

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
    """A model repository as build context: the stand-in in simulations/, not built."""
    context = tmp_path_factory.mktemp("context")
    copy_standin(context / "simulations", build=False)
    return context


def pip_cert_options() -> list[str]:
    """This machine's pip CA bundle (PIP_CERT, for a TLS-intercepting proxy), mounted into the build."""
    cert = os.environ.get("PIP_CERT")
    if not cert or not Path(cert).is_file():
        return []
    return [f"--build-opt=--volume={cert}:/etc/opp-ci-build-ca.crt:ro",
            "--build-opt=--build-arg=PIP_CERT=/etc/opp-ci-build-ca.crt"]


def image_build(context: Path, project_dir: str, tag: str, base_image: str) -> subprocess.CompletedProcess:
    """`opp-ci image build` with buildah as this machine needs it (vfs, chroot, layer cache), with the
    dependencies' wheels so the build needs no index."""
    return run([sys.executable, "-m", "opp_ci", "image", "build", str(context), "--project-dir", project_dir,
                "--base-image", base_image, *(f"--package={p}" for p in PACKAGES), "-t", tag, "--with-dependencies",
                "--builder", " ".join(BUILDAH), "--build-opt=--isolation=chroot", "--build-opt=--layers",
                *pip_cert_options()], timeout=1800)


@pytest.fixture(scope="module")
def pushed_image(base_image, context, registry) -> Iterator[str]:
    """Built by `opp-ci image build` with buildah, pushed to the local registry, removed locally."""
    image = f"{registry}/opp-ci-simulation:test-{uuid.uuid4().hex[:8]}"
    image_build(context, "simulations", image, base_image)
    assert not (context / "simulations" / "standin").exists()  # built in the image, not in the context
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
    script = "id -un; test -x standin && echo built; readlink /project; command -v opp-ci; echo $MODE"
    who = run([*PODMAN_RUN, "--rm", "--entrypoint", "sh", pushed_image, "-c", script])
    assert who.stdout.split("\n")[:5] == ["opp", "built", "/model/simulations", "/usr/local/bin/opp-ci", "release"]


def test_container_runs_the_campaign_of_the_built_model(pushed_image, tmp_path):
    """The local backend inside the image, as the reusable workflow's run job: Redis, workers and the runs."""
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o777)
    done = run([*PODMAN_RUN, "--rm", "-v", f"{out}:/out", "-e", "NO_COLOR=1", pushed_image,
                "run", "/project", "--config", "AlohaExperiment", "--runs", "0..2",
                "--workers", "2", "--out", "/out"], timeout=600)
    assert "'standin' is up to date" in done.stdout  # built once, in the image: not again for the campaign
    records = json.loads((out / "campaign.json").read_text())["runs"]
    assert len(records) == 3 and all(r["status"] == "passed" for r in records)
    assert (out / "junit.xml").is_file() and (out / "summary.md").is_file()


def campaign_with_a_container_worker(image: str, project: Path, tmp_path: Path, *args: str,
                                     env: dict[str, str] | None = None) -> list[dict]:
    """`opp-ci run PROJECT --workers 0` here, whose runs a worker of IMAGE runs, started as `opp-ci cluster up`
    starts it (`opp-ci worker`, no other entrypoint); the campaign's records, each run's files checked."""
    redis = start_redis(tmp_path)
    store = tmp_path / "store"  # the same path inside and outside, so the orchestrator finds the files
    store.mkdir()
    store.chmod(0o777)
    name = f"opp-ci-worker-{uuid.uuid4().hex[:8]}"
    try:
        run([*PODMAN_RUN, "-d", "--name", name, "-e", f"OPP_CI_REDIS_URL={redis.url}",
             "-e", f"OPP_CI_STORE={store}", "-v", f"{store}:{store}", "--entrypoint", "opp-ci", image,
             "worker", "--project", "/project"], timeout=300)
        campaign = subprocess.run(
            [sys.executable, "-m", "opp_ci", "run", str(project), "--workers", "0", "--redis-url", redis.url,
             "--store", str(store), "--out", str(tmp_path / "out"), *args],
            capture_output=True, text=True, timeout=900, env={**(env or os.environ), "NO_COLOR": "1"})
        logs = subprocess.run([*PODMAN, "logs", name], capture_output=True, text=True).stdout
    finally:
        subprocess.run([*PODMAN, "rm", "-f", name], capture_output=True)
        stop_process_tree(redis.process.pid)
    assert campaign.returncode == 0, f"{campaign.stdout[-2000:]}\n{campaign.stderr[-2000:]}\nworker:\n{logs[-2000:]}"
    records = json.loads((tmp_path / "out" / "campaign.json").read_text())["runs"]
    assert all((tmp_path / "out" / f).is_file() for r in records for f in r["result_files"])
    return records


def test_container_worker_completes_a_campaign(pushed_image, standin_project, tmp_path):
    records = campaign_with_a_container_worker(pushed_image, standin_project, tmp_path, "--config", "Quick",
                                               "--timeout", "2m")
    assert records and all(r["status"] == "passed" for r in records)


# --- incremental builds: ccache in the build's cache mount ---

MODULES = 40
MODULE = """\
#include "model_id.h"
#include <algorithm>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace module{i} {{
std::string describe(int n) {{
    std::map<std::string, std::vector<double>> table;
    for (int k = 0; k < n; ++k)
        table["key" + std::to_string(k % 7)].push_back(k * {i}.5 + MODEL_ID);
    std::ostringstream out;
    for (auto &[key, values] : table) {{
        std::sort(values.begin(), values.end());
        out << key << "=" << values.size() << ";";
    }}
    return out.str();
}}
}}
"""
MAKEFILE = """\
SOURCES := $(wildcard src/*.cc)
model: $(SOURCES:src/%.cc=out/%.o)
\t$(CXX) -o $@ $^
out/%.o: src/%.cc src/model_id.h
\t@mkdir -p out
\t$(CXX) -O2 -c -o $@ $<
"""


def write_model(project: Path) -> None:
    """A C++ model of MODULES + 1 files, unique to this test run (MODEL_ID), so its first build is cold."""
    (project / "src").mkdir(parents=True)
    (project / "src" / "model_id.h").write_text(f"#define MODEL_ID {uuid.uuid4().int % 1000003}\n")
    for i in range(MODULES):
        (project / "src" / f"module{i}.cc").write_text(MODULE.format(i=i))
    declarations = "".join(f"namespace module{i} {{ std::string describe(int); }}\n" for i in range(MODULES))
    calls = "".join(f"    std::cout << module{i}::describe(10) << '\\n';\n" for i in range(MODULES))
    (project / "src" / "main.cc").write_text(
        f"#include \"model_id.h\"\n#include <iostream>\n#include <string>\n{declarations}"
        f"int main() {{\n    std::cout << MODEL_ID << '\\n';\n{calls}}}\n")
    (project / "Makefile").write_text(MAKEFILE)
    (project / "opp-ci.toml").write_text('command = "./model"\n\n[image]\nbuild = "make -j$(nproc)"\n')


def ccache_stats(image: str) -> dict[str, int]:
    """The image's build's ccache statistics (worker/Dockerfile keeps `ccache --print-stats`)."""
    text = run([*PODMAN_RUN, "--rm", "--entrypoint", "cat", image, "/home/opp/.opp-ci-ccache-stats"]).stdout
    return {k: int(v) for k, v in (line.split("\t") for line in text.splitlines() if "\t" in line)}


def test_a_one_file_change_compiles_one_file_and_takes_the_rest_from_ccache(base_image, tmp_path):
    context = tmp_path / "repo"
    write_model(context / "model")
    tags = [f"localhost/opp-ci-model:{name}-{uuid.uuid4().hex[:8]}" for name in ("cold", "one-file")]
    try:
        started = time.monotonic()
        cold_log = image_build(context, "model", tags[0], base_image).stderr
        cold = time.monotonic() - started
        module = context / "model" / "src" / "module7.cc"
        module.write_text(module.read_text().replace("k % 7", "k % 5"))
        started = time.monotonic()
        rebuild_log = image_build(context, "model", tags[1], base_image).stderr
        rebuild = time.monotonic() - started
        first, second = ccache_stats(tags[0]), ccache_stats(tags[1])
    finally:
        for tag in tags:
            subprocess.run([*BUILDAH, "rmi", "-f", tag], capture_output=True)
    took = [re.search(r"the model's build took (\d+)s", log) for log in (cold_log, rebuild_log)]
    print(f"\n{MODULES + 1}-file model: the build step {took[0] and took[0][1]}s cold, {took[1] and took[1][1]}s "
          f"after a one-file change; whole image build {cold:.0f}s and {rebuild:.0f}s")
    hits = lambda stats: stats.get("direct_cache_hit", 0) + stats.get("preprocessed_cache_hit", 0)  # noqa: E731
    assert hits(first) == 0 and first["cache_miss"] == MODULES + 1
    assert hits(second) == MODULES and second["cache_miss"] == 1
