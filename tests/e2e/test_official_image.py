"""OMNeT++'s official image's contract, on both GitHub paths, with a real model from its sources.

The base is built like OMNeT++'s image (tests/e2e/official_image.py): OMNeT++ in /root/omnetpp, on PATH only
through the entrypoint. ecs path: `opp-ci image build` FROM it builds aloha from its sources (no Makefile:
opp_makemake) into the worker image, whose worker runs runs from a queue. local path: the reusable
workflow's `run` job, run as GitHub runs a job container (tests/e2e/job_container.py), builds and runs
aloha, and the stand-in, inside it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import official_image
import pytest
from projects import copy_standin, without_omnetpp
from real_models import MAKEMAKE, MAKEMAKE_LIBRARY, copy_sample
from test_image_build import BUILDAH, PODMAN_RUN, campaign_with_a_container_worker, pip_cert_options, run

ROOT = Path(__file__).resolve().parents[2]
ALOHA_SPEC = """\
command = "./aloha"
timeout = "5m"

[configs.PureAlohaExperiment]
runs = "$numHosts==10 && $iaMean<3"
sim-time-limit = "2min"
"""

pytestmark = [pytest.mark.e2e, pytest.mark.omnetpp, pytest.mark.timeout(2400)]


@pytest.fixture(scope="session")
def omnetpp_image(image_tools, omnetpp_root, tmp_path_factory) -> str:
    return official_image.build(BUILDAH, omnetpp_root, tmp_path_factory.mktemp("omnetpp-image"))


def aloha_repository(omnetpp_root: Path, path: Path) -> Path:
    """A user's repository: samples/aloha's sources (no Makefile) in simulations/, with opp-ci.toml."""
    project = copy_sample(omnetpp_root, "aloha", path)
    (project / "opp-ci.toml").write_text(ALOHA_SPEC)
    return path


def test_the_base_keeps_omnetpp_off_path_but_through_its_entrypoint(omnetpp_image):
    bare = run([*PODMAN_RUN, "--rm", "--entrypoint", "bash", omnetpp_image, "--noprofile", "--norc", "-c",
                'command -v opp_run || echo "not on PATH"; echo "$HOME"; pwd; id -un; stat -c %a /root'])
    assert bare.stdout.split("\n")[:5] == ["not on PATH", "/root/", "/root/models", "root", "775"]
    entry = run([*PODMAN_RUN, "--rm", omnetpp_image, "bash", "-c", "command -v opp_run"])
    assert entry.stdout.splitlines()[-1] == "/root/omnetpp/bin/opp_run"  # after setenv's banner


@pytest.fixture(scope="module")
def aloha_image(omnetpp_image, omnetpp_root, tmp_path_factory) -> str:
    """`opp-ci image build` of aloha from its sources, FROM the official-like base: the ecs path's image."""
    context = aloha_repository(omnetpp_root, tmp_path_factory.mktemp("aloha-context"))
    tag = f"localhost/opp-ci-aloha:{uuid.uuid4().hex[:8]}"
    done = run([sys.executable, "-m", "opp_ci", "image", "build", str(context), "--project-dir", "aloha",
                "--base-image", omnetpp_image, "-t", tag, "--with-dependencies", "--builder", " ".join(BUILDAH),
                "--build-opt=--isolation=chroot", "--build-opt=--layers", *pip_cert_options()],
               timeout=1800, env=without_omnetpp())
    assert "opp_makemake -f --deep -O out -o aloha" in done.stdout + done.stderr
    yield tag
    subprocess.run([*BUILDAH, "rmi", "-f", tag], capture_output=True)


def test_the_image_built_from_the_official_base_has_omnetpp_for_every_start(aloha_image):
    found = run([*PODMAN_RUN, "--rm", aloha_image, "omnetpp"])
    assert found.stdout.startswith("OMNeT++ 6.1 in /root/omnetpp")
    # however it is started, as its user opp: OMNeT++ on PATH, the model built
    shell = run([*PODMAN_RUN, "--rm", "--entrypoint", "sh", aloha_image, "-c",
                 "id -un; command -v opp_run; test -x aloha && echo built"])
    assert shell.stdout.split("\n")[:3] == ["opp", "/root/omnetpp/bin/opp_run", "built"]


def test_a_worker_of_that_image_runs_the_runs_from_a_queue(aloha_image, omnetpp_root, tmp_path):
    """As ECS starts it (`opp-ci worker`, no entrypoint of OMNeT++'s): the runs of a campaign enqueued here."""
    here = aloha_repository(omnetpp_root, tmp_path / "here") / "aloha"  # the orchestrator lists the runs here
    env = {**without_omnetpp(), "OMNETPP_ROOT": str(omnetpp_root)}
    records = campaign_with_a_container_worker(aloha_image, here, tmp_path, "--build-command",
                                               MAKEMAKE.format(name="aloha"), env=env)
    assert len(records) == 4 and all(r["status"] == "passed" for r in records)


# --- the local path: the reusable workflow's `run` job, as GitHub runs it in the base image ---

