"""What `up` needs (`EcsOptions`) and what it returns (`Cluster`), with their defaults."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import quote

from opp_ci.naming import QUEUE_NAME

REDIS_PORT = 6379
DEFAULT_TTL = "3h"
DEFAULT_REDIS_IMAGE = "redis:7"
EXECUTION_ROLE = "opp-ci-task-execution"
"""Role name ECS uses to pull images, write logs and read the Redis password (one-time setup)."""
TASK_ROLE = "opp-ci-task"
"""Role name the worker tasks run as: it may write to opp-ci-* buckets (one-time setup)."""


@dataclass
class EcsOptions:
    """What `opp-ci cluster up` and `opp-ci run --backend ecs` need; filled from CLI flags."""

    image: str
    region: str
    workers: int = 2
    spot: bool = False
    subnets: list[str] = field(default_factory=list)
    caller_cidr: str | None = None
    ttl: str | float = DEFAULT_TTL  # a duration: "3h", or seconds
    repository: str = ""
    campaign: str | None = None
    redis_image: str = DEFAULT_REDIS_IMAGE
    worker_cpu: int = 1024
    worker_memory: int = 2048
    redis_cpu: int = 512
    redis_memory: int = 1024
    project_dir: str = "/project"
    queue: str = QUEUE_NAME
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
