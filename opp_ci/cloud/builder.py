"""The steps of `up`: log group, password, bucket, security group, cluster, Redis task, worker tasks."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from opp_ci.cloud.aws import Clients, Log
from opp_ci.cloud.certificates import CampaignCertificates, issue
from opp_ci.cloud.cluster import EXECUTION_ROLE, REDIS_PORT, TASK_ROLE, Cluster, EcsOptions, Network
from opp_ci.cloud.tags import Names, ec2_tags, ecs_tags
from opp_ci.cloud.waiting import RedisProbe, wait_for_redis, wait_tasks
from opp_ci.errors import UserError
from opp_ci.options import parse_duration
from opp_ci.tls import CA_VARIABLE, CAMPAIGN_SERVER_NAME, SERVER_NAME_VARIABLE


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

    def redis_script(self) -> str:
        """The Redis container's command: the TLS files written from the environment, then TLS only.

        The files go below the working directory (/data in the official image), which its
        docker-entrypoint.sh hands to the redis user before dropping root; the key is mode 600.
        """
        lifetime = int(parse_duration(self.options.ttl, "ttl"))
        return (
            'umask 077 && mkdir -p tls && printf "%s\\n" "$REDIS_TLS_KEY" > tls/server.key && '
            'printf "%s\\n" "$REDIS_TLS_CERT" > tls/server.crt && printf "%s\\n" "$REDIS_TLS_CA" > tls/ca.crt && '
            f'unset REDIS_TLS_KEY && exec timeout {lifetime} docker-entrypoint.sh redis-server --port 0 '
            f'--tls-port {REDIS_PORT} --tls-cert-file "$PWD/tls/server.crt" --tls-key-file "$PWD/tls/server.key" '
            '--tls-ca-cert-file "$PWD/tls/ca.crt" --tls-auth-clients no '
            '--requirepass "$REDIS_PASSWORD" --appendonly yes --maxmemory-policy noeviction'
        )

    def start_redis(
        self, cluster: str, group: str, parameter_arn: str, certificates: CampaignCertificates, key_arn: str
    ) -> tuple[str, str, str]:
        definition = self.register(
            "redis",
            {
                "name": "redis",
                "image": self.options.redis_image,
                "entryPoint": ["sh", "-c"],
                "command": [self.redis_script()],
                "environment": [
                    {"name": "REDIS_TLS_CERT", "value": certificates.certificate},
                    {"name": "REDIS_TLS_CA", "value": certificates.ca},
                ],
                "secrets": [
                    {"name": "REDIS_PASSWORD", "valueFrom": parameter_arn},
                    {"name": "REDIS_TLS_KEY", "valueFrom": key_arn},
                ],
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
        self, cluster: str, group: str, parameter_arn: str, redis_url: str, store_url: str, ca: str
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
                    {"name": CA_VARIABLE, "value": ca},
                    {"name": SERVER_NAME_VARIABLE, "value": CAMPAIGN_SERVER_NAME},
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
