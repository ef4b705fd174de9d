"""Job payloads: the JSON a run job carries, validated before anything runs.

A payload only chooses among runs of the simulation a worker was started for (its config, run
number, ini files, extra options and limits); the command, working directory and store are the
worker's own settings. Its job id is a hash of everything that determines the run, so enqueueing the
same campaign twice makes the same jobs and `--resume` can tell which runs already have a record.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, fields
from typing import Any

from opp_ci.options import default

PAYLOAD_VERSION = 1
#: The longest wall-clock timeout a job may ask for.
MAX_TIMEOUT = 7 * 86400
#: A log limit must leave room for the head and tail OMNeT++'s verdict lines are in.
MIN_LOG_LIMIT = 8192
#: The most runs one batch job may carry.
MAX_BATCH = 64

#: A config name as OMNeT++ takes it (`[Config At@Name]`, `[Config Ünï]`): no whitespace, control character
#: or path separator (it names log files), not an option.
_NAME = re.compile(r"^[^\s\x00-\x1f\x7f/\\\-][^\s\x00-\x1f\x7f/\\]{0,199}$")
#: A file name inside the working directory (an ini file may have spaces or non-ASCII letters): relative,
#: no `..`, no control character, not an option.
_FILE_PART = re.compile(r"^[^\x00-\x1f\x7f/\\]+$")
_PREFIX = re.compile(r"^[A-Za-z0-9_.\-]+(/[A-Za-z0-9_.\-]+)*$")
#: Options a payload may not pass: they would load code, or write files outside the run's directory.
_FORBIDDEN_OPTION = re.compile(
    r"^--(load-libs|debugger|.*-file|.*-dir|cmdenv-output-file|user-interface|configuration-class)",
)


class PayloadError(ValueError):
    """A job payload that is not a valid opp-ci run: refused, never run."""


class _JsonPayload:
    """What the payload kinds share: their tuples travel as JSON lists."""

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["ini"], data["args"] = list(self.ini), list(self.args)
        return data


@dataclass(frozen=True)
class RunPayload(_JsonPayload):
    """Everything a worker needs to run one run. The worker's own settings (the simulation command
    and project directory, the result store) are not part of it: a payload can only choose among
    runs of the simulation the worker was started for."""

    config: str
    run: int
    prefix: str  # where the worker puts this run's files in the store
    ini: tuple[str, ...] = ("omnetpp.ini",)
    args: tuple[str, ...] = ()
    sim_time_limit: str | None = None
    cpu_time_limit: str | None = None
    fingerprint: str | None = None
    timeout: float = default("timeout")
    log_limit: int = default("log-limit")  # bytes of stdout+stderr kept (head and tail); 0: all
    result_limit: int = default("result-limit")  # bytes of result files; 0: no limit
    memory_limit: int = default("memory-limit")  # RLIMIT_AS of the simulation; 0: none
    #: A suite row's working directory, relative to the worker's project root (None: the spec's).
    working_dir: str | None = None
    #: A suite row's executable, relative to the project root (None: the worker's simulation command).
    executable: str | None = None
    version: int = PAYLOAD_VERSION
    kind: str = "run"

    @classmethod
    def from_json(cls, data: Any) -> RunPayload:
        """Validates a payload read from Redis; anything unexpected raises PayloadError."""
        if not isinstance(data, dict):
            raise PayloadError(f"payload must be a JSON object, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise PayloadError(f"unknown payload fields: {sorted(unknown)}")
        missing = {"config", "run", "prefix"} - set(data)
        if missing:
            raise PayloadError(f"missing payload fields: {sorted(missing)}")
        payload = cls(**{**data, "ini": tuple(data.get("ini", ("omnetpp.ini",))),
                         "args": tuple(data.get("args", ()))})
        payload.validate()
        return payload

    def validate(self) -> None:
        _expect(self.kind == "run", f"payload kind {self.kind!r} is not 'run'")
        _expect(self.version == PAYLOAD_VERSION, f"payload version {self.version!r} is not {PAYLOAD_VERSION}")
        _expect(isinstance(self.config, str) and bool(_NAME.match(self.config)), f"bad config {self.config!r}")
        _expect(isinstance(self.run, int) and not isinstance(self.run, bool) and self.run >= 0,
                f"bad run number {self.run!r}")
        _expect(isinstance(self.prefix, str) and bool(_PREFIX.match(self.prefix)) and ".." not in self.prefix,
                f"bad store prefix {self.prefix!r}")
        _validate_ini_and_args(self.ini, self.args)
        for limit in (self.sim_time_limit, self.cpu_time_limit):
            _expect(limit is None or (isinstance(limit, str) and re.fullmatch(r"[\w.+\-/,]+", limit) is not None),
                    f"bad limit {limit!r}")
        # Fingerprints: `hash/ingredients`, comma-separated groups of space-separated alternatives; `~` in
        # ingredients negates one (e.g. `~tNl`).
        _expect(self.fingerprint is None or (isinstance(self.fingerprint, str) and len(self.fingerprint) <= 2000
                                             and re.fullmatch(r"[\w.+\-/,~ ]+", self.fingerprint) is not None),
                f"bad fingerprint {self.fingerprint!r}")
        _expect(isinstance(self.timeout, int | float) and 0 < self.timeout <= MAX_TIMEOUT,
                f"timeout {self.timeout!r}s is beyond the limit of a job ({MAX_TIMEOUT}s, 7 days)")
        for name in ("log_limit", "result_limit", "memory_limit"):
            value = getattr(self, name)
            _expect(isinstance(value, int) and not isinstance(value, bool) and value >= 0,
                    f"bad {name.replace('_', '-')} {value!r}")
        _expect(self.log_limit == 0 or self.log_limit >= MIN_LOG_LIMIT,
                f"log-limit {self.log_limit} is below {MIN_LOG_LIMIT} bytes")
        for name, path in (("working directory", self.working_dir), ("executable", self.executable)):
            _expect(path is None or (isinstance(path, str) and (path == "." or bool(_PREFIX.match(path)))
                                     and ".." not in path.split("/")),
                    f"{name} {path!r} must be a relative path inside the project")


@dataclass(frozen=True)
class ListPayload(_JsonPayload):
    """Asks a worker for the runs of a config (`-s -q runs`), for backends whose orchestrator does not
    have the simulation (the cloud: it lives in the worker image)."""

    config: str
    runs: str | None = None
    ini: tuple[str, ...] = ("omnetpp.ini",)
    args: tuple[str, ...] = ()
    version: int = PAYLOAD_VERSION
    kind: str = "list"

    @classmethod
    def from_json(cls, data: Any) -> ListPayload:
        _expect(isinstance(data, dict) and set(data) <= {f.name for f in fields(cls)} and "config" in data,
                f"not a list payload: {data!r}"[:300])
        payload = cls(**{**data, "ini": tuple(data.get("ini", ("omnetpp.ini",))), "args": tuple(data.get("args", ()))})
        _expect(payload.kind == "list" and payload.version == PAYLOAD_VERSION, "not a version 1 list payload")
        _expect(isinstance(payload.config, str) and bool(_NAME.match(payload.config)), f"bad config {payload.config!r}")
        _expect(payload.runs is None or (isinstance(payload.runs, str) and 0 < len(payload.runs) <= 2000),
                f"bad run filter {payload.runs!r}")
        _validate_ini_and_args(payload.ini, payload.args)
        return payload


@dataclass(frozen=True)
class BatchPayload:
    """Several short runs for one worker to execute one after another, each as `RunPayload` says:
    one queue job instead of one per run, for runs whose history says they take well under a second
    (a job's own cost in Redis round trips is then a large part of the run's)."""

    runs: tuple[RunPayload, ...]
    version: int = PAYLOAD_VERSION
    kind: str = "batch"

    @property
    def timeout(self) -> float:
        """The job's timeout: its runs', one after another (each run keeps its own)."""
        return sum(run.timeout for run in self.runs)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "version": self.version, "runs": [run.to_json() for run in self.runs]}

    @classmethod
    def from_json(cls, data: Any) -> BatchPayload:
        _expect(isinstance(data, dict) and set(data) <= {"kind", "version", "runs"}, "not a batch payload")
        _expect(data.get("kind") == "batch" and data.get("version") == PAYLOAD_VERSION,
                "not a version 1 batch payload")
        runs = data.get("runs")
        _expect(isinstance(runs, list) and 0 < len(runs) <= MAX_BATCH,
                f"a batch carries 1 to {MAX_BATCH} runs")
        return cls(tuple(RunPayload.from_json(run) for run in runs))  # each run validated as it is read


def batch_job_id(run_ids: list[str]) -> str:
    """A batch's job id, from its runs' ids (the same batch of the same runs gets the same id)."""
    return "opp-ci-batch-" + hashlib.sha256(",".join(run_ids).encode()).hexdigest()[:32]


def _validate_ini_and_args(ini_files: tuple[str, ...], args: tuple[str, ...]) -> None:
    for ini in ini_files:
        _expect(_is_relative_file(ini), f"ini file {ini!r} must be a relative path inside the working directory")
    for arg in args:
        _expect(isinstance(arg, str) and arg.startswith("--") and "=" in arg,
                f"argument {arg!r} is not an OMNeT++ option of the form --key=value")
        _expect(not _FORBIDDEN_OPTION.match(arg), f"argument {arg!r} is not allowed in a job")


def _is_relative_file(path: Any) -> bool:
    """A relative path inside the working directory: no `..`, no control character, not an option."""
    if not isinstance(path, str) or not path or len(path) > 1000 or path.startswith(("-", "/")):
        return False
    parts = path.split("/")
    return all(bool(_FILE_PART.match(part)) and part != ".." for part in parts)


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise PayloadError(message)


def job_id(determinants: dict[str, Any]) -> str:
    """A stable id from what determines a run's result (command, config, run, arguments, limits,
    the digest of the executable and ini files)."""
    canonical = json.dumps(determinants, sort_keys=True, separators=(",", ":"))
    return "opp-ci-" + hashlib.sha256(canonical.encode()).hexdigest()[:32]
