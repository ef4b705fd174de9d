"""Collection: a queue job that ended becomes its runs' records, with their files moved or copied from the store
into the output directory (results/, logs/). The orchestrator decides when a job ended; this decides what it left.

Nothing a worker's reply says is taken on trust: the reply is parsed field by field (`opp_ci.records`), the files
come from the campaign's own store whatever store the reply names, and only the files the store holds as regular
files are collected.
"""

from __future__ import annotations

from collections.abc import Container
from pathlib import Path
from typing import Any

from opp_ci.errors import UserError
from opp_ci.jobs import RunJob, failed_attempts
from opp_ci.planning import PlannedRun
from opp_ci.records import RunRecord, RunStatus, read_batch_reply, read_worker_reply
from opp_ci.safe_text import redacted_url
from opp_ci.scheduling import Unit
from opp_ci.store import LOG_NAME, RESULTS_DIR, Store, with_retries


class Collector:
    """The records of the jobs of one campaign, their files collected into `out_dir` from `store`."""

    def __init__(self, store: Store, out_dir: Path) -> None:
        self.store = store
        self.out_dir = out_dir
        self._failures: dict[str, list[dict[str, str]]] = {}

    def records_of(self, unit: Unit, job: RunJob, recorded: Container[str]) -> list[RunRecord]:
        """The records of a finished job's runs that are not `recorded` yet: its run's, or each of its batch's
        (a malformed reply is an error of its run, not of the runs beside it)."""
        try:
            replies = read_batch_reply(job.return_value(), len(unit.runs)) if unit.is_batch else [job.return_value()]
        except ValueError as error:
            return self.error_records(unit, job, str(error), recorded)
        return [self._record_of(planned, job, reply) for planned, reply in zip(unit.runs, replies, strict=True)
                if planned.job_id not in recorded]

    def error_records(self, unit: Unit, job: RunJob, reason: str, recorded: Container[str]) -> list[RunRecord]:
        """Error records for the job's runs not `recorded` yet (a batch's runs share their job's fate), every
        attempt spent."""
        return [RunRecord(**{**self._identity(planned, job), "attempts": 1 + planned.config.retries},
                          worker=job.worker_name or "", status=RunStatus.ERROR, error=reason)
                for planned in unit.runs if planned.job_id not in recorded]

    def _record_of(self, planned: PlannedRun, job: RunJob, reply: Any) -> RunRecord:
        identity = self._identity(planned, job)
        try:
            outcome, store_url = read_worker_reply(reply)
        except ValueError as error:
            return RunRecord(**identity, worker=job.worker_name or "", status=RunStatus.ERROR, error=str(error))
        record = RunRecord.from_outcome(outcome, **identity)
        try:
            record.result_files = self._download_results(planned, outcome.result_files)
            record.log = self._download_log(planned) if outcome.log else None
        except (OSError, ValueError, UserError) as error:
            record.fail_execution(RunStatus.ERROR, f"could not collect the run's files: {error}"
                                  f"{other_store_hint(self.store, store_url)}")
        return record

    def _download_results(self, planned: PlannedRun, names: list[str]) -> list[str]:
        """Result files go flat into results/, as OMNeT++ puts them (its names already carry the
        config, iteration variables and repetition); a suite row's into results/FILE-LINE/, since rows
        of one config and run number in different directories would share names."""
        folder = RESULTS_DIR if planned.row is None else f"{RESULTS_DIR}/{row_name(planned)}"
        with_retries(lambda: self.store.download(f"{planned.job_id}/{RESULTS_DIR}", names, self.out_dir / folder))
        return [f"{folder}/{name}" for name in names]

    def _download_log(self, planned: PlannedRun) -> str:
        name = (f"{planned.info.config}-{planned.info.number}" if planned.row is None else row_name(planned)) + ".log"
        incoming = self.out_dir / "logs" / ".incoming"
        with_retries(lambda: self.store.download(planned.job_id, [LOG_NAME], incoming))
        (incoming / LOG_NAME).replace(self.out_dir / "logs" / name)
        return f"logs/{name}"

    def _identity(self, planned: PlannedRun, job: RunJob) -> dict[str, Any]:
        """Which run a record is of, and how many attempts it took."""
        retries = planned.config.retries
        attempts = 1 + retries - (job.retries_left or 0) if retries else 1
        return {
            "config": planned.info.config, "run": planned.info.number, "job_id": planned.job_id,
            "itervars": dict(planned.info.itervars), "repetition": planned.info.repetition,
            "attempts": attempts, "failed_attempts": self._failed_attempts(job) if attempts > 1 else [],
            **_suite_identity(planned),
        }

    def _failed_attempts(self, job: RunJob) -> list[dict[str, str]]:
        """When and why the job's failed attempts failed (fetched once per job: a batch's runs share them)."""
        if job.id not in self._failures:
            self._failures[job.id] = failed_attempts(job)
        return self._failures[job.id]


def other_store_hint(own: Store, named: str | None) -> str:
    """Why a run's files may be missing: its worker said it put them in another store (never opened)."""
    if not named or named == own.url:
        return ""
    return f" (its worker put them in {redacted_url(named)}, not {redacted_url(own.url)}: is --store the workers'?)"


def row_name(planned: PlannedRun) -> str:
    """`examples-12` for line 12 of examples.csv (`examples-12-r1` for its second repetition)."""
    assert planned.row is not None
    return f"{Path(planned.row.file).stem}-{planned.row.line}" + (f"-r{planned.repeat}" if planned.repeat else "")


def _suite_identity(planned: PlannedRun) -> dict[str, Any]:
    row = planned.row
    if row is None:
        return {}
    return {"suite_row": planned.history_row, "test": row.title, "repeat": planned.repeat}
