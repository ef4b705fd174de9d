"""`opp-ci accept check` and `opp-ci accept reply` against GitHub's API description: prism behind the recording
proxy (tests/github_api.py), which answers the parts of prism's examples the commands depend on (the commenter's
permission, the pull request's head, the repository's artifacts). Every request must match the description."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from accept_campaign import RUNS, STORE, mismatching_campaign, opp_ci, recorded_store
from github_api import TOKEN, Recorder, serve_proxy
from projects import copy_standin

REPOSITORY = "example/model"
SHA = "d6fde92930d4715a2b49857d24b940956b26d2d3"
OTHER_SHA = "1" * 40
PULLS = rf"/repos/{REPOSITORY}/pulls/7"
PERMISSION = rf"/repos/{REPOSITORY}/collaborators/[^/]+/permission"
ARTIFACTS = rf"/repos/{REPOSITORY}/actions/artifacts"

pytestmark = pytest.mark.integration


@pytest.fixture
def api(prism) -> Iterator[tuple[str, Recorder]]:
    # The examples of these two do not match their schema (no `role_name`; `requested_teams` items incomplete).
    recorder = Recorder(prism, generated=[PERMISSION, PULLS])
    with serve_proxy(recorder) as url:
        yield url, recorder


@pytest.fixture(scope="module")
def campaign(tmp_path_factory) -> Path:
    """A campaign artifact whose fingerprint check failed, with its baseline-update.patch."""
    tmp = tmp_path_factory.mktemp("campaign")
    project = copy_standin(tmp / "model")
    (project / STORE).write_text(recorded_store(tmp))
    return mismatching_campaign(project, tmp / "out")


def github_answers(permission: str, head_repo: str) -> dict[tuple[str, str], Any]:
    """Who the commenter is, whose branch the pull request is, and the repository's artifacts (newest first:
    another commit's campaign, then this commit's second and first attempt, and an artifact of another job)."""
    def pull(reply: dict) -> dict:
        repo = {**(reply["head"].get("repo") or {}), "full_name": head_repo}
        head = {**reply["head"], "ref": "feature", "sha": SHA, "repo": repo}
        return {**reply, "number": 7, "head": head}

    def artifacts(reply: dict) -> dict:
        example = reply["artifacts"][0]
        made = [{**example, "id": index, "name": name, "expired": False,
                 "workflow_run": {**example["workflow_run"], "id": int(name.split("-")[2]) if "-run" in name else 9,
                                  "head_sha": sha}}
                for index, (name, sha) in enumerate([("opp-ci-4243-1-run", OTHER_SHA), ("opp-ci-4242-2-run", SHA),
                                                     ("opp-ci-4242-1-run", SHA), ("coverage", SHA)], 1)]
        return {"total_count": len(made), "artifacts": made}

    return {("GET", PERMISSION): lambda reply: {**reply, "permission": permission},
            ("GET", PULLS): pull, ("GET", ARTIFACTS): artifacts}


def accept(tmp_path: Path, url: str, *args: str, body: str = "/opp-ci accept") -> subprocess.CompletedProcess:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({
        "action": "created", "issue": {"number": 7, "pull_request": {"url": f"{url}{PULLS}"}},
        "comment": {"body": body, "user": {"login": "maintainer"}}, "repository": {"full_name": REPOSITORY}}))
    env = {**os.environ, "GITHUB_TOKEN": TOKEN, "GITHUB_EVENT_PATH": str(event), "GITHUB_API_URL": url,
           "GITHUB_REPOSITORY": REPOSITORY, "GITHUB_OUTPUT": str(tmp_path / "output")}
    done = subprocess.run([sys.executable, "-m", "opp_ci", "accept", *args], env=env, capture_output=True, text=True,
                          timeout=120)
    assert TOKEN not in done.stdout + done.stderr
    return done


def outputs(tmp_path: Path) -> dict[str, str]:
    lines = (tmp_path / "output").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines)


def test_check_lets_a_writer_accept_and_finds_the_newest_campaign_artifact_of_the_head(api, tmp_path):
    url, recorder = api
    recorder.answers = github_answers("write", REPOSITORY)
    done = accept(tmp_path, url, "check")
    assert done.returncode == 0, done.stderr
    assert outputs(tmp_path) == {"pr": "7", "head-ref": "feature", "head-repo": REPOSITORY, "head-sha": SHA,
                                 "same-repo": "true", "run-id": "4242", "artifact": "opp-ci-4242-2-run"}
    for pattern in (PERMISSION, PULLS, ARTIFACTS):
        assert [e.status for e in recorder.calls("GET", pattern)] == [200], pattern
    assert not [e for e in recorder.exchanges if e.method != "GET"]


def test_check_refuses_a_commenter_who_may_only_read(api, tmp_path):
    url, recorder = api
    recorder.answers = github_answers("read", REPOSITORY)
    done = accept(tmp_path, url, "check")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "@maintainer has read access to example/model: accepting new fingerprints needs write access" in done.stderr
    assert outputs(tmp_path)["problem"].startswith("@maintainer has read access")
    assert not recorder.calls("GET", PULLS) and not recorder.calls("GET", ARTIFACTS)


def test_check_of_a_comment_that_is_no_accept_asks_nothing(api, tmp_path):
    url, recorder = api
    done = accept(tmp_path, url, "check", body="/opp-ci acceptable?")
    assert done.returncode == 2
    assert done.stderr.strip().endswith("the comment does not start with /opp-ci accept: nothing to accept")
    assert not recorder.exchanges


def test_a_fork_gets_the_patch_as_the_answer(api, tmp_path, campaign):
    url, recorder = api
    recorder.answers = github_answers("admin", "someone/model-fork")
    assert accept(tmp_path, url, "check").returncode == 0
    assert outputs(tmp_path)["same-repo"] == "false"

    done = accept(tmp_path, url, "reply", "--from", str(campaign))
    assert done.returncode == 0, done.stderr
    [posted] = recorder.calls("POST", rf"/repos/{REPOSITORY}/issues/7/comments")
    assert posted.status == 201
    body = posted.body["body"]
    assert "comes from a fork" in body and "<details><summary>The patch (1 row)</summary>" in body
    patch = (campaign / "baseline-update.patch").read_text()
    assert f"```diff\n{patch.rstrip()}\n```" in body
    assert '+      "fingerprint": "0bad-cafe"' not in patch and '-      "fingerprint": "0bad-cafe"' in patch


def test_a_push_is_answered_with_its_commit(api, tmp_path, campaign):
    url, recorder = api
    done = accept(tmp_path, url, "reply", "--from", str(campaign), "--pushed", "c0ffee1", "--branch", "feature")
    assert done.returncode == 0, done.stderr
    [posted] = recorder.calls("POST", rf"/repos/{REPOSITORY}/issues/7/comments")
    assert posted.status == 201
    assert posted.body["body"].startswith("✅ Accepted the new fingerprints (1 row): pushed `c0ffee1` to `feature`.")


def test_merged_shards_propose_the_patch_one_campaign_proposes(tmp_path):
    """`opp-ci merge` has the shards' output directories only (the merge job checks nothing out): its patch over
    all runs is the one campaign's, with both changed fingerprints, one from each shard."""
    project = copy_standin(tmp_path / "model")
    store = json.loads(recorded_store(tmp_path))
    store["fingerprints"][0]["fingerprint"] = "0bad-0000"  # runs 0 and 1 wrong: shards 1/2 and 2/2 have one each
    (project / STORE).write_text(json.dumps(store, indent=2) + "\n")
    for index in (1, 2):
        opp_ci("run", str(project), *RUNS, "--workers", "1", "--check", "fingerprints", "--shard", f"{index}/2",
               "--out", str(tmp_path / f"shard{index}"), expect=(1,))
        assert json.loads((tmp_path / f"shard{index}" / "campaign.json").read_text())["baseline_update"]["rows"] == 1
    opp_ci("merge", str(tmp_path / "shard1"), str(tmp_path / "shard2"), "--out", str(tmp_path / "merged"),
           expect=(1,))
    one = mismatching_campaign(project, tmp_path / "one")

    patch = (tmp_path / "merged" / "baseline-update.patch").read_text()
    assert patch == (one / "baseline-update.patch").read_text()
    assert patch.count('\n-      "fingerprint": "0bad-') == 2
    assert json.loads((tmp_path / "merged" / "campaign.json").read_text())["baseline_update"]["rows"] == 2
    assert "Accept the new fingerprints (2 rows)" in (tmp_path / "merged" / "summary.md").read_text()
