"""GitHub's REST API for the tests: `prism mock` serving @octokit/openapi's api.github.com description, which
rejects any request that does not match it (wrong path, method, body or types) with 4xx, and a recording
proxy in front of it (tests/integration/test_github_publish.py says why; tests/node/README.md how prism is
installed). The proxy keeps what prism cannot (it is stateless and answers with examples): the comments made
on a pull request, and the replies a test sets (`Recorder.answers`: the parts of prism's example that the test
depends on, e.g. whose pull request it is)."""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from ports import free_port, wait_until_ready

ROOT = Path(__file__).resolve().parents[1]
NODE = ROOT / "tests" / "node"  # package.json and package-lock.json pin every JavaScript tool the tests use
PRISM = NODE / "node_modules" / ".bin" / "prism"
SPEC = NODE / "node_modules" / "@octokit" / "openapi" / "generated" / "api.github.com.json"
TOKEN = "ghs_test-token-never-printed"


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


@contextlib.contextmanager
def start_prism(directory: Path) -> Iterator[int]:
    """`prism mock` of api.github.com on 127.0.0.1, its log in `directory`; yields its port."""
    install_prism()
    port = free_port()
    log = directory / "prism.log"
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
    #: Paths whose replies prism generates from the schema instead of its example (some of @octokit/openapi's
    #: examples do not match their own schema, which prism --errors refuses with 500).
    generated: list[str] = field(default_factory=list)
    #: (method, path pattern) → a function from prism's example reply to the reply the test needs
    answers: dict[tuple[str, str], Callable[[Any], Any]] = field(default_factory=dict)

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
        for (answered, pattern), answer in self.answers.items():
            if answered == method and status < 300 and re.fullmatch(pattern, path):
                reply = answer(reply)
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
            if any(re.fullmatch(pattern, self.path.split("?")[0]) for pattern in recorder.generated):
                headers["Prefer"] = "dynamic=true"
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


@contextlib.contextmanager
def serve_proxy(recorder: Recorder) -> Iterator[str]:
    """The recording proxy in front of prism; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), proxy_handler(recorder))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
