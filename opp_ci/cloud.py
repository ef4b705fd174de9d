"""The AWS side of a campaign: an ECS cluster with Redis and workers, results in S3, and teardown.

Every resource `up` creates carries three tags (`TAG_CAMPAIGN`, `TAG_REPOSITORY`, `TAG_EXPIRES`).
`down` and `janitor` find what to delete through the Resource Groups Tagging API, never through
local bookkeeping, so they also clean up after an `up` that died half-way or ran on another
machine. boto3 clients come from a `Clients` object that callers pass in.
"""

from __future__ import annotations

import contextlib
import math
import re
import secrets
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from opp_ci.errors import UserError

TAG_CAMPAIGN = "opp-ci:campaign"
TAG_REPOSITORY = "opp-ci:repository"
TAG_EXPIRES = "opp-ci:expires-at"
REDIS_PORT = 6379
DEFAULT_TTL = "3h"
DEFAULT_REDIS_IMAGE = "redis:7"
EXECUTION_ROLE = "opp-ci-task-execution"
"""Role name ECS uses to pull images, write logs and read the Redis password (one-time setup)."""
TASK_ROLE = "opp-ci-task"
"""Role name the worker tasks run as: it may write to opp-ci-* buckets (one-time setup)."""
CHECKIP_URL = "https://checkip.amazonaws.com"
ACCESS_DENIED = {
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnauthorizedAccess",
    "AuthorizationError",
    "NotAuthorized",
}
NOT_FOUND = {
    "ResourceNotFoundException",
    "ParameterNotFound",
    "NoSuchBucket",
    "InvalidGroup.NotFound",
    "ClusterNotFoundException",
    "NotFoundException",
    "InvalidGroupId.Malformed",
}
DELETE_ORDER = [
    "ecs:task",
    "ecs:cluster",
    "ecs:task-definition",
    "ec2:security-group",
    "logs:log-group",
    "ssm:parameter",
    "secretsmanager:secret",
    "s3:bucket",
]

Log = Callable[[str], None]
RedisProbe = Callable[[str], bool]


def _quiet(message: str) -> None:
    del message


# --- clients, regions, errors ---


class Clients:
    """boto3 clients for one region, created on first use. Tests pass a session or fake clients."""

    def __init__(self, region: str, session: Any | None = None, **overrides: Any) -> None:
        self.region = region
        self._session = session
        self._clients: dict[str, Any] = dict(overrides)

    def __call__(self, service: str) -> Any:
        if service not in self._clients:
            if self._session is None:
                import boto3

                self._session = boto3.Session()
            self._clients[service] = self._session.client(service, region_name=self.region)
        return self._clients[service]


def resolve_region(region: str | None, env: Mapping[str, str]) -> str:
    """--region, else AWS_REGION / AWS_DEFAULT_REGION; an unknown name is a UserError."""
    region = region or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    if not region:
        raise UserError("no AWS region: pass --region or set AWS_REGION")
    if region not in known_regions():
        raise UserError(
            f"unknown AWS region {region!r} (ECS is not offered there); check --region / AWS_REGION"
        )
    return region


def known_regions() -> set[str]:
    import boto3

    session = boto3.Session()
    return {r for p in ("aws", "aws-cn", "aws-us-gov") for r in session.get_available_regions("ecs", p)}


def user_error(error: Exception) -> UserError:
    """One line naming what is missing, for an AWS error the user has to fix."""
    response = getattr(error, "response", {}) or {}
    code = response.get("Error", {}).get("Code", "")
    message = response.get("Error", {}).get("Message", str(error))
    operation = getattr(error, "operation_name", "?")
    if code in ACCESS_DENIED or "not authorized" in message.lower():
        action = re.search(r"perform: ([\w-]+:[\w*]+)", message)
        what = action.group(1) if action else operation
        return UserError(
            f"missing AWS permission {what} (in {operation}): {message} "
            "— grant it to the role, see docs/iam-policy.json"
        )
    return UserError(f"AWS {operation} failed: {code}: {message}")


