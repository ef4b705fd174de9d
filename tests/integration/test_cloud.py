"""The cloud backend against a moto server (AWS) and a real redis-server (standing in for the Redis task).

moto cannot run containers, so "Redis answers" is checked against a local redis-server through the
pluggable probe, and ECS tasks are held in RUNNING with moto's manual state manager.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse

import boto3
import pytest
import requests
from ports import free_port, wait_for_port
from projects import copy_standin

from opp_ci.backends.ecs import EcsBackend
from opp_ci.cloud import create, teardown
from opp_ci.cloud.aws import Clients
from opp_ci.cloud.builder import Builder, StepFailure
from opp_ci.cloud.certificates import issue
from opp_ci.cloud.cluster import Cluster, EcsOptions
from opp_ci.cloud.resources import Resource, campaign_resources
from opp_ci.cloud.tags import TAG_CAMPAIGN, TAG_EXPIRES, TAG_REPOSITORY, Names, campaign_tags, parse_iso
from opp_ci.cloud.tasks import Tasks
from opp_ci.cloud.waiting import redis_answers
from opp_ci.errors import UserError
from opp_ci.pipeline import run_campaign
from opp_ci.progress import make_display
from opp_ci.queue import connect_redis
from opp_ci.s3store import S3Store
from opp_ci.spec import resolve
from opp_ci.tls import CAMPAIGN_SERVER_NAME, RedisTLS

pytestmark = pytest.mark.integration

REGION = "us-east-1"
ROOT = Path(__file__).resolve().parents[2]
POLICY = ROOT / "docs" / "iam-policy.json"
CALLER = "203.0.113.7/32"


@pytest.fixture(scope="module")
def moto_endpoint(tmp_path_factory) -> Iterator[str]:
    executable = Path(sys.executable).parent / "moto_server"
    port = free_port()
    log_path = tmp_path_factory.mktemp("moto") / "moto.log"
    log = log_path.open("w")
    process = subprocess.Popen([str(executable), "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=log)
    try:
        wait_for_port(port, process, log_path, "moto_server")
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture
def aws(moto_endpoint: str, monkeypatch) -> Iterator[str]:
    """A fresh moto, fake credentials and region in the environment, ECS tasks held in RUNNING."""
    requests.post(f"{moto_endpoint}/moto-api/reset-auth", data=b"inf")
    requests.post(f"{moto_endpoint}/moto-api/reset")
    requests.post(
        f"{moto_endpoint}/moto-api/state-manager/set-transition",
        json={"model_name": "ecs::task", "transition": {"progression": "manual", "times": 10**9}},
    )
    for name, value in {
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "GITHUB_OUTPUT", "GITHUB_REPOSITORY"):
        monkeypatch.delenv(name, raising=False)
    boto3.setup_default_session()  # it caches the credentials it found first
    ECS_KEYS.update(aws_access_key_id="testing", aws_secret_access_key="testing")
    yield moto_endpoint
    requests.post(f"{moto_endpoint}/moto-api/reset-auth", data=b"inf")


PASSWORD = "test-secret-pw"
SHIM = "#!/bin/sh\nexec \"$@\"\n"  # the official image's docker-entrypoint.sh, less the switch to the redis user


class RedisTask:
    """Plays the Redis task as ECS would: on the first probe, runs the newest Redis task definition's
    command (`sh -c SCRIPT`) with its environment and its secrets read from SSM, listening on `port`
    (the harness's port mapping), in a scratch directory standing for the container's /data."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.seen: list[str] = []
        self.processes: dict[str, subprocess.Popen] = {}
        (root / "bin").mkdir()
        shim = root / "bin" / "docker-entrypoint.sh"
        shim.write_text(SHIM)
        shim.chmod(0o755)

    def probe(self, url: str, tls: RedisTLS) -> bool:
        self.seen.append(url)
        self.start_newest()
        parsed = urlparse(url)
        return redis_answers(f"rediss://:{parsed.password}@127.0.0.1:{self.port}/0", tls)

    def start_newest(self) -> None:
        ecs = as_ecs("ecs")
        arns = ecs.list_task_definitions(status="ACTIVE")["taskDefinitionArns"]
        arn = [a for a in arns if ":task-definition/opp-ci-redis-" in a][-1]  # moto lists oldest first
        if arn in self.processes:
            return
        if self.processes:  # another campaign's Redis: a port of its own
            self.port = free_port()
        [container] = ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]["containerDefinitions"]
        assert container["entryPoint"] == ["sh", "-c"]
        [script] = container["command"]
        mapped = container["portMappings"][0]["containerPort"]
        script = script.replace(f"--tls-port {mapped} ", f"--tls-port {self.port} ") + " --bind 127.0.0.1"
        data = self.root / f"data-{len(self.processes)}"
        data.mkdir()
        env = {"PATH": f"{self.root / 'bin'}:{os.environ['PATH']}", **task_environment(container)}
        log = (self.root / f"redis-{len(self.processes)}.log").open("w")
        self.processes[arn] = subprocess.Popen(["sh", "-c", script], env=env, cwd=data, stdout=log, stderr=log)
        self.data = data

    def stop(self) -> None:
        for process in self.processes.values():
            process.terminate()
            process.wait(10)


