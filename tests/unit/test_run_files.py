"""What a run's files are, and what a reply or campaign.json may say (issue 22): regular files inside the
run's result directory only, nothing reached through a link, no link shared with a file elsewhere; every
field of a reply or record checked against its type in one place."""

from __future__ import annotations

import json
import os
import re
import time

import pytest

from opp_ci.collection import other_store_hint
from opp_ci.records import Campaign, MalformedRecord, RunRecord, RunStatus, read_worker_reply
from opp_ci.run_files import own_files
from opp_ci.store import DirectoryStore, NotCollected, with_retries


@pytest.fixture
def secret(tmp_path):
    path = tmp_path / "runner" / "shadow"
    path.parent.mkdir()
    path.write_text("root:*:19000:0:99999:7:::\n")
    return path


def scratch_of_a_run(path):
    (path / "results").mkdir(parents=True)
    (path / "results" / "a.sca").write_text("version 3\n")
    (path / "log.txt").write_text("the run's output\n")
    return path


# --- the worker: what it leaves for the store ---


def test_links_and_what_is_no_regular_file_are_removed_and_named(tmp_path, secret):
    scratch = scratch_of_a_run(tmp_path / "scratch")
    results = scratch / "results"
    (results / "x.sca").symlink_to(secret)
    (results / "sub").mkdir()
    (results / "sub" / "to-dir").symlink_to(secret.parent)
    os.mkfifo(results / "pipe.vec")

    refused = own_files(scratch)

    assert sorted(refused) == ["results/pipe.vec is not a regular file: not collected",
                               "results/sub/to-dir is a symbolic link: not collected",
                               "results/x.sca is a symbolic link: not collected"]
    assert sorted(p.relative_to(scratch).as_posix() for p in scratch.rglob("*")) == [
        "log.txt", "results", "results/a.sca", "results/sub"]
    assert secret.read_text().startswith("root:")


def test_a_hard_link_to_a_file_elsewhere_is_removed_and_links_among_results_become_copies(tmp_path, secret):
    scratch = scratch_of_a_run(tmp_path / "scratch")
    results = scratch / "results"
    os.link(secret, results / "x.sca")
    os.link(results / "a.sca", results / "b.sca")

    refused = own_files(scratch)

    assert refused == ["results/x.sca is a hard link to a file outside results: not collected"]
    assert not (results / "x.sca").exists() and secret.stat().st_nlink == 1
    assert (results / "a.sca").stat().st_nlink == 1 and (results / "b.sca").stat().st_nlink == 1
    assert (results / "b.sca").read_text() == "version 3\n"


def test_a_result_directory_or_log_replaced_by_a_link_is_neither_followed_nor_kept(tmp_path, secret):
    scratch = scratch_of_a_run(tmp_path / "scratch")
    (secret.parent / "General-#0.sca").write_text("version 3\n")
    for name in ("results", "log.txt"):
        os.rename(scratch / name, tmp_path / f"gone-{name}")
    (scratch / "results").symlink_to(secret.parent)
    (scratch / "log.txt").symlink_to(secret)
    (scratch / "stray.sca").write_text("beside the results")

    refused = own_files(scratch)

    assert refused == ["the run's log (log.txt) was replaced by a symbolic link: not collected",
                       "results is a symbolic link: not collected"]
    assert (scratch / "results").is_dir() and not (scratch / "results").is_symlink()
    assert list((scratch / "results").iterdir()) == [] and (scratch / "log.txt").read_text() == ""
    assert not (scratch / "stray.sca").exists()
    assert sorted(p.name for p in secret.parent.iterdir()) == ["General-#0.sca", "shadow"]


def test_a_runs_own_files_are_left_as_they_are(tmp_path):
    scratch = scratch_of_a_run(tmp_path / "scratch")
    inode = (scratch / "results" / "a.sca").stat().st_ino

    assert own_files(scratch) == []
    assert (scratch / "results" / "a.sca").stat().st_ino == inode


# --- the orchestrator: what it takes from a store ---


def store_holding(tmp_path, move_out=False):
    store = DirectoryStore(tmp_path / "store", move_out)
    store.upload_dir(scratch_of_a_run(tmp_path / "scratch"), "job-1")
    return store, tmp_path / "store" / "job-1" / "results"


