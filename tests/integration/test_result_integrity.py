"""Nothing outside a run leaves through its results (issue 22): a simulation that leaves links among its
results, a store whose directories are links, and a worker's reply that names another store, fields of the
wrong type or files that are not there. The simulations are the stand-in behind a wrapper that does the
harm after the run; the replies come from a worker process that answers every job with a crafted reply."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

#: Runs the stand-in, then does to its result directory what the project's `harm` file says.
HARMFUL_SIMULATION = """#!/bin/sh
./standin "$@"; code=$?
for arg in "$@"; do case "$arg" in --result-dir=*) dir="${arg#--result-dir=}";; esac; done
[ -n "$dir" ] || exit $code
secret="$(cat secret-path)"
case "$(cat harm)" in
  link-a-file) rm -f "$dir"/*.sca; ln -s "$secret" "$dir/x.sca";;
  hard-link-a-file) rm -f "$dir"/*.sca; ln "$secret" "$dir/x.sca";;
  link-the-result-dir) rm -rf "$dir"; ln -s "$(dirname "$secret")" "$dir";;
  link-the-log) rm -f "$dir/../log.txt"; ln -s "$secret" "$dir/../log.txt";;
  write-beside-the-results) echo stray > "$dir/../stray.sca";;
  link-the-run-directory) run="$(dirname "$dir")"; mv "$run" "$run.gone"; ln -s "$(dirname "$secret")" "$run";;
esac
exit $code
"""

#: A worker that answers every job with the reply in the JSON file it is given, after making the links that
#: file asks for ("{prefix}" stands for the job's store prefix).
CRAFTED_WORKER = """
import json, os, sys
from pathlib import Path

from redis import Redis
from rq.serializers import JSONSerializer

from opp_ci.queue import make_queue
from opp_ci.worker import RunWorker

spec = json.loads(Path(sys.argv[1]).read_text())


def answer(run):
    for link, target in spec["links"].items():
        path = Path(link.replace("{prefix}", run["prefix"]))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.symlink_to(target)
    return json.loads(json.dumps(spec["reply"]).replace("{prefix}", run["prefix"]))


def execute(payload):
    if payload.get("kind") == "batch":
        return {"batch": [answer(run) for run in payload["runs"]]}
    return answer(payload)


class Crafted:
    execute = staticmethod(execute)  # what RunJob calls: the worker's executor's


redis = Redis.from_url(os.environ["OPP_CI_REDIS_URL"])
worker = RunWorker([make_queue(redis)], connection=redis, serializer=JSONSerializer)
worker.executor = Crafted()
worker.work(logging_level="WARNING")
"""


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    """A file of the runner's that no run may give away: its text must appear in no output."""
    path = tmp_path / "runner" / "shadow"
    path.parent.mkdir()
    path.write_text(f"root:*:{uuid.uuid4().hex}:0:99999:7:::\n")
    return path


@pytest.fixture
def harmful(standin_project: Path, secret: Path) -> Path:
    (standin_project / "harmful").write_text(HARMFUL_SIMULATION)
    (standin_project / "harmful").chmod(0o755)
    (standin_project / "secret-path").write_text(str(secret))
    return standin_project


def run_with_harm(tagged, project: Path, harm: str, out: Path, *extra: str):
    (project / "harm").write_text(harm)
    return tagged.run("run", str(project), "--command", "./harmful", "-c", "Quick", "-j", "1", "-o", str(out), *extra)


def only_record(out: Path) -> dict:
    [record] = json.loads((out / "campaign.json").read_text())["runs"]
    return record


def outputs_text(out: Path) -> str:
    return "".join((out / name).read_text() for name in ("campaign.json", "junit.xml", "summary.md"))


def links_in(out: Path) -> list[Path]:
    return [path for path in out.rglob("*") if path.is_symlink()]


def test_a_result_file_linked_to_a_file_of_the_runner_is_not_collected_and_its_text_quoted_nowhere(
        harmful, secret, tagged, tmp_path):
    baseline = tmp_path / "baseline"
    assert run_with_harm(tagged, harmful, "none", baseline).returncode == 0
    out = tmp_path / "out"

    done = run_with_harm(tagged, harmful, "link-a-file", out, "--baseline", str(baseline))

    assert done.returncode == 1, done.stderr
    record = only_record(out)
    assert record["status"] == "failed"
    assert record["error"] == "results/x.sca is a symbolic link: not collected"
    assert "results/x.sca" not in record["result_files"] and record["result_files"]  # the run's own files are
    assert secret.read_text().strip() not in outputs_text(out)  # was quoted: "expected 'version' before 'root:*:…'"
    assert links_in(out) == []
    assert tagged.alive() == []


def test_a_result_file_hard_linked_to_a_file_of_the_runner_is_not_collected(harmful, secret, tagged, tmp_path):
    out = tmp_path / "out"

    done = run_with_harm(tagged, harmful, "hard-link-a-file", out)

    assert done.returncode == 1, done.stderr
    assert only_record(out)["error"] == "results/x.sca is a hard link to a file outside results: not collected"
    assert secret.stat().st_nlink == 1  # was 2: OUT/results/x.sca was the runner's file itself
    assert all(path.stat().st_ino != secret.stat().st_ino for path in out.rglob("*"))


def test_a_result_directory_replaced_by_a_link_is_neither_followed_nor_moved(harmful, secret, tagged, tmp_path):
    (secret.parent / "General-#0.sca").write_text("version 3\n")
    out = tmp_path / "out"

    done = run_with_harm(tagged, harmful, "link-the-result-dir", out)

    assert done.returncode == 1, done.stderr  # passed, with no files, before
    record = only_record(out)
    assert record["error"] == "results is a symbolic link: not collected" and record["result_files"] == []
    assert sorted(p.name for p in secret.parent.iterdir()) == ["General-#0.sca", "shadow"]
    assert links_in(out) == [] and not (out / "results" / "General-#0.sca").exists()


def test_a_run_directory_replaced_by_a_link_is_not_touched(harmful, secret, tagged, tmp_path):
    (secret.parent / "log.txt").write_text("not the run's log")
    out = tmp_path / "out"

    done = run_with_harm(tagged, harmful, "link-the-run-directory", out)

    assert done.returncode == 1, done.stderr
    record = only_record(out)
    assert record["error"].startswith("the run replaced the directory of its results and log (run-")
    assert record["result_files"] == [] and record["log"] is None
    assert sorted(p.name for p in secret.parent.iterdir()) == ["log.txt", "shadow"]
    assert secret.read_text().strip() not in outputs_text(out) and links_in(out) == []


def test_a_log_replaced_by_a_link_is_not_read(harmful, secret, tagged, tmp_path):
    out = tmp_path / "out"

    done = run_with_harm(tagged, harmful, "link-the-log", out)

    assert done.returncode == 1, done.stderr
    assert only_record(out)["error"] == "the run's log (log.txt) was replaced by a symbolic link: not collected"
    assert secret.read_text().strip() not in outputs_text(out)  # was the record's log_tail
    assert links_in(out) == []  # logs/Quick-0.log was a link to the secret


def test_a_file_written_beside_the_results_is_dropped_at_once(harmful, tagged, tmp_path):
    out = tmp_path / "out"
    started = time.monotonic()

    done = run_with_harm(tagged, harmful, "write-beside-the-results", out)

    assert done.returncode == 0, done.stderr  # an error after 32 s before: stray.sca was named, and not there
    assert time.monotonic() - started < 20
    record = only_record(out)
    assert record["status"] == "passed" and "results/stray.sca" not in record["result_files"]


# --- replies of a worker's: the orchestrator takes no store, no type and no file name on trust ---


def campaign_with_crafted_worker(tagged, project: Path, redis_url: str, out: Path, spec: dict, *extra: str):
    """A campaign whose only worker answers every run with `spec["reply"]` (`--workers 0`: workers of its
    own would take the jobs first); its store (`--store`) is `out`'s sibling `store`."""
    (out.parent / "crafted-worker.py").write_text(CRAFTED_WORKER)
    (out.parent / "crafted-reply.json").write_text(json.dumps({"links": {}, **spec}))
    worker = subprocess.Popen([sys.executable, str(out.parent / "crafted-worker.py"),
                               str(out.parent / "crafted-reply.json")], env=tagged.env(OPP_CI_REDIS_URL=redis_url),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        started = time.monotonic()
        done = tagged.run("run", str(project), "--workers", "0", "--redis-url", redis_url, "--store",
                          str(out.parent / "store"), "-c", "Quick", "-o", str(out), *extra)
        return done, time.monotonic() - started
    finally:
        worker.terminate()
        worker.communicate(timeout=30)


def reply(**outcome) -> dict:
    return {"outcome": {"status": "passed", "exit_code": 0, "wall_seconds": 0.1, "log": None, **outcome},
            "store": None}


def test_a_store_directory_replaced_by_a_link_moves_nothing_out_of_where_it_points(
        standin_project, secret, tagged, tmp_path, redis_server):
    (secret.parent / "General-#0.sca").write_text("version 3\n")
    out = tmp_path / "out"
    spec = {"links": {f"{tmp_path}/store/{{prefix}}/results": str(secret.parent)},
            "reply": reply(result_files=["General-#0.sca"])}

    done, _ = campaign_with_crafted_worker(tagged, standin_project, redis_server.url, out, spec)

    assert done.returncode == 1, done.stderr
    assert only_record(out)["error"] == "could not collect the run's files: results is a symbolic link: not collected"
    assert (secret.parent / "General-#0.sca").read_text() == "version 3\n"  # was moved into OUT/results/
    assert not (out / "results" / "General-#0.sca").exists()


def test_a_store_a_reply_names_is_never_opened(standin_project, secret, tagged, tmp_path, redis_server):
    elsewhere = tmp_path / "elsewhere"
    out = tmp_path / "out"
    spec = {"links": {f"{elsewhere}/{{prefix}}/results": str(secret.parent)},
            "reply": {**reply(result_files=["shadow"]), "store": elsewhere.as_uri()}}

    done, _ = campaign_with_crafted_worker(tagged, standin_project, redis_server.url, out, spec)

    assert done.returncode == 1, done.stderr
    assert only_record(out)["error"] == (
        f"could not collect the run's files: results/shadow is not in the store (its worker put them in "
        f"{elsewhere.as_uri()}, not {(tmp_path / 'store').as_uri()}: is --store the workers'?)")
    assert secret.stat().st_nlink == 1 and not (out / "results" / "shadow").exists()  # was a hard link to it


@pytest.mark.parametrize(("outcome", "message"), [
    ({"wall_seconds": "x"}, "wall_seconds is not a number"),
    ({"status": "fine"}, "status is not one of passed, failed, error, timeout"),
    ({"result_files": ["../../../etc/passwd"]}, "result_files[0] is not a relative path inside the output directory"),
    ({"verdicts": "ignored", "itervars": "ignored", "events": "many"}, "events is not an integer"),
])
def test_a_malformed_reply_is_its_runs_error_not_a_traceback(standin_project, tagged, tmp_path, redis_server,
                                                            outcome, message):
    out = tmp_path / "out"

    done, _ = campaign_with_crafted_worker(tagged, standin_project, redis_server.url, out, {"reply": reply(**outcome)})

    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    record = only_record(out)
    assert record["status"] == "error" and record["error"] == f"the worker's reply is malformed: {message}"
    assert (out / "junit.xml").is_file() and (out / "summary.md").is_file()


def test_a_result_file_the_store_does_not_hold_is_reported_at_once(standin_project, tagged, tmp_path, redis_server):
    out = tmp_path / "out"
    spec = {"reply": reply(result_files=["nothing.sca", "nothing.vec"])}

    done, seconds = campaign_with_crafted_worker(tagged, standin_project, redis_server.url, out, spec,
                                                 "-c", "AlohaExperiment")

    assert done.returncode == 1, done.stderr
    records = json.loads((out / "campaign.json").read_text())["runs"]
    assert len(records) == 9
    assert {r["error"] for r in records} == {"could not collect the run's files: results/nothing.sca is not in the "
                                              "store; results/nothing.vec is not in the store"}
    assert seconds < 30  # 30 s per run before (the store's backoff): 4.5 minutes for these 9 runs


def test_a_baseline_whose_result_file_is_a_link_is_not_read(standin_project, tmp_path):
    """An output directory of an older opp-ci may hold a link among its results: comparing with it quotes
    nothing of what the link reaches."""
    import subprocess
    import sys

    secret = tmp_path / "secret"
    secret.write_text("root:*:19000:0:99999:7:::\n")
    base, candidate = tmp_path / "base", tmp_path / "candidate"
    for out in (base, candidate):
        done = subprocess.run([sys.executable, "-m", "opp_ci", "run", str(standin_project), "-c", "Quick", "-o",
                               str(out)], capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
    [sca] = sorted((base / "results").glob("*.sca"))
    sca.unlink()
    sca.symlink_to(secret)
    done = subprocess.run([sys.executable, "-m", "opp_ci", "compare", str(base), str(candidate)],
                          capture_output=True, text=True, timeout=300)
    texts = [done.stdout, done.stderr, *(p.read_text() for p in (candidate / "campaign.json",
                                                                 candidate / "summary.md", candidate / "junit.xml"))]
    assert not any("root:*" in text for text in texts)
    assert "symbolic link" in (candidate / "campaign.json").read_text()
