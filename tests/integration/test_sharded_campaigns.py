"""Sharded campaigns through the CLI (real redis-server, real workers, the stand-in): `run --shard I/N` over
the stand-in suite and a stand-in campaign, `opp-ci merge` against the unsharded campaign, a re-run shard, a
missing shard, `opp-ci plan`, and bad input (exit 2, one line, nothing started)."""

from __future__ import annotations

import contextlib
import json
import shutil
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import psutil
import pytest
from projects import copy_standin

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
#: What differs between a shard's run and the unsharded campaign's: timings, where it ran, the shard.
VARYING = {"wall_seconds", "cpu_seconds", "worker", "shard", "log_tail"}


@pytest.fixture
def suite(tmp_path: Path) -> Path:
    copy_standin(tmp_path / "standin", build=False)  # `opp-ci run` builds it with the suite's build command
    shutil.copytree(ROOT / "examples" / "suite", tmp_path / "suite")
    return tmp_path / "suite"


def campaign(out: Path) -> dict:
    return json.loads((out / "campaign.json").read_text())


def comparable(out: Path) -> list[dict]:
    return [{k: v for k, v in run.items() if k not in VARYING} for run in campaign(out)["runs"]]


def identities(out: Path) -> list[str]:
    return sorted(f"{r['suite_row']} {r['repeat']}" if r["suite_row"] else f"{r['config']} {r['run']}"
                  for r in campaign(out)["runs"])


def junit(out: Path) -> list[tuple]:
    cases = ET.parse(out / "junit.xml").getroot().iter("testcase")
    return [(c.get("classname"), c.get("name"), [child.tag for child in c if child.tag != "system-out"])
            for c in cases]


def run_shards(tagged, project: Path, tmp: Path, count: int, *more: str) -> list[Path]:
    outs = []
    for index in range(1, count + 1):
        out = tmp / f"shard{index}"
        done = tagged.run("run", str(project), "-j", "2", "--shard", f"{index}/{count}", "-o", str(out), *more)
        assert done.returncode in (0, 1), done.stderr
        outs.append(out)
    return outs


def assert_merged_equals(merged: Path, unsharded: Path) -> None:
    assert comparable(merged) == comparable(unsharded)
    assert junit(merged) == junit(unsharded)
    for key in ("totals", "suite"):
        assert campaign(merged).get(key) == campaign(unsharded).get(key), key
    for run in campaign(merged)["runs"]:
        assert all((merged / f).is_file() for f in run["result_files"]) and (merged / run["log"]).is_file()
    summary = (merged / "summary.md").read_text().split("### Slowest runs")[0].splitlines()[1:]
    assert summary[:3] == (unsharded / "summary.md").read_text().splitlines()[1:4]  # the heading names the campaign
    history = json.loads((merged / ".opp-ci-history.json").read_text())["wall_seconds"]
    assert set(history) == set(json.loads((unsharded / ".opp-ci-history.json").read_text())["wall_seconds"])


def test_suite_shards_cover_every_row_once_and_merge_into_the_unsharded_campaign(suite, tagged, tmp_path):
    full = tmp_path / "full"
    assert tagged.run("run", str(suite), "-j", "2", "-o", str(full)).returncode == 0
    shards = run_shards(tagged, suite, tmp_path, 3, "--history", str(full / ".opp-ci-history.json"))
    parts = [identities(out) for out in shards]
    assert all(parts) and sorted(i for part in parts for i in part) == identities(full)
    for index, out in enumerate(shards, 1):
        info = campaign(out)["shard"]
        assert (info["index"], info["count"]) == (index, 3) and len(info["runs"]) == len(identities(full))
        assert {r["shard"] for r in campaign(out)["runs"]} == {index}
    merged = tmp_path / "merged"
    done = tagged.run("merge", *map(str, shards), "--out", str(merged))
    assert done.returncode == 0, done.stderr
    assert_merged_equals(merged, full)
    assert sorted({r["shard"] for r in campaign(merged)["runs"]}) == [1, 2, 3]
    downloaded = tmp_path / "downloaded"  # as a workflow's merge job gets them: one directory per artifact
    for index, out in enumerate(shards, 1):
        shutil.copytree(out, downloaded / f"opp-ci-1-1-shard-{index}")
    assert tagged.run("merge", "--from", str(downloaded), "--out", str(tmp_path / "from")).returncode == 0
    assert_merged_equals(tmp_path / "from", full)
    (tmp_path / "nothing").mkdir()
    done = tagged.run("merge", "--from", str(tmp_path / "nothing"), "--out", str(tmp_path / "none"))
    assert done.returncode == 2 and "no shard output directory to merge in" in done.stderr

    again = tmp_path / "again"  # a re-run shard job runs exactly the same runs
    assert tagged.run("run", str(suite), "-j", "2", "--shard", "2/3", "-o", str(again), "--history",
                      str(full / ".opp-ci-history.json")).returncode == 0
    assert identities(again) == identities(shards[1]) and campaign(again)["shard"] == campaign(shards[1])["shard"]


