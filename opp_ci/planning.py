"""Planning: the runs of a campaign, each with its job id and payload, asked from the simulation
itself (or, for the cloud, from a worker that has it) before anything is queued."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rq.job import JobStatus

from opp_ci import provenance
from opp_ci.errors import UserError
from opp_ci.jobs import JOB_FUNCTION, RunJob, failure_text
from opp_ci.omnetpp import ENUMERATION_TIMEOUT, ListedRun, RunListings, Simulation
from opp_ci.payloads import ListPayload, RunPayload, job_id
from opp_ci.queue import make_queue
from opp_ci.spec import CampaignSpec, ConfigSpec

if TYPE_CHECKING:  # opp_ci.fingerprints.suites (dataclasses and patterns: 5 ms) is imported by suite campaigns only
    from opp_ci.fingerprints.suites import SuiteRow

#: How often a list job is looked at while a worker lists the runs.
LIST_POLL_INTERVAL = 0.1
#: How long a list job's answer is kept: it is read at once (a run's result is kept a week: queue.RESULT_TTL).
LIST_RESULT_TTL = 3600


@dataclass(frozen=True)
class PlannedRun:
    """A run to queue: which run, its settings, its job id and payload; for a suite row, the row."""

    info: ListedRun
    config: ConfigSpec
    job_id: str
    payload: RunPayload
    row: SuiteRow | None = None
    repeat: int = 0

    @property
    def description(self) -> str:
        if self.row is not None:
            return f"{self.row.where()} {self.row.title}" + (f" (repetition {self.repeat})" if self.repeat else "")
        return f"{self.info.config} #{self.info.number}"

    @property
    def history_row(self) -> str | None:
        """The suite row as records and the history name it (`FILE:LINE`); None for a config's run."""
        return None if self.row is None else f"{self.row.file}:{self.row.line}"


def plan(spec: CampaignSpec, listings: RunListings | None = None) -> list[PlannedRun]:
    """Asks the simulation for the runs of every config (all at once, or from `listings` started
    earlier), and reads the suite rows; fails before anything is queued."""
    planned = plan_suites(spec)
    if not spec.configs:
        return planned
    with listings or RunListings.of_spec(spec) as asked:
        digest = asked.simulation.digest()
        for config in spec.configs:
            for info in asked.runs(config.name, config.runs, tuple(config.args)):
                planned.append(_planned(spec, config, info, digest))
    return planned


def plan_suites(spec: CampaignSpec, built: bool = True) -> list[PlannedRun]:
    """One planned run per selected row of the spec's suite CSVs (and per repetition with --repeat).
    Needs only the CSVs, so the cloud's orchestrator plans them too (`built=False`: the executables are
    in the workers' image, not here)."""
    settings = spec.suites
    if not settings.files:
        return []
    from opp_ci.fingerprints.suites import read_suite, select

    planned = []
    for file in settings.files:
        rows = [replace(row, file=Path(file)) for row in read_suite(spec.project_dir / file)]
        chosen = select(rows, settings.match, settings.exclude, settings.tags, settings.exclude_tags)
        for row in chosen:
            for repeat in range(settings.repeat):
                planned.append(_planned_row(spec, row, repeat, built))
    if settings.files and not planned:
        raise UserError(f"no suite rows selected from {', '.join(settings.files)}: check --match, --exclude and "
                        f"--tag")
    return planned


def _planned_row(spec: CampaignSpec, row: SuiteRow, repeat: int, built: bool = True) -> PlannedRun:
    from opp_ci.fingerprints.suites import fingerprint_option, row_parts

    settings = spec.suites
    parts = row_parts(row, settings.args)
    if row.executable is None and not spec.command:
        raise UserError(f"{row.where()}: the row names no executable and opp-ci.toml has no `command`; add one "
                        f"(e.g. command = \"opp_run -l src/INET\") or start the row with its executable")
    root = spec.project_dir.resolve()
    directory = row.directory(root).resolve()
    if not directory.is_relative_to(root) or not directory.is_dir():
        raise UserError(f"{row.where()}: working directory {row.workingdir!r} is not a directory under {root}")
    executable = _relative_to_root(row, directory, root, built) if row.executable else None
    sets = row.chosen(settings.ingredients)
    config = ConfigSpec(parts.config, timeout=spec.configs[0].timeout if spec.configs else ConfigSpec("").timeout,
                        retries=spec.configs[0].retries if spec.configs else ConfigSpec("").retries)
    command = [executable] if executable else spec.command
    digest = Simulation(tuple(command), directory, parts.ini).digest() if executable and built else ""
    identifier = job_id({"suite": str(row.file),
                         "row": row.line, "title": row.title, "sets": fingerprint_option(sets), "repeat": repeat,
                         "command": command, "digest": digest, "limit": row.sim_time_limit,
                         **({"args": list(settings.args)} if settings.args else {})})
    payload = RunPayload(
        config=parts.config, run=parts.run, prefix=identifier, ini=parts.ini, args=parts.args,
        sim_time_limit=row.sim_time_limit or None, cpu_time_limit=settings.cpu_time_limit,
        fingerprint=fingerprint_option(sets) if sets else None, timeout=config.timeout,
        working_dir=str(directory.relative_to(root)) if directory != root else ".", executable=executable,
    )
    return PlannedRun(ListedRun(parts.config, parts.run), config, identifier, payload, row, repeat)


