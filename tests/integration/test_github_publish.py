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

import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from comment_campaign import big_campaign
from ports import free_port, wait_until_ready

from opp_ci import github, output
from opp_ci.records import Campaign, RunRecord, RunStatus
from opp_ci.report import write_reports

ROOT = Path(__file__).resolve().parents[2]
NODE = ROOT / "tests" / "node"  # package.json and package-lock.json pin every JavaScript tool the tests use
PRISM = NODE / "node_modules" / ".bin" / "prism"
SPEC = NODE / "node_modules" / "@octokit" / "openapi" / "generated" / "api.github.com.json"
REPOSITORY = "octocat/Hello-World"
SHA = "d6fde92930d4715a2b49857d24b940956b26d2d3"
TOKEN = "ghs_test-token-never-printed"

pytestmark = pytest.mark.integration


# --- prism and the recording proxy ---


def install_prism() -> None:
    """`npm ci` of tests/node's lockfile, unless tests/run (or an earlier test) did it since the lockfile changed."""
    installed = NODE / "node_modules" / ".package-lock.json"
    if PRISM.exists() and SPEC.exists() and installed.exists() \
            and installed.stat().st_mtime >= (NODE / "package-lock.json").stat().st_mtime:
        return
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed: needed for prism and @octokit/openapi (apt install nodejs npm)")
    done = subprocess.run([npm, "ci", "--engine-strict", "--no-audit", "--no-fund"], cwd=NODE,
                          capture_output=True, text=True, timeout=900)
    if done.returncode:
        pytest.fail(f"npm ci in {NODE} failed:\n{(done.stdout + done.stderr)[-3000:]}", pytrace=False)


def github_answers(port: int) -> bool:
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        connection.request("GET", "/zen", headers={"Authorization": f"token {TOKEN}"})
        connection.getresponse().read()
        return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def prism(tmp_path_factory) -> Iterator[int]:
    """`prism mock` of api.github.com on 127.0.0.1; yields its port."""
    install_prism()
    port = free_port()
    log = tmp_path_factory.mktemp("prism") / "prism.log"
    with open(log, "w") as out:
        process = subprocess.Popen([str(PRISM), "mock", "--errors", "-h", "127.0.0.1", "-p", str(port), str(SPEC)],
                                   stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_until_ready("prism mock", lambda: github_answers(port), process, log, timeout=120)
            yield port
        finally:
            process.terminate()
            process.wait(timeout=20)


@dataclass
class Exchange:
    method: str
    path: str
    body: Any
    status: int


@dataclass
class Recorder:
    upstream_port: int
    exchanges: list[Exchange] = field(default_factory=list)
    comments: dict[str, dict[int, str]] = field(default_factory=dict)  # listing path → {id: body}
    refuse_writes: bool = False  # answer writes as GitHub does for a fork's read-only token

    def calls(self, method: str, pattern: str) -> list[Exchange]:
        return [e for e in self.exchanges if e.method == method and re.fullmatch(pattern, e.path)]

    def remember(self, method: str, path: str, sent: Any, status: int, reply: Any) -> None:
        """Keeps the comments created or edited through the proxy (prism forgets them)."""
        if method == "POST" and status == 201 and re.fullmatch(r"/repos/[^/]+/[^/]+/issues/\d+/comments", path):
            self.comments.setdefault(path, {})[reply["id"]] = sent["body"]
        edited = re.fullmatch(r"(/repos/[^/]+/[^/]+/issues)/comments/(\d+)", path)
        if method == "PATCH" and status == 200 and edited:
            for known in self.comments.values():
                if int(edited[2]) in known:
                    known[int(edited[2])] = sent["body"]

    def overlay(self, method: str, path: str, status: int, reply: Any) -> Any:
        """The example listing of a PR's comments, with the comments made earlier in front."""
        known = self.comments.get(path)
        if method != "GET" or status != 200 or not known or not isinstance(reply, list) or not reply:
            return reply
        made = [{**reply[0], "id": comment_id, "body": body} for comment_id, body in known.items()]
        return made + reply


def proxy_handler(recorder: Recorder) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else None
            if recorder.refuse_writes and self.command != "GET":
                self.refuse()
                return
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "accept-encoding")}
            upstream = http.client.HTTPConnection("127.0.0.1", recorder.upstream_port, timeout=60)
            upstream.request(self.command, self.path, body=raw, headers=headers)
            response = upstream.getresponse()
            data = response.read()
            path = self.path.split("?")[0]
            sent = json.loads(raw) if raw else None
            reply = json.loads(data) if data and "json" in (response.getheader("Content-Type") or "") else None
            recorder.exchanges.append(Exchange(self.command, path, sent, response.status))
            if reply is not None:
                recorder.remember(self.command, path, sent, response.status, reply)
                data = json.dumps(recorder.overlay(self.command, path, response.status, reply)).encode()
            self.send_response(response.status)
            for name, value in response.getheaders():
                # prism's example Link header points at a made-up https://api.github.com/resource?page=2
                if name.lower() not in ("content-length", "transfer-encoding", "connection", "link"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def refuse(self) -> None:
            data = json.dumps({"message": "Resource not accessible by integration", "status": "403"}).encode()
            self.send_response(403)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = forward

    return Handler


@pytest.fixture
def api(prism) -> Iterator[tuple[str, Recorder]]:
    """The recording proxy in front of prism: yields (base URL, recorder)."""
    recorder = Recorder(prism)
    server = ThreadingHTTPServer(("127.0.0.1", 0), proxy_handler(recorder))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", recorder
    finally:
        server.shutdown()
        server.server_close()


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