@contextlib.contextmanager
def aws_errors() -> Iterator[None]:
    """Turns botocore's errors into UserErrors (exit 2, one line)."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

    try:
        yield
    except ClientError as error:
        raise user_error(error) from error
    except NoCredentialsError as error:
        raise UserError(
            "no AWS credentials: configure a role (aws-actions/configure-aws-credentials) "
            "or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY"
        ) from error
    except NoRegionError as error:
        raise UserError("no AWS region: pass --region or set AWS_REGION") from error
    except BotoCoreError as error:
        raise UserError(f"AWS call failed: {error}") from error


def error_code(error: Exception) -> str:
    return (getattr(error, "response", {}) or {}).get("Error", {}).get("Code", "")


# --- tags, names, times ---


def parse_ttl(text: str) -> timedelta:
    """`90m`, `3h`, `1d`, `3600s` or plain seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text)
    if not match:
        raise UserError(f"bad --ttl {text!r}: use e.g. 90m, 3h or 1d")
    unit = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]
    seconds = float(match.group(1)) * unit
    if seconds <= 0:
        raise UserError(f"bad --ttl {text!r}: it must be positive")
    return timedelta(seconds=seconds)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def new_campaign_id(now: datetime) -> str:
    """Short, sortable, valid in bucket, cluster and log group names: `c20261125t180000-1a2b3c`."""
    return f"c{now.astimezone(UTC):%Y%m%dt%H%M%S}-{secrets.token_hex(3)}"


def check_campaign_id(campaign: str) -> str:
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,30}", campaign):
        raise UserError(f"bad campaign id {campaign!r}: use 1-31 lowercase letters, digits and '-'")
    return campaign


def campaign_tags(campaign: str, repository: str, expires_at: str) -> dict[str, str]:
    return {TAG_CAMPAIGN: campaign, TAG_REPOSITORY: repository or "unknown", TAG_EXPIRES: expires_at}


def ecs_tags(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in tags.items()]