def _relative_to_root(row: SuiteRow, directory: Path, root: Path, built: bool) -> str:
    path = (directory / str(row.executable)).resolve()
    if not path.is_relative_to(root) or (built and not path.is_file()):
        raise UserError(f"{row.where()}: executable {row.executable!r} is not a file inside the project {root}; "
                        f"build it first, or name one inside the project")
    return str(path.relative_to(root))


def plan_remotely(spec: CampaignSpec, connection: Any, timeout: float = ENUMERATION_TIMEOUT + 300) -> list[PlannedRun]:
    """Plans through the queue: a worker asks its simulation for the runs of each config. For backends
    whose orchestrator does not have the simulation (the cloud: it is in the worker image)."""
    queue = make_queue(connection)
    requests = {}
    for config in spec.configs:
        payload = ListPayload(config.name, config.runs, tuple(spec.ini), config.args)
        requests[config.name] = queue.enqueue_call(
            JOB_FUNCTION, kwargs={"payload": payload.to_json()}, job_id=f"opp-ci-list-{secrets.token_hex(8)}",
            timeout=ENUMERATION_TIMEOUT + 60, result_ttl=LIST_RESULT_TTL,
        )
    planned = []
    for config in spec.configs:
        answer = _wait_for(requests[config.name], timeout)
        if answer.get("error"):
            raise UserError(f"config {config.name}: {answer['error']}")
        _record_workers(spec, answer)
        for run in answer.get("runs", []):
            info = ListedRun(config.name, int(run["number"]), dict(run.get("itervars", {})), run.get("repetition"))
            planned.append(_planned(spec, config, info, str(answer.get("digest", ""))))
    return planned


def _record_workers(spec: CampaignSpec, answer: dict[str, Any]) -> None:
    """The workers' OMNeT++ and environment as a worker's listing gave them: known keys and short strings
    only (a reply is not trusted)."""
    for name, keys in (("omnetpp", ("version", "root", "found_in")), ("environment", provenance.KEYS)):
        described = answer.get(name)
        if isinstance(described, dict) and name not in spec.environment:
            spec.environment[name] = {k: described[k][:provenance.LONGEST] for k in keys
                                      if isinstance(described.get(k), str)}


def _wait_for(job: RunJob, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = job.get_status(refresh=True)
        if status == JobStatus.FINISHED and isinstance(job.return_value(), dict):
            return job.return_value()
        if status in (JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED):
            raise UserError(f"a worker could not list the runs: {failure_text(job)}")
        time.sleep(LIST_POLL_INTERVAL)
    raise UserError(
        f"no worker listed the runs within {timeout:.0f}s: are the workers running, and can they reach Redis?"
    )


def _planned(spec: CampaignSpec, config: ConfigSpec, info: ListedRun, digest: str) -> PlannedRun:
    determinants = {
        "command": spec.command, "ini": spec.ini, "config": config.name, "run": info.number,
        "args": list(config.args), "sim_time_limit": config.sim_time_limit,
        "cpu_time_limit": config.cpu_time_limit, "digest": digest,
    }
    identifier = job_id(determinants)
    payload = RunPayload(
        config=config.name, run=info.number, prefix=identifier, ini=tuple(spec.ini), args=config.args,
        sim_time_limit=config.sim_time_limit, cpu_time_limit=config.cpu_time_limit, timeout=config.timeout,
        log_limit=config.log_limit, result_limit=config.result_limit, memory_limit=config.memory_limit,
    )
    return PlannedRun(info, config, identifier, payload)