ECS_KEYS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def as_ecs(service: str):
    """A client with ECS's own rights: ECS reads task definitions and secrets, not the caller."""
    return boto3.client(service, region_name=REGION, **ECS_KEYS)


def task_environment(container: dict) -> dict[str, str]:
    """A container's environment and secrets (read from SSM), as ECS hands them to it."""
    env = {e["name"]: e["value"] for e in container.get("environment", [])}
    ssm = as_ecs("ssm")
    for secret in container.get("secrets", []):
        name = "/" + secret["valueFrom"].split(":parameter/", 1)[1]
        env[secret["name"]] = ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
    return env


@pytest.fixture
def redis_task(tmp_path: Path) -> Iterator[RedisTask]:
    (tmp_path / "redis-task").mkdir()
    task = RedisTask(tmp_path / "redis-task")
    try:
        yield task
    finally:
        task.stop()


def redis_at_localhost(monkeypatch, port: int) -> None:
    """moto's tasks have made-up addresses: Redis "runs" at the local redis-server instead."""
    monkeypatch.setattr("opp_ci.cloud.cluster.REDIS_PORT", port)  # the orchestrator's URL (Cluster.redis_url)
    monkeypatch.setattr("opp_ci.cloud.builder.REDIS_PORT", port)  # the workers' URL
    monkeypatch.setattr(Tasks, "addresses", lambda self, cluster, task: ("127.0.0.1", ""))


def options(redis_password: str, **overrides) -> EcsOptions:
    values = {
        "image": "example/worker:1",
        "region": REGION,
        "workers": 3,
        "caller_cidr": CALLER,
        "repository": "example/model",
        "redis_password": redis_password,
        "timeout": 20,
        "poll": 0.05,
    }
    return EcsOptions(**{**values, **overrides})


def clients() -> Clients:
    return Clients(REGION)


def leftovers(campaign: str) -> list[str]:
    """What is left of a campaign, asked of each service's own API (not the tagging API)."""
    ecs, ec2 = boto3.client("ecs", region_name=REGION), boto3.client("ec2", region_name=REGION)
    left = []
    arns = ecs.list_clusters()["clusterArns"]
    for c in ecs.describe_clusters(clusters=arns, include=["TAGS"])["clusters"] if arns else []:
        if c["status"] == "ACTIVE" and {"key": TAG_CAMPAIGN, "value": campaign} in c.get("tags", []):
            left.append(f"cluster {c['clusterName']}")
            left += [f"task {t}" for t in ecs.list_tasks(cluster=c["clusterArn"])["taskArns"]]
    for role in ("redis", "worker"):
        left += ecs.list_task_definitions(familyPrefix=f"opp-ci-{role}-{campaign}", status="ACTIVE")[
            "taskDefinitionArns"
        ]
    groups = ec2.describe_security_groups(
        Filters=[{"Name": f"tag:{TAG_CAMPAIGN}", "Values": [campaign]}]
    )
    left += [f"sg {g['GroupId']}" for g in groups["SecurityGroups"]]
    logs = boto3.client("logs", region_name=REGION)
    left += [
        g["logGroupName"]
        for g in logs.describe_log_groups(logGroupNamePrefix=f"/opp-ci/{campaign}")["logGroups"]
    ]
    ssm = boto3.client("ssm", region_name=REGION)
    left += [
        p["Name"]
        for p in ssm.describe_parameters(
            ParameterFilters=[{"Key": "Name", "Option": "BeginsWith", "Values": [f"/opp-ci/{campaign}/"]}]
        )["Parameters"]
    ]
    s3 = boto3.client("s3", region_name=REGION)
    left += [b["Name"] for b in s3.list_buckets()["Buckets"] if b["Name"].startswith(f"opp-ci-{campaign}-")]
    return left


