"""`opp-ci merge` on shard output directories written here: every planned run once, the runs of a shard that
did not report as not run, and a malformed plan refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from opp_ci.errors import UserError
from opp_ci.merge import merge
from opp_ci.records import Campaign, RunRecord, RunStatus


def plan(count: int = 3) -> list[dict]:
    return [{"id": f"run C {n}", "shard": n % count + 1, "config": "C", "run": n, "itervars": {"x": str(n)},
             "repetition": 0, "suite_row": None, "test": None, "repeat": 0, "expected_seconds": 1.0, "seen": False}
            for n in range(6)]


def write_shard(directory: Path, index: int, entries: list[dict], count: int = 3) -> Path:
    runs = [RunRecord("C", e["run"], itervars=e["itervars"], status=RunStatus.PASSED, wall_seconds=1.0)
            for e in entries if e["shard"] == index]
    info = {"index": index, "count": count, "plan": "p1", "runs": entries}
    Campaign(f"c{index}", runs, started_at=f"2026-01-0{index}T00:00:00Z", wall_seconds=float(index),
             extra={"shard": info, "queue_jobs": 2}).write(directory)
    return directory


def test_every_planned_run_appears_once_and_a_missing_shards_runs_as_not_run(tmp_path):
    entries = plan()
    shards = [write_shard(tmp_path / f"s{i}", i, entries) for i in (1, 3)]
    merged = merge(shards, tmp_path / "out")
    assert sorted(r.run for r in merged.runs) == list(range(6))
    not_run = [r for r in merged.runs if r.status is RunStatus.ERROR]
    assert sorted(r.run for r in not_run) == [1, 4] and all(r.shard == 2 and r.attempts == 0 for r in not_run)
    assert all(r.error == "not run: shard 2/3 did not report (its output directory was not given)" for r in not_run)
    assert merged.extra["shard"]["missing"] == [2] and merged.extra["queue_jobs"] == 4
    assert merged.wall_seconds == 3.0 and merged.started_at == "2026-01-01T00:00:00Z"
    assert Campaign.read(tmp_path / "out").totals() == {"passed": 4, "failed": 0, "error": 2, "timeout": 0,
                                                        "total": 6}
    assert (tmp_path / "out" / "junit.xml").read_text().count("<error") == 2


@pytest.mark.parametrize("broken", [{"shard": 9}, {"shard": "1"}, {"run": "one"}, {"config": None}])
def test_a_malformed_plan_is_refused_with_one_line(tmp_path, broken):
    entries = plan()
    entries[1] = {**entries[1], **broken}
    first = write_shard(tmp_path / "s1", 1, entries)
    with pytest.raises(UserError) as raised:
        merge([first], tmp_path / "out")
    assert "shard plan is malformed" in raised.value.message and "\n" not in raised.value.message
    assert not (tmp_path / "out").exists()


def test_the_merged_history_keeps_each_runs_entry_from_its_own_shard_averaged_once(tmp_path):
    """Every shard was balanced from the same history and averaged its own runs' times into it; the merged
    history takes each run's entry from the shard that ran it (not the stale copies in the other shards, and
    not averaged a second time), keeps the entries of runs not in this campaign, and adds a run whose shard
    left no history."""
    from opp_ci.history import HISTORY_FILE, read_history, run_key, write_history

    entries = plan()
    before = {run_key("C", {"x": str(n)}): 3.0 for n in range(6)} | {run_key("Old", {}): 7.0}
    shards = [write_shard(tmp_path / f"s{i}", i, entries) for i in (1, 2, 3)]
    for shard in shards[:2]:  # shard 3 left no history
        write_history(shard, Campaign.read(shard).runs, before)
    merge(shards, tmp_path / "out")
    history = read_history(tmp_path / "out")
    # every run once 0.5 x 1 s (this campaign) + 0.5 x 3 s (before): shard 3's runs too, from the stale 3 s
    assert history == {**{run_key("C", {"x": str(n)}): 2.0 for n in range(6)}, run_key("Old", {}): 7.0}
    assert (tmp_path / "out" / HISTORY_FILE).is_file()
