"""The `opp-ci` command line. It only parses options and calls the pipeline modules."""

from __future__ import annotations

import sys

import click

from opp_ci import __version__
from opp_ci.errors import UserError


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


# --- campaign commands: run, worker, report ---


# --- result files and regression: export, compare, baseline ---


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

    clients = _clients(region)
    options = cloud.EcsOptions(region=clients.region, subnets=list(subnets), **flags)
    result = cloud.up(clients, options, log=lambda m: click.echo(f"opp-ci: {m}", err=True))
    outputs = result.outputs()
    for name, value in outputs.items():
        click.echo(f"{name}={value}")
    cloud.write_github_output(github_output, outputs)


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

    if tag and digest:
        raise UserError("give --tag or --digest, not both")
    outputs = cloud.ensure_repository(_clients(region)("ecr"), name, tag=tag, digest=digest, keep=keep,
                                      tags={cloud.TAG_REPOSITORY: owner or "unknown"})
    for key, value in outputs.items():
        click.echo(f"{key}={value}")
    cloud.write_github_output(github_output, outputs)


# --- GitHub: publish ---


def main() -> None:
    cli(prog_name="opp-ci")