def tagged(campaign: str) -> list[Resource]:
    return campaign_resources(clients(), campaign)


def run_cli(*args: str, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run(
        [sys.executable, "-m", "opp_ci", *args], capture_output=True, text=True, env=env, timeout=120
    )


# --- up, status, down ---


def test_up_status_down_leaves_nothing(aws, redis_task, tmp_path):
    password = PASSWORD
    result = create.up(clients(), options(password, campaign="t1", spot=True), probe=redis_task.probe)

    assert redis_task.seen and all(url.startswith(f"rediss://:{password}@") for url in redis_task.seen)
    outputs = result.outputs()
    assert outputs["campaign-id"] == "t1" and outputs["cluster-name"] == "opp-ci-t1"
    assert outputs["redis-url"].startswith("rediss://") and password not in json.dumps(outputs)
    assert outputs["redis-ca-parameter"] == "/opp-ci/t1/redis-ca"
    assert result.store_url == "s3://opp-ci-t1-123456789012/t1"
    assert len(result.worker_tasks) == 3

    kinds = sorted(r.kind for r in tagged("t1"))
    assert kinds == sorted(
        [
            "ecs:cluster",
            "ec2:security-group",
            "logs:log-group",
            "ssm:parameter",
            "ssm:parameter",
            "ssm:parameter",
            "s3:bucket",
            "ecs:task-definition",
            "ecs:task-definition",
        ]
        + ["ecs:task"] * 4
    )
    for resource in tagged("t1"):
        assert set(resource.tags) >= {TAG_CAMPAIGN, TAG_REPOSITORY, TAG_EXPIRES}
        assert resource.tags[TAG_REPOSITORY] == "example/model"
        assert parse_iso(resource.tags[TAG_EXPIRES]) > datetime.now(UTC)

    check_security_group("t1")
    check_task_definitions("t1", password)
    check_bucket_and_parameter(result, password)
    check_redis_speaks_tls_only(result, redis_task)
    ecs = boto3.client("ecs", region_name=REGION)
    workers = ecs.describe_tasks(cluster="opp-ci-t1", tasks=result.worker_tasks)["tasks"]
    assert {t["lastStatus"] for t in workers} == {"RUNNING"}
    assert {t.get("capacityProviderName") for t in workers} == {"FARGATE_SPOT"}

    listing = run_cli("cluster", "status", "--campaign", "t1")
    assert listing.returncode == 0, listing.stderr
    assert (
        "ecs:cluster" in listing.stdout
        and "opp-ci-t1" in listing.stdout
        and "4 task(s) running" in listing.stdout
    )

    down = run_cli("cluster", "down", "--campaign", "t1")
    assert down.returncode == 0, down.stderr
    assert leftovers("t1") == []
    assert run_cli("cluster", "down", "--campaign", "t1").returncode == 0
    assert "no opp-ci resources" in run_cli("cluster", "status", "--campaign", "t1").stdout


def check_security_group(campaign: str) -> None:
    ec2 = boto3.client("ec2", region_name=REGION)
    [group] = ec2.describe_security_groups(
        Filters=[{"Name": f"tag:{TAG_CAMPAIGN}", "Values": [campaign]}]
    )["SecurityGroups"]
    [rule] = group["IpPermissions"]
    assert (rule["FromPort"], rule["ToPort"], rule["IpProtocol"]) == (6379, 6379, "tcp")
    assert [r["CidrIp"] for r in rule["IpRanges"]] == [CALLER]
    assert [p["GroupId"] for p in rule["UserIdGroupPairs"]] == [group["GroupId"]]


def check_task_definitions(campaign: str, password: str) -> None:
    ecs = boto3.client("ecs", region_name=REGION)
    redis = ecs.describe_task_definition(taskDefinition=f"opp-ci-redis-{campaign}")["taskDefinition"]
    worker = ecs.describe_task_definition(taskDefinition=f"opp-ci-worker-{campaign}")["taskDefinition"]
    assert password not in json.dumps(redis, default=str) + json.dumps(worker, default=str)
    [container] = redis["containerDefinitions"]
    script = " ".join(container["command"])
    assert (
        "--appendonly yes" in script
        and "--maxmemory-policy noeviction" in script
        and "timeout 10800" in script
    )
    assert {s["name"]: s["valueFrom"].split(":parameter")[1] for s in container["secrets"]} == {
        "REDIS_PASSWORD": f"/opp-ci/{campaign}/redis-password",
        "REDIS_TLS_KEY": f"/opp-ci/{campaign}/redis-tls-key",
    }
    assert "--port 0 --tls-port 6379" in script and "--tls-auth-clients no" in script
    key = boto3.client("ssm", region_name=REGION).get_parameter(
        Name=f"/opp-ci/{campaign}/redis-tls-key", WithDecryption=True
    )["Parameter"]
    assert key["Type"] == "SecureString" and "PRIVATE KEY" in key["Value"]
    secret_line = key["Value"].splitlines()[1]
    assert secret_line not in json.dumps(redis, default=str) + json.dumps(worker, default=str)
    [container] = worker["containerDefinitions"]
    assert container["entryPoint"] == ["opp-ci"] and container["command"][0] == "worker"
    assert {s["name"] for s in container["secrets"]} == {"OPP_CI_REDIS_PASSWORD"}
    environment = {e["name"]: e["value"] for e in container["environment"]}
    assert environment["OPP_CI_REDIS_URL"].startswith("rediss://")
    assert environment["OPP_CI_REDIS_CA"].startswith("-----BEGIN CERTIFICATE-----")
    assert environment["OPP_CI_REDIS_SERVER_NAME"] == "redis.opp-ci.invalid"
    assert "OPP_CI_REDIS_PASSWORD" not in {e["name"] for e in container.get("environment", [])}


def check_bucket_and_parameter(result: Cluster, password: str) -> None:
    ssm = boto3.client("ssm", region_name=REGION)
    parameter = ssm.get_parameter(Name=result.password_parameter, WithDecryption=True)["Parameter"]
    assert parameter["Type"] == "SecureString" and parameter["Value"] == password
    s3 = boto3.client("s3", region_name=REGION)
    bucket = result.store_url.split("/")[2]
    [rule] = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert rule["Status"] == "Enabled" and rule["Expiration"]["Days"] == 7


def check_redis_speaks_tls_only(result: Cluster, redis_task: RedisTask) -> None:
    """The Redis task (played here from its task definition) answers the campaign CA only, over TLS only."""
    import redis

    url = f"rediss://127.0.0.1:{redis_task.port}/0"
    assert connect_redis(url, result.password, tls=result.tls).ping()
    stranger = RedisTLS(issue("other", timedelta(hours=1)).ca, CAMPAIGN_SERVER_NAME)
    with pytest.raises(redis.ConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
        connect_redis(url, result.password, tls=stranger).ping()
    with pytest.raises(redis.ConnectionError):
        connect_redis(f"redis://127.0.0.1:{redis_task.port}/0", result.password).ping()
    key = redis_task.data / "tls" / "server.key"
    assert key.stat().st_mode & 0o777 == 0o600


# --- failures half-way ---


@pytest.mark.parametrize("step", ["log-group", "bucket", "security-group", "redis-task", "worker-tasks"])
def test_failure_half_way_through_up_leaves_nothing(aws, redis_task, step):
    password = PASSWORD
    with pytest.raises(StepFailure):
        create.up(clients(), options(password, campaign="half"), probe=redis_task.probe, fail_after=step)
    assert leftovers("half") == []
    assert teardown.status(clients(), "half") == []
    teardown.down(clients(), "half", poll=0.05)
    assert leftovers("half") == []


def test_down_cleans_up_after_an_up_that_died_without_cleaning(aws, redis_task):
    """As if the machine running `up` had been killed: only `down` runs afterwards."""
    password = PASSWORD
    c = clients()
    account = c("sts").get_caller_identity()["Account"]
    network = create.resolve_network(c("ec2"), [], REGION)
    builder = Builder(
        c,
        options(password, campaign="dead"),
        Names("dead", account),
        campaign_tags("dead", "example/model", "2099-01-01T00:00:00Z"),
        network,
        CALLER,
        redis_task.probe,
        print,
        fail_after="redis-running",
    )
    with pytest.raises(StepFailure):
        builder.build("2099-01-01T00:00:00Z")
    assert leftovers("dead")
    result = run_cli("cluster", "down", "--campaign", "dead")
    assert result.returncode == 0, result.stderr
    assert leftovers("dead") == []


def test_a_task_that_stops_while_starting_is_a_clear_error_and_leaves_nothing(
    aws, redis_task, moto_endpoint
):
    password = PASSWORD
    requests.post(
        f"{moto_endpoint}/moto-api/state-manager/set-transition",
        json={"model_name": "ecs::task", "transition": {"progression": "immediate"}},
    )
    with pytest.raises(UserError, match=r"stopped while starting|did not reach RUNNING"):
        create.up(clients(), options(password, campaign="stops"), probe=redis_task.probe)
    assert leftovers("stops") == []


# --- janitor ---


def test_janitor_deletes_expired_and_keeps_live_and_untagged(aws, redis_task):
    password = PASSWORD
    past = datetime(2020, 1, 1, tzinfo=UTC)
    create.up(
        clients(), options(password, campaign="old", workers=1, ttl="1h"), probe=redis_task.probe, now=past
    )
    create.up(clients(), options(password, campaign="live", workers=1), probe=redis_task.probe)
    boto3.client("ecs", region_name=REGION).create_cluster(clusterName="unrelated")
    boto3.client("logs", region_name=REGION).create_log_group(logGroupName="/unrelated/x")

    dry = run_cli("janitor", "--dry-run")
    assert dry.returncode == 0 and "would delete ecs:cluster opp-ci-old" in dry.stdout
    assert leftovers("old")
    result = run_cli("janitor")
    assert result.returncode == 0, result.stderr
    assert leftovers("old") == []
    live = leftovers("live")
    assert len(live) == 11, live  # cluster, 2 tasks, 2 task definitions, sg, log group, 3 parameters, bucket
    ecs = boto3.client("ecs", region_name=REGION)
    assert ecs.describe_clusters(clusters=["unrelated"])["clusters"][0]["status"] == "ACTIVE"
    logs = boto3.client("logs", region_name=REGION)
    assert logs.describe_log_groups(logGroupNamePrefix="/unrelated/x")["logGroups"]
    teardown.down(clients(), "live", poll=0.05)
    assert leftovers("live") == []


# --- IAM: the policy in docs/ is enough ---


# moto (from 5.2.6) checks an S3 request against the name of its API operation, where IAM has its own
# name for some: these are the operations opp-ci calls whose IAM action is named otherwise.
MOTO_S3_OPERATIONS = {
    "s3:PutBucketPublicAccessBlock": ["s3:PutPublicAccessBlock"],
    "s3:PutLifecycleConfiguration": ["s3:PutBucketLifecycleConfiguration"],
    "s3:ListBucketVersions": ["s3:ListObjectVersions"],
    "s3:ListBucket": ["s3:ListObjectsV2"],
    "s3:GetObject": ["s3:HeadObject"],
    "s3:DeleteObject": ["s3:DeleteObjects"],
}


def moto_policy(document: dict, drop: str | None = None) -> dict:
    """The repository's policy as moto can evaluate it: moto matches actions only (requests carry
    Resource "*", conditions are not evaluated), it names the tagging API `tagging:` not `tag:`, and
    some S3 actions by their operation (MOTO_S3_OPERATIONS)."""
    statements = []
    for statement in copy.deepcopy(document)["Statement"]:
        actions = [a for a in statement["Action"] if a != drop]
        actions += [a.replace("tag:", "tagging:") for a in actions if a.startswith("tag:")]
        actions += [operation for a in actions for operation in MOTO_S3_OPERATIONS.get(a, [])]
        statements.append({"Effect": statement["Effect"], "Action": actions, "Resource": "*"})
    return {"Version": "2012-10-17", "Statement": statements}


def restricted_keys(endpoint: str, policy: dict) -> dict[str, str]:
    """An IAM user with `policy` (and one for the harness playing ECS); moto enforces IAM from the 7th request on."""
    requests.post(f"{endpoint}/moto-api/reset-auth", data=b"6")
    iam = boto3.client("iam", region_name=REGION)
    iam.create_user(UserName="ci")
    iam.put_user_policy(UserName="ci", PolicyName="opp-ci", PolicyDocument=json.dumps(policy))
    iam.create_user(UserName="ecs-itself")  # the harness playing ECS, once IAM is enforced
    everything = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    iam.put_user_policy(UserName="ecs-itself", PolicyName="all", PolicyDocument=json.dumps(everything))
    ecs_key = iam.create_access_key(UserName="ecs-itself")["AccessKey"]
    ECS_KEYS.update(aws_access_key_id=ecs_key["AccessKeyId"], aws_secret_access_key=ecs_key["SecretAccessKey"])
    key = iam.create_access_key(UserName="ci")["AccessKey"]
    return {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}


def test_the_repository_policy_allows_every_call(aws, redis_task, monkeypatch, tmp_path):
    password = PASSWORD
    keys = restricted_keys(aws, moto_policy(json.loads(POLICY.read_text())))
    with pytest.raises(Exception, match="AuthFailure"):
        boto3.Session().client("ec2", region_name=REGION).describe_instances()  # enforcement is on
    for name, value in keys.items():
        monkeypatch.setenv(name, value)
    boto3.setup_default_session()  # the default session caches the credentials it first found
    with pytest.raises(Exception, match="not authorized"):
        boto3.client("ec2", region_name=REGION).describe_instances()  # not in the policy
    backend = EcsBackend(options(password, campaign="iam", workers=2), probe=redis_task.probe, log=print)
    with backend.provision(None, tmp_path) as infrastructure:
        store = S3Store(infrastructure.store_url)
        (tmp_path / "r").mkdir()
        (tmp_path / "r" / "a.sca").write_text("scalar\n")
        assert store.upload_dir(tmp_path / "r", "job1") == ["a.sca"]
        store.download("job1", ["a.sca"], tmp_path / "back")
    assert "cost" in infrastructure.extra
    assert run_cli("janitor").returncode == 0
    assert run_cli("cluster", "status").returncode == 0
    ensure = run_cli("ecr", "ensure", "--repository", "sim", "--tag", "v1")
    assert ensure.returncode == 0, ensure.stderr
    requests.post(f"{aws}/moto-api/reset-auth", data=b"inf")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    boto3.setup_default_session()
    assert leftovers("iam") == []


def test_a_missing_permission_is_named_and_nothing_is_left(aws, monkeypatch):
    policy = moto_policy(json.loads(POLICY.read_text()), drop="ecs:RunTask")
    keys = restricted_keys(aws, policy)
    result = run_cli(
        "cluster",
        "up",
        "--campaign",
        "denied",
        "--image",
        "example/worker:1",
        "--caller-cidr",
        CALLER,
        "--timeout",
        "20",
        env_extra=keys,
    )
    assert result.returncode == 2
    assert "missing AWS permission ecs:RunTask" in result.stderr and "Traceback" not in result.stderr
    requests.post(f"{aws}/moto-api/reset-auth", data=b"inf")
    assert leftovers("denied") == []


# --- clear errors before anything is created ---


def test_unknown_region(aws):
    result = run_cli("cluster", "up", "--image", "x:1", "--region", "mars-north-1", "--caller-cidr", CALLER)
    assert result.returncode == 2 and "unknown AWS region 'mars-north-1'" in result.stderr
    assert "Traceback" not in result.stderr


def test_no_default_vpc(aws):
    region = "eu-west-3"
    ec2 = boto3.client("ec2", region_name=region)
    vpc = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    for subnet in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]:
        ec2.delete_subnet(SubnetId=subnet["SubnetId"])
    for gateway in ec2.describe_internet_gateways()["InternetGateways"]:
        ec2.detach_internet_gateway(InternetGatewayId=gateway["InternetGatewayId"], VpcId=vpc)
        ec2.delete_internet_gateway(InternetGatewayId=gateway["InternetGatewayId"])
    ec2.delete_vpc(VpcId=vpc)
    result = run_cli(
        "cluster", "up", "--image", "x:1", "--region", region, "--caller-cidr", CALLER, "--campaign", "novpc"
    )
    assert result.returncode == 2 and "no default VPC in eu-west-3" in result.stderr
    assert campaign_resources(Clients(region), "novpc") == []


def test_an_image_that_does_not_exist(aws):
    image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/missing:1"
    result = run_cli("cluster", "up", "--image", image, "--caller-cidr", CALLER, "--campaign", "noimage")
    assert result.returncode == 2 and f"the image {image} does not exist" in result.stderr
    boto3.client("ecr", region_name=REGION).create_repository(repositoryName="there")
    image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/there:nope"
    result = run_cli("cluster", "up", "--image", image, "--caller-cidr", CALLER, "--campaign", "noimage")
    assert result.returncode == 2 and "ImageNotFoundException" in result.stderr
    assert leftovers("noimage") == []


def test_down_without_credentials_is_a_user_error(aws):
    result = run_cli(
        "cluster", "down", "--campaign", "x", env_extra={"AWS_REGION": "", "AWS_DEFAULT_REGION": ""}
    )
    assert result.returncode == 2 and "no AWS region" in result.stderr


# --- ECR ---


def test_ecr_ensure_creates_and_reports(aws, tmp_path):
    output = tmp_path / "github_output"
    result = run_cli(
        "ecr",
        "ensure",
        "--repository",
        "sim/model",
        "--tag",
        "abc",
        "--keep",
        "5",
        "--github-output",
        str(output),
    )
    assert result.returncode == 0, result.stderr
    lines = dict(line.split("=", 1) for line in output.read_text().splitlines())
    assert lines["exists"] == "false" and lines["created"] == "true"
    assert lines["repository-uri"].endswith("/sim/model")
    ecr = boto3.client("ecr", region_name=REGION)
    [repository] = ecr.describe_repositories(repositoryNames=["sim/model"])["repositories"]
    assert repository["imageScanningConfiguration"]["scanOnPush"] is True
    policy = json.loads(ecr.get_lifecycle_policy(repositoryName="sim/model")["lifecyclePolicyText"])
    assert policy["rules"][0]["selection"]["countNumber"] == 5
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {"digest": "sha256:" + "1" * 64, "size": 1, "mediaType": "x"},
            "layers": [],
        }
    )
    digest = ecr.put_image(repositoryName="sim/model", imageManifest=manifest, imageTag="abc")["image"][
        "imageId"
    ]["imageDigest"]
    again = run_cli("ecr", "ensure", "--repository", "sim/model", "--tag", "abc")
    assert "exists=true" in again.stdout and "created=false" in again.stdout
    assert "exists=true" in run_cli("ecr", "ensure", "--repository", "sim/model", "--digest", digest).stdout
    assert "exists=false" in run_cli("ecr", "ensure", "--repository", "sim/model", "--tag", "other").stdout