def ec2_tags(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


@dataclass(frozen=True)
class Names:
    """Every resource name of one campaign, in one place."""

    campaign: str
    account: str

    @property
    def cluster(self) -> str:
        return f"opp-ci-{self.campaign}"

    @property
    def security_group(self) -> str:
        return f"opp-ci-{self.campaign}"

    @property
    def log_group(self) -> str:
        return f"/opp-ci/{self.campaign}"

    @property
    def password_parameter(self) -> str:
        return f"/opp-ci/{self.campaign}/redis-password"

    @property
    def bucket(self) -> str:
        return f"opp-ci-{self.campaign}-{self.account}"

    def family(self, role: str) -> str:
        return f"opp-ci-{role}-{self.campaign}"


# --- finding resources by tag ---


@dataclass(frozen=True)
class Resource:
    """A tagged resource as the Resource Groups Tagging API reports it."""

    arn: str
    tags: Mapping[str, str]

    @property
    def kind(self) -> str:
        """`service:type`, e.g. `ecs:cluster`, `s3:bucket`, `logs:log-group`."""
        parts = self.arn.split(":", 5)
        service, rest = parts[2], parts[5] if len(parts) > 5 else ""
        if service == "s3":
            return "s3:bucket" if "/" not in rest else "s3:object"
        return f"{service}:{re.split('[/:]', rest, maxsplit=1)[0]}"

    @property
    def name(self) -> str:
        rest = self.arn.split(":", 5)[5]
        if self.kind in ("logs:log-group", "secretsmanager:secret"):
            return rest.split(":", 1)[1]
        if self.kind == "ssm:parameter":
            return "/" + rest.split("/", 1)[1].lstrip("/")
        return rest.split("/", 1)[1] if "/" in rest else rest

    @property
    def campaign(self) -> str:
        return self.tags.get(TAG_CAMPAIGN, "")

    def expired(self, now: datetime) -> bool:
        moment = parse_iso(self.tags.get(TAG_EXPIRES, ""))
        return moment is not None and moment <= now


def find_resources(clients: Clients, tag_filters: list[dict[str, Any]]) -> list[Resource]:
    """Every resource in the region whose tags match (Resource Groups Tagging API)."""
    pages = (
        clients("resourcegroupstaggingapi")
        .get_paginator("get_resources")
        .paginate(TagFilters=tag_filters, ResourcesPerPage=100)
    )
    return [
        Resource(m["ResourceARN"], {t["Key"]: t["Value"] for t in m.get("Tags", [])})
        for page in pages
        for m in page["ResourceTagMappingList"]
    ]


def campaign_resources(clients: Clients, campaign: str) -> list[Resource]:
    return find_resources(clients, [{"Key": TAG_CAMPAIGN, "Values": [campaign]}])


def opp_ci_resources(clients: Clients) -> list[Resource]:
    return find_resources(clients, [{"Key": TAG_EXPIRES}])


# --- teardown ---


@dataclass
class Teardown:
    """Deletes resources in dependency order; each step is idempotent (gone already is fine)."""

    clients: Clients
    timeout: float = 600.0
    poll: float = 5.0
    log: Log = _quiet
    deleted: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def run(self, resources: list[Resource]) -> list[str]:
        ordered = sorted(resources, key=lambda r: kind_rank(r.kind))
        for resource in ordered:
            self.delete(resource)
        if self.failed:
            raise UserError(
                f"could not delete {len(self.failed)} resource(s): {'; '.join(self.failed)} "
                "— run `opp-ci cluster down` again or `opp-ci janitor` later"
            )
        return self.deleted

    def delete(self, resource: Resource) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        if resource.kind not in DELETE_ORDER:
            self.log(f"skipping {resource.arn}: opp-ci does not create this kind of resource")
            return
        deleter = getattr(self, "_delete_" + resource.kind.split(":")[1].replace("-", "_"))
        try:
            if deleter(resource) is not False:
                self.deleted.append(f"{resource.kind} {resource.name}")
                self.log(f"deleted {resource.kind} {resource.name}")
        except ClientError as error:
            if error_code(error) in NOT_FOUND:
                return
            self.failed.append(f"{resource.kind} {resource.name}: {user_error(error).message}")
        except (BotoCoreError, UserError) as error:
            self.failed.append(f"{resource.kind} {resource.name}: {error}")

    def _delete_task(self, resource: Resource) -> bool:
        """Stops a task (the tagging API still lists stopped ones for a while: those are skipped)."""
        ecs, cluster = self.clients("ecs"), resource.name.split("/")[0]
        tasks = ecs.describe_tasks(cluster=cluster, tasks=[resource.arn])["tasks"]
        if not tasks or tasks[0]["lastStatus"] == "STOPPED" or tasks[0].get("desiredStatus") == "STOPPED":
            return False
        ecs.stop_task(cluster=cluster, task=resource.arn, reason="opp-ci teardown")
        return True

    def _delete_cluster(self, resource: Resource) -> bool:
        ecs = self.clients("ecs")
        found = ecs.describe_clusters(clusters=[resource.arn])["clusters"]
        if not found or found[0]["status"] == "INACTIVE":
            return False
        self.stop_tasks(resource.arn)
        ecs.delete_cluster(cluster=resource.arn)
        return True

    def stop_tasks(self, cluster: str) -> None:
        ecs = self.clients("ecs")
        arns = [
            a for page in ecs.get_paginator("list_tasks").paginate(cluster=cluster) for a in page["taskArns"]
        ]
        for arn in arns:
            ecs.stop_task(cluster=cluster, task=arn, reason="opp-ci teardown")
        for start in range(0, len(arns), 100):
            wait_tasks(ecs, "tasks_stopped", cluster, arns[start : start + 100], self.timeout, self.poll)

    def _delete_task_definition(self, resource: Resource) -> bool:
        ecs = self.clients("ecs")
        try:
            status = ecs.describe_task_definition(taskDefinition=resource.arn)["taskDefinition"]["status"]
        except Exception as error:  # ClientException: no such task definition
            if error_code(error) in ("ClientException", *NOT_FOUND):
                return False
            raise
        if status == "ACTIVE":
            ecs.deregister_task_definition(taskDefinition=resource.arn)
        if status in ("ACTIVE", "INACTIVE"):
            ecs.delete_task_definitions(taskDefinitions=[resource.arn])
            return True
        return False

    def _delete_security_group(self, resource: Resource) -> bool:
        from botocore.exceptions import ClientError

        ec2 = self.clients("ec2")
        group = ec2.describe_security_groups(GroupIds=[resource.name])["SecurityGroups"][0]
        if group["IpPermissions"]:
            ec2.revoke_security_group_ingress(GroupId=resource.name, IpPermissions=group["IpPermissions"])
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                ec2.delete_security_group(GroupId=resource.name)
                return True
            except ClientError as error:  # the network interfaces of stopped tasks linger a while
                if error_code(error) != "DependencyViolation" or time.monotonic() > deadline:
                    raise
                time.sleep(self.poll)

    def _delete_log_group(self, resource: Resource) -> bool:
        self.clients("logs").delete_log_group(logGroupName=resource.name)
        return True

    def _delete_parameter(self, resource: Resource) -> bool:
        self.clients("ssm").delete_parameter(Name=resource.name)
        return True

    def _delete_secret(self, resource: Resource) -> bool:
        self.clients("secretsmanager").delete_secret(SecretId=resource.arn, ForceDeleteWithoutRecovery=True)
        return True

    def _delete_bucket(self, resource: Resource) -> bool:
        s3 = self.clients("s3")
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=resource.name):
            objects = [
                {"Key": v["Key"], "VersionId": v["VersionId"]}
                for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
            ]
            if objects:
                s3.delete_objects(Bucket=resource.name, Delete={"Objects": objects, "Quiet": True})
        s3.delete_bucket(Bucket=resource.name)
        return True


