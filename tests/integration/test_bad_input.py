"""The bad-input catalogue: every case is refused with exit 2 and one line that names the problem
(no traceback), and leaves nothing running and nothing in TMPDIR.

Each case is (id, setup, argv, expected words). `setup(project, tmp)` prepares the project copy and
returns extra context; argv may use {project}, {tmp} and {redis} (a live private Redis URL).
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import pytest

pytestmark = pytest.mark.integration

RECORD = {"config": "Quick", "run": 0, "job_id": "opp-ci-x", "status": "passed", "execution": "passed"}


def nothing(project: Path, tmp: Path) -> None:
    return None


def write(relative: str, content: str | bytes, mode: int | None = None) -> Callable[[Path, Path], None]:
    """A setup writing `content` to {tmp}/relative or, for a path starting with 'project/', into the project."""
    def setup(project: Path, tmp: Path) -> None:
        path = (project / relative.removeprefix("project/")) if relative.startswith("project/") else tmp / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        (path.write_bytes if isinstance(content, bytes) else path.write_text)(content)
        if mode is not None:
            path.chmod(mode)
    return setup


def toml(extra: str) -> Callable[[Path, Path], None]:
    def setup(project: Path, tmp: Path) -> None:
        spec = project / "opp-ci.toml"
        spec.write_text(extra + "\n" + spec.read_text())  # at the top: before the [configs.*] tables
    return setup


def campaign_file(content: str) -> Callable[[Path, Path], None]:
    """An output directory of opp-ci's (its manifest) whose campaign.json is `content`."""
    def setup(project: Path, tmp: Path) -> None:
        (tmp / "out").mkdir()
        (tmp / "out" / "campaign.json").write_text(content)
        (tmp / "out" / ".opp-ci-manifest.json").write_text(json.dumps({"entries": ["campaign.json"]}))
    return setup


def locked_out(project: Path, tmp: Path):
    """{tmp}/out held by a live campaign (this test process holds its lock)."""
    (tmp / "out").mkdir()
    handle = open(tmp / "out" / ".opp-ci-lock", "w")  # noqa: SIM115 (held until the test ends)
    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


RUN = ["run", "{project}", "-c", "Quick", "-j", "1", "-o", "{tmp}/out"]