WORKFLOW = ROOT / ".github" / "workflows" / "campaign.yml"


def ca_bundle() -> tuple[dict[str, str], list[str]]:
    """This machine's CA bundle for pip inside the job's container (behind a TLS-intercepting proxy)."""
    cert = os.environ.get("PIP_CERT") or os.environ.get("SSL_CERT_FILE")
    if not cert or not Path(cert).is_file():
        return {}, []
    return {"PIP_CERT": cert, "SSL_CERT_FILE": cert}, [f"{cert}:{cert}:ro"]


def local_plan(build_command: str, workers: str = "2", shards: int = 1) -> dict[str, str]:
    """What the plan job outputs on the local backend, in the OMNeT++ base image."""
    base = "ghcr.io/omnetpp/omnetpp:u24.04-6.1.0"
    return {"backend": "local", "cloud": "false", "fork": "false", "in-image": "true", "container": base,
            "run-workers": workers, "run-build-command": build_command, "campaign": "gh-1-1",
            "base-image": base, "build-command": build_command, "packages": "", "baseline-run-id": "",
            "sharded": str(shards > 1).lower(), "shards": str(shards),
            "shard-list": json.dumps(list(range(1, shards + 1)))}


def job_needs(job: str) -> list[str]:
    """The jobs `job` of the reusable workflow needs (what GitHub hands it as `needs`)."""
    from job_container import load_workflow

    needs = load_workflow(WORKFLOW)["jobs"][job].get("needs", [])
    return [needs] if isinstance(needs, str) else list(needs)


def run_job_on_local_backend(image: str, repository: Path, project_dir: str, build_command: str, shards: int = 1,
                             job: str = "run", matrix: dict | None = None, **inputs: str):
    """A job of the reusable workflow (`run` unless told) with the outputs `plan` gives on the local backend,
    in `image`; sharded, build-model has succeeded before the run jobs."""
    from job_container import run_job

    env, mounts = ca_bundle()
    plan = local_plan(build_command, inputs.get("workers", "2"), shards)
    needs = {"plan": {"result": "success", "outputs": plan}, "start": {"result": "skipped", "outputs": {}},
             "build-model": {"result": "success" if shards > 1 else "skipped", "outputs": {}}}
    return run_job(WORKFLOW, job, image=image, workspace=repository,
                   inputs={"project-dir": project_dir, "workers": "2", **inputs},
                   needs={name: needs[name] for name in job_needs(job)},
                   actions={"opp-ci/opp-ci@v1": ROOT}, env=env, extra_mounts=mounts, step_timeout=1500,
                   contexts={"matrix": matrix or {"shard": 1}})


def uploaded_campaign(repository: Path, result) -> dict:
    assert result.conclusion == "success", result.log[-6000:]
    name = result.outputs["artifact-name"]
    return json.loads((repository.parent / "artifacts" / name / "campaign.json").read_text())


def test_the_local_run_job_builds_aloha_from_its_sources_in_the_base_and_runs_it(omnetpp_image, omnetpp_root,
                                                                               tmp_path):
    repository = aloha_repository(omnetpp_root, tmp_path / "repository")
    started = time.monotonic()
    result = run_job_on_local_backend(omnetpp_image, repository, "aloha", MAKEMAKE.format(name="aloha"))
    print(f"local run job in the official-like container: {time.monotonic() - started:.1f}s")
    campaign = uploaded_campaign(repository, result)
    assert campaign["totals"] == {**campaign["totals"], "total": 4, "passed": 4}
    assert campaign["omnetpp"]["root"] == "/root/omnetpp" and campaign["omnetpp"]["version"] == "6.1"
    assert campaign["environment"]["omnetpp"] == "6.1" and campaign["environment"]["compiler"]
    assert "opp_makemake -f --deep -O out -o aloha" in result.log
    assert result.container == "ghcr.io/omnetpp/omnetpp:u24.04-6.1.0"  # what the workflow would run


def test_a_shard_job_runs_the_model_build_model_built_once_in_the_base(omnetpp_image, omnetpp_root, tmp_path):
    """`shards: 2`: build-model builds aloha from its sources and packs it; the second shard's job, on a fresh
    checkout with no build product, unpacks it and runs its share of the runs without building."""
    builder = aloha_repository(omnetpp_root, tmp_path / "builder")
    built = run_job_on_local_backend(omnetpp_image, builder, "aloha", MAKEMAKE.format(name="aloha"), shards=2,
                                     job="build-model")
    assert built.conclusion == "success", built.log[-6000:]
    assert "opp_makemake -f --deep -O out -o aloha" in built.log
    shard = aloha_repository(omnetpp_root, tmp_path / "shard")  # a runner of its own: the sources only
    result = run_job_on_local_backend(omnetpp_image, shard, "aloha", MAKEMAKE.format(name="aloha"), shards=2,
                                      matrix={"shard": 2}, configs="PureAlohaExperiment")
    campaign = uploaded_campaign(shard, result)
    assert result.outputs["artifact-name"] == "opp-ci-1-shard-2"  # no attempt: a re-run job overwrites it
    assert campaign["shard"]["index"] == 2 and campaign["shard"]["count"] == 2
    assert 0 < campaign["totals"]["total"] == campaign["totals"]["passed"] < len(campaign["shard"]["runs"])
    assert "opp_makemake" not in result.log  # not built again