@pytest.mark.parametrize("move_out", [False, True])
def test_a_link_in_the_store_is_not_followed(tmp_path, secret, move_out):
    store, results = store_holding(tmp_path, move_out)
    (results / "x.sca").symlink_to(secret)

    with pytest.raises(NotCollected, match=r"^results/x\.sca is a symbolic link: not collected$"):
        store.download("job-1/results", ["a.sca", "x.sca"], tmp_path / "out")

    assert (tmp_path / "out" / "a.sca").is_file() and not (tmp_path / "out" / "x.sca").exists()


@pytest.mark.parametrize("move_out", [False, True])
def test_a_store_directory_replaced_by_a_link_gives_nothing_away(tmp_path, secret, move_out):
    store, results = store_holding(tmp_path, move_out)
    results.rename(tmp_path / "moved")
    results.symlink_to(secret.parent)

    with pytest.raises(NotCollected, match=r"^results is a symbolic link: not collected$"):
        store.download("job-1/results", ["shadow"], tmp_path / "out")

    assert secret.exists() and secret.stat().st_nlink == 1 and not (tmp_path / "out" / "shadow").exists()


@pytest.mark.parametrize("move_out", [False, True])
def test_a_file_with_another_link_is_copied_never_linked_or_moved(tmp_path, secret, move_out):
    store, results = store_holding(tmp_path, move_out)
    os.link(secret, results / "x.sca")

    store.download("job-1/results", ["x.sca"], tmp_path / "out")

    assert (tmp_path / "out" / "x.sca").stat().st_ino != secret.stat().st_ino
    assert secret.exists() and (tmp_path / "out" / "x.sca").read_text() == secret.read_text()


def test_a_file_that_is_not_in_the_store_is_reported_at_once_not_retried(tmp_path):
    store, _results = store_holding(tmp_path, move_out=True)
    started = time.monotonic()

    with pytest.raises(NotCollected, match=r"^results/nothing\.sca is not in the store$"):
        with_retries(lambda: store.download("job-1/results", ["nothing.sca"], tmp_path / "out"))
    with pytest.raises(NotCollected, match=r"^results/a\.sca is not in the store$"):
        with_retries(lambda: store.download("job-2/results", ["a.sca"], tmp_path / "out"))

    assert time.monotonic() - started < 0.5  # the store's backoff waits 30 s


def test_a_fifo_in_the_store_does_not_block(tmp_path):
    store, results = store_holding(tmp_path)
    os.mkfifo(results / "x.vec")

    with pytest.raises(NotCollected, match=r"^results/x\.vec is not a regular file: not collected$"):
        store.download("job-1/results", ["x.vec"], tmp_path / "out")


def test_another_store_a_reply_names_is_only_mentioned(tmp_path):
    own = DirectoryStore(tmp_path / "own", move_out=True)

    assert other_store_hint(own, None) == other_store_hint(own, own.url) == ""
    assert other_store_hint(own, "s3://u:secret@b/p") == (
        f" (its worker put them in s3://u:***@b/p, not {own.url}: is --store the workers'?)")


# --- replies and campaign.json: parsed into typed values in one place ---

GOOD = {"status": "passed", "exit_code": 0, "wall_seconds": 1, "cpu_seconds": 0.5, "result_files": ["a.sca"],
        "log": "log.txt", "events": 12, "sim_time": "600s", "something_new": [1, 2]}


def test_a_well_formed_reply_is_typed():
    outcome, store = read_worker_reply({"outcome": GOOD, "store": "file:///s"})

    assert outcome.status is RunStatus.PASSED and outcome.wall_seconds == 1.0 and isinstance(outcome.wall_seconds,
                                                                                              float)
    assert outcome.result_files == ["a.sca"] and outcome.events == 12 and store == "file:///s"