def down(
    clients: Clients, campaign: str, *, timeout: float = 600.0, poll: float = 5.0, log: Log = _quiet
) -> list[str]:
    """Deletes every resource tagged with this campaign. Idempotent."""
    with aws_errors():
        return Teardown(clients, timeout, poll, log).run(campaign_resources(clients, campaign))


def janitor(
    clients: Clients,
    now: datetime,
    *,
    dry_run: bool = False,
    timeout: float = 600.0,
    poll: float = 5.0,
    log: Log = _quiet,
) -> list[str]:
    """Deletes every opp-ci resource whose expires-at tag has passed, and nothing else."""
    with aws_errors():
        expired = [r for r in opp_ci_resources(clients) if r.expired(now)]
        if dry_run:
            return [f"{r.kind} {r.name}" for r in expired]
        return Teardown(clients, timeout, poll, log).run(expired)


def status(clients: Clients, campaign: str | None = None) -> list[dict[str, str]]:
    """One row per live opp-ci resource (of one campaign, or all): campaign, kind, name, expires-at, state.

    The tagging API still lists stopped tasks and deleted clusters for a while; those are left out.
    """
    with aws_errors():
        found = campaign_resources(clients, campaign) if campaign else opp_ci_resources(clients)
        rows = [
            {
                "campaign": r.campaign,
                "kind": r.kind,
                "name": r.name,
                "expires-at": r.tags.get(TAG_EXPIRES, ""),
                "state": state_or_gone(clients, r),
            }
            for r in found
        ]
    rows = [row for row in rows if row["state"] != "gone"]
    return sorted(rows, key=lambda row: (row["campaign"], kind_rank(row["kind"]), row["name"]))


def kind_rank(kind: str) -> int:
    return DELETE_ORDER.index(kind) if kind in DELETE_ORDER else len(DELETE_ORDER)


def state_or_gone(clients: Clients, resource: Resource) -> str:
    try:
        return resource_state(clients, resource)
    except Exception as error:  # a task of a deleted cluster, say
        if error_code(error) in NOT_FOUND:
            return "gone"
        raise


def resource_state(clients: Clients, resource: Resource) -> str:
    """A task's status; for a cluster how many tasks run in it; "gone" for what is deleted already."""
    ecs = clients("ecs")
    if resource.kind == "ecs:task":
        cluster = resource.name.split("/")[0]
        tasks = ecs.describe_tasks(cluster=cluster, tasks=[resource.arn])["tasks"]
        state = tasks[0]["lastStatus"] if tasks else "STOPPED"
        return "gone" if state in ("STOPPED", "DELETED") else state.lower()
    if resource.kind != "ecs:cluster":
        return ""
    found = ecs.describe_clusters(clusters=[resource.arn])["clusters"]
    if not found or found[0]["status"] != "ACTIVE":
        return "gone"
    pages = ecs.get_paginator("list_tasks").paginate(cluster=resource.arn, desiredStatus="RUNNING")
    return f"{sum(len(page['taskArns']) for page in pages)} task(s) running"


# --- waiting ---


def wait_tasks(
    ecs: Any, waiter_name: str, cluster: str, arns: list[str], timeout: float, poll: float
) -> None:
    """boto3's `tasks_running` / `tasks_stopped` waiter with our timeout; a clear UserError otherwise."""
    from botocore.exceptions import WaiterError

    if not arns:
        return
    attempts = max(1, math.ceil(timeout / max(poll, 0.01)))
    try:
        ecs.get_waiter(waiter_name).wait(
            cluster=cluster, tasks=arns, WaiterConfig={"Delay": poll, "MaxAttempts": attempts}
        )
    except WaiterError as error:
        tasks = ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"]
        stopped = [t for t in tasks if t["lastStatus"] == "STOPPED"]
        if waiter_name == "tasks_running" and stopped:
            raise UserError(task_failure(stopped[0])) from error
        states = ", ".join(sorted({t["lastStatus"] for t in tasks}))
        target = waiter_name.removeprefix("tasks_").upper()
        raise UserError(
            f"ECS tasks in {cluster} did not reach {target} within {timeout:.0f}s "
            f"(now: {states}); raise --timeout or check the ECS console"
        ) from error


def task_failure(task: Mapping[str, Any]) -> str:
    """Why a task stopped, naming the image when it could not be pulled."""
    reasons = [task.get("stoppedReason", "")]
    reasons += [c.get("reason", "") for c in task.get("containers", [])]
    reason = "; ".join(r for r in reasons if r) or "no reason given"
    images = ", ".join(c.get("image", "?") for c in task.get("containers", []))
    if "CannotPull" in reason or "pull" in reason.lower():
        return (
            f"the image {images} cannot be pulled (does it exist, may the execution role read it?): {reason}"
        )
    return f"an ECS task ({images}) stopped while starting: {reason}"


