"""Fast tests of the cloud backend's pure parts: names, tags, ARNs, errors, cost. No servers."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from botocore.exceptions import ClientError

from opp_ci.backends.ecs import options_from
from opp_ci.cloud.aws import aws_errors, resolve_region, user_error
from opp_ci.cloud.cluster import Cluster
from opp_ci.cloud.ecr import ECR_IMAGE, lifecycle_policy
from opp_ci.cloud.resources import Resource
from opp_ci.cloud.tags import TAG_EXPIRES, campaign_tags, check_campaign_id, iso
from opp_ci.cloud.waiting import task_failure
from opp_ci.cost import Prices, TaskUsage, estimate
from opp_ci.errors import UserError
from opp_ci.github import write_outputs
from opp_ci.naming import new_campaign_id
from opp_ci.options import parse_duration
from opp_ci.spec import resolve

ARNS = {
    "arn:aws:ecs:us-east-1:123456789012:cluster/opp-ci-x": ("ecs:cluster", "opp-ci-x"),
    "arn:aws:ecs:us-east-1:123456789012:task-definition/opp-ci-worker-x:3": (
        "ecs:task-definition",
        "opp-ci-worker-x:3",
    ),
    "arn:aws:ecs:us-east-1:123456789012:task/opp-ci-x/abc": ("ecs:task", "opp-ci-x/abc"),
    "arn:aws:ec2:us-east-1:123456789012:security-group/sg-123": ("ec2:security-group", "sg-123"),
    "arn:aws:logs:us-east-1:123456789012:log-group:/opp-ci/x": ("logs:log-group", "/opp-ci/x"),
    "arn:aws:ssm:us-east-1:123456789012:parameter/opp-ci/x/redis-password": (
        "ssm:parameter",
        "/opp-ci/x/redis-password",
    ),
    "arn:aws:secretsmanager:us-east-1:123456789012:secret:opp-ci/x-AbCdEf": (
        "secretsmanager:secret",
        "opp-ci/x-AbCdEf",
    ),
    "arn:aws:s3:::opp-ci-x-123456789012": ("s3:bucket", "opp-ci-x-123456789012"),
}


@pytest.mark.parametrize("arn", ARNS)
def test_resource_kind_and_name_from_arn(arn):
    resource = Resource(arn, {})
    assert (resource.kind, resource.name) == ARNS[arn]


def test_expiry_is_read_from_the_tag():
    now = datetime(2026, 11, 25, 18, 0, tzinfo=UTC)
    assert Resource("a", {TAG_EXPIRES: "2026-11-25T17:59:59Z"}).expired(now)
    assert not Resource("a", {TAG_EXPIRES: "2026-11-25T18:00:01Z"}).expired(now)
    assert not Resource("a", {TAG_EXPIRES: "soon"}).expired(now)
    assert not Resource("a", {}).expired(now)


@pytest.mark.parametrize(
    ("text", "seconds"), [("3h", 10800), ("90m", 5400), ("1d", 86400), ("45", 45), ("30s", 30)]
)
def test_ttl(text, seconds):
    """The ttl is read with the spec's duration parser: the forms the docs show for --ttl all work."""
    assert parse_duration(text, "ttl") == seconds


@pytest.mark.parametrize("text", ["", "3x", "-1h", "0"])
def test_bad_ttl(text):
    with pytest.raises(UserError, match=r"^ttl: "):
        parse_duration(text, "ttl")


def test_tags_and_ids():
    now = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
    assert iso(now + timedelta(seconds=parse_duration("3h", "ttl"))) == "2026-11-25T18:00:00Z"
    campaign = new_campaign_id(now)
    assert campaign.startswith("c20261125t150000-") and check_campaign_id(campaign) == campaign
    assert campaign_tags("c1", "", "x") == {
        "opp-ci:campaign": "c1",
        "opp-ci:repository": "unknown",
        "opp-ci:expires-at": "x",
    }
    with pytest.raises(UserError):
        check_campaign_id("Bad_Id")


def test_unknown_region_is_a_user_error():
    assert resolve_region(None, {"AWS_DEFAULT_REGION": "eu-west-1"}) == "eu-west-1"
    with pytest.raises(UserError, match="unknown AWS region 'moon-1'"):
        resolve_region("moon-1", {})
    with pytest.raises(UserError, match="no AWS region"):
        resolve_region(None, {})


def denied(message: str) -> ClientError:
    return ClientError({"Error": {"Code": "AccessDeniedException", "Message": message}}, "RunTask")


