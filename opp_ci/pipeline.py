"""A campaign, stage by stage, written once: check → build → start → plan → provision → dispatch and
collect → judge → report.

`execute` is what `opp-ci run` and `opp-ci baseline update` call; `run_campaign` is every stage after
the build, for a backend made elsewhere (the tests' harnesses). Nothing is provisioned before the input,
the plan and the checks' settings are good (exit 2 before anything starts), and what a backend started
is removed whatever happens next.

What loads Redis and RQ (the planner, the orchestrator, the reports) is imported inside the stages that
use it: the local backend's Redis and workers start first, and start while it loads.
"""

from __future__ import annotations

import contextlib
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opp_ci import outdir, output, triage
from opp_ci.backends import Backend, Infrastructure, get_backend
from opp_ci.checks import Check, judge_campaign, prepare_runs
from opp_ci.errors import UserError
from opp_ci.naming import new_campaign_id
from opp_ci.omnetpp import RunListings
from opp_ci.payloads import PayloadError
from opp_ci.records import CAMPAIGN_FILE, Campaign, RunRecord, RunStatus
from opp_ci.shards import SHARD_KEY
from opp_ci.spec import CampaignSpec

if TYPE_CHECKING:
    from opp_ci.planning import PlannedRun
    from opp_ci.progress import ProgressDisplay

#: Records that are not re-run by --resume: the run itself decided them.
DECIDED = {RunStatus.PASSED, RunStatus.FAILED, RunStatus.TIMEOUT}
#: How long an external Redis may be unreachable before the campaign gives up.
REDIS_OUTAGE_LIMIT = 120.0


def execute(spec: CampaignSpec, password_parameter: str | None = None, build_command: str | None = None,
            no_build: bool = False) -> Campaign:
    """The whole campaign for the command line: the backend chosen and checked, the model built (local
    backend), then every other stage while the backend's workers start."""
    backend = choose_backend(spec, password_parameter)
    if spec.backend == "local":
        build_model(spec, build_command, no_build)
    local_plan = spec.configs and not backend.plans_remotely
    with RunListings.of_spec(spec) if local_plan else contextlib.nullcontext() as listings, \
            backend.start_early(spec):
        from opp_ci.progress import make_display

        return run_campaign(spec, backend, make_display, listings)


# --- check ---

def choose_backend(spec: CampaignSpec, password_parameter: str | None = None) -> Backend:
    """The backend the spec names, its settings checked before anything starts."""
    workers_elsewhere = spec.workers == 0 if spec.backend == "local" else bool(spec.redis_url)
    check_store(spec, workers_elsewhere)
    if spec.backend == "local":
        return get_backend("local", workers=spec.workers, redis_url=spec.redis_url)
    from opp_ci import cloud
    from opp_ci.backends.ecs import options_from

    if spec.redis_url:
        if not password_parameter:
            raise UserError("--backend ecs --redis-url needs --redis-password-parameter (from `opp-ci cluster up`)")
        if not spec.store:
            cloud.campaign_of_parameter(password_parameter)  # its store is known, checked before anything starts
        region = cloud.resolve_region(spec.ecs["region"], os.environ)
        return get_backend("ecs", attach=(spec.redis_url, password_parameter, region, spec.store))
    return get_backend("ecs", options=options_from(spec, os.environ))


def check_store(spec: CampaignSpec, workers_elsewhere: bool) -> None:
    """The runs' files are collected from one store, never from one a worker's reply names: the campaign's own,
    or, for workers started elsewhere, the one they were given (`--store`; an ECS cluster's is known)."""
    store, local = spec.store, spec.backend == "local"
    if store and not workers_elsewhere:
        where = "add --workers 0" if local else "attach to a cluster of `opp-ci cluster up` with --redis-url"
        raise UserError(f"--store {store} (or OPP_CI_STORE) names the store of workers started elsewhere, and this "
                        f"campaign starts its own: drop it, or {where}")
    if workers_elsewhere and not store and local:
        raise UserError("--workers 0: the runs' files are in the store of the workers started elsewhere; name it "
                        "with --store DIR or s3://BUCKET/PREFIX (their `opp-ci worker --store`)")
    if store:
        from opp_ci.store import open_store

        open_store(store)  # an unknown scheme is an error now, not after the runs


# --- build ---

def build_model(spec: CampaignSpec, build_command: str | None, no_build: bool) -> None:
    """OMNeT++'s environment applied for the build, the listing and the runs (before any of them starts),
    its version noted for campaign.json; then the model built, when there is a build command."""
    from opp_ci import image, omnetpp_root, provenance

    command = image.local_build_command(spec.project_dir, build_command, no_build)
    found = omnetpp_root.activate(omnetpp_root.needs_omnetpp([command, spec.command], spec.project_dir))
    if found:
        spec.environment["omnetpp"] = found.describe()
    version = spec.environment["omnetpp"]["version"] if found else None
    spec.environment["environment"] = provenance.describe(spec.project_dir, found, version)
    if command:
        image.build_model(spec.project_dir, command)