def redis_answers(url: str) -> bool:
    """The default Redis probe: PING with the password in the URL."""
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5).ping())
    except (redis.RedisError, OSError):
        return False


def wait_for_redis(probe: RedisProbe, url: str, shown: str, timeout: float, poll: float) -> None:
    deadline = time.monotonic() + timeout
    while not probe(url):
        if time.monotonic() > deadline:
            raise UserError(
                f"Redis at {shown} did not answer within {timeout:.0f}s; is port {REDIS_PORT} open "
                "to this machine's public address (--caller-cidr)?"
            )
        time.sleep(poll)


# --- cluster up ---


@dataclass
class EcsOptions:
    """What `opp-ci cluster up` and `opp-ci run --backend ecs` need; filled from CLI flags."""

    image: str
    region: str
    workers: int = 2
    spot: bool = False
    subnets: list[str] = field(default_factory=list)
    caller_cidr: str | None = None
    ttl: str = DEFAULT_TTL
    repository: str = ""
    campaign: str | None = None
    redis_image: str = DEFAULT_REDIS_IMAGE
    worker_cpu: int = 1024
    worker_memory: int = 2048
    redis_cpu: int = 512
    redis_memory: int = 1024
    project_dir: str = "/project"
    queue: str = "opp-ci"
    burst: bool = False  # `worker --burst` exits at once on an empty queue, i.e. before jobs are enqueued
    max_idle: int = 900  # a worker with nothing to do for this long exits, so its task stops billing
    execution_role_arn: str | None = None
    task_role_arn: str | None = None
    timeout: float = 600.0
    poll: float = 6.0
    results_days: int = 7
    log_days: int = 7
    redis_password: str | None = None  # random unless given (tests)


@dataclass
class Cluster:
    """What `up` created: enough to run a campaign against it."""

    campaign: str
    region: str
    cluster: str
    redis_host: str
    redis_private_host: str
    password: str = field(repr=False)
    password_parameter: str
    store_url: str
    expires_at: str
    redis_task: str = ""
    worker_tasks: list[str] = field(default_factory=list)

    @property
    def redis_url(self) -> str:
        """With the password: for the orchestrator only, never printed."""
        return f"redis://:{quote(self.password, safe='')}@{self.redis_host}:{REDIS_PORT}/0"

    @property
    def public_redis_url(self) -> str:
        return f"redis://{self.redis_host}:{REDIS_PORT}/0"

    def outputs(self) -> dict[str, str]:
        """What `cluster up` prints and writes to $GITHUB_OUTPUT: no password."""
        return {
            "campaign-id": self.campaign,
            "cluster-name": self.cluster,
            "redis-url": self.public_redis_url,
            "redis-password-parameter": self.password_parameter,
            "store-url": self.store_url,
            "region": self.region,
            "expires-at": self.expires_at,
        }


@dataclass(frozen=True)
class Network:
    vpc: str
    subnets: list[str]


def up(
    clients: Clients,
    options: EcsOptions,
    *,
    probe: RedisProbe = redis_answers,
    log: Log = _quiet,
    now: datetime | None = None,
    fail_after: str | None = None,
) -> Cluster:
    """Creates everything; if any step fails, deletes what was created (as `down`) and raises.

    `fail_after` names a step after which to fail on purpose (tests of the cleanup path).
    """
    now = now or datetime.now(UTC)
    campaign = check_campaign_id(options.campaign or new_campaign_id(now))
    expires_at = iso(now + parse_ttl(options.ttl))
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


ECR_IMAGE = re.compile(
    r"(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(\.cn)?/"
    r"(?P<repo>[^:@]+)(:(?P<tag>[^@]+))?(@(?P<digest>sha256:[0-9a-f]{64}))?$"
)


def check_image(ecr: Any, image: str) -> None:
    """An ECR image must exist before anything is created; other registries are checked by ECS."""
    match = ECR_IMAGE.match(image)
    if not match:
        return
    image_id = {"imageDigest": match["digest"]} if match["digest"] else {"imageTag": match["tag"] or "latest"}
    try:
        ecr.describe_images(registryId=match["account"], repositoryName=match["repo"], imageIds=[image_id])
    except Exception as error:
        if error_code(error) in ("ImageNotFoundException", "RepositoryNotFoundException"):
            raise UserError(
                f"the image {image} does not exist ({error_code(error)}); build and push it first, "
                "e.g. with `opp-ci ecr ensure` and the build-image action"
            ) from error
        raise


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


