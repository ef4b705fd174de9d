"""The `opp-ci` command line. It only parses options and calls the pipeline modules."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import click

from opp_ci import __version__, campaign, spec
from opp_ci.backends import get_backend
from opp_ci.errors import UserError
from opp_ci.omnetpp import Simulation
from opp_ci.progress import make_display
from opp_ci.queue import connect_redis


class _Group(click.Group):
    """Turns a UserError into one line on stderr and its exit code, without a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except UserError as error:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.secho(f"opp-ci: error: {error.message}", fg="red", err=True)
            sys.exit(error.exit_code)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="opp-ci")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors instead of one-line messages.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Run OMNeT++ simulation campaigns on this machine or on AWS ECS, from a laptop or from CI.

    Start with `opp-ci run PROJECT_DIR`: it asks the simulation for its runs, runs them in parallel
    through a Redis queue, and writes campaign.json, results/, logs/, junit.xml and summary.md.
    """
    ctx.obj = {"debug": debug}


def _comparison_options(function):
    """Options of every command that compares results with a baseline (compare, report --recheck)."""
    options = [
        click.option("--tolerances", "tolerances_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                     help="TOML (or JSON) file with a [tolerances] table: scalar name glob -> {rel, abs}; "
                          "an opp-ci.toml works."),
        click.option("--alpha", type=float, help="Significance level of the statistical comparison (default 0.05)."),
        click.option("--correction", type=click.Choice(["holm", "bh", "none"]),
                     help="Correction for many comparisons (default holm)."),
        click.option("--metrics", multiple=True, metavar="GLOB",
                     help="Scalars compared statistically over the repetitions, e.g. 'channelUtilization:*' "
                          "(repeatable); the others are compared run by run."),
        click.option("--project", "project_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
                     help="Read the comparison settings of this project's opp-ci.toml."),
        click.option("--no-plots", is_flag=True, help="Draw no plots."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


# --- campaign commands: run, worker, report ---


@cli.command()
@click.argument("project_dir", default=".", type=click.Path(file_okay=False, path_type=Path))
@click.option("--backend", type=click.Choice(["local", "ecs"]), help="Where runs execute (default: local).")
@click.option("--command", "command", metavar="CMD",
              help="Simulation command, e.g. './aloha' or 'opp_run -l lib -n .'.")
@click.option("-c", "--config", "configs", multiple=True, metavar="NAME",
              help="OMNeT++ config to run (repeatable); default: the [configs.*] tables of opp-ci.toml.")
@click.option("-r", "--runs", metavar="FILTER",
              help="Run filter in OMNeT++'s -r syntax, e.g. '0..3' or '$numHosts==10'.")
@click.option("-f", "--ini", "ini", multiple=True, metavar="FILE", help="Ini file (repeatable; default omnetpp.ini).")
@click.option("--arg", "args", multiple=True, metavar="ARG",
              help="Extra OMNeT++ option passed to every run, e.g. '--**.vector-recording=false' (repeatable).")
@click.option("--sim-time-limit", metavar="T", help="Simulation time limit, e.g. '100s' or '10min'.")
@click.option("--cpu-time-limit", metavar="T", help="CPU time limit per run, e.g. '60s'.")
@click.option("--timeout", metavar="DURATION", help="Wall-clock timeout per run, e.g. '10m' (default 1h).")
@click.option("--retries", type=int, metavar="N", help="Retries for infrastructure failures (default 1); "
              "a run whose simulation failed is never retried.")
@click.option("-j", "--workers", type=int, metavar="N",
              help="Local worker processes (default: one per core; 0: none, use workers started elsewhere).")
@click.option("--redis-url", metavar="URL", help="Use this Redis instead of starting a private one.")
@click.option("-o", "--out", type=click.Path(file_okay=False, path_type=Path),
              help="Output directory (default opp-ci-out).")
@click.option("--resume", is_flag=True, help="Skip runs that already have a record in the output directory.")
@click.option("--image", metavar="IMAGE", help="ecs backend: the worker image (the simulation built, with opp-ci).")
@click.option("--region", metavar="REGION", help="ecs backend: AWS region (default: AWS_REGION).")
@click.option("--spot", is_flag=True, default=None, help="ecs backend: run workers on Fargate Spot.")
@click.option("--redis-password-parameter", metavar="NAME",
              help="ecs backend with --redis-url: use the cluster `opp-ci cluster up` started, reading its Redis "
                   "password from this SSM parameter (output redis-password-parameter); it is not torn down.")
@click.option("--github-output", envvar="GITHUB_OUTPUT", metavar="FILE",
              type=click.Path(dir_okay=False, path_type=Path),
              help="Append out-dir, campaign-id, total, passed, failed to this file (default: $GITHUB_OUTPUT).")
@click.option("--check", "checks", multiple=True, type=click.Choice(["fingerprints"]),
              help="Verify each run's fingerprint against the project's fingerprint store (opp-ci baseline update).")
@click.option("--baseline", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Compare the results with this output directory (e.g. the base branch's) afterwards.")
@click.option("--build-command", metavar="CMD", help="local backend: build the model with this first, once "
              "(default: opp-ci.toml's [image] build; without one nothing is built).")
@click.option("--no-build", is_flag=True, help="Do not build the model first (it is already built).")
def run(project_dir: Path, backend, command, configs, runs, ini, args, sim_time_limit, cpu_time_limit,
        timeout, retries, workers, redis_url, out, resume, checks, baseline, image, region, spot,
        redis_password_parameter, github_output, build_command, no_build) -> None:
    """Run a campaign: every run of the chosen configs, in parallel, with reports.

    Reads PROJECT_DIR/opp-ci.toml (flags win over it), asks the simulation for its runs, runs them
    through a Redis queue and writes campaign.json, results/, logs/, junit.xml and summary.md.
    Exit status: 0 all runs passed, 1 some did not, 2 bad input or environment.
    """
    flags = {
        "backend": backend, "command": command, "config": configs, "runs": runs, "ini": list(ini) or None,
        "arg": args, "sim-time-limit": sim_time_limit, "cpu-time-limit": cpu_time_limit, "timeout": timeout,
        "retries": retries, "workers": workers, "redis-url": redis_url,
        "out": str(out) if out else None, "resume": resume,
        "check": list(checks) or None, "baseline": str(baseline.resolve()) if baseline else None,
    }
    campaign_spec = spec.resolve(project_dir, flags)
    if campaign_spec.out == Path(spec.CAMPAIGN_DEFAULTS["out"]) and not out:
        campaign_spec.out = Path.cwd() / campaign_spec.out
    ecs_flags = {"image": image, "region": region, "spot": spot}
    campaign_spec.extra["ecs"].update({k: v for k, v in ecs_flags.items() if v is not None})
    chosen = get_backend(campaign_spec.backend, **_backend_options(campaign_spec, redis_password_parameter))
    if campaign_spec.backend == "local":
        _build_first(campaign_spec.project_dir, build_command, no_build)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        result = campaign.run_campaign(campaign_spec, chosen, make_display)
    except KeyboardInterrupt:
        click.secho("opp-ci: interrupted; everything it started has been stopped", fg="yellow", err=True)
        sys.exit(130)
    totals = result.totals()
    if github_output:
        from opp_ci.github import write_outputs

        write_outputs(github_output, {
            "out-dir": campaign_spec.out.resolve(), "campaign-id": result.campaign, "total": totals["total"],
            "passed": totals["passed"], "failed": totals["total"] - totals["passed"],
        })
    click.echo(f"opp-ci: {totals['passed']}/{totals['total']} runs passed ({totals['failed']} failed, "
               f"{totals['timeout']} timed out, {totals['error']} errors) in {result.wall_seconds:.1f}s; "
               f"outputs in {campaign_spec.out.resolve()}")
    sys.exit(0 if result.all_passed else 1)


def _backend_options(campaign_spec: spec.CampaignSpec, password_parameter: str | None = None) -> dict:
    """The backend's constructor arguments; the ecs options are checked here, before anything starts."""
    if campaign_spec.backend == "local":
        return {"workers": campaign_spec.workers, "redis_url": campaign_spec.redis_url}
    from opp_ci import cloud
    from opp_ci.backends.ecs import options_from

    if campaign_spec.redis_url:
        if not password_parameter:
            raise UserError("--backend ecs --redis-url needs --redis-password-parameter (from `opp-ci cluster up`)")
        region = cloud.resolve_region(campaign_spec.extra["ecs"].get("region"), os.environ)
        return {"attach": (campaign_spec.redis_url, password_parameter, region)}
    return {"options": options_from(campaign_spec, os.environ)}


