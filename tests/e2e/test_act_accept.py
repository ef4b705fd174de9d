"""examples/workflows/accept.yml run by act on an `issue_comment` event (`/opp-ci accept`), for real.

GitHub's API is prism behind the recording proxy (tests/github_api.py), reached through GITHUB_API_URL: it answers
who the commenter is, whose branch the pull request is, and which artifact is the campaign of its head commit.
The campaign artifact is a real campaign whose fingerprint check failed (tests/accept_campaign.py), which the
download-artifact stand-in copies; the pull request's branch lives in a local bare repository, which the checkout
stand-in clones and `git push` pushes to.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from accept_campaign import STORE, mismatching_campaign, recorded_store
from github_api import TOKEN, Recorder, serve_proxy
from projects import copy_standin
from test_act import EXAMPLES, run_act

REPOSITORY = "example/model"
ARTIFACT = "opp-ci-4242-1-run"
PULLS = rf"/repos/{REPOSITORY}/pulls/7"
PERMISSION = rf"/repos/{REPOSITORY}/collaborators/[^/]+/permission"
ARTIFACTS = rf"/repos/{REPOSITORY}/actions/artifacts"
COMMENTS = rf"/repos/{REPOSITORY}/issues/7/comments"

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

#: actions/checkout's stand-in here: the branch `ref` of $ACT_GIT_REMOTE (the bare repository), as `origin`.
CHECKOUT = """\
name: actions/checkout@v4 (test stand-in)
description: fetches the branch REF of $ACT_GIT_REMOTE into the workspace
inputs:
  ref: {required: false, default: ''}
runs:
  using: composite
  steps:
    - shell: bash
      env:
        REF: ${{ inputs.ref }}
      run: |
        echo "checkout $REF" >> "$ACT_TRACE"
        cd "$GITHUB_WORKSPACE" && git init -q && git remote add origin "$ACT_GIT_REMOTE"
        git fetch -q origin "$REF" && git checkout -q -B "$REF" FETCH_HEAD