# --- the backend and the store ---


def test_backend_tears_down_on_an_exception_inside_the_campaign(aws, redis_task, tmp_path):
    password = PASSWORD
    backend = EcsBackend(options(password, campaign="boom", workers=1), probe=redis_task.probe, log=print)
    with pytest.raises(KeyboardInterrupt), backend.provision(None, tmp_path) as infrastructure:
        assert infrastructure.redis_url.startswith(f"rediss://:{password}@")
        assert infrastructure.redis_tls.ca.startswith("-----BEGIN CERTIFICATE-----")
        raise KeyboardInterrupt
    assert leftovers("boom") == []
    cost = infrastructure.extra["cost"]
    assert cost["currency"] == "USD" and set(cost["by_role"]) == {"redis", "worker"}


def test_s3_store_round_trip(aws, tmp_path):
    boto3.client("s3", region_name=REGION).create_bucket(Bucket="opp-ci-store-test")
    store = S3Store("s3://opp-ci-store-test/campaign1")
    source = tmp_path / "src"
    (source / "sub").mkdir(parents=True)
    (source / "a.sca").write_text("a")
    (source / "sub" / "b.vec").write_text("b")
    assert store.upload_dir(source, "job-7") == ["a.sca", "sub/b.vec"]
    assert store.list("job-7") == ["a.sca", "sub/b.vec"]
    store.download("job-7", ["a.sca", "sub/b.vec"], tmp_path / "dest")
    assert (tmp_path / "dest" / "sub" / "b.vec").read_text() == "b"
    with pytest.raises(UserError):
        store.download("job-7", ["../escape"], tmp_path / "dest")


