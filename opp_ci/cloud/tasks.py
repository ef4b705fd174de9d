"""ECS tasks of a campaign: their task definitions and containers (Redis, workers), starting them and
waiting until they run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from opp_ci.cloud.aws import Clients
from opp_ci.cloud.certificates import CampaignCertificates
from opp_ci.cloud.cluster import EXECUTION_ROLE, REDIS_PORT, TASK_ROLE, EcsOptions, Network
from opp_ci.cloud.tags import Names, ecs_tags
from opp_ci.cloud.waiting import wait_tasks
from opp_ci.errors import UserError
from opp_ci.options import parse_duration
from opp_ci.provenance import IMAGE_VARIABLE
from opp_ci.tls import CA_VARIABLE, CAMPAIGN_SERVER_NAME, SERVER_NAME_VARIABLE

#: At most this many tasks per run_task call, and per describe_tasks call (ECS's limits).
RUN_BATCH = 10
DESCRIBE_BATCH = 100


@dataclass
class Tasks:
    """Registers task definitions and starts tasks, tagged with the campaign; `step` reports each step."""

    clients: Clients
    options: EcsOptions
    names: Names
    tags: dict[str, str]
    network: Network
    step: Callable[[str], None]

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
                count=min(RUN_BATCH, count - len(arns)),
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

    def wait_running(self, cluster: str, tasks: list[str]) -> None:
        for start in range(0, len(tasks), DESCRIBE_BATCH):
            wait_tasks(self.clients("ecs"), "tasks_running", cluster, tasks[start : start + DESCRIBE_BATCH],
                       self.options.timeout, self.options.poll)

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


def redis_script(ttl: str) -> str:
    """The Redis container's command: the TLS files written from the environment, then TLS only, for at
    most the campaign's time to live.

    The files go below the working directory (/data in the official image), which its
    docker-entrypoint.sh hands to the redis user before dropping root; the key is mode 600.
    """
    lifetime = int(parse_duration(ttl, "ttl"))
    return (
        'umask 077 && mkdir -p tls && printf "%s\\n" "$REDIS_TLS_KEY" > tls/server.key && '
        'printf "%s\\n" "$REDIS_TLS_CERT" > tls/server.crt && printf "%s\\n" "$REDIS_TLS_CA" > tls/ca.crt && '
        f'unset REDIS_TLS_KEY && exec timeout {lifetime} docker-entrypoint.sh redis-server --port 0 '
        f'--tls-port {REDIS_PORT} --tls-cert-file "$PWD/tls/server.crt" --tls-key-file "$PWD/tls/server.key" '
        '--tls-ca-cert-file "$PWD/tls/ca.crt" --tls-auth-clients no '
        '--requirepass "$REDIS_PASSWORD" --appendonly yes --maxmemory-policy noeviction'
    )


def redis_container(options: EcsOptions, certificates: CampaignCertificates, password_arn: str,
                    key_arn: str) -> dict[str, Any]:
    """Redis with TLS; its password and TLS key come from SSM, never in the task definition."""
    return {
        "name": "redis",
        "image": options.redis_image,
        "entryPoint": ["sh", "-c"],
        "command": [redis_script(options.ttl)],
        "environment": [
            {"name": "REDIS_TLS_CERT", "value": certificates.certificate},
            {"name": "REDIS_TLS_CA", "value": certificates.ca},
        ],
        "secrets": [
            {"name": "REDIS_PASSWORD", "valueFrom": password_arn},
            {"name": "REDIS_TLS_KEY", "valueFrom": key_arn},
        ],
        "portMappings": [{"containerPort": REDIS_PORT, "protocol": "tcp"}],
    }


def worker_container(options: EcsOptions, campaign: str, redis_url: str, store_url: str, ca: str,
                     password_arn: str) -> dict[str, Any]:
    """`opp-ci worker` in the simulation's image; the Redis password comes from SSM."""
    command = [
        "worker",
        *(["--burst"] if options.burst else []),
        "--max-idle", str(options.max_idle),
        "--redis-url", redis_url,
        "--project", options.project_dir,
        "--store", store_url,
        "--queue", options.queue,
    ]
    return {
        "name": "worker",
        "image": options.image,
        "entryPoint": ["opp-ci"],
        "command": command,
        "environment": [
            {"name": "OPP_CI_REDIS_URL", "value": redis_url},
            {"name": "OPP_CI_STORE", "value": store_url},
            {"name": "OPP_CI_CAMPAIGN", "value": campaign},
            {"name": CA_VARIABLE, "value": ca},
            {"name": SERVER_NAME_VARIABLE, "value": CAMPAIGN_SERVER_NAME},
            {"name": IMAGE_VARIABLE, "value": options.image},  # campaign.json's environment names it
        ],
        "secrets": [{"name": "OPP_CI_REDIS_PASSWORD", "valueFrom": password_arn}],
    }
