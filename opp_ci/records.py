"""The records a campaign produces: one `RunRecord` per simulation run, and the campaign file.

`campaign.json` in the output directory is::

    {"version": 1, "campaign": ID, "backend": "local", "command": [...], "started_at": ISO,
     "finished_at": ISO, "wall_seconds": float, "totals": {"passed": n, ...}, "runs": [RunRecord...]}

Reports (JUnit, summary), regression checks and publishing read only this file and the result
files it names, so they work the same whichever backend ran the campaign.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import tempfile
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from opp_ci.errors import UserError

CAMPAIGN_FILE = "campaign.json"
FORMAT_VERSION = 1


class RunStatus(StrEnum):
    PASSED = "passed"
    FAILED = "failed"  # the simulation failed: error exit, or a fingerprint mismatch
    ERROR = "error"  # the infrastructure failed: worker died, executable missing, store unreachable
    TIMEOUT = "timeout"  # killed after the wall-clock timeout


class FingerprintVerdict(StrEnum):
    NONE = "none"  # no fingerprint was checked
    VERIFIED = "verified"
    MISMATCH = "mismatch"


class Judgement(StrEnum):
    """What a check says about one run."""

    PASS = "pass"  # checked, and it holds
    FAIL = "fail"  # checked, and it regressed: the run fails
    ERROR = "error"  # could not be checked (e.g. a broken result file): the run is an error
    EXPECTED = "expected"  # the run failed the way the check expects (a FAIL/ERROR row, a recording run)


@dataclass(frozen=True)
class Verdict:
    """One check's verdict on one run. `file` names what it is about, for an annotation."""

    check: str
    judgement: Judgement
    message: str = ""
    file: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"check": self.check, "judgement": self.judgement.value, "message": self.message, "file": self.file}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Verdict:
        return cls(str(data["check"]), Judgement(data["judgement"]), str(data.get("message", "")), data.get("file"))


@dataclass(kw_only=True)
class RunOutcome:
    """What a worker observed when it executed one run: the job's return value, serialised here
    and nowhere else. Plain JSON-compatible fields only."""

    status: RunStatus = RunStatus.ERROR
    exit_code: int | None = None
    wall_seconds: float = 0.0
    cpu_seconds: float = 0.0
    worker: str = ""
    error: str | None = None
    fingerprint: FingerprintVerdict = FingerprintVerdict.NONE
    fingerprint_calculated: str | None = None
    fingerprint_expected: str | None = None
    result_files: list[str] = field(default_factory=list)  # relative to the output directory (the store, for a worker)
    log: str | None = None  # relative to the output directory
    log_tail: str = ""
    sim_time: str | None = None  # the simulation time reached, as OMNeT++ printed it
    events: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any]):
        """The fields this class knows (others are ignored), with their enums restored."""
        known = {f.name for f in dataclasses.fields(cls)}
        value = cls(**{k: v for k, v in data.items() if k in known})
        value.status, value.fingerprint = RunStatus(value.status), FingerprintVerdict(value.fingerprint)
        return value


def _plain(value: Any) -> Any:
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, list):
        return [item.to_json() if isinstance(item, Verdict) else item for item in value]
    return value


def worker_reply(outcome: RunOutcome, store_url: str) -> dict[str, Any]:
    """What the job function returns: the outcome and the store its files went to."""
    return {"outcome": outcome.to_json(), "store": store_url}


def read_worker_reply(reply: Any) -> tuple[RunOutcome, str | None]:
    """The outcome and store URL of a job's return value; ValueError when it is not a reply."""
    if not isinstance(reply, dict) or not isinstance(reply.get("outcome"), dict):
        raise ValueError(f"the worker returned {type(reply).__name__}, not a run outcome")
    try:
        return RunOutcome.from_json(reply["outcome"]), reply.get("store")
    except (TypeError, ValueError) as error:
        raise ValueError(f"the worker returned a malformed outcome: {error}") from None


def read_batch_reply(reply: Any, runs: int) -> list[Any]:
    """The per-run replies of a batch job's return value; ValueError when it is not one for `runs` runs."""
    if not isinstance(reply, dict) or not isinstance(reply.get("batch"), list) or len(reply["batch"]) != runs:
        raise ValueError(f"the worker returned {type(reply).__name__}, not the outcomes of a batch of {runs} runs")
    return reply["batch"]


def derive_status(execution: RunStatus, error: str | None, verdicts: list[Verdict]) -> tuple[RunStatus, str | None]:
    """A run's status: how it executed, then what the checks say. An expected failure passes; a
    run that passed fails on the first failing verdict (or is an error when it could not be checked)."""
    if execution is not RunStatus.PASSED and any(v.judgement is Judgement.EXPECTED for v in verdicts):
        execution, error = RunStatus.PASSED, None
    if execution is RunStatus.PASSED:
        for verdict in verdicts:
            if verdict.judgement is Judgement.FAIL:
                return RunStatus.FAILED, verdict.message
            if verdict.judgement is Judgement.ERROR:
                return RunStatus.ERROR, verdict.message
    return execution, error


