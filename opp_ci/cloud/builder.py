"""The steps of `up`: log group, password, bucket, security group, cluster, Redis task, worker tasks."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from opp_ci.cloud.aws import Clients, Log
from opp_ci.cloud.certificates import CampaignCertificates, issue
from opp_ci.cloud.cluster import REDIS_PORT, Cluster, EcsOptions, Network
from opp_ci.cloud.tags import Names, ec2_tags, ecs_tags
from opp_ci.cloud.tasks import Tasks, redis_container, worker_container
from opp_ci.cloud.waiting import RedisProbe, wait_for_redis
from opp_ci.options import parse_duration


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
        certificates, key_arn = self.create_certificates()
        store_url = self.create_bucket()
        group = self.create_security_group()
        cluster = self.create_cluster()
        redis_task, private_host, public_host = self.start_redis(
            cluster, group, parameter_arn, certificates, key_arn
        )
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
            certificates.ca,
            self.names.ca_parameter,
            redis_task,
        )
        shown = f"{result.redis_host}:{REDIS_PORT}"
        wait_for_redis(self.probe, result.redis_url, result.tls, shown, self.options.timeout, self.options.poll)
        self.step("redis-answers")
        worker_url = f"rediss://{private_host}:{REDIS_PORT}/0"
        result.worker_tasks = self.start_workers(cluster, group, parameter_arn, worker_url, store_url, certificates.ca)
        return result

    def create_log_group(self) -> None:
        logs = self.clients("logs")
        logs.create_log_group(logGroupName=self.names.log_group, tags=self.tags)
        logs.put_retention_policy(logGroupName=self.names.log_group, retentionInDays=self.options.log_days)
        self.step("log-group")

    def create_password(self) -> tuple[str, str]:
        password = self.options.redis_password or secrets.token_urlsafe(32)
        arn = self.put_parameter(self.names.password_parameter, password, True, "Redis password")
        self.step("password")
        return arn, password

    def put_parameter(self, name: str, value: str, secure: bool, what: str) -> str:
        """An SSM parameter tagged with the campaign; its ARN."""
        self.clients("ssm").put_parameter(
            Name=name,
            Value=value,
            Type="SecureString" if secure else "String",
            Description=f"opp-ci {what}, campaign {self.names.campaign}",
            Tags=ec2_tags(self.tags),
        )
        return f"arn:aws:ssm:{self.clients.region}:{self.names.account}:parameter{name}"

    def create_certificates(self) -> tuple[CampaignCertificates, str]:
        """The campaign's CA and Redis certificate; the key in a SecureString, the CA beside it for `run`."""
        lifetime = timedelta(seconds=parse_duration(self.options.ttl, "ttl"))
        certificates = issue(self.names.campaign, lifetime)
        key_arn = self.put_parameter(self.names.tls_key_parameter, certificates.key, True, "Redis TLS key")
        self.put_parameter(self.names.ca_parameter, certificates.ca, False, "Redis CA certificate")
        self.step("certificates")
        return certificates, key_arn

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
        return self.names.store_url

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

    @property
    def tasks(self) -> Tasks:
        return Tasks(self.clients, self.options, self.names, self.tags, self.network, self.step)

    def start_redis(
        self, cluster: str, group: str, parameter_arn: str, certificates: CampaignCertificates, key_arn: str
    ) -> tuple[str, str, str]:
        tasks = self.tasks
        container = redis_container(self.options, certificates, parameter_arn, key_arn)
        definition = tasks.register("redis", container, self.options.redis_cpu, self.options.redis_memory)
        [task] = tasks.run(cluster, definition, group, 1, spot=False)
        self.step("redis-task")
        tasks.wait_running(cluster, [task])
        private_host, public_host = tasks.addresses(cluster, task)
        self.step("redis-running")
        return task, private_host, public_host

    def start_workers(
        self, cluster: str, group: str, parameter_arn: str, redis_url: str, store_url: str, ca: str
    ) -> list[str]:
        tasks, options = self.tasks, self.options
        container = worker_container(options, self.names.campaign, redis_url, store_url, ca, parameter_arn)
        definition = tasks.register("worker", container, options.worker_cpu, options.worker_memory)
        arns = tasks.run(cluster, definition, group, options.workers, options.spot)
        self.step("worker-tasks")
        tasks.wait_running(cluster, arns)
        self.step("workers-running")
        return arns