# --- one campaign end to end, the harness playing ECS (needs the campaign engine) ---


class HarnessBackend:
    """Wraps EcsBackend: for each worker task moto reports, starts a local `opp-ci worker` with that
    task's command, environment and secrets (read from SSM as ECS would)."""

    plans_remotely = True

    def __init__(self, inner: EcsBackend, log_dir: Path | None = None) -> None:
        self.inner = inner
        self.log_dir = log_dir  # the workers' output (CloudWatch on ECS), else discarded
        self.processes: list[subprocess.Popen] = []

    @contextlib.contextmanager
    def provision(self, spec, out_dir):
        with self.inner.provision(spec, out_dir) as infrastructure:
            cluster = self.inner.cluster
            self.processes = [self.start(cluster.cluster, task) for task in cluster.worker_tasks]
            try:
                yield infrastructure
            finally:
                for process in self.processes:
                    process.terminate()
                for process in self.processes:
                    process.wait(20)

    def start(self, cluster: str, task_arn: str) -> subprocess.Popen:
        ecs = boto3.client("ecs", region_name=REGION)
        [task] = ecs.describe_tasks(cluster=cluster, tasks=[task_arn])["tasks"]
        definition = ecs.describe_task_definition(taskDefinition=task["taskDefinitionArn"])["taskDefinition"]
        [container] = definition["containerDefinitions"]
        assert container["entryPoint"] == ["opp-ci"]
        env = {**os.environ, **task_environment(container)}
        argv = [sys.executable, "-m", "opp_ci", *container["command"]]
        if self.log_dir is None:
            return subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with (self.log_dir / f"{task_arn.rsplit('/', 1)[1]}.log").open("w") as log:
            return subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)


