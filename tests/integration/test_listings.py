"""`omnetpp.RunListings` on real processes: the runs of several configs asked for at once, at most one
listing per CPU (here: per `parallel`), errors as one line, and no listing left running."""

from __future__ import annotations

import re
from pathlib import Path

import psutil
import pytest

from opp_ci.errors import UserError
from opp_ci.omnetpp import RunListings, Simulation

#: A simulation that lists 3 runs of any config after `delay` seconds, noting when it started and ended.
LISTER = """#!/bin/sh
config=""
while [ $# -gt 0 ]; do [ "$1" = "-c" ] && config=$2; shift; done
echo "start $config $(date +%s.%N)" >> {log}
[ "$config" = Slow ] && sleep 30
[ "$config" = Broken ] && {{ echo "<!> Error: No such config: Broken"; exit 1; }}
sleep {delay}
echo "end $config $(date +%s.%N)" >> {log}
for n in 0 1 2; do echo "Run $n: \\$x=$n, \\$repetition=0"; done
"""


def lister(tmp_path: Path, delay: float = 0.5) -> tuple[Simulation, Path]:
    log = tmp_path / "listings.log"
    script = tmp_path / "sim"
    script.write_text(LISTER.format(log=log, delay=delay))
    script.chmod(0o755)
    return Simulation(("./sim",), tmp_path), log


def test_configs_are_listed_at_once_up_to_the_limit_and_each_answer_is_its_own(tmp_path):
    simulation, log = lister(tmp_path)
    requests = [("A", None, ()), ("B", None, ()), ("C", None, ())]
    with RunListings(simulation, requests, parallel=2) as listings:
        answers = {config: listings.runs(config, None) for config, _, _ in requests}
    assert [(r.config, r.number, r.itervars) for r in answers["B"]] == [("B", n, {"x": str(n)}) for n in range(3)]
    events = sorted((float(when), what, config) for what, config, when in
                    (line.split() for line in log.read_text().splitlines()))
    order = [(what, config) for _, what, config in events]
    assert {config for _, config in order[:2]} == {"A", "B"} and [what for what, _ in order[:2]] == ["start", "start"]
    assert order.index(("start", "C")) > order.index(("end", "A"))  # C waits for a free place: 2 at a time


def test_a_listing_that_fails_is_one_line_and_the_unread_ones_are_killed(tmp_path):
    simulation, _log = lister(tmp_path, delay=0)
    listings = RunListings(simulation, [("Broken", None, ()), ("Slow", None, ())], parallel=2)
    slow = [p for p in psutil.Process().children() if "Slow" in _cmdline(p)]  # not this session's servers
    with pytest.raises(UserError, match="config Broken: the simulation says: No such config: Broken"), listings:
        listings.runs("Broken", None)
    assert slow and not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in slow)


def test_a_simulation_that_is_not_there_is_refused_as_the_listings_start(tmp_path):
    with pytest.raises(UserError, match=re.escape("simulation command './missing' not found")):
        RunListings(Simulation(("./missing",), tmp_path), [("A", None, ())])


def _cmdline(process: psutil.Process) -> list[str]:
    try:
        return process.cmdline()
    except psutil.Error:
        return []
