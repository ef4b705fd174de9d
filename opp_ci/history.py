"""Run wall times from earlier campaigns, so the next one enqueues the longest expected runs first.

A skewed campaign (a few long runs among many short ones) ends with one long run on one worker
when the long runs come last; started first, the campaign approaches max(longest run, total / N).
The history lives in the output directory (a campaign's outputs are replaced, this file is kept),
keyed by config and iteration variables (repetitions of a run take about as long as each other), and
for a fingerprint suite's rows by the row (`FILE:LINE`: rows of one config differ in everything else).

A run's entry is an exponential moving average over campaigns (SMOOTHING of the newest time, the rest from the
entry before), not the newest time alone: two runs of the same simulation differ (OMNeT++ 6.1's samples: a
median |log ratio| of 0.03 in CPU time, 0.33 in wall time on a loaded machine; benchmarks/data), and `--shard`
balances on these entries, so an entry that averages several campaigns misleads it less
(benchmarks/shard_balance.py). A run that got slower for good is followed within a few campaigns (the old
time's weight halves with each). The file's format is unchanged: one number per run.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Protocol

#: In the output directory; not one of a campaign's outputs, so a new campaign keeps it.
HISTORY_FILE = ".opp-ci-history.json"
#: Entries kept at most (the most recent campaigns' runs win).
MAX_ENTRIES = 100_000
#: The newest campaign's weight in a run's entry (the entry before keeps the rest).
SMOOTHING = 0.5


class _Timed(Protocol):
    config: str
    itervars: Mapping[str, str]
    wall_seconds: float
    suite_row: str | None


def run_key(config: str, itervars: Mapping[str, str], row: str | None = None) -> str:
    if row is not None:
        return json.dumps(["row", row], separators=(",", ":"))
    return json.dumps([config, sorted(itervars.items())], separators=(",", ":"))


def read_history(out_dir: Path) -> dict[str, float]:
    """Expected wall seconds by run key; empty when there is no (readable) history."""
    return read_history_file(out_dir / HISTORY_FILE)


def read_history_file(path: Path) -> dict[str, float]:
    """The history in `path` (`--history FILE`); empty when there is no (readable) history there."""
    with contextlib.suppress(OSError, ValueError):
        data = json.loads(Path(path).read_text())
        if isinstance(data, dict) and isinstance(data.get("wall_seconds"), dict):
            return {str(k): float(v) for k, v in data["wall_seconds"].items() if isinstance(v, int | float)}
    return {}


def write_history(out_dir: Path, records: Iterable[_Timed], earlier: Mapping[str, float] | None = None) -> None:
    """Adds this campaign's wall times (the mean over a run's repetitions) to the history (`earlier`, else the
    output directory's): a run already there gets the moving average (`smoothed`), a new one its time."""
    walls: dict[str, list[float]] = {}
    for record in records:
        if record.wall_seconds > 0:
            walls.setdefault(run_key(record.config, record.itervars, record.suite_row), []).append(record.wall_seconds)
    if not walls:
        return
    history = dict(earlier) if earlier is not None else read_history(out_dir)
    for key, w in walls.items():
        history[key] = smoothed(history.pop(key, None), sum(w) / len(w))
    save_history(out_dir, history)


def usable(seconds: float | None) -> float | None:
    """A history's time, unless it is none a run can take (a history edited by hand: NaN, infinite, negative)."""
    return seconds if seconds is not None and math.isfinite(seconds) and seconds >= 0 else None


def smoothed(before: float | None, newest: float) -> float:
    """A run's new entry: the newest time averaged with the entry before (none, or unusable: the newest)."""
    before = usable(before)
    if before is None:
        return round(newest, 3)
    return round(SMOOTHING * newest + (1 - SMOOTHING) * before, 3)


def save_history(out_dir: Path, history: Mapping[str, float]) -> None:
    """Writes `history` as the output directory's (the newest MAX_ENTRIES entries), atomically."""
    kept = dict(list(history.items())[-MAX_ENTRIES:])
    temporary = out_dir / f"{HISTORY_FILE}.{os.getpid()}"
    temporary.write_text(json.dumps({"version": 1, "wall_seconds": kept}, separators=(",", ":")))
    temporary.replace(out_dir / HISTORY_FILE)


def expected_seconds(history: Mapping[str, float], config: str, itervars: Mapping[str, str],
                     row: str | None = None) -> float:
    """A run's expected wall time: its own from history, else (not a suite row) its config's mean, else
    +inf (a run never seen may be long: start it early)."""
    known = history.get(run_key(config, itervars, row))
    if known is not None:
        return known
    if row is not None:
        return float("inf")
    prefix = run_key(config, {})[:-3]  # '["CONFIG",' : the config's runs
    same_config = [v for k, v in history.items() if k.startswith(prefix)]
    return sum(same_config) / len(same_config) if same_config else float("inf")
