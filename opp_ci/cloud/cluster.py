"""What `up` needs (`EcsOptions`) and what it returns (`Cluster`), with their defaults."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import quote

from opp_ci.naming import QUEUE_NAME
from opp_ci.options import default
from opp_ci.tls import CAMPAIGN_SERVER_NAME, RedisTLS

REDIS_PORT = 6379
EXECUTION_ROLE = "opp-ci-task-execution"
"""Role name ECS uses to pull images, write logs and read the Redis password (one-time setup)."""
TASK_ROLE = "opp-ci-task"
"""Role name the worker tasks run as: it may write to opp-ci-* buckets (one-time setup)."""


@dataclass
class EcsOptions:
    """What `opp-ci cluster up` and `opp-ci run --backend ecs` need. The defaults of the user's settings
    are the `[ecs]` declarations of opp_ci/options.py; the rest are fixed here."""

    image: str
    region: str
    workers: int = default("ecs.workers")
    spot: bool = default("ecs.spot")
    subnets: list[str] = field(default_factory=lambda: default("ecs.subnets"))
    caller_cidr: str | None = default("ecs.caller-cidr")
    ttl: str | float = default("ecs.ttl")  # a duration: "3h", or seconds
    repository: str = default("ecs.repository")
    campaign: str | None = default("ecs.campaign")
    redis_image: str = default("ecs.redis-image")
    worker_cpu: int = default("ecs.worker-cpu")
    worker_memory: int = default("ecs.worker-memory")
    redis_cpu: int = 512
    redis_memory: int = 1024
    project_dir: str = default("ecs.project-dir")
    queue: str = QUEUE_NAME
    burst: bool = default("ecs.burst")  # `worker --burst` exits at once on an empty queue, before jobs arrive
    max_idle: int = 900  # a worker with nothing to do for this long exits, so its task stops billing
    execution_role_arn: str | None = default("ecs.execution-role-arn")
    task_role_arn: str | None = default("ecs.task-role-arn")
    timeout: float = default("ecs.timeout")
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
    redis_ca: str = ""  # PEM: the campaign's CA, the only one its Redis clients trust
    ca_parameter: str = ""
    redis_task: str = ""
    worker_tasks: list[str] = field(default_factory=list)

    @property
    def redis_url(self) -> str:
        """With the password: for the orchestrator only, never printed."""
        return f"rediss://:{quote(self.password, safe='')}@{self.redis_host}:{REDIS_PORT}/0"

    @property
    def public_redis_url(self) -> str:
        return f"rediss://{self.redis_host}:{REDIS_PORT}/0"

    @property
    def tls(self) -> RedisTLS:
        return RedisTLS(self.redis_ca, CAMPAIGN_SERVER_NAME)

    def outputs(self) -> dict[str, str]:
        """What `cluster up` prints and writes to $GITHUB_OUTPUT: no password."""
        return {
            "campaign-id": self.campaign,
            "cluster-name": self.cluster,
            "redis-url": self.public_redis_url,
            "redis-password-parameter": self.password_parameter,
            "redis-ca-parameter": self.ca_parameter,
            "store-url": self.store_url,
            "region": self.region,
            "expires-at": self.expires_at,
        }


@dataclass(frozen=True)
class Network:
    vpc: str
    subnets: list[str]