@dataclass(kw_only=True)
class RunRecord(RunOutcome):
    """What is known about one run after it ended: which run, how it executed, what the checks say.

    `status` and `error` are derived from `execution` / `execution_error` (the worker's outcome) and
    `verdicts`, so judging a record again is a recomputation, never an undo.
    """

    config: str = field(kw_only=False)
    run: int = field(kw_only=False)
    job_id: str = ""
    itervars: dict[str, str] = field(default_factory=dict)
    repetition: int | None = None
    attempts: int = 1
    #: When, where and why each failed attempt failed ({"at": ISO time, "worker", "reason"}): a worker
    #: died under it, or the job failed (an infrastructure error); the runs it retried say why.
    failed_attempts: list[dict[str, str]] = field(default_factory=list)
    execution: RunStatus | None = None  # None: not judged yet, `status` is the execution's
    execution_error: str | None = None
    verdicts: list[Verdict] = field(default_factory=list)
    suite_row: str | None = None  # `FILE:LINE` of the fingerprint suite row this run is
    test: str | None = None  # the row's `workingdir args`: its test name
    repeat: int = 0  # which repetition of the row (--repeat)

    def __post_init__(self) -> None:
        if self.execution is None:
            self.execution, self.execution_error = RunStatus(self.status), self.error

    @classmethod
    def from_outcome(cls, outcome: RunOutcome, **identity: Any) -> RunRecord:
        return cls(**{f.name: getattr(outcome, f.name) for f in dataclasses.fields(RunOutcome)}, **identity)

    @property
    def key(self) -> tuple[str, str, int, int]:
        """The order of records: suite rows by file and line, then configs and runs."""
        if self.suite_row:
            file, _, line = self.suite_row.rpartition(":")
            return (file, f"{int(line):08d}", self.repeat, 0)
        return ("", self.config, self.run, 0)

    @property
    def name(self) -> str:
        """A test-case name: a suite row's title, the config's iteration variables, or the run number."""
        if self.test:
            return self.test + (f" (repetition {self.repeat})" if self.repeat else "")
        if self.itervars:
            variables = ", ".join(f"${k}={v}" for k, v in self.itervars.items())
            if self.repetition is not None and "repetition" not in self.itervars:
                variables += f", $repetition={self.repetition}"
            return f"#{self.run}: {variables}"
        return f"#{self.run}"

    def judge(self, verdicts: list[Verdict]) -> None:
        """Sets the checks' verdicts (replacing earlier ones) and the status they give."""
        self.verdicts = list(verdicts)
        self.status, self.error = derive_status(self.execution, self.execution_error, self.verdicts)

    def fail_execution(self, status: RunStatus, error: str) -> None:
        """The run's execution turned out not to have worked (e.g. its files could not be collected)."""
        self.execution, self.execution_error = status, error
        self.judge(self.verdicts)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunRecord:
        record = super().from_json(data)
        record.execution = RunStatus(record.execution)
        record.verdicts = [v if isinstance(v, Verdict) else Verdict.from_json(v) for v in record.verdicts]
        return record


@dataclass
class Campaign:
    """The campaign file: its metadata and every run record."""

    campaign: str
    runs: list[RunRecord] = field(default_factory=list)
    backend: str = "local"
    command: list[str] = field(default_factory=list)
    started_at: str | None = None
    finished_at: str | None = None
    wall_seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. "cost", "regression"

    def totals(self) -> dict[str, int]:
        counts = {status.value: 0 for status in RunStatus}
        for record in self.runs:
            counts[record.status.value] += 1
        counts["total"] = len(self.runs)
        return counts

    @property
    def all_passed(self) -> bool:
        return all(r.status is RunStatus.PASSED for r in self.runs)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": FORMAT_VERSION,
            "campaign": self.campaign,
            "backend": self.backend,
            "command": self.command,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "wall_seconds": self.wall_seconds,
            "totals": self.totals(),
            **self.extra,
            "runs": [r.to_json() for r in sorted(self.runs, key=lambda r: r.key)],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Campaign:
        fixed = {"version", "campaign", "backend", "command", "started_at", "finished_at",
                 "wall_seconds", "totals", "runs"}
        return cls(
            campaign=data.get("campaign", ""),
            runs=[RunRecord.from_json(r) for r in data.get("runs", [])],
            backend=data.get("backend", "local"),
            command=data.get("command", []),
            started_at=data.get("started_at"),
            finished_at=data.get("finished_at"),
            wall_seconds=data.get("wall_seconds", 0.0),
            extra={k: v for k, v in data.items() if k not in fixed},
        )

    def write(self, out_dir: Path, compact: bool = False) -> Path:
        """Writes campaign.json atomically, so a reader never sees half a file. `compact` (the
        checkpoints while runs arrive) skips the indentation: it is several times faster."""
        return write_json_atomically(Path(out_dir) / CAMPAIGN_FILE, self.to_json(), compact)

    @classmethod
    def read(cls, out_dir: Path) -> Campaign:
        """The campaign of `out_dir`; ValueError (with what is wrong) for anything that is not one."""
        data = json.loads((Path(out_dir) / CAMPAIGN_FILE).read_text())
        if not isinstance(data, dict) or not isinstance(data.get("runs", []), list):
            raise ValueError("not a campaign (a JSON object with a list of runs)")
        try:
            return cls.from_json(data)
        except (TypeError, KeyError, AttributeError) as error:
            raise ValueError(f"a malformed run record ({type(error).__name__}: {error})") from None


def write_json_atomically(path: Path, data: Any, compact: bool = False) -> Path:
    """Writes JSON through a temporary file; a failure (a full disk) is a UserError and leaves the old
    file as it was. `compact` uses json's C encoder (indented output takes the pure-Python one)."""
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(data, separators=(",", ":")) if compact else json.dumps(data, indent=2))
            f.write("\n")
        os.replace(tmp, path)
    except OSError as error:
        if tmp:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        raise UserError(f"cannot write {path}: {error.strerror or error}; free some space or choose another "
                        f"--out") from None
    return path
