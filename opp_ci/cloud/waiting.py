"""Waiting for ECS tasks and for Redis to answer, with our timeouts and clear errors."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import Any

from opp_ci.cloud.cluster import REDIS_PORT
from opp_ci.errors import UserError
from opp_ci.tls import RedisTLS

#: Whether Redis answers at a URL (with the password), over TLS with the campaign CA.
RedisProbe = Callable[[str, RedisTLS], bool]


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


def redis_answers(url: str, tls: RedisTLS) -> bool:
    """The default Redis probe: PING with the password in the URL, the server verified against the CA."""
    import redis

    from opp_ci.queue import connect_redis

    try:
        return bool(connect_redis(url, tls=tls, socket_timeout=5, socket_connect_timeout=5).ping())
    except (redis.RedisError, OSError):
        return False


def wait_for_redis(probe: RedisProbe, url: str, tls: RedisTLS, shown: str, timeout: float, poll: float) -> None:
    deadline = time.monotonic() + timeout
    while not probe(url, tls):
        if time.monotonic() > deadline:
            raise UserError(
                f"Redis at {shown} did not answer within {timeout:.0f}s; is port {REDIS_PORT} open "
                "to this machine's public address (--caller-cidr)?"
            )
        time.sleep(poll)
