"""opp-ci's GitHub output, checked against GitHub's own API description.

PyGithub talks to `prism mock` serving @octokit/openapi's api.github.com description, which rejects
any request that does not match the description (wrong path, method, body or types) with 4xx.
Between the two sits a small recording proxy: it forwards every request to prism unchanged, records
method, path, body and prism's status, and keeps the one piece of state prism cannot (it is
stateless and answers with examples): the comments created on a pull request, which it adds to
prism's example listing. It drops prism's example `Link` header, which points at a made-up
`https://api.github.com/resource?page=2`. So the second publish really finds the first one's comment by its marker,
and the test asserts the PATCH prism accepted, and that no second comment was POSTed.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from comment_campaign import big_campaign
from github_api import TOKEN, Recorder, serve_proxy

from opp_ci import github, output
from opp_ci.records import Campaign, RunRecord, RunStatus
from opp_ci.report import write_reports

REPOSITORY = "octocat/Hello-World"
SHA = "d6fde92930d4715a2b49857d24b940956b26d2d3"

pytestmark = pytest.mark.integration


# --- prism and the recording proxy (tests/github_api.py) ---


@pytest.fixture
def api(prism) -> Iterator[tuple[str, Recorder]]:
    """The recording proxy in front of prism: yields (base URL, recorder)."""
    recorder = Recorder(prism)
    with serve_proxy(recorder) as url:
        yield url, recorder


# --- campaigns ---


def make_campaign(out_dir: Path, failed: int, passed: int = 3) -> Path:
    runs = [RunRecord(config="General", run=i, status=RunStatus.PASSED, log=f"logs/General-{i}.log")
            for i in range(passed)]
    runs += [RunRecord(config="Broken", run=i, status=RunStatus.FAILED, exit_code=1,
                       error=f"Error in module (Sink) net.sink (id={i}): bad parameter ✗ " + "x" * 70000,
                       log=f"logs/Broken-{i}.log", log_tail="line\n" * 10)
             for i in range(failed)]
    campaign = Campaign(campaign="c-test", runs=runs, wall_seconds=1.5)
    out_dir.mkdir(parents=True, exist_ok=True)
    campaign.write(out_dir)
    write_reports(campaign, out_dir)
    return out_dir


def context(api_url: str, tmp_path: Path, pr: int | None = None) -> github.GitHubContext:
    return github.GitHubContext(repository=REPOSITORY, sha=SHA, pr=pr, api_url=api_url, token=TOKEN,
                                step_summary=tmp_path / "step_summary.md", output=tmp_path / "output")


# --- against prism ---


def test_check_run_with_annotations_in_batches_of_50(api, tmp_path):
    url, recorder = api
    out = make_campaign(tmp_path / "out", failed=120)
    done = github.publish(out, context(url, tmp_path), workspace=tmp_path)

    create = recorder.calls("POST", rf"/repos/{REPOSITORY}/check-runs")
    assert [e.status for e in create] == [201]
    assert create[0].body["conclusion"] == "failure" and create[0].body["head_sha"] == SHA
    assert create[0].body["output"]["title"] == "3/123 runs passed (120 failed, 0 timed out, 0 errors)"
    updates = recorder.calls("PATCH", rf"/repos/{REPOSITORY}/check-runs/{done.check_run_id}")
    assert [e.status for e in updates] == [200, 200]
    sizes = [len(e.body["output"]["annotations"]) for e in create + updates]
    assert sizes == [50, 50, 20]
    first = create[0].body["output"]["annotations"][0]
    assert first["path"] == "out/logs/Broken-0.log" and first["annotation_level"] == "failure"
    assert len(first["message"].encode()) <= github.ANNOTATION_MESSAGE_BYTES
    assert not recorder.calls("POST", r".*/comments")  # not a pull request


def test_pr_comment_is_created_then_edited_in_place(api, tmp_path):
    url, recorder = api
    out = make_campaign(tmp_path / "out", failed=1)
    first = github.publish(out, context(url, tmp_path, pr=7), artifact_url="https://example.com/a/1")
    posted = recorder.calls("POST", rf"/repos/{REPOSITORY}/issues/7/comments")
    assert [e.status for e in posted] == [201] and not first.comment_edited
    assert posted[0].body["body"].startswith(github.COMMENT_MARKER)
    assert "https://example.com/a/1" in posted[0].body["body"]

    recorder.exchanges.clear()
    make_campaign(out, failed=0)  # the next push fixed it
    second = github.publish(out, context(url, tmp_path, pr=7))
    assert second.comment_edited and second.comment_id == first.comment_id
    edits = recorder.calls("PATCH", rf"/repos/{REPOSITORY}/issues/comments/{first.comment_id}")
    assert [e.status for e in edits] == [200]
    assert "all runs passed" in edits[0].body["body"] and edits[0].body["body"].startswith(github.COMMENT_MARKER)
    assert not recorder.calls("POST", r".*/comments")


def test_the_comment_of_a_2000_run_regression_is_accepted_whole(api, tmp_path):
    """GitHub's limit is on the body as sent: the comment of 2,000 regressed runs (failures first, the comparison
    by metric and parameter point, its charts) reaches the API within 65,536 characters, uncut."""
    url, recorder = api
    out = tmp_path / "out"
    out.mkdir()
    campaign = big_campaign(2000)
    campaign.write(out)
    write_reports(campaign, out)
    github.publish(out, context(url, tmp_path, pr=11), artifact_url="https://example.com/a/2")
    [posted] = recorder.calls("POST", rf"/repos/{REPOSITORY}/issues/11/comments")
    body = posted.body["body"]
    assert posted.status == 201 and len(body) <= github.COMMENT_CHARS
    assert "Truncated" not in body and body.index("### Runs that did not pass (2000)") < body.index("```mermaid")
    assert body.rstrip().endswith("[artifact](https://example.com/a/2)")


def test_cli_publishes_from_the_github_environment(api, tmp_path):
    url, recorder = api
    out = make_campaign(tmp_path / "out", failed=2)
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 9, "head": {"sha": SHA}}}))
    env = {**os.environ, "GITHUB_TOKEN": TOKEN, "GITHUB_REPOSITORY": REPOSITORY, "GITHUB_SHA": "f" * 40,
           "GITHUB_EVENT_PATH": str(event), "GITHUB_API_URL": url,
           "GITHUB_STEP_SUMMARY": str(tmp_path / "summary"), "GITHUB_OUTPUT": str(tmp_path / "output")}
    result = subprocess.run([sys.executable, "-m", "opp_ci", "publish", str(out), "--check-name", "sims"],
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert TOKEN not in result.stdout + result.stderr
    check = recorder.calls("POST", rf"/repos/{REPOSITORY}/check-runs")[0].body
    assert check["name"] == "sims" and check["head_sha"] == SHA  # the PR head, not the merge commit
    assert recorder.calls("POST", rf"/repos/{REPOSITORY}/issues/9/comments")
    assert "❌" in (tmp_path / "summary").read_text()
    assert re.search(r"^check-run-id=\d+$", (tmp_path / "output").read_text(), re.M)


def test_cli_reports_a_refusal_without_a_traceback(api, tmp_path):
    url, recorder = api
    recorder.refuse_writes = True  # a pull request from a fork: the token is read-only
    out = make_campaign(tmp_path / "out", failed=1)
    env = {**os.environ, "GITHUB_TOKEN": TOKEN, "GITHUB_REPOSITORY": REPOSITORY, "GITHUB_SHA": SHA,
           "GITHUB_STEP_SUMMARY": str(tmp_path / "summary"), "GITHUB_ACTIONS": "true"}
    result = subprocess.run([sys.executable, "-m", "opp_ci", "publish", str(out), "--api-url", url],
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "::error::GitHub API refused the publication (403): Resource not accessible" in result.stderr
    assert (tmp_path / "summary").read_text()  # the job summary was still written


# --- GitHub's limits, without a server ---


def test_step_summary_is_cut_cleanly_under_one_mebibyte(tmp_path):
    text = "".join(f"| row {i} | ✅ passed |\n" for i in range(80000))
    assert len(text.encode()) > github.STEP_SUMMARY_BYTES
    github.write_step_summary(tmp_path / "s", text)
    written = (tmp_path / "s").read_text()
    assert len(written.encode()) <= github.STEP_SUMMARY_BYTES
    body, note = written.rsplit("\n\n> ✂️", 1)
    assert body.endswith("|\n") and "Truncated" in note


def test_cut_bytes_never_splits_a_character():
    cut = github.cut_bytes("é" * 100, 51)
    assert cut == "é" * 25


def test_workflow_commands_and_outputs_are_escaped(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    output.error("50% failed\nsee log", file="a,b:c")
    with output.group("runs"):
        pass
    assert capsys.readouterr().err.splitlines() == [
        "::error file=a%2Cb%3Ac::50%25 failed%0Asee log", "::group::runs", "::endgroup::"]
    github.write_outputs(tmp_path / "o", {"one": 1, "many": "a\nb"})
    lines = (tmp_path / "o").read_text().splitlines()
    assert lines[0] == "one=1" and lines[1].startswith("many<<") and lines[2:4] == ["a", "b"]
    assert lines[4] == lines[1].split("<<")[1]


def test_without_a_token_only_the_step_summary_is_written(tmp_path, capsys):
    out = make_campaign(tmp_path / "out", failed=0)
    done = github.publish(out, github.GitHubContext(step_summary=tmp_path / "s"))
    assert done.summary_written and done.check_run_id is None
    assert "warning: opp-ci publish: no GITHUB_TOKEN" in capsys.readouterr().err
