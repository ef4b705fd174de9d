"""Size and duration of every task a cluster ran, for the cost estimate (`opp_ci.cost`)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from opp_ci.cloud.aws import Clients
from opp_ci.cost import TaskUsage


def task_usages(clients: Clients, cluster: str, now: datetime) -> list[TaskUsage]:
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


def task_usage(ecs: Any, task: Mapping[str, Any], sizes: dict[str, tuple[int, int]], now: datetime) -> TaskUsage:
    """One task's usage; its size from the task, else from its task definition (cached in `sizes`)."""
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
