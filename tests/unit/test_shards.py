"""Shards: `--shard I/N` parsed, and the assignment: LPT on known times, deterministic, unseen runs spread."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest

from opp_ci.errors import UserError
from opp_ci.history import HISTORY_FILE, run_key
from opp_ci.omnetpp import ListedRun
from opp_ci.payloads import RunPayload
from opp_ci.planning import PlannedRun
from opp_ci.shards import ShardPlan, assign, expected_times, history_path, identity, seed_history
from opp_ci.spec import ConfigSpec, Shard, parse_shard


def planned_run(number: int, config: str = "C") -> PlannedRun:
    identifier = f"opp-ci-{config}-{number}"
    return PlannedRun(ListedRun(config, number, {"n": str(number)}), ConfigSpec(config), identifier,
                      RunPayload(config=config, run=number, prefix=identifier))


def suite_row(line: int, directory: str, repeat: int = 0) -> PlannedRun:
    identifier = f"opp-ci-row-{line}-{repeat}"
    row = SimpleNamespace(file=Path("suite.csv"), line=line, title=f"/{directory}/ -c X -r {line}")
    return PlannedRun(ListedRun("X", 0), ConfigSpec("X"), identifier,
                      RunPayload(config="X", run=0, prefix=identifier, working_dir=directory), row, repeat)


def history_of(walls: dict[int, float], config: str = "C") -> dict[str, float]:
    return {run_key(config, {"n": str(number)}): wall for number, wall in walls.items()}


@pytest.mark.parametrize("text, shard", [("2/4", Shard(2, 4)), (" 1 / 1 ", Shard(1, 1)), ("4/4", Shard(4, 4))])
def test_a_shard_is_i_of_n(text, shard):
    assert parse_shard(text) == shard


@pytest.mark.parametrize("text, problem", [("0/4", "must be 1 to 4"), ("5/4", "must be 1 to 4"),
                                           ("x", "is not I/N"), ("1/0", "must be 1 to 1"), ("2", "is not I/N"),
                                           ("-1/4", "is not I/N")])
def test_a_bad_shard_names_the_problem_and_the_fix(text, problem):
    with pytest.raises(UserError) as raised:
        parse_shard(text)
    assert problem in raised.value.message and "--shard" in raised.value.message and "\n" not in raised.value.message


def test_known_times_are_assigned_longest_first_to_the_least_loaded_shard():
    runs = [planned_run(n) for n in range(6)]
    history = history_of({0: 7.0, 1: 5.0, 2: 4.0, 3: 3.0, 4: 2.0, 5: 1.0})
    # 7→1 (7,0); 5→2 (7,5); 4→2 (7,9); 3→1 (10,9); 2→2 (10,11); 1→1 (11,11)
    assert assign(runs, history, 2) == [1, 2, 2, 1, 2, 1]


def test_the_assignment_depends_on_the_run_list_and_the_history_only_not_their_order():
    rng = random.Random(5)
    runs = [planned_run(n, config) for config in ("A", "B", "C") for n in range(20)]
    history = {**history_of({n: rng.uniform(0.1, 30) for n in range(0, 20, 2)}, "A"),
               **history_of({n: rng.uniform(0.1, 30) for n in range(15)}, "B")}
    first = dict(zip(map(identity, runs), assign(runs, history, 4), strict=True))
    shuffled = runs[:]
    rng.shuffle(shuffled)
    again = dict(zip(map(identity, shuffled), assign(shuffled, dict(reversed(history.items())), 4), strict=True))
    assert again == first and set(first.values()) == {1, 2, 3, 4}


def test_without_history_every_config_and_directory_is_dealt_out_evenly():
    runs = ([planned_run(n, "A") for n in range(5)] + [planned_run(n, "B") for n in range(7)]
            + [suite_row(line, "dir") for line in range(3, 6)])
    shards = assign(runs, {}, 4)
    for group in ("run A", "run B", "row "):
        counts = Counter(s for run, s in zip(runs, shards, strict=True) if identity(run).startswith(group))
        size = sum(counts.values())
        assert all(size // 4 <= counts[i] <= -(-size // 4) for i in range(1, 5)), (group, counts)


def test_an_unseen_run_counts_as_its_groups_median_else_the_overall_median():
    runs = [planned_run(n, "A") for n in range(4)] + [planned_run(0, "New")]
    history = history_of({0: 1.0, 1: 2.0, 2: 30.0}, "A")
    assert expected_times(runs, history) == [(1.0, True), (2.0, True), (30.0, True), (2.0, False), (2.0, False)]
    assert expected_times(runs, {}) == [(1.0, False)] * 5


def test_unseen_runs_of_a_config_are_spread_among_known_ones():
    known = [planned_run(n, "K") for n in range(12)]
    unseen = [planned_run(n, "U") for n in range(8)]
    history = history_of({n: float(1 + n % 5) for n in range(12)}, "K")
    shards = assign(known + unseen, history, 4)
    counts = Counter(shards[len(known):])
    assert sorted(counts) == [1, 2, 3, 4] and max(counts.values()) <= 3


def test_the_repetitions_of_a_suite_row_stay_in_one_shard():
    runs = [suite_row(line, f"d{line % 2}", repeat) for line in range(3, 9) for repeat in range(3)]
    shards = assign(runs, {}, 3)
    by_row = {}
    for run, shard in zip(runs, shards, strict=True):
        by_row.setdefault(run.history_row, set()).add(shard)
    assert all(len(found) == 1 for found in by_row.values()) and len(set(shards)) == 3


def test_the_plan_covers_every_run_once_and_names_itself(tmp_path):
    runs = [planned_run(n) for n in range(10)]
    plan = ShardPlan.make(runs, tmp_path / "no-history.json", 3)
    parts = [plan.runs_of(i) for i in (1, 2, 3)]
    assert set().union(*parts) == {identity(r) for r in runs} and sum(map(len, parts)) == 10
    assert plan.digest == ShardPlan.make(list(reversed(runs)), tmp_path / "no-history.json", 3).digest
    assert plan.digest != ShardPlan.make(runs, tmp_path / "no-history.json", 2).digest
    assert sum(plan.expected_by_shard()) == 10.0


def test_a_given_history_seeds_an_output_directory_without_one_and_never_replaces_one(tmp_path):
    given, out = tmp_path / "given.json", tmp_path / "out"
    given.write_text('{"version": 1, "wall_seconds": {"a": 1.0}}')
    out.mkdir()
    seed_history(str(given), out)
    assert (out / HISTORY_FILE).read_text() == given.read_text()
    (out / HISTORY_FILE).write_text("{}")
    seed_history(str(given), out)
    assert (out / HISTORY_FILE).read_text() == "{}"
    assert history_path(None, out) == out / HISTORY_FILE and history_path(str(given), out) == given


def test_a_time_no_run_can_take_counts_as_not_seen():
    runs = [planned_run(n) for n in range(3)]
    history = history_of({0: float("nan"), 1: -1.0, 2: 4.0})
    assert expected_times(runs, history) == [(4.0, False), (4.0, False), (4.0, True)]


def test_a_long_runs_shard_keeps_a_margin_for_its_uncertainty_instead_of_taking_short_runs():
    """One 10 s run and eleven of 1 s over two shards: plain LPT fills the long run's shard up to the same
    expected load (10 + 1 against 10) although 10 % off on the long run is a second, 10 % off on ten short
    ones mostly cancels; with the margin the long run stays alone."""
    from opp_ci.shards import lpt

    times = {"long": 10.0, **{f"short{n:02}": 1.0 for n in range(11)}}
    order = {key: key for key in times}
    plain = lpt(times, order, 2, margin=0.0)
    assert sorted(k for k, shard in plain.items() if shard == plain["long"]) == ["long", "short10"]
    with_margin = lpt(times, order, 2)
    assert [k for k, shard in with_margin.items() if shard == with_margin["long"]] == ["long"]


def test_the_margin_adds_in_quadrature_so_many_short_runs_balance_as_before():
    runs = [planned_run(n) for n in range(40)]
    shards = assign(runs, history_of({n: 1.0 for n in range(40)}), 4)
    assert Counter(shards) == {1: 10, 2: 10, 3: 10, 4: 10}