def test_a_missing_shard_is_reported_as_not_run(suite, tagged, tmp_path):
    shards = run_shards(tagged, suite, tmp_path, 3)
    planned = len(campaign(shards[0])["shard"]["runs"])
    merged = tmp_path / "merged"
    outputs = tmp_path / "github-output"
    done = tagged.run("merge", str(shards[0]), str(shards[2]), "--out", str(merged), "--github-output", str(outputs))
    assert done.returncode == 1 and "shard(s) 2 did not report" in done.stderr
    written = dict(line.split("=", 1) for line in outputs.read_text().splitlines())  # the merge job's outputs
    assert written["out-dir"] == str(merged.resolve()) and int(written["total"]) == planned
    assert int(written["failed"]) >= len(identities(shards[1]))
    runs = campaign(merged)["runs"]
    not_run = [r for r in runs if r["shard"] == 2]
    assert len(runs) == planned and not_run and len(not_run) == len(identities(shards[1]))
    assert all(r["status"] == "error" and r["error"].startswith("not run: shard 2/3 did not report")
               for r in not_run)
    assert campaign(merged)["shard"]["missing"] == [2]
    assert "not run: shard 2/3" in (merged / "summary.md").read_text()
    # a shard's directory without campaign.json (the job failed before writing it): named in the reason
    empty = tmp_path / "empty"
    empty.mkdir()
    merged_again = tmp_path / "merged-again"
    done = tagged.run("merge", str(shards[0]), str(empty), str(shards[2]), "--out", str(merged_again))
    assert done.returncode == 1
    assert all(f"no campaign.json in {empty}" in r["error"] for r in campaign(merged_again)["runs"]
               if r["shard"] == 2)


def test_campaign_shards_merge_into_the_unsharded_campaign_and_plan_prints_the_assignment(
        standin_project, tagged, tmp_path):
    full = tmp_path / "full"
    assert tagged.run("run", str(standin_project), "-j", "2", "-o", str(full)).returncode == 0
    history = str(full / ".opp-ci-history.json")
    planned = tagged.run("plan", str(standin_project), "--shards", "2", "--json", "--history", history)
    assert planned.returncode == 0, planned.stderr
    plan = json.loads(planned.stdout)
    assert plan["count"] == 2 and len(plan["runs"]) == len(identities(full))
    assert all(entry["seen"] for entry in plan["runs"]) and len(plan["expected_seconds"]) == 2
    shards = run_shards(tagged, standin_project, tmp_path, 2, "--history", history)
    assert sorted(identities(shards[0]) + identities(shards[1])) == identities(full)
    assert campaign(shards[0])["shard"]["plan"] == plan["plan"]  # plan's assignment is the one run uses
    merged = tmp_path / "merged"
    assert tagged.run("merge", *map(str, shards), "-o", str(merged)).returncode == 0
    assert_merged_equals(merged, full)
    text = tagged.run("plan", str(standin_project), "--shards", "2", "--history", history)
    assert text.returncode == 0 and "shard 1/2:" in text.stdout and "shard 2/2:" in text.stdout


@pytest.mark.parametrize("shard, problem", [("0/4", "must be 1 to 4"), ("5/4", "must be 1 to 4"),
                                            ("x", "is not I/N")])
def test_a_bad_shard_exits_2_with_one_line_before_anything_starts(suite, tagged, tmp_path, shard, problem):
    out = tmp_path / "out"
    done = tagged.run("run", str(suite), "--shard", shard, "-o", str(out))
    assert done.returncode == 2 and problem in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert not out.exists() and tagged.alive() == []