def test_access_denied_names_the_action():
    error = user_error(denied("User: arn:aws:iam::1:user/ci is not authorized to perform: ecs:RunTask"))
    assert "missing AWS permission ecs:RunTask" in error.message and error.exit_code == 2
    assert "missing AWS permission RunTask" in user_error(denied("Access denied")).message


def test_aws_errors_turns_client_errors_into_user_errors():
    with pytest.raises(UserError, match="ecs:RunTask"), aws_errors():
        raise denied("not authorized to perform: ecs:RunTask on resource")


def test_a_task_that_cannot_pull_its_image_names_the_image():
    task = {
        "stoppedReason": "CannotPullContainerError: pull image manifest has been retried 1 time(s)",
        "containers": [{"image": "1.dkr.ecr.us-east-1.amazonaws.com/sim:v1"}],
    }
    assert "the image 1.dkr.ecr.us-east-1.amazonaws.com/sim:v1 cannot be pulled" in task_failure(task)


def test_ecr_image_pattern():
    match = ECR_IMAGE.match("123456789012.dkr.ecr.eu-west-1.amazonaws.com/group/sim:v2")
    assert match and (match["repo"], match["tag"]) == ("group/sim", "v2")
    assert ECR_IMAGE.match("redis:7") is None


def test_lifecycle_policy_keeps_the_last_n():
    rule = json.loads(lifecycle_policy(7))["rules"][0]
    assert rule["selection"] == {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 7}


def test_outputs_never_contain_the_password(tmp_path):
    cluster = Cluster(
        "c1", "us-east-1", "opp-ci-c1", "1.2.3.4", "10.0.0.1", "s3cr/t", "/p", "s3://b/c1", "x"
    )
    assert cluster.redis_url == "rediss://:s3cr%2Ft@1.2.3.4:6379/0"
    assert "s3cr" not in json.dumps(cluster.outputs())
    output = tmp_path / "out"
    write_outputs(output, cluster.outputs())
    assert "cluster-name=opp-ci-c1\n" in output.read_text()


def test_cost_estimate():
    prices = Prices(vcpu_hour=1.0, gb_hour=0.1, spot_vcpu_hour=0.5, spot_gb_hour=0.05)
    cost = estimate(
        [
            TaskUsage("redis", 0.5, 1.0, 3600),
            TaskUsage("worker", 1.0, 2.0, 1800, spot=True),
            TaskUsage("worker", 1.0, 2.0, 10, spot=True),  # billed as one minute
        ],
        prices,
    )
    assert cost["by_role"]["redis"]["usd"] == pytest.approx(0.6)
    assert cost["by_role"]["worker"]["usd"] == pytest.approx(0.3 + 0.6 / 60, abs=1e-4)
    assert cost["by_role"]["worker"]["tasks"] == 2
    assert cost["total_usd"] == pytest.approx(0.91, abs=1e-4)


def test_prices_from_the_environment():
    assert Prices.from_env({"OPP_CI_FARGATE_SPOT_VCPU_HOUR": "0.02"}).spot_vcpu_hour == 0.02
    assert Prices.from_env({}) == Prices()


def test_backend_options_from_spec_and_environment(tmp_path):
    """The [ecs] settings as the options layer resolves them (file, OPP_CI_*, flags) reach EcsOptions."""
    (tmp_path / "opp-ci.toml").write_text(
        'command = "./sim"\n[configs.Quick]\n[ecs]\nimage = "sim:1"\nspot = true\nttl = "90m"\n'
    )
    env = {"AWS_REGION": "eu-west-1", "GITHUB_REPOSITORY": "o/r", "OPP_CI_ECS_WORKERS": "4"}
    spec = resolve(tmp_path, {"backend": "ecs", "ecs.redis-image": "redis:8"}, environ=env)
    options = options_from(spec, env)
    assert (options.image, options.region, options.workers, options.spot, options.repository) == (
        "sim:1",
        "eu-west-1",
        4,
        True,
        "o/r",
    )
    assert (options.redis_image, parse_duration(options.ttl, "ttl")) == ("redis:8", 5400)
    flagged = options_from(resolve(tmp_path, {"backend": "ecs", "ecs.image": "sim:2"}, environ=env), env)
    assert flagged.image == "sim:2"
    with pytest.raises(UserError, match="unknown"):
        options_from(SimpleNamespace(ecs={"image": "x", "imag": "x"}), {"AWS_REGION": "eu-west-1"})
    with pytest.raises(UserError, match="needs an image"):
        options_from(SimpleNamespace(ecs={"image": None}), {"AWS_REGION": "eu-west-1"})
