"""campaign.json checkpoints, on a clock the test turns: at most one write per interval, the interval growing
with the time a write takes."""

from __future__ import annotations

import json

from opp_ci.campaign import SAVE_INTERVAL, SAVE_SHARE, Checkpoints
from opp_ci.records import Campaign, RunRecord, RunStatus


class Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.write_takes = 0.0  # seconds each read during a write adds

    def __call__(self) -> float:
        return self.now


def record(number: int) -> RunRecord:
    return RunRecord(config="General", run=number, job_id=f"opp-ci-{number}", status=RunStatus.PASSED)


def saved_runs(out_dir) -> int:
    return len(json.loads((out_dir / "campaign.json").read_text())["runs"])


def test_a_checkpoint_is_written_at_most_once_per_interval(tmp_path):
    clock, campaign = Clock(), Campaign(campaign="c1", runs=[])
    checkpoints, records = Checkpoints(tmp_path, clock), {}

    checkpoints.save(campaign, records)
    assert not (tmp_path / "campaign.json").exists()  # nothing arrived yet

    records["a"] = record(0)
    checkpoints.unsaved = True
    checkpoints.save(campaign, records)
    assert saved_runs(tmp_path) == 1

    records["b"] = record(1)
    checkpoints.unsaved = True
    clock.now += SAVE_INTERVAL / 2
    checkpoints.save(campaign, records)
    assert saved_runs(tmp_path) == 1  # within the interval
    checkpoints.save(campaign, records, now=True)
    assert saved_runs(tmp_path) == 2


def test_a_slow_write_makes_the_interval_longer(tmp_path):
    class SlowClock(Clock):
        def __call__(self) -> float:
            self.now += self.write_takes
            return self.now

    clock, campaign = SlowClock(), Campaign(campaign="c1", runs=[])
    checkpoints = Checkpoints(tmp_path, clock)
    clock.write_takes = 1.0
    checkpoints.unsaved = True
    checkpoints.save(campaign, {"a": record(0)})
    clock.write_takes = 0.0

    checkpoints.unsaved = True
    clock.now += SAVE_INTERVAL * 2
    checkpoints.save(campaign, {"a": record(0), "b": record(1)})
    assert saved_runs(tmp_path) == 1  # the write took 1 s: the next one waits 1 / SAVE_SHARE s
    clock.now += 1.0 / SAVE_SHARE
    checkpoints.save(campaign, {"a": record(0), "b": record(1)})
    assert saved_runs(tmp_path) == 2