@pytest.mark.parametrize(("change", "message"), [
    ({"wall_seconds": "x"}, "wall_seconds is not a number"),
    ({"wall_seconds": True}, "wall_seconds is not a number"),
    ({"wall_seconds": float("nan")}, "wall_seconds is not a finite number"),
    ({"cpu_seconds": -1}, "cpu_seconds is not zero or more"),
    ({"exit_code": 1.5}, "exit_code is not an integer"),
    ({"status": "fine"}, "status is not one of passed, failed, error, timeout"),
    ({"fingerprint": 3}, "fingerprint is not one of none, verified, mismatch"),
    ({"status": ["passed"]}, "status is not one of"),
    ({"result_files": "a.sca"}, "result_files is not a list"),
    ({"result_files": [1]}, "result_files[0] is not a string"),
    ({"result_files": ["../../etc/shadow"]}, "result_files[0] is not a relative path inside the output directory"),
    ({"result_files": ["/etc/shadow"]}, "result_files[0] is not a relative path"),
    ({"log": "a/../../b"}, "log is not a relative path"),
    ({"error": {"x": 1}}, "error is not a string"),
])
def test_a_malformed_reply_says_which_field_is_wrong(change, message):
    with pytest.raises(MalformedRecord) as raised:
        read_worker_reply({"outcome": {**GOOD, **change}, "store": None})
    assert str(raised.value).startswith(f"the worker's reply is malformed: {message}")


@pytest.mark.parametrize(("reply", "message"), [
    ("passed", "the worker returned str, not a run outcome"),
    ({"outcome": GOOD, "store": 5}, "the worker's reply is malformed: store is not a string"),
])
def test_a_reply_that_is_no_reply_is_refused(reply, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        read_worker_reply(reply)


RECORD = {"config": "Quick", "run": 0, "job_id": "opp-ci-x", "status": "failed", "execution": "passed",
          "verdicts": [{"check": "comparison", "judgement": "fail", "message": "m", "file": "results/a.sca"}],
          "itervars": {"numHosts": "10"}, "suite_row": "examples.csv:12", "result_files": ["results/a.sca"]}


def test_a_record_of_campaign_json_round_trips_typed():
    record = RunRecord.from_json(RECORD)

    assert record.execution is RunStatus.PASSED and record.status is RunStatus.FAILED
    assert record.verdicts[0].judgement.value == "fail" and record.key[:2] == ("examples.csv", "00000012")
    assert RunRecord.from_json(record.to_json()) == record


@pytest.mark.parametrize(("change", "message"), [
    ({"run": "0"}, "run is not an integer"),
    ({"run": None}, "run is not an integer"),
    ({"itervars": {"numHosts": 10}}, "itervars.numHosts is not a string"),
    ({"verdicts": [{"check": "c", "judgement": "maybe"}]}, "verdicts[0]: judgement is not one of pass, fail"),
    ({"verdicts": ["x"]}, "verdicts[0]: it is a string, not an object"),
    ({"verdicts": [{"check": "c", "judgement": "fail", "file": "../x"}]}, "verdicts[0]: file is not a relative"),
    ({"suite_row": "examples.csv"}, "suite_row is not FILE:LINE"),
    ({"failed_attempts": [{"at": 1}]}, "failed_attempts[0].at is not a string"),
    ({"execution": "maybe"}, "execution is not one of passed"),
])
def test_a_malformed_record_says_which_field_is_wrong(change, message):
    with pytest.raises(MalformedRecord, match="^" + re.escape(message)):
        RunRecord.from_json({**RECORD, **change})


def test_a_record_without_its_run_number_is_malformed():
    with pytest.raises(MalformedRecord, match=r"^run is missing$"):
        RunRecord.from_json({k: v for k, v in RECORD.items() if k != "run"})


@pytest.mark.parametrize(("campaign", "message"), [
    ({"campaign": "c", "runs": [RECORD, {**RECORD, "wall_seconds": "x"}]},
     "run record 2 of 2 is malformed: wall_seconds is not a number"),
    ({"campaign": "c", "wall_seconds": "long", "runs": []}, "wall_seconds is not a number"),
    ({"campaign": ["c"], "runs": []}, "campaign is not a string"),
    ({"campaign": "c", "command": "./sim", "runs": []}, "command is not a list"),
])
def test_a_malformed_campaign_file_is_one_value_error(tmp_path, campaign, message):
    (tmp_path / "campaign.json").write_text(json.dumps(campaign))

    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        Campaign.read(tmp_path)
