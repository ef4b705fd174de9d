"""Scheduling: longest expected first, short runs (by history) batched, batch payloads validated."""

from __future__ import annotations

import pytest

from opp_ci.history import run_key
from opp_ci.omnetpp import ListedRun
from opp_ci.payloads import MAX_BATCH, BatchPayload, PayloadError, RunPayload
from opp_ci.planning import PlannedRun
from opp_ci.scheduling import hold_back, release, schedule, spread
from opp_ci.spec import ConfigSpec


def planned_run(number: int, config: str = "C", itervars: dict[str, str] | None = None) -> PlannedRun:
    identifier = f"opp-ci-{config}-{number}"
    return PlannedRun(ListedRun(config, number, itervars or {"n": str(number)}), ConfigSpec(config),
                      identifier, RunPayload(config=config, run=number, prefix=identifier))


def history_of(walls: dict[int, float], config: str = "C") -> dict[str, float]:
    return {run_key(config, {"n": str(number)}): wall for number, wall in walls.items()}


def test_without_history_every_run_is_its_own_job_in_planned_order():
    runs = [planned_run(n) for n in range(5)]
    units = schedule(runs, {})
    assert [u.job_id for u in units] == [r.job_id for r in runs] and not any(u.is_batch for u in units)


def test_the_longest_expected_runs_come_first_and_unknown_ones_before_them():
    runs = [planned_run(n) for n in range(4)] + [planned_run(4, config="New")]
    history = history_of({0: 1.0, 1: 9.0, 2: 3.0})  # run 3: its config's mean; config New never seen: may be long
    assert [u.runs[0].info.number for u in schedule(runs, history)] == [4, 1, 3, 2, 0]


def test_short_runs_are_batched_after_the_long_ones_in_batches_that_shrink_towards_the_end():
    runs = [planned_run(n) for n in range(200)] + [planned_run(1000)]
    history = history_of({**{n: 0.1 for n in range(200)}, 1000: 5.0})
    units = schedule(runs, history)
    assert units[0].runs[0].info.number == 1000 and not units[0].is_batch
    sizes = [len(u.runs) for u in units[1:]]
    assert sizes == sorted(sizes, reverse=True) and sizes[0] == 13 and sizes[-1] == 1  # 1/16 of what is left
    assert len(units) < 200 / 3
    with_two = [len(u.runs) for u in schedule(runs, history, workers=2)[1:]]  # 2 workers: half of what is left
    assert with_two[:3] == [19, 19, 19] and with_two[-1] == 1 and len(with_two) < len(sizes) / 2
    assert sum(with_two) == 200
    assert sorted(p.info.number for u in units[1:] for p in u.runs) == list(range(200))  # each run once
    assert len({u.job_id for u in units}) == len(units)
    first = units[1].payload
    assert first.timeout == sum(r.timeout for r in first.runs)


def test_runs_of_a_config_never_timed_wait_for_its_first_runs_and_are_batched_when_those_are_tiny():
    runs = [planned_run(n, itervars={}) for n in range(100)] + [planned_run(0, config="Known", itervars={})]
    history = {run_key("Known", {}): 3.0}
    now, held = hold_back(runs, history, probes=4)
    probes = [p.info.number for p in now if p.info.config == "C"]
    assert len(probes) == 4 and probes[0] == 0 and probes[-1] - probes[0] > 50  # spread over the runs
    assert any(p.info.config == "Known" for p in now) and list(held) == ["C"] and len(held["C"]) == 96
    assert [p.info.number for p in held["C"]] == [n for n in range(100) if n not in probes]  # in planned order
    assert release(held["C"], [0.05]) is None  # too few ended to tell
    assert all(not u.is_batch for u in release(held["C"], [0.05, 1.2]))  # not tiny: one job each
    batched = release(held["C"], [0.05, 0.06])
    assert len(batched) < 96 / 2 and sum(len(u.runs) for u in batched) == 96


def test_spread_samples_the_whole_list_in_every_stretch():
    order = spread(list(range(42)))
    assert sorted(order) == list(range(42))
    for start in range(0, 42 - 6):
        window = order[start:start + 6]
        assert min(window) < 14 and max(window) >= 28, window  # each stretch of 6 reaches both outer thirds


def test_batches_of_runs_whose_times_follow_their_numbers_take_about_their_share():
    """A parameter study's later runs may take much longer (aloha: 8 times); consecutive runs in a batch
    would make the first batch short and the last ones long, and one worker end long after the other."""
    walls = {n: 0.01 * (1 + n) for n in range(40)}
    runs = [planned_run(n) for n in range(40)]
    units = schedule(runs, history_of(walls), workers=2)
    mean = sum(walls.values()) / len(walls)
    for unit in units:
        if len(unit.runs) >= 5:
            batch_mean = sum(walls[p.info.number] for p in unit.runs) / len(unit.runs)
            assert abs(batch_mean - mean) < 0.2 * mean, [p.info.number for p in unit.runs]


def test_a_batch_never_exceeds_max_batch_runs():
    runs = [planned_run(n) for n in range(10 * MAX_BATCH)]
    units = schedule(runs, history_of({n: 0.0001 for n in range(10 * MAX_BATCH)}))
    assert max(len(u.runs) for u in units) <= MAX_BATCH and sum(len(u.runs) for u in units) == 10 * MAX_BATCH


def test_batch_payloads_round_trip_and_refuse_what_a_run_payload_refuses():
    runs = tuple(RunPayload(config="C", run=n, prefix=f"p{n}") for n in range(3))
    batch = BatchPayload(runs)
    assert BatchPayload.from_json(batch.to_json()) == batch
    bad = batch.to_json()
    bad["runs"][1]["args"] = ["--load-libs=evil"]
    with pytest.raises(PayloadError, match="not allowed"):
        BatchPayload.from_json(bad)
    with pytest.raises(PayloadError, match="1 to"):
        BatchPayload.from_json({"kind": "batch", "version": 1, "runs": []})
    with pytest.raises(PayloadError):
        BatchPayload.from_json({"kind": "batch", "version": 1, "runs": [], "func": "os.system"})
