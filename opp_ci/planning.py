"""Planning: the runs of a campaign, each with its job id and payload, asked from the simulation
itself (or, for the cloud, from a worker that has it) before anything is queued."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

from rq.job import JobStatus

from opp_ci.errors import UserError
from opp_ci.jobs import JOB_FUNCTION, RunJob, failure_text
from opp_ci.omnetpp import ENUMERATION_TIMEOUT, ListedRun, Simulation, list_runs
from opp_ci.payloads import ListPayload, RunPayload, job_id
from opp_ci.queue import make_queue
from opp_ci.spec import CampaignSpec, ConfigSpec

#: How often a list job is looked at while a worker lists the runs.
LIST_POLL_INTERVAL = 0.1


@dataclass(frozen=True)
class PlannedRun:
    info: ListedRun
    config: ConfigSpec
    job_id: str
    payload: RunPayload

    @property
    def description(self) -> str:
        return f"{self.info.config} #{self.info.number}"


def simulation_of(spec: CampaignSpec) -> Simulation:
    return Simulation(tuple(spec.command), spec.working_dir, tuple(spec.ini))


def plan(spec: CampaignSpec) -> list[PlannedRun]:
    """Asks the simulation for the runs of every config; fails before anything is queued."""
    simulation = simulation_of(spec)
    digest = simulation.digest()
    planned = []
    for config in spec.configs:
        for info in list_runs(simulation, config.name, config.runs, config.args):
            planned.append(_planned(spec, config, info, digest))
    return planned


def plan_remotely(spec: CampaignSpec, connection: Any, timeout: float = ENUMERATION_TIMEOUT + 300) -> list[PlannedRun]:
    """Plans through the queue: a worker asks its simulation for the runs of each config. For backends
    whose orchestrator does not have the simulation (the cloud: it is in the worker image)."""
    queue = make_queue(connection)
    requests = {}
    for config in spec.configs:
        payload = ListPayload(config.name, config.runs, tuple(spec.ini), config.args)
        requests[config.name] = queue.enqueue_call(
            JOB_FUNCTION, kwargs={"payload": payload.to_json()}, job_id=f"opp-ci-list-{secrets.token_hex(8)}",
            timeout=ENUMERATION_TIMEOUT + 60, result_ttl=3600,
        )
    planned = []
    for config in spec.configs:
        answer = _wait_for(requests[config.name], timeout)
        if answer.get("error"):
            raise UserError(f"config {config.name}: {answer['error']}")
        for run in answer.get("runs", []):
            info = ListedRun(config.name, int(run["number"]), dict(run.get("itervars", {})), run.get("repetition"))
            planned.append(_planned(spec, config, info, str(answer.get("digest", ""))))
    return planned


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
