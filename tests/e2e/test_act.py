"""The example callers and the reusable workflow, run for real by act on this machine.

act runs the jobs on the host (`-P ubuntu-latest=-self-hosted`), the opp-ci actions come from a copy
of this checkout (`--local-repository opp-ci/opp-ci@v1=COPY`, `opp_ci_for_act`), and remote actions are
local stand-ins (tests/e2e/conftest.py): upload/download-artifact copy directories, setup-python saves the job's
step summary, and the AWS and Docker actions fail the job if they run at all.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from projects import copy_standin

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "workflows"

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1500)]


#: act here has no Docker: the run job runs on this machine instead of inside the OMNeT++ base image
#: (the input a runner with OMNeT++ of its own would use; tests/e2e/test_image_build.py runs the image).
ON_THE_RUNNER = {"    with:\n": "    with:\n      run-in-image: false\n"}


def make_repository(path: Path, workflow: str, renames: dict[str, str] | None = None) -> Path:
    """A git repository like a user's: the stand-in simulation in simulations/, unbuilt (its executable
    is not committed, so the workflow must build it), and one example workflow, with the example's config
    names replaced by the stand-in's (`renames`)."""
    copy_standin(path / "simulations", build=False)
    assert not (path / "simulations" / "standin").exists()
    (path / ".github" / "workflows").mkdir(parents=True)
    text = (EXAMPLES / workflow).read_text()
    for old, new in {**ON_THE_RUNNER, **(renames or {})}.items():
        assert old in text
        text = text.replace(old, new)
    (path / ".github" / "workflows" / workflow).write_text(text)
    git = ["git", "-C", str(path), "-c", "user.name=test", "-c", "user.email=test@example.com"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    subprocess.run([*git, "remote", "add", "origin", "https://github.com/example/model.git"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "model"], check=True)
    return path


#: What act 0.2.89 cannot parse in the reusable workflow, though GitHub evaluates it: an expression as
#: `strategy.max-parallel` ("strconv.Atoi: parsing ${{ inputs.max-parallel }}").
ACT_CANNOT_PARSE = "      max-parallel: ${{ inputs.max-parallel }}\n"


def opp_ci_for_act(work: Path) -> Path:
    """This checkout as act gets it (`opp-ci/opp-ci@v1`): what the actions install and the workflow, without the
    one line act cannot parse."""
    copy = work / "opp-ci"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(".git", ".venv", "node_modules", "tests", "benchmarks",
                                                               "*.egg-info", "__pycache__", "opp-ci-out", "build"))
    workflow = copy / ".github" / "workflows" / "campaign.yml"
    text = workflow.read_text()
    assert text.count(ACT_CANNOT_PARSE) == 1
    workflow.write_text(text.replace(ACT_CANNOT_PARSE, ""))
    return copy


def run_act(act: str, repo: Path, event: str, workflow: str, stubs: dict[str, Path], work: Path,
            *extra: str, path_prefix: Path | None = None) -> subprocess.CompletedProcess:
    command = [act, event, "-W", f".github/workflows/{workflow}", "-P", "ubuntu-latest=-self-hosted",
               "--local-repository", f"opp-ci/opp-ci@v1={opp_ci_for_act(work)}"]
    for ref, directory in stubs.items():
        command += ["--local-repository", f"{ref}={directory}"]
    for name in ("ACT_ARTIFACTS", "ACT_SUMMARIES", "ACT_TRACE"):
        command += ["--env", f"{name}={work / name.lower()}"]
    env = {**os.environ, "XDG_CACHE_HOME": str(work / "cache"),
           "PIP_CACHE_DIR": str(Path.home() / ".cache" / "pip")}
    if path_prefix:
        env["PATH"] = f"{path_prefix}:{env['PATH']}"
    (work / "act_trace").touch()
    result = subprocess.run([*command, *extra], cwd=repo, env=env, capture_output=True, text=True, timeout=1400)
    (work / "act.log").write_text(result.stdout + result.stderr)
    return result


def the_one(directory: Path, pattern: str) -> Path:
    found = sorted(directory.glob(pattern))
    assert len(found) == 1, f"expected one {pattern} in {directory}, found {found}"
    return found[0]


def assert_campaign_published(work: Path, result: subprocess.CompletedProcess) -> None:
    log = work / "act.log"
    assert result.returncode == 0, f"act failed, see {log}:\n{result.stdout[-4000:]}{result.stderr[-2000:]}"
    artifact = the_one(work / "act_artifacts", "opp-ci-*-run")
    for name in ("campaign.json", "junit.xml", "summary.md", "results", "logs"):
        assert (artifact / name).exists(), f"{name} missing from the artifact {artifact}"
    campaign = json.loads((artifact / "campaign.json").read_text())
    assert campaign["totals"]["total"] > 0
    assert campaign["totals"]["passed"] == campaign["totals"]["total"]
    assert "<testsuite" in (artifact / "junit.xml").read_text()
    summary = (work / "act_summaries" / "publish.md").read_text()
    assert (artifact / "summary.md").read_text().splitlines()[0] in summary
    trace = (work / "act_trace").read_text()
    assert "aws-actions" not in trace and "docker/" not in trace, trace
    assert "download-artifact" in trace
    assert_built_once_before_the_runs(result.stdout)


def assert_built_once_before_the_runs(log: str) -> None:
    """The run job built the model (the Makefile's one command), once, before the first run started."""
    lines = log.splitlines()
    built = [i for i, line in enumerate(lines) if "cp standin.py standin.tmp" in line]
    assert len(built) == 1, f"expected one build of the stand-in, found {len(built)}"
    progress = [i for i, line in enumerate(lines) if "runs done" in line or "runs passed" in line]
    assert progress and built[0] < progress[0]