class StepFailure(RuntimeError):
    """A failure injected on purpose after a named step (tests)."""


@dataclass
class Builder:
    """The steps of `up`, one small method each, in order."""

    clients: Clients
    options: EcsOptions
    names: Names
    tags: dict[str, str]
    network: Network
    cidr: str
    probe: RedisProbe
    log: Log
    fail_after: str | None = None

    def step(self, name: str) -> None:
        self.log(f"created {name}")
        if self.fail_after == name:
            raise StepFailure(f"failure injected after step {name!r}")

    def build(self, expires_at: str) -> Cluster:
        self.create_log_group()
        parameter_arn, password = self.create_password()
        store_url = self.create_bucket()
        group = self.create_security_group()
        cluster = self.create_cluster()
        redis_task, private_host, public_host = self.start_redis(cluster, group, parameter_arn)
        result = Cluster(
            self.names.campaign,
            self.clients.region,
            cluster,
            public_host or private_host,
            private_host,
            password,
            self.names.password_parameter,
            store_url,
            expires_at,
            redis_task,
        )
        shown = f"{result.redis_host}:{REDIS_PORT}"
        wait_for_redis(self.probe, result.redis_url, shown, self.options.timeout, self.options.poll)
        self.step("redis-answers")
        worker_url = f"redis://{private_host}:{REDIS_PORT}/0"
        result.worker_tasks = self.start_workers(cluster, group, parameter_arn, worker_url, store_url)
        return result

    def create_log_group(self) -> None:
        logs = self.clients("logs")
        logs.create_log_group(logGroupName=self.names.log_group, tags=self.tags)
        logs.put_retention_policy(logGroupName=self.names.log_group, retentionInDays=self.options.log_days)
        self.step("log-group")

    def create_password(self) -> tuple[str, str]:
        password = self.options.redis_password or secrets.token_urlsafe(32)
        self.clients("ssm").put_parameter(
            Name=self.names.password_parameter,
            Value=password,
            Type="SecureString",
            Description=f"opp-ci Redis password, campaign {self.names.campaign}",
            Tags=ec2_tags(self.tags),
        )
        account, region = self.names.account, self.clients.region
        self.step("password")
        return f"arn:aws:ssm:{region}:{account}:parameter{self.names.password_parameter}", password

    def create_bucket(self) -> str:
        s3, bucket = self.clients("s3"), self.names.bucket
        extra = (
            {}
            if self.clients.region == "us-east-1"
            else {"CreateBucketConfiguration": {"LocationConstraint": self.clients.region}}
        )
        s3.create_bucket(Bucket=bucket, **extra)
        s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": ec2_tags(self.tags)})
        s3.put_public_access_block(
            Bucket=bucket,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True,
            },
        )
        s3.put_bucket_lifecycle_configuration(
            Bucket=bucket,
            LifecycleConfiguration={
                "Rules": [
                    {
                        "ID": "opp-ci-expire-results",
                        "Status": "Enabled",
                        "Filter": {"Prefix": ""},
                        "Expiration": {"Days": self.options.results_days},
                        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
                    }
                ]
            },
        )
        self.step("bucket")
        return f"s3://{bucket}/{self.names.campaign}"

    def create_security_group(self) -> str:
        ec2 = self.clients("ec2")
        group = ec2.create_security_group(
            GroupName=self.names.security_group,
            VpcId=self.network.vpc,
            Description=f"opp-ci campaign {self.names.campaign}: Redis from the caller and the workers",
            TagSpecifications=[{"ResourceType": "security-group", "Tags": ec2_tags(self.tags)}],
        )["GroupId"]
        ec2.authorize_security_group_ingress(
            GroupId=group,
            IpPermissions=[
                {
                    "IpProtocol": "tcp",
                    "FromPort": REDIS_PORT,
                    "ToPort": REDIS_PORT,
                    "IpRanges": [{"CidrIp": self.cidr, "Description": "opp-ci orchestrator"}],
                    "UserIdGroupPairs": [{"GroupId": group, "Description": "opp-ci workers"}],
                }
            ],
        )
        self.step("security-group")
        return group

    def create_cluster(self) -> str:
        self.clients("ecs").create_cluster(
            clusterName=self.names.cluster,
            tags=ecs_tags(self.tags),
            capacityProviders=["FARGATE", "FARGATE_SPOT"],
            settings=[{"name": "containerInsights", "value": "disabled"}],
        )
        self.step("cluster")
        return self.names.cluster

    def role_arn(self, given: str | None, name: str) -> str:
        return given or f"arn:aws:iam::{self.names.account}:role/{name}"

    def log_configuration(self, prefix: str) -> dict[str, Any]:
        return {
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": self.names.log_group,
                "awslogs-region": self.clients.region,
                "awslogs-stream-prefix": prefix,
            },
        }

    def register(self, role: str, container: dict[str, Any], cpu: int, memory: int) -> str:
        arn = self.clients("ecs").register_task_definition(
            family=self.names.family(role),
            networkMode="awsvpc",
            requiresCompatibilities=["FARGATE"],
            cpu=str(cpu),
            memory=str(memory),
            tags=ecs_tags(self.tags),
            executionRoleArn=self.role_arn(self.options.execution_role_arn, EXECUTION_ROLE),
            taskRoleArn=self.role_arn(self.options.task_role_arn, TASK_ROLE),
            containerDefinitions=[
                {
                    "essential": True,
                    "memory": memory,
                    "logConfiguration": self.log_configuration(role),
                    **container,
                }
            ],
        )["taskDefinition"]["taskDefinitionArn"]
        self.step(f"{role}-task-definition")
        return arn

    def run(self, cluster: str, definition: str, group: str, count: int, spot: bool) -> list[str]:
        ecs, arns = self.clients("ecs"), []
        capacity = (
            {"capacityProviderStrategy": [{"capacityProvider": "FARGATE_SPOT", "weight": 1}]}
            if spot
            else {"launchType": "FARGATE"}
        )
        while len(arns) < count:
            reply = ecs.run_task(
                cluster=cluster,
                taskDefinition=definition,
                count=min(10, count - len(arns)),
                networkConfiguration={
                    "awsvpcConfiguration": {
                        "subnets": self.network.subnets,
                        "securityGroups": [group],
                        "assignPublicIp": "ENABLED",
                    }
                },
                tags=ecs_tags(self.tags),
                enableECSManagedTags=True,
                startedBy="opp-ci",
                **capacity,
            )
            if reply.get("failures"):
                failure = reply["failures"][0]
                raise UserError(
                    f"ECS could not start a task: {failure.get('reason')} {failure.get('detail', '')}"
                )
            arns += [t["taskArn"] for t in reply["tasks"]]
        return arns

    def start_redis(self, cluster: str, group: str, parameter_arn: str) -> tuple[str, str, str]:
        lifetime = int(parse_ttl(self.options.ttl).total_seconds())
        script = (
            f"exec timeout {lifetime} docker-entrypoint.sh redis-server --port {REDIS_PORT} "
            '--requirepass "$REDIS_PASSWORD" --appendonly yes --maxmemory-policy noeviction'
        )
        definition = self.register(
            "redis",
            {
                "name": "redis",
                "image": self.options.redis_image,
                "entryPoint": ["sh", "-c"],
                "command": [script],
                "secrets": [{"name": "REDIS_PASSWORD", "valueFrom": parameter_arn}],
                "portMappings": [{"containerPort": REDIS_PORT, "protocol": "tcp"}],
            },
            self.options.redis_cpu,
            self.options.redis_memory,
        )
        [task] = self.run(cluster, definition, group, 1, spot=False)
        self.step("redis-task")
        wait_tasks(
            self.clients("ecs"), "tasks_running", cluster, [task], self.options.timeout, self.options.poll
        )
        private_host, public_host = self.addresses(cluster, task)
        self.step("redis-running")
        return task, private_host, public_host

    def addresses(self, cluster: str, task: str) -> tuple[str, str]:
        """The task's private IPv4 address, and its public one if it has one."""
        described = self.clients("ecs").describe_tasks(cluster=cluster, tasks=[task])["tasks"][0]
        details = {
            d["name"]: d["value"]
            for a in described.get("attachments", [])
            if a.get("type") == "ElasticNetworkInterface"
            for d in a.get("details", [])
        }
        private = details.get("privateIPv4Address", "")
        if not private:
            raise UserError(f"the Redis task {task} has no private address")
        interfaces = self.clients("ec2").describe_network_interfaces(
            NetworkInterfaceIds=[details["networkInterfaceId"]]
        )["NetworkInterfaces"]
        public = interfaces[0].get("Association", {}).get("PublicIp", "") if interfaces else ""
        return private, public

    def start_workers(
        self, cluster: str, group: str, parameter_arn: str, redis_url: str, store_url: str
    ) -> list[str]:
        options = self.options
        command = [
            "worker",
            *(["--burst"] if options.burst else []),
            "--max-idle",
            str(options.max_idle),
            "--redis-url",
            redis_url,
            "--project",
            options.project_dir,
            "--store",
            store_url,
            "--queue",
            options.queue,
        ]
        definition = self.register(
            "worker",
            {
                "name": "worker",
                "image": options.image,
                "entryPoint": ["opp-ci"],
                "command": command,
                "environment": [
                    {"name": "OPP_CI_REDIS_URL", "value": redis_url},
                    {"name": "OPP_CI_STORE", "value": store_url},
                    {"name": "OPP_CI_CAMPAIGN", "value": self.names.campaign},
                ],
                "secrets": [{"name": "OPP_CI_REDIS_PASSWORD", "valueFrom": parameter_arn}],
            },
            options.worker_cpu,
            options.worker_memory,
        )
        tasks = self.run(cluster, definition, group, options.workers, options.spot)
        self.step("worker-tasks")
        for start in range(0, len(tasks), 100):
            wait_tasks(
                self.clients("ecs"),
                "tasks_running",
                cluster,
                tasks[start : start + 100],
                options.timeout,
                options.poll,
            )
        self.step("workers-running")
        return tasks