def test_conflicting_merge_input_exits_2(suite, tagged, tmp_path):
    first = run_shards(tagged, suite, tmp_path / "two", 2)
    other = tmp_path / "other"
    assert tagged.run("run", str(suite), "-j", "2", "--shard", "1/3", "-o", str(other)).returncode in (0, 1)
    unsharded = tmp_path / "unsharded"
    assert tagged.run("run", str(suite), "-j", "2", "-o", str(unsharded)).returncode == 0
    cases = {
        "are both shard 1/2": [first[0], first[0], first[1]],
        "are shards of different campaigns": [first[0], other],
        "is not a shard's output": [first[0], unsharded],
        "no shard reported": [tmp_path],
    }
    for problem, directories in cases.items():
        out = tmp_path / f"merged-{len(directories)}-{problem[:6].strip()}"
        done = tagged.run("merge", *map(str, directories), "--out", str(out))
        assert done.returncode == 2 and problem in done.stderr, (problem, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1 and not out.exists()
    done = tagged.run("plan", str(suite), "--shards", "0")
    assert done.returncode == 2 and "--shards 0" in done.stderr


def test_the_comparison_with_a_baseline_is_done_again_over_all_shards(standin_project, tagged, tmp_path):
    base = tmp_path / "base"
    assert tagged.run("run", str(standin_project), "-j", "2", "-o", str(base)).returncode == 0
    shards = run_shards(tagged, standin_project, tmp_path, 2, "--baseline", str(base))
    alone = campaign(shards[0])["regression"]
    assert alone["runs_only_in_baseline"]  # a shard compared its own runs only
    merged = tmp_path / "merged"
    done = tagged.run("merge", *map(str, shards), "-o", str(merged))
    assert done.returncode == 0, done.stderr
    together = campaign(merged)["regression"]
    assert together["runs_only_in_baseline"] == [] and together["runs_compared"] == len(identities(base))
    assert "### Comparison with the baseline: ✅ no regressions" in (merged / "summary.md").read_text()


SLOW = """
[Config TSlow]
extends = Quick
repeat = 6
**.wallTime = 1.5s
"""


def has_a_record(out: Path) -> bool:
    return (out / "campaign.json").is_file() and bool(campaign(out)["runs"])


def test_a_shard_killed_half_way_shows_the_runs_it_did_not_run(standin_project, tagged, tmp_path):
    (standin_project / "tests.ini").write_text(SLOW)
    common = ["--ini", "omnetpp.ini", "--ini", "tests.ini", "--config", "TSlow", "-j", "1"]
    second = tmp_path / "second"
    assert tagged.run("run", str(standin_project), *common, "--shard", "2/2", "-o", str(second)).returncode == 0
    first = tmp_path / "first"
    started = tagged.start("run", str(standin_project), *common, "--shard", "1/2", "-o", str(first))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not has_a_record(first):
        time.sleep(0.1)
    assert campaign(first)["shard"]["index"] == 1  # every checkpoint names the shard and its plan
    tree = psutil.Process(started.pid)
    for process in [tree, *tree.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            process.kill()
    started.communicate(timeout=30)
    done_before = len(campaign(first)["runs"])
    assert 0 < done_before < 3
    merged = tmp_path / "merged"
    done = tagged.run("merge", str(first), str(second), "-o", str(merged))
    assert done.returncode == 1, done.stderr
    runs = campaign(merged)["runs"]
    not_run = [r for r in runs if r["error"] and r["error"].startswith("not run: shard 1/2 ended before running it")]
    assert len(runs) == 6 and len(not_run) == 3 - done_before and all(r["shard"] == 1 for r in not_run)


def test_the_gate_is_decided_over_every_shards_runs_with_the_findings_the_shards_made(suite, tagged, tmp_path):
    """Each shard triages its own failures (Jitter, run twice more, is nondeterministic); merge decides the gate
    over all of them: with --fail-on changed the merged campaign passes, as the unsharded one does; an expired
    quarantine entry in the shards' settings fails the merged campaign."""
    more = ("--suite", "unstable.csv", "--suite", "suite.csv", "--confirm", "2", "--fail-on", "changed")
    shards = run_shards(tagged, suite, tmp_path, 2, *more)
    merged = tmp_path / "merged"
    assert tagged.run("merge", *map(str, shards), "-o", str(merged)).returncode == 0
    gate = campaign(merged)["gate"]
    assert (gate["failing"], gate["tolerated"], gate["passed"]) == (0, 1, True)
    [jitter] = [r for r in campaign(merged)["runs"] if r["status"] != "passed"]
    assert jitter["triage"]["finding"] == "nondeterministic" and len(jitter["triage"]["results"]) == 3
    toml = suite / "opp-ci.toml"
    toml.write_text(toml.read_text() + '\n[quarantine]\n"*Jitter*" = { reason = "inet#929", expires = 2020-01-01 }\n')
    shards = run_shards(tagged, suite, tmp_path / "expired", 2, *more)
    done = tagged.run("merge", *map(str, shards), "-o", str(tmp_path / "merged-expired"))
    assert done.returncode == 1 and campaign(tmp_path / "merged-expired")["gate"]["expired"]
