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
import functools
import json
import math
import os
import tempfile
import types
import typing
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from opp_ci.errors import UserError
from opp_ci.fingerprints.verdicts import FingerprintVerdict

CAMPAIGN_FILE = "campaign.json"
FORMAT_VERSION = 1


class MalformedRecord(ValueError):
    """A worker's reply or a record of campaign.json that is not well-formed: the message names the field."""


class RunStatus(StrEnum):
    PASSED = "passed"
    FAILED = "failed"  # the simulation failed: error exit, or a fingerprint mismatch
    ERROR = "error"  # the infrastructure failed: worker died, executable missing, store unreachable
    TIMEOUT = "timeout"  # killed after the wall-clock timeout


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
    def from_json(cls, data: Any) -> Verdict:
        """A verdict of a record; MalformedRecord when a field has the wrong type."""
        return cls(**parse_fields(cls, data))


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
    def from_json(cls, data: Any):
        """The fields this class knows (others are ignored), each checked against its type (`parse_fields`)."""
        return cls(**parse_fields(cls, data))


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
    """The outcome and the store URL of a job's return value, every field checked; MalformedRecord (a
    ValueError) saying which field is wrong when it is not a well-formed reply."""
    if not isinstance(reply, dict) or not isinstance(reply.get("outcome"), dict):
        raise MalformedRecord(f"the worker returned {type(reply).__name__}, not a run outcome")
    try:
        return RunOutcome.from_json(reply["outcome"]), _typed(reply.get("store"), str | None, "store")
    except MalformedRecord as error:
        raise MalformedRecord(f"the worker's reply is malformed: {error}") from None


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
    shard: int | None = None  # the shard (`--shard I/N`) that ran it; None: the campaign was not sharded
    #: Why a run that did not pass failed (`opp_ci.triage`): its finding, the evidence, every attempt's result.
    triage: dict[str, Any] | None = None

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
    def from_json(cls, data: Any) -> RunRecord:
        """A record of campaign.json, every field checked (`parse_fields`)."""
        return cls(**parse_fields(cls, data))


#: The campaign file's own fields besides its runs (what else it holds is `Campaign.extra`).
_CAMPAIGN_FIELDS = ("campaign", "backend", "command", "started_at", "finished_at", "wall_seconds")


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

    @property
    def passed(self) -> bool:
        """Whether the campaign passes: the gate's decision (`opp_ci.triage`: `--fail-on`, the quarantine) when it
        made one, else whether every run passed."""
        gate = self.extra.get("gate")
        if isinstance(gate, dict) and isinstance(gate.get("passed"), bool):
            return gate["passed"]
        return self.all_passed

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
        """The campaign file's content, every field and record checked; MalformedRecord names the first
        that is wrong."""
        hints = _field_hints(cls)
        values = {name: _typed(data[name], hints[name], name) for name in _CAMPAIGN_FIELDS if name in data}
        runs = _typed(data.get("runs", []), list[Any], "runs")
        records = [_record(run, index, len(runs)) for index, run in enumerate(runs)]
        fixed = {"version", "totals", "runs", *_CAMPAIGN_FIELDS}
        return cls(**{"campaign": "", **values}, runs=records, extra={k: v for k, v in data.items() if k not in fixed})

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
        return cls.from_json(data)


def _record(data: Any, index: int, count: int) -> RunRecord:
    try:
        return RunRecord.from_json(data)
    except MalformedRecord as error:
        raise MalformedRecord(f"run record {index + 1} of {count} is malformed: {error}") from None


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


# --- parsing: every reply and record is checked against the dataclass's field types, here and nowhere else ---


def parse_fields(cls: type, data: Any) -> dict[str, Any]:
    """The fields of dataclass `cls` in the JSON object `data`, each checked against its type and rule (fields
    `data` lacks keep their defaults, others are ignored); MalformedRecord names the first that is wrong."""
    if not isinstance(data, dict):
        raise MalformedRecord(f"it is {_json_kind(data)}, not an object")
    values = {}
    for name, hint in _field_hints(cls).items():
        if name in data:
            values[name] = _typed(data[name], hint, name)
            _RULES.get(name, _any_value)(values[name], name)
    required = [f.name for f in dataclasses.fields(cls)
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    missing = [name for name in required if name not in values]
    if missing:
        raise MalformedRecord(f"{missing[0]} is missing")
    return values


@functools.cache
def _field_hints(cls: type) -> dict[str, Any]:
    return {f.name: typing.get_type_hints(cls)[f.name] for f in dataclasses.fields(cls)}


def _typed(value: Any, hint: Any, name: str) -> Any:
    """`value` as the type `hint` says (an int where a float is expected becomes a float, an enum's value its
    member); MalformedRecord when it is not one."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return value
    if origin in (types.UnionType, typing.Union):
        if value is None and type(None) in args:
            return None
        [inner] = [arg for arg in args if arg is not type(None)]
        return _typed(value, inner, name)
    if origin is list:
        _expect(isinstance(value, list), name, "a list")
        return [_typed(item, args[0], f"{name}[{index}]") for index, item in enumerate(value)]
    if origin is dict:
        _expect(isinstance(value, dict), name, "an object")
        return {key: _typed(item, args[1], f"{name}.{key}") for key, item in value.items()}
    if isinstance(hint, type) and issubclass(hint, StrEnum):
        _expect(isinstance(value, str) and value in hint._value2member_map_, name, "one of " + ", ".join(hint))
        return hint(value)
    if hint is Verdict:
        try:
            return Verdict.from_json(value)
        except MalformedRecord as error:
            raise MalformedRecord(f"{name}: {error}") from None
    return _scalar(value, hint, name)


def _scalar(value: Any, hint: type, name: str) -> Any:
    if hint is float:
        _expect(isinstance(value, int | float) and not isinstance(value, bool), name, "a number")
        _expect(math.isfinite(value) if isinstance(value, float) else abs(value) < 2**1023, name, "a finite number")
        return float(value)
    if hint is int:
        _expect(isinstance(value, int) and not isinstance(value, bool), name, "an integer")
        return value
    if hint in (str, bool):
        _expect(isinstance(value, hint), name, "a string" if hint is str else "true or false")
        return value
    raise TypeError(f"no check for {name} ({hint!r})")  # a field of a type this parser does not know yet


def _expect(condition: bool, name: str, what: str) -> None:
    if not condition:
        raise MalformedRecord(f"{name} is not {what}")


def _json_kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "true or false", type(None): "null"}.get(
        type(value), "a number")


def _any_value(value: Any, name: str) -> None:
    return None


def _not_negative(value: float | int | None, name: str) -> None:
    _expect(value is None or value >= 0, name, "zero or more")


def _relative_path(value: str | None, name: str) -> None:
    """A file name a record gives (read or written under a directory of opp-ci's): relative, without `..`."""
    parts = (value or "x").split("/")
    _expect(all(part not in ("", ".", "..") and "\x00" not in part for part in parts), name,
            "a relative path inside the output directory")


def _relative_paths(value: list[str], name: str) -> None:
    for index, item in enumerate(value):
        _relative_path(item, f"{name}[{index}]")


def _suite_row(value: str | None, name: str) -> None:
    _expect(value is None or value.rpartition(":")[2].isdigit(), name, "FILE:LINE")


#: What a field's value must be beyond its type.
_RULES: dict[str, typing.Callable[[Any, str], None]] = {
    **dict.fromkeys(("wall_seconds", "cpu_seconds", "run", "attempts", "repeat", "repetition", "events", "shard"),
                    _not_negative),
    "result_files": _relative_paths, "log": _relative_path, "file": _relative_path, "suite_row": _suite_row,
}
