"""The cloud commands of `opp-ci`: cluster up/down/status, janitor, ecr ensure. Registered on the
command line by opp_ci/cli.py; like it, they only parse options and call the cloud modules."""

from __future__ import annotations

import os
from pathlib import Path

import click

from opp_ci import options, output
from opp_ci.errors import UserError


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


@click.group()
def cluster() -> None:
    """An ECS cluster with Redis and workers for one campaign: up, status, down."""


#: The [ecs] settings `cluster up` has flags for (region comes with every cloud command).
CLUSTER_FLAGS = ("ecs.image", "ecs.workers", "ecs.spot", "ecs.subnets", "ecs.caller-cidr", "ecs.ttl",
                 "ecs.repository", "ecs.campaign", "ecs.redis-image", "ecs.worker-cpu", "ecs.worker-memory",
                 "ecs.project-dir", "ecs.burst", "ecs.execution-role-arn", "ecs.task-role-arn", "ecs.timeout")


def _ecs_settings(given: dict, keys: tuple[str, ...]) -> dict:
    """[ecs] settings from the defaults, OPP_CI_ECS_* and the flags, by EcsOptions field name."""
    flags = {key: given[key.removeprefix("ecs.").replace("-", "_")] for key in keys}
    settings = options.resolve([("environment", options.from_environment(os.environ, "ecs")), ("flag", flags)],
                               keys=keys)
    return {key.removeprefix("ecs.").replace("-", "_"): settings[key] for key in keys}


@cluster.command("up")
@options.click_options(*CLUSTER_FLAGS)
@_region_option
@_github_output_option
def cluster_up(region, github_output, **given) -> None:
    """Create the cluster, Redis and workers; print campaign id, cluster name and Redis URL."""
    from opp_ci import cloud
    from opp_ci.github import write_outputs

    clients = _clients(region)
    settings = _ecs_settings(given, CLUSTER_FLAGS)
    if not settings["image"]:
        raise UserError("cluster up needs the worker image: pass --image URI (or set OPP_CI_ECS_IMAGE)")
    if settings["workers"] < 1:
        raise UserError("--workers: a cluster needs at least 1 worker task")
    result = cloud.up(clients, cloud.EcsOptions(region=clients.region, **settings), log=output.info)
    outputs = result.outputs()
    for name, value in outputs.items():
        click.echo(f"{name}={value}")
    write_outputs(Path(github_output) if github_output else None, outputs)


@cluster.command("down")
@click.option("--campaign", required=True, metavar="ID", help="Campaign whose resources to delete.")
@options.click_options("ecs.timeout")
@_region_option
def cluster_down(campaign: str, region: str | None, **given) -> None:
    """Delete every resource tagged with the campaign (idempotent)."""
    from opp_ci import cloud

    timeout = _ecs_settings(given, ("ecs.timeout",))["timeout"]
    deleted = cloud.down(_clients(region), campaign, timeout=timeout, log=output.info)
    output.info(f"campaign {campaign}: deleted {len(deleted)} resource(s), nothing of it is left")


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


@click.command()
@click.option("--dry-run", is_flag=True, help="Only list what would be deleted.")
@options.click_options("ecs.timeout")
@_region_option
def janitor(dry_run: bool, region: str | None, **given) -> None:
    """Delete every opp-ci resource whose opp-ci:expires-at has passed, and nothing else."""
    from datetime import UTC, datetime

    from opp_ci import cloud

    timeout = _ecs_settings(given, ("ecs.timeout",))["timeout"]
    done = cloud.janitor(_clients(region), datetime.now(UTC), dry_run=dry_run, timeout=timeout,
                         log=output.info)
    for line in done if dry_run else []:
        click.echo(f"would delete {line}")
    output.info(f"janitor: {len(done)} expired resource(s) {'found' if dry_run else 'deleted'}")


@click.group()
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


COMMANDS = (cluster, janitor, ecr)