def _build_first(project_dir: Path, build_command: str | None, no_build: bool) -> None:
    from opp_ci import image as image_module

    command = image_module.local_build_command(project_dir, build_command, no_build)
    if command:
        image_module.build_model(project_dir, command)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


@cli.command()
@click.option("--redis-url", envvar="OPP_CI_REDIS_URL", required=True, metavar="URL",
              help="Redis to take jobs from (env OPP_CI_REDIS_URL; password also from OPP_CI_REDIS_PASSWORD).")
@click.option("--project", "project_dir", default=".", type=click.Path(file_okay=False, path_type=Path),
              help="Simulation project with opp-ci.toml (default: current directory).")
@click.option("--command", "command", metavar="CMD", help="Simulation command (default: from opp-ci.toml).")
@click.option("--working-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Directory the simulation runs in (default: from opp-ci.toml).")
@click.option("--store", envvar="OPP_CI_STORE", default="opp-ci-store", show_default=True, metavar="URL",
              help="Where result files go: a directory or s3://bucket/prefix (env OPP_CI_STORE).")
@click.option("--queue", "queue_name", default="opp-ci", show_default=True, help="Queue to listen on.")
@click.option("--name", help="Worker name (default: RQ's own).")
@click.option("--burst", is_flag=True, help="Exit when the queue is empty.")
@click.option("--max-idle", type=int, metavar="SECONDS",
              help="Exit after this long without a job (a cloud worker stops billing if nobody stops it).")