"""


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), "-c", "user.name=test", "-c", "user.email=test@example.com",
                           *args], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def pull_request_branch(tmp_path: Path) -> tuple[Path, Path, str]:
    """The repository as act runs it (the workflow, `origin` on GitHub), and a bare repository with its branches:
    main, and the pull request's `feature`, whose store expects one wrong fingerprint. Returns (repository, bare
    repository, the head commit of feature)."""
    repo = tmp_path / "repo"
    copy_standin(repo / "simulations", build=False)
    (repo / ".github" / "workflows").mkdir(parents=True)
    shutil.copy(EXAMPLES / "accept.yml", repo / ".github" / "workflows" / "accept.yml")
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    git(repo, "remote", "add", "origin", f"https://github.com/{REPOSITORY}.git")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "model")
    git(repo, "checkout", "-q", "-b", "feature")
    (repo / "simulations" / STORE).write_text(recorded_store(tmp_path))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "a change that changes a fingerprint")
    bare = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    git(repo, "push", "-q", str(bare), "main", "feature")
    return repo, bare, git(repo, "rev-parse", "feature")


def campaign_artifact(tmp_path: Path, repo: Path) -> Path:
    """The campaign of the pull request's head, run on a built copy of it, as the act stand-in's artifact."""
    built = copy_standin(tmp_path / "built")
    shutil.copy(repo / "simulations" / STORE, built / STORE)
    return mismatching_campaign(built, tmp_path / "act_artifacts" / ARTIFACT)


def github_answers(head_repo: str, sha: str, permission: str = "admin") -> dict[tuple[str, str], Any]:
    def pull(reply: dict) -> dict:
        repo = {**(reply["head"].get("repo") or {}), "full_name": head_repo}
        return {**reply, "number": 7, "head": {**reply["head"], "ref": "feature", "sha": sha, "repo": repo}}

    def artifacts(reply: dict) -> dict:
        example = reply["artifacts"][0]
        return {"total_count": 1, "artifacts": [{**example, "name": ARTIFACT, "expired": False,
                                                 "workflow_run": {**example["workflow_run"], "id": 4242,
                                                                  "head_sha": sha}}]}

    return {("GET", PERMISSION): lambda reply: {**reply, "permission": permission}, ("GET", PULLS): pull,
            ("GET", ARTIFACTS): artifacts}


def accept_with_act(act_binary: str, act_stubs: dict[str, Path], tmp_path: Path, prism: int, head_repo: str,
                    permission: str = "admin") -> tuple[Recorder, Path, str]:
    repo, bare, sha = pull_request_branch(tmp_path)
    campaign_artifact(tmp_path, repo)
    event = tmp_path / "event.json"
    event.write_text(json.dumps({
        "action": "created", "issue": {"number": 7, "pull_request": {"url": f"https://api.github.com{PULLS}"}},
        "comment": {"body": "/opp-ci accept", "user": {"login": "maintainer"}},
        "repository": {"full_name": REPOSITORY}}))
    stubs = {**act_stubs, "actions/checkout@v4": tmp_path / "stubs" / "checkout-branch"}
    stubs["actions/checkout@v4"].mkdir(parents=True)
    (stubs["actions/checkout@v4"] / "action.yml").write_text(CHECKOUT)
    recorder = Recorder(prism, generated=[PERMISSION, PULLS], answers=github_answers(head_repo, sha, permission))
    with serve_proxy(recorder) as url:
        result = run_act(act_binary, repo, "issue_comment", "accept.yml", stubs, tmp_path, "-e", str(event),
                         "--env", f"GITHUB_API_URL={url}", "--env", f"ACT_GIT_REMOTE={bare}",
                         "-s", f"GITHUB_TOKEN={TOKEN}")
    refused = permission not in ("admin", "maintain", "write")
    assert (result.returncode != 0) == refused, f"act: exit {result.returncode}, see {tmp_path / 'act.log'}:\n" \
        f"{result.stdout[-5000:]}"
    assert TOKEN not in result.stdout + result.stderr
    return recorder, bare, sha


def without_git_headers(diff: str) -> str:
    """A diff as `git diff` prints it, in the form of baseline-update.patch: no `diff --git`/`index` lines, and
    hunk headers without the function context git adds."""
    lines = [line for line in diff.splitlines() if not line.startswith(("diff --git ", "index "))]
    return "\n".join(re.sub(r"^(@@ [^@]+ @@).*$", r"\1", line) for line in lines) + "\n"


def test_a_maintainers_accept_pushes_one_commit_that_is_the_campaigns_patch(act_binary, act_stubs, tmp_path, prism):
    recorder, bare, head = accept_with_act(act_binary, act_stubs, tmp_path, prism, REPOSITORY)

    assert git(bare, "rev-list", f"{head}..feature").splitlines() == [git(bare, "rev-parse", "feature")]
    pushed = git(bare, "rev-parse", "feature")
    assert git(bare, "log", "-1", "--format=%an <%ae>%n%s", pushed) == (
        "github-actions[bot] <41898282+github-actions[bot]@users.noreply.github.com>\n"
        f"Accept the new fingerprints of {ARTIFACT}")
    diff = git(bare, "diff", "--relative=simulations/", head, pushed)
    patch = (tmp_path / "act_artifacts" / ARTIFACT / "baseline-update.patch").read_text()
    assert without_git_headers(diff) == patch
    assert git(bare, "rev-parse", "main") == git(bare, "rev-parse", f"{head}~1")  # main untouched

    [answer] = recorder.calls("POST", COMMENTS)
    assert answer.status == 201
    assert answer.body["body"].startswith(f"✅ Accepted the new fingerprints (1 row): pushed `{pushed}` to `feature`.")
    trace = (tmp_path / "act_trace").read_text()
    assert f"download-artifact {ARTIFACT} 4242" in trace and "checkout feature" in trace


def test_a_pull_request_from_a_fork_is_answered_with_the_patch_and_nothing_is_pushed(act_binary, act_stubs, tmp_path,
                                                                                     prism):
    recorder, bare, head = accept_with_act(act_binary, act_stubs, tmp_path, prism, "someone/model-fork")

    assert git(bare, "rev-parse", "feature") == head
    [answer] = recorder.calls("POST", COMMENTS)
    assert answer.status == 201 and "comes from a fork" in answer.body["body"]
    patch = (tmp_path / "act_artifacts" / ARTIFACT / "baseline-update.patch").read_text()
    assert f"```diff\n{patch.rstrip()}\n```" in answer.body["body"]
    assert "checkout" not in (tmp_path / "act_trace").read_text()


def test_a_commenter_who_may_only_read_is_refused_with_an_answer(act_binary, act_stubs, tmp_path, prism):
    recorder, bare, head = accept_with_act(act_binary, act_stubs, tmp_path, prism, REPOSITORY, permission="read")

    assert git(bare, "rev-parse", "feature") == head
    [answer] = recorder.calls("POST", COMMENTS)
    assert answer.status == 201
    assert answer.body["body"] == ("@maintainer has read access to example/model: accepting new fingerprints needs "
                                   "write access (admin, maintain or write)")
    trace = (tmp_path / "act_trace").read_text()
    assert "download-artifact" not in trace and "checkout" not in trace