CASES = [
    ("out-below-a-file", write("afile", "x"), ["run", "{project}", "-c", "Quick", "-o", "{tmp}/afile/out"],
     ["--out", "parent", "file"]),
    ("out-is-a-file", write("out", "x"), RUN, ["--out", "file"]),
    ("out-holds-omnetpp-results", write("out/results/General-#0.sca", "version 3\n"), RUN,
     ["results", "not written by opp-ci", "another --out"]),
    ("out-holds-foreign-summary", write("out/summary.md", "# mine\n"), RUN, ["summary.md", "not written by opp-ci"]),
    ("out-is-the-project-with-results", write("project/results/x.sca", "x"),
     ["run", "{project}", "-c", "Quick", "-o", "{project}"], ["results", "not written by opp-ci"]),
    ("out-locked-by-live-campaign", locked_out, RUN, ["in use by another opp-ci campaign", "pid"]),
    ("resume-into-locked-out", locked_out, [*RUN, "--resume"], ["in use by another opp-ci campaign"]),
    ("resume-with-empty-list", campaign_file("[]"), [*RUN, "--resume"], ["campaign.json", "resume"]),
    ("resume-with-corrupt-json", campaign_file("{not json"), [*RUN, "--resume"], ["campaign.json", "resume"]),
    ("resume-with-record-without-run",
     campaign_file(json.dumps({"campaign": "c", "runs": [{k: v for k, v in RECORD.items() if k != "run"}]})),
     [*RUN, "--resume"], ["campaign.json", "resume"]),
    ("report-on-record-without-run",
     campaign_file(json.dumps({"campaign": "c", "runs": [{k: v for k, v in RECORD.items() if k != "run"}]})),
     ["report", "{tmp}/out"], ["campaign.json", "output directory"]),
    ("report-on-empty-list", campaign_file("[]"), ["report", "{tmp}/out"], ["campaign.json"]),
    ("compare-record-without-run",
     campaign_file(json.dumps({"campaign": "c", "runs": [{k: v for k, v in RECORD.items() if k != "run"}]})),
     ["compare", "{tmp}/out", "{tmp}/out"], ["campaign.json"]),
    # a record's fields are typed: a wrong type was a traceback (report) or went unnoticed (resume)
    ("resume-with-wall-seconds-not-a-number", campaign_file(json.dumps({"campaign": "c", "runs": [
        {**RECORD, "wall_seconds": "x"}]})), [*RUN, "--resume"],
     ["campaign.json", "resume", "run record 1 of 1 is malformed: wall_seconds is not a number"]),
    ("report-with-wall-seconds-not-a-number", campaign_file(json.dumps({"campaign": "c", "runs": [
        {**RECORD, "wall_seconds": "x"}]})), ["report", "{tmp}/out"],
     ["campaign.json", "wall_seconds is not a number"]),
    ("baseline-update-from-a-malformed-campaign", campaign_file(json.dumps({"campaign": "c", "runs": [
        {**RECORD, "wall_seconds": "x"}]})), ["baseline", "update", "{project}", "--from", "{tmp}/out"],
     ["campaign.json", "wall_seconds is not a number"]),
    ("report-with-result-file-outside", campaign_file(json.dumps({"campaign": "c", "runs": [
        {**RECORD, "result_files": ["../../etc/shadow"]}]})), ["report", "{tmp}/out"],
     ["campaign.json", "result_files[0] is not a relative path inside the output directory"]),
    ("compare-with-unknown-verdict", campaign_file(json.dumps({"campaign": "c", "runs": [
        {**RECORD, "verdicts": [{"check": "comparison", "judgement": "maybe"}]}]})),
     ["compare", "{tmp}/out", "{tmp}/out"], ["campaign.json", "judgement is not one of"]),
    ("toml-not-utf8", write("project/opp-ci.toml", b'command = "./standin"\n# \xff\xfe caf\xe9\n'),
     ["run", "{project}", "-c", "Quick", "-o", "{tmp}/out"], ["opp-ci.toml"]),
    ("command-unbalanced-quote", toml(""), ["run", "{project}", "-c", "Quick", "--command", "./standin 'oops",
                                             "-o", "{tmp}/out"], ["command"]),
    ("script-without-shebang", write("project/noshebang", "echo hello\n", 0o755),
     ["run", "{project}", "-c", "Quick", "--command", "./noshebang", "-o", "{tmp}/out"], ["#!"]),
    ("command-not-found", nothing, ["run", "{project}", "-c", "Quick", "--command", "./nope", "-o", "{tmp}/out"],
     ["not found"]),
    ("command-not-executable", write("project/plain", "#!/bin/sh\n", 0o644),
     ["run", "{project}", "-c", "Quick", "--command", "./plain", "-o", "{tmp}/out"], ["not executable"]),
    ("arg-result-dir", nothing, [*RUN, "--arg=--result-dir=/tmp/elsewhere"], ["--result-dir", "not allowed"]),
    ("arg-load-libs", nothing, [*RUN, "--arg=--load-libs=evil"], ["--load-libs", "not allowed"]),
    ("arg-output-file", nothing, [*RUN, "--arg=--cmdenv-output-file=/tmp/x"], ["not allowed"]),
    ("arg-without-value", nothing, [*RUN, "--arg=--foo"], ["--foo"]),
    ("ini-outside-project", write("outside.ini", "[General]\n"),
     ["run", "{project}", "-c", "Quick", "-f", "omnetpp.ini", "-f", "../outside.ini", "-o", "{tmp}/out"],
     ["ini"]),
    ("timeout-30-days", nothing, [*RUN, "--timeout", "30d"], ["timeout", "limit"]),
    ("timeout-not-a-duration", nothing, [*RUN, "--timeout", "soon"], ["timeout", "duration"]),
    ("timeout-zero", nothing, [*RUN, "--timeout", "0s"], ["timeout"]),
    ("log-limit-not-a-size", toml('log-limit = "lots"'), RUN, ["log-limit", "size"]),
    ("log-limit-too-small", toml("log-limit = 100"), RUN, ["log-limit"]),
    ("memory-limit-negative", toml("memory-limit = -1"), RUN, ["memory-limit"]),
    ("result-limit-wrong-kind", toml("result-limit = true"), RUN, ["result-limit"]),
    ("github-output-below-a-file", write("afile", "x"), [*RUN, "--github-output", "{tmp}/afile/out"],
     ["--github-output"]),
    ("github-output-is-a-directory", nothing, [*RUN, "--github-output", "{tmp}"], ["--github-output"]),
    ("unknown-config", nothing, ["run", "{project}", "-c", "NoSuchConfig", "-o", "{tmp}/out"], ["NoSuchConfig"]),
    ("broken-ini", nothing, ["run", "{project}", "-c", "Quick", "-f", "broken.ini", "-o", "{tmp}/out"],
     ["broken.ini"]),
    ("negative-workers", nothing, ["run", "{project}", "-c", "Quick", "-j", "-1", "-o", "{tmp}/out"], ["workers"]),
    ("redis-url-malformed", nothing, [*RUN, "--redis-url", "http://nowhere"], ["redis"]),
    ("redis-url-unreachable", nothing, [*RUN, "--redis-url", "redis://127.0.0.1:1/0"], ["cannot reach redis"]),
    ("redis-wrong-password", nothing, [*RUN, "--redis-url", "{badredis}"], ["cannot reach redis"]),
    ("worker-redis-down", nothing, ["worker", "--redis-url", "redis://127.0.0.1:1/0", "--project", "{project}"],
     ["cannot reach redis"]),
    ("worker-wrong-password", nothing, ["worker", "--redis-url", "{badredis}", "--project", "{project}"],
     ["cannot reach redis", "***"]),
    # redis-py honours a password given as a query parameter: it is a secret like the userinfo's
    ("redis-url-query-password-unreachable", nothing, [*RUN, "--redis-url", "redis://127.0.0.1:1/0?password=hunter2"],
     ["cannot reach redis", "password=***"]),
    ("rediss-url-query-secrets-unreachable", nothing,
     [*RUN, "--redis-url", "rediss://127.0.0.1:1/0?ssl_password=hunter2&token=hunter2"],
     ["cannot reach redis", "ssl_password=***", "token=***"]),
    ("worker-wrong-query-password", nothing, ["worker", "--redis-url", "{badredisquery}", "--project", "{project}"],
     ["cannot reach redis", "password=***"]),
    ("unknown-key-in-toml", toml("timout = 5"), RUN, ["timout", "did you mean"]),
    # the runs' files come from one store, never from one a worker's reply names
    ("workers-elsewhere-without-store", nothing, [*RUN, "--workers", "0", "--redis-url", "redis://127.0.0.1:1/0"],
     ["--workers 0", "--store"]),
    ("store-with-own-workers", nothing, [*RUN, "--store", "{tmp}/store"], ["--store", "starts its own", "--workers 0"]),
    ("store-of-unknown-scheme", nothing,
     [*RUN, "--workers", "0", "--redis-url", "redis://127.0.0.1:1/0", "--store", "ftp://host/dir"],
     ["unknown scheme 'ftp'"]),
]