def test_the_local_run_job_runs_the_standin_in_the_same_base(omnetpp_image, tmp_path):
    repository = tmp_path / "repository"
    copy_standin(repository / "simulations", build=False)
    result = run_job_on_local_backend(omnetpp_image, repository, "simulations", "make", configs="Quick")
    campaign = uploaded_campaign(repository, result)
    assert campaign["totals"]["total"] > 0 and campaign["totals"]["passed"] == campaign["totals"]["total"]
    assert campaign["omnetpp"]["root"] == "/root/omnetpp"  # found, though the stand-in needs none


# --- INET's shape: a model built as a shared library, run by `opp_run -l`; a model with its own Makefile ---

QUEUENET_SPEC = """\
command = "opp_run -l ../queueinglib/queueinglib"
timeout = "5m"

[image]
build = "cd ../queueinglib && {build}"

[configs.OneFifo]
sim-time-limit = "100s"

[configs.SmallCQN]
sim-time-limit = "100s"
"""


def queuenet_repository(omnetpp_root: Path, path: Path) -> Path:
    """queueinglib (a library, built with `opp_makemake -s`) and queuenet (ini and NED only) from their sources."""
    copy_sample(omnetpp_root, "queueinglib", path)
    project = copy_sample(omnetpp_root, "queuenet", path)
    (project / "opp-ci.toml").write_text(QUEUENET_SPEC.format(build=MAKEMAKE_LIBRARY.format(name="queueinglib")))
    return path


def test_the_local_run_job_builds_a_shared_library_model_and_runs_it_with_opp_run_l(omnetpp_image, omnetpp_root,
                                                                                     tmp_path):
    repository = queuenet_repository(omnetpp_root, tmp_path / "repository")
    result = run_job_on_local_backend(omnetpp_image, repository, "queuenet", "")  # [image] build
    campaign = uploaded_campaign(repository, result)
    assert campaign["totals"]["total"] == 2 and campaign["totals"]["passed"] == 2
    assert campaign["command"] == ["opp_run", "-l", "../queueinglib/queueinglib"]
    assert (repository / "queueinglib" / "libqueueinglib.so").is_file()


def test_the_local_run_job_builds_a_model_whose_makefile_asks_omnetpp(omnetpp_image, omnetpp_root, tmp_path):
    """fifo with the Makefile opp_makemake wrote committed: plain `make` (the default build), which asks
    opp_configfilepath, so it needs OMNeT++'s environment although no command names an OMNeT++ tool."""
    repository = tmp_path / "repository"
    project = copy_sample(omnetpp_root, "fifo", repository)
    subprocess.run([str(omnetpp_root / "bin" / "opp_makemake"), "-f", "--deep", "-O", "out", "-o", "fifo"],
                   cwd=project, check=True, capture_output=True, env={**os.environ, "PATH": f"{omnetpp_root}/bin:"
                                                                      f"{os.environ['PATH']}"})
    assert "opp_configfilepath" in (project / "Makefile").read_text() and not (project / "fifo").exists()
    (project / "opp-ci.toml").write_text('command = "./fifo"\n[configs.Fifo1]\nsim-time-limit = "1000s"\n')
    result = run_job_on_local_backend(omnetpp_image, repository, "fifo", "make MODE=release -j$(nproc)")
    campaign = uploaded_campaign(repository, result)
    assert campaign["totals"]["total"] == 1 and campaign["totals"]["passed"] == 1


def test_the_worker_image_runs_a_shared_library_model_with_opp_run_l(omnetpp_image, omnetpp_root, tmp_path):
    """The ecs path for INET's shape: built into the image from the official-like base, run inside it as its
    user (the local backend in the image, as `docker run IMAGE run /project`)."""
    context = queuenet_repository(omnetpp_root, tmp_path / "context")
    tag = f"localhost/opp-ci-queuenet:{uuid.uuid4().hex[:8]}"
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o777)
    try:
        run([sys.executable, "-m", "opp_ci", "image", "build", str(context), "--project-dir", "queuenet",
             "--base-image", omnetpp_image, "-t", tag, "--with-dependencies", "--builder", " ".join(BUILDAH),
             "--build-opt=--isolation=chroot", "--build-opt=--layers", *pip_cert_options()],
            timeout=1800, env=without_omnetpp())
        run([*PODMAN_RUN, "--rm", "-v", f"{out}:/out", "-e", "NO_COLOR=1", tag, "run", "/project", "--workers", "2",
             "--out", "/out", "--no-build"], timeout=600)
    finally:
        subprocess.run([*BUILDAH, "rmi", "-f", tag], capture_output=True)
    campaign = json.loads((out / "campaign.json").read_text())
    assert campaign["totals"]["total"] == 2 and campaign["totals"]["passed"] == 2
    assert campaign["omnetpp"]["root"] == "/root/omnetpp"