# --- cost of what ran ---


def task_usages(clients: Clients, cluster: str, now: datetime) -> list[Any]:
    """Size and duration of every task the cluster ran (running ones count until `now`)."""
    ecs = clients("ecs")
    arns = [
        a
        for status in ("RUNNING", "STOPPED")
        for page in ecs.get_paginator("list_tasks").paginate(cluster=cluster, desiredStatus=status)
        for a in page["taskArns"]
    ]
    sizes: dict[str, tuple[int, int]] = {}
    return [
        task_usage(ecs, task, sizes, now)
        for start in range(0, len(arns), 100)
        for task in ecs.describe_tasks(cluster=cluster, tasks=arns[start : start + 100])["tasks"]
    ]


def task_usage(ecs: Any, task: Mapping[str, Any], sizes: dict[str, tuple[int, int]], now: datetime) -> Any:
    """One task's usage; its size from the task, else from its task definition (cached in `sizes`)."""
    from opp_ci.cost import TaskUsage

    definition = task.get("taskDefinitionArn", "")
    if task.get("cpu") and task.get("memory"):
        cpu, memory = int(task["cpu"]), int(task["memory"])
    else:
        if definition not in sizes:
            described = ecs.describe_task_definition(taskDefinition=definition)["taskDefinition"]
            sizes[definition] = (int(described.get("cpu", 0)), int(described.get("memory", 0)))
        cpu, memory = sizes[definition]
    began = task.get("startedAt") or task.get("createdAt") or now
    ended = task.get("stoppedAt") or now
    role = "redis" if "opp-ci-redis-" in definition else "worker"
    seconds = max(0.0, (ended - began).total_seconds())
    return TaskUsage(
        role, cpu / 1024, memory / 1024, seconds, task.get("capacityProviderName") == "FARGATE_SPOT"
    )


