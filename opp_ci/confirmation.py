"""Confirmation (`--confirm N`): each run that failed is run N times more on the same build and workers, so that
triage (`opp_ci.triage`) can tell a nondeterministic result from a stable one.

Attempt K of every failed run is one small campaign of its own in `OUT/confirm/K/` (its campaign.json, results
and logs: the evidence is kept), run by the orchestrator on the infrastructure the campaign's runs used. What
each attempt produced is kept on the failed run's record as `triage.results`, the first run's first.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from opp_ci import output
from opp_ci.backends import Infrastructure
from opp_ci.planning import PlannedRun
from opp_ci.records import Campaign, RunRecord, RunStatus
from opp_ci.triage import produced

#: The output directory's folder of the attempts (one numbered folder per attempt).
CONFIRM_DIR = "confirm"
#: Runs whose failure is confirmed by running them again (an infrastructure error is retried instead).
CONFIRMED_STATUSES = (RunStatus.FAILED, RunStatus.TIMEOUT)


def attempt_of(planned: PlannedRun, attempt: int) -> PlannedRun:
    """The same run under a job id (and store prefix) of its own, so that its files do not meet the first run's."""
    identifier = f"{planned.job_id}-confirm-{attempt}"
    return replace(planned, job_id=identifier, payload=replace(planned.payload, prefix=identifier))


def failed_runs(campaign: Campaign, planned: list[PlannedRun]) -> list[tuple[RunRecord, PlannedRun]]:
    """The records that failed (the campaign judged: a fingerprint or regression check may fail a run that exited
    0), with what was planned for them."""
    by_id = {run.job_id: run for run in planned}
    return [(record, by_id[record.job_id]) for record in campaign.runs
            if record.status in CONFIRMED_STATUSES and record.job_id in by_id]


def confirm_failures(count: int, campaign: Campaign, planned: list[PlannedRun], infrastructure: Infrastructure,
                     out_dir: Path, display_factory: Any, workers: int | None) -> None:
    """Runs every failed run of the judged campaign `count` times more and keeps what each attempt produced on
    its record."""
    from opp_ci.campaign import Orchestrator

    failed = failed_runs(campaign, planned) if count > 0 else []
    if not failed:
        return
    output.info(f"confirming {len(failed)} failed run{'s' if len(failed) > 1 else ''}: "
                f"{count} more attempt{'s' if count > 1 else ''} each (--confirm {count})")
    results = {record.job_id: [produced(record, out_dir)] for record, _ in failed}
    for attempt in range(1, count + 1):
        attempt_dir = out_dir / CONFIRM_DIR / str(attempt)
        runs = [attempt_of(run, attempt) for _, run in failed]
        originals = {run.job_id: record.job_id for run, (record, _) in zip(runs, failed, strict=True)}
        round_campaign = Campaign(campaign=f"{campaign.campaign}-confirm-{attempt}", backend=campaign.backend,
                                  command=campaign.command, started_at=campaign.started_at)
        display = display_factory(len(runs))
        try:
            Orchestrator(round_campaign, runs, infrastructure, attempt_dir, display, workers).run()
        finally:
            display.close()
        for attempt_record in round_campaign.runs:
            results[originals[attempt_record.job_id]].append(produced(attempt_record, attempt_dir))
    for record, _ in failed:
        record.triage = {"results": results[record.job_id]}
