"""The run-time history: a run's entry is a moving average over campaigns, in the same file format."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from opp_ci.history import HISTORY_FILE, SMOOTHING, read_history, run_key, smoothed, write_history


def record(wall: float, config: str = "C", row: str | None = None) -> SimpleNamespace:
    return SimpleNamespace(config=config, itervars={"n": "1"}, wall_seconds=wall, suite_row=row)


def test_a_runs_entry_averages_its_newest_time_with_the_entry_before(tmp_path):
    write_history(tmp_path, [record(10.0), record(4.0, row="suite.csv:3")])
    assert read_history(tmp_path) == {run_key("C", {"n": "1"}): 10.0, run_key("X", {}, "suite.csv:3"): 4.0}
    write_history(tmp_path, [record(20.0), record(20.0)])  # two repetitions: their mean is the newest time
    write_history(tmp_path, [record(30.0)])
    key = run_key("C", {"n": "1"})
    assert read_history(tmp_path)[key] == pytest.approx(SMOOTHING * 30 + (1 - SMOOTHING) * (
        SMOOTHING * 20 + (1 - SMOOTHING) * 10))
    assert read_history(tmp_path)[run_key("X", {}, "suite.csv:3")] == 4.0  # not run: kept as it was
    data = json.loads((tmp_path / HISTORY_FILE).read_text())
    assert data["version"] == 1 and set(data) == {"version", "wall_seconds"}  # the format older opp-ci reads


def test_a_run_that_got_slower_for_good_is_followed_within_a_few_campaigns(tmp_path):
    write_history(tmp_path, [record(1.0)])
    for _ in range(5):
        write_history(tmp_path, [record(100.0)])
    assert read_history(tmp_path)[run_key("C", {"n": "1"})] > 95


@pytest.mark.parametrize("before", [None, float("nan"), float("inf"), -1.0])
def test_without_a_usable_entry_before_the_newest_time_is_the_entry(before):
    assert smoothed(before, 2.5) == 2.5