@pytest.fixture(scope="module")
def bad_redis(tmp_path_factory):
    """The URL of a live Redis with a wrong password."""
    from opp_ci.backends.local import start_redis, stop_process_tree

    server = start_redis(tmp_path_factory.mktemp("redis"))
    parsed = urlparse(server.url)
    yield urlunparse(parsed._replace(netloc=f":wrong-password@{parsed.hostname}:{parsed.port}"))
    stop_process_tree(server.process.pid)


def _password_in_query(url: str) -> str:
    """The same Redis URL with its password as a `?password=` query parameter."""
    parsed = urlparse(url)
    return urlunparse(parsed._replace(netloc=f"{parsed.hostname}:{parsed.port}", query=f"password={parsed.password}"))


@pytest.mark.parametrize(("setup", "argv", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2(setup, argv, words, standin_project, tmp_path, tagged, bad_redis):
    work, temp = tmp_path / "work", tmp_path / "tmpdir"
    work.mkdir()
    temp.mkdir()
    held = setup(standin_project, work)
    values = {"project": str(standin_project), "tmp": str(work), "badredis": bad_redis,
              "badredisquery": _password_in_query(bad_redis)}
    done = tagged.run(*[a.format(**values) for a in argv], timeout=120, TMPDIR=str(temp))
    if held is not None:
        held.close()
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert len(lines) == 1 and lines[0].startswith("opp-ci: error: "), done.stderr
    for word in words:
        assert word.lower() in lines[0].lower(), lines[0]
    assert "wrong-password" not in done.stderr + done.stdout and "hunter2" not in done.stderr + done.stdout
    assert tagged.alive() == []
    assert list(temp.iterdir()) == []


def test_catalogue_has_at_least_30_cases():
    assert len(CASES) >= 30
