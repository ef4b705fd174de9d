"""`up`: creates a campaign's cluster, and deletes what it created when any step fails."""

from __future__ import annotations

import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any

from opp_ci.cloud.aws import Clients, Log, aws_errors, quiet
from opp_ci.cloud.builder import Builder
from opp_ci.cloud.cluster import Cluster, EcsOptions, Network
from opp_ci.cloud.ecr import check_image
from opp_ci.cloud.tags import Names, campaign_tags, check_campaign_id, iso
from opp_ci.cloud.teardown import down
from opp_ci.cloud.waiting import RedisProbe, redis_answers
from opp_ci.errors import UserError
from opp_ci.naming import new_campaign_id
from opp_ci.options import parse_duration

CHECKIP_URL = "https://checkip.amazonaws.com"


def up(
    clients: Clients,
    options: EcsOptions,
    *,
    probe: RedisProbe = redis_answers,
    log: Log = quiet,
    now: datetime | None = None,
    fail_after: str | None = None,
) -> Cluster:
    """Creates everything; if any step fails, deletes what was created (as `down`) and raises.

    `fail_after` names a step after which to fail on purpose (tests of the cleanup path).
    """
    now = now or datetime.now(UTC)
    campaign = check_campaign_id(options.campaign or new_campaign_id(now))
    expires_at = iso(now + timedelta(seconds=parse_duration(options.ttl, "ttl")))
    with aws_errors():
        account = clients("sts").get_caller_identity()["Account"]
        network = resolve_network(clients("ec2"), options.subnets, clients.region)
        check_image(clients("ecr"), options.image)
        cidr = options.caller_cidr or detect_caller_cidr()
    builder = Builder(
        clients,
        options,
        Names(campaign, account),
        campaign_tags(campaign, options.repository, expires_at),
        network,
        cidr,
        probe,
        log,
        fail_after,
    )
    try:
        with aws_errors():
            return builder.build(expires_at)
    except BaseException as error:
        log(f"cluster up failed ({type(error).__name__}); deleting what it created")
        try:
            down(clients, campaign, timeout=options.timeout, poll=options.poll, log=log)
        except UserError as cleanup:
            raise UserError(
                f"{getattr(error, 'message', error)}; and the cleanup failed: {cleanup.message}"
            ) from error
        raise


def resolve_network(ec2: Any, subnets: list[str], region: str) -> Network:
    if subnets:
        found = ec2.describe_subnets(SubnetIds=subnets)["Subnets"]
        return Network(found[0]["VpcId"], [s["SubnetId"] for s in found])
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"]
    if not vpcs:
        raise UserError(
            f"no default VPC in {region}: pass --subnet (public subnets of a VPC) "
            "or create one with `aws ec2 create-default-vpc`"
        )
    vpc = vpcs[0]["VpcId"]
    found = ec2.describe_subnets(
        Filters=[{"Name": "vpc-id", "Values": [vpc]}, {"Name": "default-for-az", "Values": ["true"]}]
    )["Subnets"]
    if not found:
        raise UserError(f"the default VPC {vpc} in {region} has no default subnets: pass --subnet")
    return Network(vpc, sorted(s["SubnetId"] for s in found))


def detect_caller_cidr(url: str = CHECKIP_URL) -> str:
    try:
        with urllib.request.urlopen(url, timeout=10) as reply:
            address = reply.read().decode().strip()
    except OSError as error:
        raise UserError(
            f"could not detect this machine's public address from {url} ({error}); "
            "pass --caller-cidr A.B.C.D/32"
        ) from error
    return f"{address}/32"