# --- plan, provision, dispatch and collect, judge, report ---

def run_campaign(spec: CampaignSpec, backend: Backend, display_factory: Any, listings: RunListings | None = None
                 ) -> Campaign:
    """Plans, provisions, runs, collects and judges a whole campaign; returns it with every record."""
    from opp_ci.planning import plan, plan_remotely, plan_suites
    from opp_ci.queue import connect_redis

    started = time.monotonic()
    checks = checks_for(spec)  # bad settings fail here (what a backend started early is stopped again)
    remote = backend.plans_remotely
    planned = plan_suites(spec, built=False) if remote else plan(spec, listings)  # so does bad input
    planned = prepare_runs(checks, planned) if not remote or not spec.configs else planned
    validate_payloads(planned)
    sharding = None
    if not (remote and spec.configs):
        planned, sharding = take_shard(spec, planned)
    out_dir = outdir.claim(spec.out.resolve(), spec.resume)
    try:
        if spec.history:
            from opp_ci.shards import seed_history

            seed_history(spec.history, out_dir)
        # a corrupt campaign.json, or one of another project, fails here
        earlier = previous_records(out_dir, planned, spec.project_dir) if spec.resume else []
        with backend.provision(spec, out_dir) as infrastructure:
            if remote and spec.configs:
                connection = connect_redis(infrastructure.redis_url, tls=infrastructure.redis_tls)
                planned = prepare_runs(checks, planned + plan_remotely(spec, connection))
                validate_payloads(planned)
                planned, sharding = take_shard(spec, planned)
                earlier = previous_records(out_dir, planned, spec.project_dir) if spec.resume else []
            campaign = dispatch_and_collect(spec, planned, earlier, infrastructure, out_dir, display_factory,
                                            sharding)
            mark_shard(campaign, sharding)
            _fail_on_lost_redis(campaign, planned, checks, out_dir)
            if spec.checks.confirm > 0:  # which runs failed decides what runs again: judged now, and only now
                judge_campaign(checks, campaign, out_dir)
                confirm_failures(spec, campaign, planned, infrastructure, out_dir, display_factory)
        finish(campaign, started, infrastructure.extra)
        if spec.checks.confirm == 0:
            judge_campaign(checks, campaign, out_dir)
        return report(checks, campaign, out_dir)
    finally:
        outdir.release(out_dir)


def take_shard(spec: CampaignSpec, planned: list[PlannedRun]) -> tuple[list[PlannedRun], dict[str, Any] | None]:
    """With --shard I/N: the runs of that shard (`opp_ci.shards`), and what campaign.json keeps of the plan."""
    if spec.shard is None:
        return planned, None
    from opp_ci.shards import history_path, select

    return select(planned, spec.shard, history_path(spec.history, spec.out.resolve()))


def mark_shard(campaign: Campaign, sharding: dict[str, Any] | None) -> None:
    """The shard in campaign.json: which one of how many, the whole plan, and on every record."""
    if sharding is None:
        return
    campaign.extra[SHARD_KEY] = sharding
    for record in campaign.runs:
        record.shard = sharding["index"]


def confirm_failures(spec: CampaignSpec, campaign: Campaign, planned: list[PlannedRun],
                     infrastructure: Infrastructure, out_dir: Path, display_factory: Any) -> None:
    """With --confirm N, each failed run of the judged campaign runs N times more (`opp_ci.confirmation`)."""
    from opp_ci.confirmation import confirm_failures as confirm

    confirm(spec.checks.confirm, campaign, planned, infrastructure, out_dir, display_factory, spec.workers)


def checks_for(spec: CampaignSpec) -> list[Check]:
    """The checks the spec asks for, their settings checked (and the baseline read) now. Each is
    imported only when asked for (the regression check imports the result readers and statistics)."""
    checks: list[Check] = []
    if spec.checks.record_fingerprints or "fingerprints" in spec.checks.check:
        from opp_ci.fingerprints.checks import FingerprintCheck

        checks.append(FingerprintCheck.from_spec(spec))
    if spec.suites.files:
        from opp_ci.fingerprints.checks import SuiteCheck

        checks.append(SuiteCheck.from_spec(spec))
    if spec.checks.baseline:
        from opp_ci.regression import ComparisonCheck

        checks.append(ComparisonCheck.from_spec(spec))
    return checks


def validate_payloads(planned: list[PlannedRun]) -> None:
    """The payload rules the worker applies, applied before anything starts (exit 2, not an error per run)."""
    for run in planned:
        try:
            run.payload.validate()
        except PayloadError as error:
            raise UserError(f"config {run.info.config} run {run.info.number}: {error}; fix the config's args, "
                            f"ini or limits") from None