# --- ECR ---


def ensure_repository(
    ecr: Any,
    name: str,
    *,
    tag: str | None = None,
    digest: str | None = None,
    keep: int = 20,
    tags: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Creates the repository when missing; says whether the image (tag or digest) is there."""
    with aws_errors():
        try:
            repository = ecr.describe_repositories(repositoryNames=[name])["repositories"][0]
            created = False
        except Exception as error:
            if error_code(error) != "RepositoryNotFoundException":
                raise
            repository = create_repository(ecr, name, keep, tags or {})
            created = True
        exists = image_exists(ecr, name, tag, digest) if (tag or digest) else False
    return {
        "repository-uri": repository["repositoryUri"],
        "exists": str(exists).lower(),
        "created": str(created).lower(),
    }


def create_repository(ecr: Any, name: str, keep: int, tags: Mapping[str, str]) -> dict[str, Any]:
    repository = ecr.create_repository(
        repositoryName=name,
        imageScanningConfiguration={"scanOnPush": True},
        imageTagMutability="MUTABLE",
        tags=ec2_tags(tags),
    )["repository"]
    ecr.put_lifecycle_policy(repositoryName=name, lifecyclePolicyText=lifecycle_policy(keep))
    return repository


def lifecycle_policy(keep: int) -> str:
    import json

    return json.dumps(
        {
            "rules": [
                {
                    "rulePriority": 1,
                    "description": f"keep the last {keep} images",
                    "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": keep},
                    "action": {"type": "expire"},
                }
            ]
        }
    )


def image_exists(ecr: Any, name: str, tag: str | None, digest: str | None) -> bool:
    image_id = {"imageDigest": digest} if digest else {"imageTag": tag}
    try:
        return bool(ecr.describe_images(repositoryName=name, imageIds=[image_id])["imageDetails"])
    except Exception as error:
        if error_code(error) == "ImageNotFoundException":
            return False
        raise