def test_push_example_builds_the_model_and_runs_it_on_the_local_backend(act_binary, act_stubs, tmp_path):
    repo = make_repository(tmp_path / "repo", "campaign-on-push.yml",
                           {"backend: ecs": "backend: local", "workers: '16'": "workers: '2'"})
    result = run_act(act_binary, repo, "push", "campaign-on-push.yml", act_stubs, tmp_path)
    assert_campaign_published(tmp_path, result)
    assert "Job 'build'" not in result.stdout
    assert "cache opp-ci-ccache-local-simulations-" in (tmp_path / "act_trace").read_text()


def test_pull_request_from_a_fork_gets_no_credentials_and_runs_locally(act_binary, act_stubs, tmp_path):
    repo = make_repository(tmp_path / "repo", "pull-request.yml", {"configs: PureAloha1": "configs: AlohaExperiment"})
    event = tmp_path / "event.json"
    event.write_text(json.dumps({
        "pull_request": {"number": 7, "head": {"sha": "0" * 40, "ref": "feature",
                                                "repo": {"full_name": "someone/model-fork"}},
                         "base": {"ref": "main", "repo": {"full_name": "example/model"}}},
        "repository": {"full_name": "example/model"},
    }))
    # The base branch's last campaign: an artifact of an earlier run (id 4242, which a stand-in `gh`
    # names), made here by the same campaign on the unchanged model.
    baseline = tmp_path / "act_artifacts" / "opp-ci-4242-1-run"
    made = subprocess.run([str(Path(sys.executable).parent / "opp-ci"), "run", str(copy_standin(tmp_path / "base")),
                           "--config", "AlohaExperiment", "--runs", "0..3", "--workers", "2", "--out", str(baseline)],
                          capture_output=True, text=True, timeout=300)
    assert made.returncode == 0, made.stderr
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    # The base branch's newest completed runs (any conclusion): 4243 left no campaign artifact (its build failed),
    # 4242 did; the workflow takes the newest that has one.
    (fake_bin / "gh").write_text(
        '#!/bin/sh\n'
        'case "$*" in\n'
        '  "run list "*"--status completed"*) printf "4243\\n4242\\n" ;;\n'
        '  "api repos/example/model/actions/runs/4243/artifacts "*) echo build-log ;;\n'
        '  "api repos/example/model/actions/runs/4242/artifacts "*) printf "opp-ci-4242-1-run\\n" ;;\n'
        '  *) exit 1 ;;\n'
        'esac\n')
    (fake_bin / "gh").chmod(0o755)

    result = run_act(act_binary, repo, "pull_request", "pull-request.yml", act_stubs, tmp_path,
                     "-e", str(event), "--var", "OPP_CI_AWS_ROLE=arn:aws:iam::123456789012:role/opp-ci",
                     path_prefix=fake_bin)
    shutil.rmtree(baseline)  # so that the artifact checks below see this run's artifact only
    assert_campaign_published(tmp_path, result)
    assert "set-output:: backend=local" in result.stdout
    assert "download-artifact opp-ci-*-run 4242" in (tmp_path / "act_trace").read_text()
    summary = (tmp_path / "act_summaries" / "publish.md").read_text()
    assert "Comparison with the baseline: ✅ no regressions" in summary
    assert "4 runs compared" in summary


def test_dispatch_with_three_shards_builds_once_runs_three_shards_and_publishes_one_report(act_binary, act_stubs,
                                                                                          tmp_path):
    """The dispatch example with `shards: 3` on the local backend: build-model builds and packs the model once,
    three run jobs each unpack it and run one shard without building, merge joins them into the one artifact
    publish reports. (The push and pull-request examples run the unsharded local path.)"""
    repo = make_repository(tmp_path / "repo", "dispatch.yml")
    result = run_act(act_binary, repo, "workflow_dispatch", "dispatch.yml", act_stubs, tmp_path,
                     "--input", "backend=local", "--input", "workers=2", "--input", "shards=3",
                     "--input", "configs=Quick AlohaExperiment")
    assert_campaign_published(tmp_path, result)  # the merged artifact, its summary published once
    assert "Job 'build'" not in result.stdout  # skipped: no image on the local backend
    artifacts = tmp_path / "act_artifacts"
    assert (the_one(artifacts, "opp-ci-*-model") / "model.tar").is_file()
    shards = sorted(artifacts.glob("opp-ci-*-shard-*"))
    assert [p.name.rsplit("-", 1)[1] for p in shards] == ["1", "2", "3"]
    merged = json.loads((the_one(artifacts, "opp-ci-*-run") / "campaign.json").read_text())
    by_shard = {i: {(r["config"], r["run"]) for r in merged["runs"] if r["shard"] == i} for i in (1, 2, 3)}
    assert all(by_shard.values()) and sum(map(len, by_shard.values())) == len(merged["runs"]) == 9
    for index, shard in enumerate(shards, 1):  # each shard ran its own runs, and nothing else
        own = json.loads((shard / "campaign.json").read_text())
        assert {(r["config"], r["run"]) for r in own["runs"]} == by_shard[index]
    trace = (tmp_path / "act_trace").read_text()
    assert trace.count("upload-artifact opp-ci-") == 5  # model, three shards, the merged campaign
    assert "cache restore opp-ci-history-simulations-" in trace  # once, for build-model to pack with the model
    assert trace.count("cache opp-ci-history-simulations-") == 1  # merge saves the merged history; shards none