def previous_records(out_dir: Path, planned: list[PlannedRun], project: Path | None = None) -> list[RunRecord]:
    """Records of an earlier campaign in `out_dir` for runs planned again (same job id) that the run
    itself decided; infrastructure errors are run again. An earlier campaign of another project is refused:
    none of its records would be reused, and its files would stay beside the new ones."""
    path = out_dir / CAMPAIGN_FILE
    if not path.exists():
        return []
    try:
        earlier = Campaign.read(out_dir)
    except (ValueError, OSError) as error:
        raise UserError(f"{path} is not a campaign file opp-ci can resume from: {error}") from None
    recorded = earlier.extra.get("project")
    if project is not None and isinstance(recorded, str) and recorded != str(project):
        raise UserError(f"--resume: {out_dir} holds a campaign of another project ({recorded}); run without "
                        f"--resume, or choose another --out")
    ids = {p.job_id for p in planned}
    return [r for r in earlier.runs if r.job_id in ids and r.status in DECIDED]


def dispatch_and_collect(spec: CampaignSpec, planned: list[PlannedRun], earlier: list[RunRecord],
                         infrastructure: Infrastructure, out_dir: Path,
                         display_factory: Any, sharding: dict[str, Any] | None = None) -> Campaign:
    """Runs the orchestrator. When Redis goes away, a private one is lost (the campaign ends with what
    was collected); an external one (--redis-url) is waited for, within REDIS_OUTAGE_LIMIT, and the
    campaign goes on where it was (jobs Redis lost are enqueued again)."""
    from redis.exceptions import RedisError

    from opp_ci.campaign import Orchestrator

    campaign = new_campaign(spec, new_campaign_id(), earlier)
    if sharding is not None:  # in every checkpoint: `merge` knows the runs of a shard killed half way
        campaign.extra[SHARD_KEY] = sharding
    display: ProgressDisplay = display_factory(len(planned))
    try:
        while True:
            try:
                Orchestrator(campaign, planned, infrastructure, out_dir, display, spec.workers).run()
                return campaign
            except RedisError as error:
                problem = f"lost Redis: {type(error).__name__}: {error}"
                if not spec.redis_url or not _wait_for_redis(infrastructure.redis_url, problem):
                    campaign.extra["infrastructure_error"] = problem
                    return campaign
    finally:
        display.close()


def new_campaign(spec: CampaignSpec, identifier: str, runs: list[RunRecord]) -> Campaign:
    return Campaign(
        campaign=identifier, runs=runs, backend=spec.backend, command=spec.command,
        started_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        extra={"project": str(spec.project_dir), **spec.environment, triage.GATE_KEY: gate_settings(spec)},
    )


def gate_settings(spec: CampaignSpec) -> dict[str, Any]:
    """The triage's and the gate's settings, kept in campaign.json (`opp_ci.triage`)."""
    checks = spec.checks
    return {"confirm": checks.confirm, "fail_on": checks.fail_on, "baseline": checks.baseline,
            "quarantine": checks.quarantine}


def finish(campaign: Campaign, started: float, extra: dict[str, Any]) -> None:
    campaign.finished_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    campaign.wall_seconds = round(time.monotonic() - started, 3)
    campaign.extra.update(extra)


def _wait_for_redis(url: str, problem: str, limit: float = REDIS_OUTAGE_LIMIT) -> bool:
    """Waits, with backoff, for Redis to answer again; False after `limit` seconds."""
    from redis.exceptions import RedisError

    from opp_ci.queue import connect_redis

    output.warning(f"{problem}; waiting up to {limit:.0f}s for it to come back")
    deadline, wait = time.monotonic() + limit, 0.5
    while time.monotonic() < deadline:
        time.sleep(wait)
        try:
            connect_redis(url, socket_connect_timeout=2).ping()
        except (RedisError, OSError):
            wait = min(wait * 2, 8.0)
            continue
        output.info("Redis answers again; the campaign goes on")
        return True
    return False


def _fail_on_lost_redis(campaign: Campaign, planned: list[PlannedRun], checks: list[Check], out_dir: Path) -> None:
    """After an infrastructure fault: the reports of what was collected, then exit 2 saying how to go on."""
    problem = campaign.extra.get("infrastructure_error")
    if not problem:
        return
    judge_and_report(checks, campaign, out_dir)
    raise UserError(f"{problem}; {len(campaign.runs)} of {len(planned)} runs have a record (reports written in "
                    f"{out_dir}); run again with --resume to run the rest")


def judge_and_report(checks: list[Check], campaign: Campaign, out_dir: Path) -> Campaign:
    """The checks' verdicts on every record, then the reports."""
    judge_campaign(checks, campaign, out_dir)
    return report(checks, campaign, out_dir)


def report(checks: list[Check], campaign: Campaign, out_dir: Path) -> Campaign:
    """Of a judged campaign: the triage and the gate, the patch that accepts new fingerprints, then campaign.json,
    junit.xml and summary.md."""
    from opp_ci.report import write_reports  # junit_xml and the charts: 13 ms that a starting campaign waited for

    triage.judge(campaign, out_dir)
    if checks:  # runs whose fingerprints changed: the patch that accepts them
        from opp_ci.fingerprints.acceptance import propose

        propose(checks, campaign, out_dir)
    campaign.write(out_dir)
    write_reports(campaign, out_dir)
    return campaign