def test_a_campaign_through_the_ecs_backend(aws, redis_task, tmp_path, monkeypatch):
    project = copy_standin(tmp_path / "standin")  # built: the workers here stand in for the image's
    password = PASSWORD
    redis_at_localhost(monkeypatch, redis_task.port)
    out = tmp_path / "out"
    spec = resolve(project, {"out": str(out), "config": ["Quick", "AlohaExperiment"]})
    inner = EcsBackend(
        options(password, campaign="e2e", workers=2, project_dir=str(project)),
        probe=redis_task.probe,
        log=print,
    )
    harness = HarnessBackend(inner)

    result = run_campaign(spec, harness, make_display)

    assert result.all_passed and len(result.runs) >= 4
    data = json.loads((out / "campaign.json").read_text())
    assert data["cost"]["by_role"]["worker"]["tasks"] == 2 and data["cost"]["total_usd"] > 0
    assert data["aws"]["cluster-name"] == "opp-ci-e2e" and password not in json.dumps(data)
    assert {"opp_ci", "python", "os", "arch"} <= set(data["environment"])  # the workers', from their listing
    for record in data["runs"]:
        assert record["result_files"] and all((out / f).is_file() for f in record["result_files"])
    assert all(process.poll() is not None for process in harness.processes)
    assert leftovers("e2e") == []