@click.option("--scratch", type=click.Path(file_okay=False, path_type=Path),
              help="Where runs execute before their files go to the store (default: the temp directory).")
def worker(redis_url, project_dir, command, working_dir, store, queue_name, name, burst, max_idle, scratch) -> None:
    """Take runs from a Redis queue and execute them (runs nothing but opp-ci's own run function)."""
    from opp_ci.worker import start_worker, worker_settings

    argv, directory = spec.resolve_simulation(project_dir, command, working_dir)
    simulation = Simulation(tuple(argv), directory)
    connection = connect_redis(redis_url)
    start_worker(connection, worker_settings(simulation, store, scratch), queue_name=queue_name, name=name,
                 burst=burst, max_idle=max_idle)


@cli.command()
@click.argument("out_dir", default="opp-ci-out", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--recheck", is_flag=True, help="Compare the stored results with the baseline again, under the "
              "settings given here (else those of the last comparison), without re-running anything.")
@click.option("--baseline", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="With --recheck: the baseline output directory (default: the one compared last).")
@_comparison_options
def report(out_dir: Path, recheck: bool, baseline: Path | None, **comparison) -> None:
    """Rebuild junit.xml and summary.md from OUT_DIR/campaign.json."""
    from opp_ci.records import Campaign
    from opp_ci.report import write_reports

    try:
        result = Campaign.read(out_dir)
    except (OSError, ValueError) as error:
        raise UserError(f"cannot read {out_dir / 'campaign.json'}: {error}") from None
    if recheck:
        result = _recheck(out_dir, result, baseline, comparison)
        result.write(out_dir)
    write_reports(result, out_dir)
    click.echo(f"opp-ci: wrote {out_dir / 'junit.xml'} and {out_dir / 'summary.md'}")
    sys.exit(0 if result.all_passed else 1)



# --- result files and regression: export, compare, baseline ---


@cli.command("export")
@click.argument("paths", nargs=-1, required=True, metavar="FILE|DIR...", type=click.Path(path_type=Path))
@click.option("--format", "output_format", type=click.Choice(["csv", "json"]), default="csv",
              show_default=True,
              help="csv: the columns of `opp_scavetool export -T s -F CSV-S`; json: runs with all results.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to this file instead of standard output.")
def export_command(paths: tuple[Path, ...], output_format: str, output: Path | None) -> None:
    """Export the scalars of .sca files (directories are searched recursively)."""
    from opp_ci import results

    text = results.export_scalars(list(results.read_all_runs(paths)), output_format)
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as error:
        raise UserError(f"{output}: cannot write: {error.strerror}") from None


def _comparison_settings(stored: dict | None, options: dict) -> dict:
    """Comparison settings: the defaults, then the stored or project ones, then files and flags."""
    from opp_ci import regression

    settings = {k: v for k, v in spec.REGRESSION_DEFAULTS.items() if k in ("tolerances", "alpha", "correction",
                                                                           "metrics")}
    settings.update(stored or {})
    if options.get("project_dir"):
        file_settings = spec.load_file(options["project_dir"])
        settings.update({k: file_settings[k] for k in settings if k in file_settings})
    if options.get("tolerances_file"):
        settings["tolerances"] = regression.read_tolerances_file(options["tolerances_file"])
    for key in ("alpha", "correction"):
        if options.get(key) is not None:
            settings[key] = options[key]
    if options.get("metrics"):
        settings["metrics"] = list(options["metrics"])
    return settings


