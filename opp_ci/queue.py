"""The queue: one RQ job per run, JSON only, and a job class that runs nothing but opp-ci's own
job function, whoever wrote to Redis.

A job's payload is a small JSON object (`RunPayload`). Its id is a hash of everything that
determines the run, so enqueueing the same campaign twice makes the same jobs, and `--resume`
can tell which runs already have a record.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, fields
from typing import Any

from rq import Queue, Retry
from rq.job import Job
from rq.serializers import JSONSerializer

from opp_ci.naming import QUEUE_NAME

JOB_FUNCTION = "opp_ci.worker.execute"
PAYLOAD_VERSION = 1

#: RQ's own timeout is a backstop behind the worker's per-run timeout, which kills the process group.
JOB_TIMEOUT_GRACE = 120
#: How long finished and failed jobs stay in Redis (a campaign reads them long before that).
RESULT_TTL = 7 * 86400

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
_PREFIX = re.compile(r"^[A-Za-z0-9_.\-]+(/[A-Za-z0-9_.\-]+)*$")
#: Options a payload may not pass: they would load code, or write files outside the run's directory.
_FORBIDDEN_OPTION = re.compile(
    r"^--(load-libs|debugger|.*-file|.*-dir|cmdenv-output-file|user-interface|configuration-class)",
)


class PayloadError(ValueError):
    """A job payload that is not a valid opp-ci run: refused, never run."""


class ForeignJobError(RuntimeError):
    """A job that names a function other than opp-ci's run function: refused, never run."""


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
    timeout: float = 3600.0
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
        _expect(isinstance(self.timeout, int | float) and 0 < self.timeout <= 7 * 86400,
                f"bad timeout {self.timeout!r}")


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


def _validate_ini_and_args(ini_files: tuple[str, ...], args: tuple[str, ...]) -> None:
    for ini in ini_files:
        _expect(isinstance(ini, str) and bool(_PREFIX.match(ini)) and ".." not in ini,
                f"ini file {ini!r} must be a relative path inside the working directory")
    for arg in args:
        _expect(isinstance(arg, str) and arg.startswith("--") and "=" in arg,
                f"argument {arg!r} is not an OMNeT++ option of the form --key=value")
        _expect(not _FORBIDDEN_OPTION.match(arg), f"argument {arg!r} is not allowed in a job")


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise PayloadError(message)


def job_id(determinants: dict[str, Any]) -> str:
    """A stable id from what determines a run's result (command, config, run, arguments, limits,
    the digest of the executable and ini files)."""
    canonical = json.dumps(determinants, sort_keys=True, separators=(",", ":"))
    return "opp-ci-" + hashlib.sha256(canonical.encode()).hexdigest()[:32]


class RunJob(Job):
    """An RQ job that can only ever call opp-ci's run function.

    `func` is where RQ turns the stored function name into something callable (with
    `import_attribute`, i.e. any importable name such as `os.system`); here it refuses every name
    but ours. Callbacks are names too, so they are refused the same way.
    """

    @property
    def func(self):
        if self.func_name != JOB_FUNCTION or self.instance is not None:
            raise ForeignJobError(f"refusing to run {self.func_name!r}: an opp-ci worker only runs {JOB_FUNCTION}")
        from opp_ci.worker import execute

        return execute

    @property
    def success_callback(self):
        return None

    @property
    def failure_callback(self):
        return None

    @property
    def stopped_callback(self):
        return None


def make_queue(connection, name: str = QUEUE_NAME) -> Queue:
    return Queue(name, connection=connection, serializer=JSONSerializer, job_class=RunJob)


def enqueue_runs(queue: Queue, jobs: list[tuple[str, RunPayload, int, str]]) -> None:
    """Enqueues (job id, payload, retries, description) tuples in one pipeline."""
    data = [
        Queue.prepare_data(
            JOB_FUNCTION,
            kwargs={"payload": payload.to_json()},
            job_id=identifier,
            timeout=int(payload.timeout) + JOB_TIMEOUT_GRACE,
            result_ttl=RESULT_TTL,
            failure_ttl=RESULT_TTL,
            description=description,
            retry=Retry(max=retries) if retries else None,
        )
        for identifier, payload, retries, description in jobs
    ]
    for start in range(0, len(data), 500):
        with queue.connection.pipeline() as pipeline:
            queue.enqueue_many(data[start:start + 500], pipeline=pipeline)
            pipeline.execute()


def connect_redis(url: str, password: str | None = None, **options):
    """A Redis client from a URL; the password may come separately (OPP_CI_REDIS_PASSWORD), so that
    a task definition can inject it as a secret and the URL carries none."""
    import os

    from redis import Redis

    password = password or os.environ.get("OPP_CI_REDIS_PASSWORD") or None
    if password:
        options["password"] = password
    return Redis.from_url(url, **options)


def redacted(url: str) -> str:
    """A Redis URL fit to print: the password replaced by ***."""
    from urllib.parse import urlparse

    password = urlparse(url).password
    return url.replace(f":{password}@", ":***@") if password else url


def check_redis(url: str) -> str:
    """Fails with a clear message, before anything is started, when Redis cannot be reached."""
    from redis.exceptions import RedisError

    from opp_ci.errors import UserError

    try:
        connect_redis(url, socket_connect_timeout=5).ping()
    except (RedisError, ValueError) as error:  # ValueError: a malformed URL
        raise UserError(f"cannot reach Redis at {redacted(url)}: {error}") from None
    return url