def test_run_campaign_against_a_cluster_from_cluster_up(aws, redis_task, tmp_path, monkeypatch):
    """The reusable workflow's path: start-cluster (`cluster up`), then `opp-ci run --backend ecs --redis-url
    URL --redis-password-parameter NAME` on another job, which reads the password from SSM; then down."""
    project = copy_standin(tmp_path / "standin")  # built: the workers here stand in for the image's
    password = PASSWORD
    redis_at_localhost(monkeypatch, redis_task.port)
    cluster = create.up(clients(), options(password, campaign="split", workers=2, project_dir=str(project)),
                       probe=redis_task.probe, log=print)
    harness = HarnessBackend(EcsBackend())
    workers = [harness.start(cluster.cluster, task) for task in cluster.worker_tasks]
    try:
        outputs = cluster.outputs()
        done = run_cli("run", str(project), "--backend", "ecs", "--redis-url", outputs["redis-url"],
                       "--redis-password-parameter", outputs["redis-password-parameter"], "--region", REGION,
                       "--config", "Quick", "--out", str(tmp_path / "out"))
        attached = EcsBackend(clients=clients()).attached(outputs["redis-url"], outputs["redis-password-parameter"],
                                                          REGION)
        assert attached.store_url == cluster.store_url  # where its files are collected from, whatever a reply says
    finally:
        for worker in workers:
            worker.terminate()
            worker.wait(20)
        teardown.down(clients(), "split", log=print)
    assert done.returncode == 0, done.stderr
    assert password not in done.stdout + done.stderr
    [record] = json.loads((tmp_path / "out" / "campaign.json").read_text())["runs"]
    assert record["status"] == "passed"
    assert record["result_files"] and all((tmp_path / "out" / f).is_file() for f in record["result_files"])
    assert leftovers("split") == []


def test_attaching_needs_the_password_parameter(tmp_path):
    done = run_cli("run", str(ROOT / "examples" / "standin"), "--backend", "ecs", "--redis-url",
                   "redis://127.0.0.1:6379/0", "--out", str(tmp_path))
    assert done.returncode == 2
    assert "--redis-password-parameter" in done.stderr


def test_attaching_to_a_cluster_opp_ci_did_not_start_needs_its_store(tmp_path):
    done = run_cli("run", str(ROOT / "examples" / "standin"), "--backend", "ecs", "--redis-url",
                   "rediss://127.0.0.1:6379/0", "--redis-password-parameter", "/team/redis-password",
                   "--region", REGION, "--out", str(tmp_path))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "/team/redis-password is not one `opp-ci cluster up` made" in done.stderr and "--store" in done.stderr


def test_attaching_refuses_a_plain_redis_url(tmp_path):
    done = run_cli("run", str(ROOT / "examples" / "standin"), "--backend", "ecs", "--redis-url",
                   "redis://127.0.0.1:6379/0", "--redis-password-parameter", "/opp-ci/x/redis-password",
                   "--region", REGION, "--out", str(tmp_path))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "over TLS only" in done.stderr and "rediss://" in done.stderr