def _compare_and_write(base_dir: Path, cand_dir: Path, settings: dict, options: dict, candidate=None):
    from opp_ci import regression
    from opp_ci.report import write_reports

    result = regression.compare_campaigns(base_dir, cand_dir, regression.Settings.from_mapping(settings),
                                          candidate=candidate, plots=not options.get("no_plots"))
    result.write(cand_dir)
    write_reports(result, cand_dir)
    verdict = result.extra["regression"]
    click.echo(f"opp-ci: {verdict['scalars_changed']} of {verdict['scalars_compared']} scalars changed beyond "
               f"tolerance, {verdict['significant']} of {verdict['statistical_tests']} statistical tests significant; "
               f"{verdict['regressed_runs']} run(s) regressed; wrote {cand_dir / 'summary.md'}")
    return result


def _recheck(out_dir: Path, result, baseline: Path | None, options: dict):
    stored = result.extra.get("regression") or {}
    base_dir = baseline or (Path(stored["baseline"]) if stored.get("baseline") else None)
    if base_dir is None:
        raise UserError("--recheck: this campaign was never compared; give --baseline DIR")
    settings = _comparison_settings(stored.get("settings"), options)
    return _compare_and_write(base_dir, out_dir, settings, options, candidate=result)


@cli.command("compare")
@click.argument("base_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("candidate_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@_comparison_options
def compare_command(base_dir: Path, candidate_dir: Path, **options) -> None:
    """Compare the results of two output directories: CANDIDATE_DIR against BASE_DIR.

    Scalars are compared run by run within their tolerances; scalars chosen with --metrics are compared
    statistically over the repetitions. The verdicts go into CANDIDATE_DIR's campaign.json (key
    `regression`), junit.xml and summary.md. Exit status 1 when anything regressed.
    """
    result = _compare_and_write(base_dir, candidate_dir, _comparison_settings(None, options), options)
    sys.exit(0 if result.extra["regression"]["regressed_runs"] == 0 else 1)


@cli.group()
def baseline() -> None:
    """Expected fingerprints kept in the project (opp-ci-fingerprints.json or an INET fingerprint CSV)."""


@baseline.command("update")
@click.argument("project_dir", default=".", type=click.Path(file_okay=False, path_type=Path))
@click.option("--ingredients", metavar="SET", help="Fingerprint ingredients, e.g. 'tplx' or 'tplx,~tNl' "
              "(default: fingerprint-ingredients of opp-ci.toml, else tplx).")
@click.option("--from", "from_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Take the calculated fingerprints from this output directory instead of running the campaign.")
@click.option("--fingerprints", "store", metavar="FILE", help="The store (default: opp-ci-fingerprints.json).")
@click.option("-c", "--config", "configs", multiple=True, metavar="NAME", help="Config to run (repeatable).")
@click.option("-r", "--runs", metavar="FILTER", help="Run filter in OMNeT++'s -r syntax.")
@click.option("--arg", "args", multiple=True, metavar="ARG", help="Extra OMNeT++ option for every run.")
@click.option("-j", "--workers", type=int, metavar="N", help="Local worker processes (default: one per core).")
@click.option("-o", "--out", type=click.Path(file_okay=False, path_type=Path),
              help="Output directory of the recording campaign (default opp-ci-out).")
def baseline_update(project_dir: Path, ingredients, from_dir, store, configs, runs, args, workers, out) -> None:
    """Record the runs' calculated fingerprints in the project's fingerprint store.

    Runs the campaign with a dummy expected fingerprint so OMNeT++ prints the calculated ones (or reads
    them from --from OUT_DIR), and reports KEEP, INSERT or UPDATE for each run.
    """
    from opp_ci import fingerprints
    from opp_ci.records import Campaign

    flags = {"config": configs, "runs": runs, "arg": args, "workers": workers, "out": str(out) if out else None,
             "fingerprints": store, "fingerprint-ingredients": ingredients}
    if from_dir:
        flags["config"] = configs or ("_from",)
    campaign_spec = spec.resolve(project_dir, flags)
    fingerprints.parse_ingredients(campaign_spec.regression["fingerprint-ingredients"])
    if from_dir:
        recorded = Campaign.read(from_dir)
    else:
        campaign_spec.regression.update({fingerprints.RECORD: True, "check": [], "baseline": None})
        if not out:
            campaign_spec.out = Path.cwd() / campaign_spec.out
        chosen = get_backend(campaign_spec.backend, **_backend_options(campaign_spec))
        click.echo("opp-ci: recording fingerprints: every run expects a dummy fingerprint, so the progress "
                   "line counts them as failed until they are judged at the end", err=True)
        recorded = campaign.run_campaign(campaign_spec, chosen, make_display)
    fingerprint_store = fingerprints.spec_store(campaign_spec)
    changes, skipped = fingerprints.update_from_campaign(fingerprint_store, recorded)
    for change in changes:
        click.echo(change.describe())
    for line in skipped:
        click.echo(f"SKIP   {line}")
    fingerprint_store.save()
    counts = fingerprints.describe_changes(changes)["counts"]
    click.echo(f"opp-ci: {counts['KEEP']} kept, {counts['INSERT']} inserted, {counts['UPDATE']} updated, "
               f"{len(skipped)} without a fingerprint; wrote {fingerprint_store.path}")
    sys.exit(1 if skipped else 0)


# --- cloud commands: cluster, janitor, ecr ---


def _region_option(function):
    return click.option("--region", metavar="NAME",
                        help="AWS region (default: AWS_REGION or AWS_DEFAULT_REGION).")(function)


def _github_output_option(function):
    return click.option("--github-output", envvar="GITHUB_OUTPUT", metavar="FILE",
                        type=click.Path(dir_okay=False),
                        help="Also write name=value lines here (default: $GITHUB_OUTPUT when set).")(function)


def _clients(region: str | None):
    import os

    from opp_ci import cloud

    return cloud.Clients(cloud.resolve_region(region, os.environ))


@cli.group()
def cluster() -> None:
    """An ECS cluster with Redis and workers for one campaign: up, status, down."""


@cluster.command("up")
@click.option("--image", required=True, metavar="URI", help="Simulation image with opp-ci (workers run it).")
@click.option("--workers", type=click.IntRange(1, 500), default=2, show_default=True, help="Worker tasks.")
@click.option("--spot", is_flag=True, help="Run workers on Fargate Spot (Redis stays on Fargate).")
@click.option("--subnet", "subnets", multiple=True, metavar="ID",
              help="Subnet(s) (default: the default VPC's).")
@click.option("--caller-cidr", metavar="CIDR", help="Address allowed to reach Redis (default: detected /32).")
@click.option("--ttl", default="3h", show_default=True, help="Lifetime: tag expires-at, Redis stops itself.")
@click.option("--repository", envvar="GITHUB_REPOSITORY", default="",
              help="Tag value (default: $GITHUB_REPOSITORY).")
@click.option("--campaign", metavar="ID", help="Campaign id (default: generated).")
@click.option("--redis-image", default="redis:7", show_default=True, help="Redis image.")
@click.option("--worker-cpu", type=int, default=1024, show_default=True,
              help="Worker CPU units (1024 = 1 vCPU).")
@click.option("--worker-memory", type=int, default=2048, show_default=True, help="Worker memory, MiB.")
@click.option("--project-dir", default="/project", show_default=True, help="Project directory in the image.")
@click.option("--burst/--no-burst", default=False, show_default=True,
              help="Start workers with --burst (they exit once the queue is empty).")
@click.option("--execution-role-arn", metavar="ARN",
              help="Task execution role (default: role opp-ci-task-execution).")
@click.option("--task-role-arn", metavar="ARN", help="Worker task role (default: role opp-ci-task).")
@click.option("--timeout", type=float, default=600, show_default=True,
              help="Seconds to wait for tasks and Redis.")
@_region_option
@_github_output_option
def cluster_up(region, github_output, subnets, **flags) -> None:
    """Create the cluster, Redis and workers; print campaign id, cluster name and Redis URL."""
    from opp_ci import cloud
    from opp_ci.github import write_outputs

    clients = _clients(region)
    options = cloud.EcsOptions(region=clients.region, subnets=list(subnets), **flags)
    result = cloud.up(clients, options, log=lambda m: click.echo(f"opp-ci: {m}", err=True))
    outputs = result.outputs()
    for name, value in outputs.items():
        click.echo(f"{name}={value}")
    write_outputs(Path(github_output) if github_output else None, outputs)


@cluster.command("down")
@click.option("--campaign", required=True, metavar="ID", help="Campaign whose resources to delete.")
@click.option("--timeout", type=float, default=600, show_default=True,
              help="Seconds to wait for tasks to stop.")
@_region_option
def cluster_down(campaign: str, timeout: float, region: str | None) -> None:
    """Delete every resource tagged with the campaign (idempotent)."""
    from opp_ci import cloud

    deleted = cloud.down(_clients(region), campaign, timeout=timeout,
                         log=lambda m: click.echo(f"opp-ci: {m}", err=True))
    click.echo(f"opp-ci: campaign {campaign}: deleted {len(deleted)} resource(s), nothing of it is left")


@cluster.command("status")
@click.option("--campaign", metavar="ID", help="Only this campaign (default: every opp-ci resource).")
@_region_option
def cluster_status(campaign: str | None, region: str | None) -> None:
    """List opp-ci resources with their campaign and expiry."""
    from opp_ci import cloud

    rows = cloud.status(_clients(region), campaign)
    if not rows:
        click.echo("no opp-ci resources" + (f" for campaign {campaign}" if campaign else ""))
    for row in rows:
        state = f"  {row['state']}" if row["state"] else ""
        click.echo(f"{row['campaign']}  {row['kind']:<22} {row['name']}  expires {row['expires-at']}{state}")


@cli.command()
@click.option("--dry-run", is_flag=True, help="Only list what would be deleted.")
@click.option("--timeout", type=float, default=600, show_default=True,
              help="Seconds to wait for tasks to stop.")
@_region_option
def janitor(dry_run: bool, timeout: float, region: str | None) -> None:
    """Delete every opp-ci resource whose opp-ci:expires-at has passed, and nothing else."""
    from datetime import UTC, datetime

    from opp_ci import cloud

    done = cloud.janitor(_clients(region), datetime.now(UTC), dry_run=dry_run, timeout=timeout,
                         log=lambda m: click.echo(f"opp-ci: {m}", err=True))
    for line in done if dry_run else []:
        click.echo(f"would delete {line}")
    click.echo(f"opp-ci: janitor: {len(done)} expired resource(s) {'found' if dry_run else 'deleted'}")


@cli.group()
def ecr() -> None:
    """The ECR repository for the simulation image."""


@ecr.command("ensure")
@click.option("--repository", "name", required=True, metavar="NAME", help="ECR repository name.")
@click.option("--tag", metavar="T", help="Image tag to look for.")
@click.option("--digest", metavar="sha256:...", help="Image digest to look for.")
@click.option("--keep", type=click.IntRange(1, 1000), default=20, show_default=True,
              help="Lifecycle policy: keep the last N images.")
@click.option("--owner", envvar="GITHUB_REPOSITORY", default="",
              help="opp-ci:repository tag of a new repository.")
@_region_option
@_github_output_option
def ecr_ensure(name, tag, digest, keep, owner, region, github_output) -> None:
    """Create the repository when missing; say whether the image exists (exists=true|false)."""
    from opp_ci import cloud
    from opp_ci.github import write_outputs

    if tag and digest:
        raise UserError("give --tag or --digest, not both")
    outputs = cloud.ensure_repository(_clients(region)("ecr"), name, tag=tag, digest=digest, keep=keep,
                                      tags={cloud.TAG_REPOSITORY: owner or "unknown"})
    for key, value in outputs.items():
        click.echo(f"{key}={value}")
    write_outputs(Path(github_output) if github_output else None, outputs)


# --- GitHub: publish ---


@cli.command()
@click.argument("out_dir", default="opp-ci-out", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--repository", metavar="OWNER/NAME", help="Repository for the check run (default $GITHUB_REPOSITORY).")
@click.option("--sha", metavar="SHA", help="Commit for the check run (default: the PR head or $GITHUB_SHA).")
@click.option("--pr", type=int, metavar="N", help="Pull request to comment on (default: from the event file).")
@click.option("--check-name", default="opp-ci campaign", show_default=True, help="Name of the check run.")
@click.option("--artifact-url", metavar="URL", help="Link to the uploaded artifact, shown in the report.")
@click.option("--api-url", metavar="URL", help="GitHub API URL (default $GITHUB_API_URL or api.github.com).")
def publish(out_dir: Path, repository, sha, pr, check_name, artifact_url, api_url) -> None:
    """Publish OUT_DIR to GitHub: job summary, check run with annotations, and one PR comment.

    The token comes from $GITHUB_TOKEN (never printed); without it only the job summary is written.
    The PR comment is found again by a hidden marker and edited in place on later pushes.
    """
    import os

    try:
        from github import GithubException
    except ImportError:
        raise UserError("publishing needs PyGithub: pip install 'opp-ci[github]'") from None

    from opp_ci import github

    context = github.GitHubContext.from_env(os.environ).with_flags(
        repository=repository, sha=sha, pr=pr, api_url=api_url)
    try:
        done = github.publish(out_dir, context, check_name=check_name, artifact_url=artifact_url)
    except GithubException as problem:
        message = (problem.data or {}).get("message") if isinstance(problem.data, dict) else problem.data
        github.error(f"GitHub API refused the publication ({problem.status}): {message}")
        raise UserError(f"publishing to GitHub failed with HTTP {problem.status}: {message}", exit_code=1) from None
    click.echo(f"opp-ci: published {out_dir}: step summary {'written' if done.summary_written else 'skipped'}, "
               f"check run {done.check_run_id or '-'}, PR comment {done.comment_id or '-'}"
               f"{' (edited)' if done.comment_edited else ''}")


@cli.group("image")
def image_group() -> None:
    """The simulation image: an OMNeT++ base image, the model built once, and opp-ci (worker/Dockerfile)."""


def _image_options(function):
    for option in reversed([
        click.option("--project-dir", default=".", show_default=True, metavar="DIR",
                     help="Directory with opp-ci.toml, relative to the context; the worker runs there."),
        click.option("--base-image", metavar="IMAGE", help="OMNeT++ base image (default: [image] base, or "
                     "ghcr.io/omnetpp/omnetpp:u24.04-6.2.0)."),
        click.option("--build-command", metavar="CMD", help="How the model is built (default: [image] build, or "
                     "`make MODE=release` with a Makefile, else opp_makemake first)."),
        click.option("--package", "packages", multiple=True, metavar="PKG",
                     help="Extra Debian package for the image (repeatable; default: [image] packages)."),
    ]):
        function = option(function)
    return function


@image_group.command("build")
@click.argument("context", default=".", type=click.Path(exists=True, file_okay=False, path_type=Path))
@_image_options
@click.option("-t", "--tag", default="opp-ci-simulation:latest", show_default=True, help="Image name and tag.")
@click.option("--builder", metavar="CMD", help="docker, podman or buildah, with options (default: the first on PATH).")
@click.option("--build-opt", "build_opts", multiple=True, metavar="OPT",
              help="Extra option for `<builder> build`, e.g. --build-opt=--isolation=chroot (repeatable).")
@click.option("--with-dependencies", is_flag=True,
              help="Put the wheels of opp-ci's dependencies into the context too: the build needs no package index.")
def image_build(context: Path, project_dir, base_image, build_command, packages, tag, builder, build_opts,
                with_dependencies) -> None:
    """Build the image CI builds, on this machine, from CONTEXT (the model's repository)."""
    from opp_ci import image

    settings = image.resolve(context / project_dir, base_image, build_command, packages)
    image.build_image(context, project_dir, settings, tag, image.find_builder(builder), tuple(build_opts),
                      with_dependencies)
    click.echo(f"opp-ci: built {tag} (base {settings.base}; build: {settings.build})")


@image_group.command("settings")
@_image_options
@click.option("--github-output", envvar="GITHUB_OUTPUT", metavar="FILE",
              type=click.Path(dir_okay=False, path_type=Path),
              help="Append base-image, build-command, packages to this file (default: $GITHUB_OUTPUT).")
def image_settings(project_dir, base_image, build_command, packages, github_output) -> None:
    """Print the image settings: flags over opp-ci.toml's [image] over the defaults."""
    from opp_ci import image
    from opp_ci.github import write_outputs

    settings = image.resolve(Path(project_dir), base_image, build_command, packages)
    outputs = {"base-image": settings.base, "build-command": settings.build, "packages": " ".join(settings.packages)}
    write_outputs(github_output, outputs)
    for name, value in outputs.items():
        click.echo(f"{name}: {value}")


def main() -> None:
    cli(prog_name="opp-ci")
