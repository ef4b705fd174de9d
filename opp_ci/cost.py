"""A cost estimate for a cloud campaign from task counts, sizes and durations.

Prices are on-demand Linux/x86 Fargate list prices for us-east-1 (USD per vCPU-hour and per
GB-hour); Fargate Spot is about 70 % cheaper. They are defaults, not a quote: override them with
`Prices(...)` or the environment variables named in `Prices.from_env`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

FARGATE_VCPU_HOUR = 0.04048
"""USD per vCPU-hour, Fargate on demand (us-east-1, Linux/x86)."""
FARGATE_GB_HOUR = 0.004445
"""USD per GB-hour of memory, Fargate on demand (us-east-1, Linux/x86)."""
SPOT_VCPU_HOUR = 0.01244
"""USD per vCPU-hour, Fargate Spot (typical us-east-1 price; it varies)."""
SPOT_GB_HOUR = 0.00136
"""USD per GB-hour of memory, Fargate Spot (typical us-east-1 price; it varies)."""


@dataclass(frozen=True)
class Prices:
    vcpu_hour: float = FARGATE_VCPU_HOUR
    gb_hour: float = FARGATE_GB_HOUR
    spot_vcpu_hour: float = SPOT_VCPU_HOUR
    spot_gb_hour: float = SPOT_GB_HOUR

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Prices:
        """Defaults overridden by OPP_CI_FARGATE_VCPU_HOUR, _GB_HOUR, _SPOT_VCPU_HOUR, _SPOT_GB_HOUR."""
        names = {
            "vcpu_hour": "VCPU_HOUR",
            "gb_hour": "GB_HOUR",
            "spot_vcpu_hour": "SPOT_VCPU_HOUR",
            "spot_gb_hour": "SPOT_GB_HOUR",
        }
        values = {
            f: float(env[f"OPP_CI_FARGATE_{n}"]) for f, n in names.items() if f"OPP_CI_FARGATE_{n}" in env
        }
        return cls(**values)


@dataclass(frozen=True)
class TaskUsage:
    """One task: its role (redis, worker), size and how long it ran."""

    role: str
    vcpu: float
    memory_gb: float
    seconds: float
    spot: bool = False


def task_cost(task: TaskUsage, prices: Prices) -> float:
    vcpu_price = prices.spot_vcpu_hour if task.spot else prices.vcpu_hour
    gb_price = prices.spot_gb_hour if task.spot else prices.gb_hour
    # Fargate bills at least one minute per task.
    hours = max(task.seconds, 60.0) / 3600.0
    return hours * (task.vcpu * vcpu_price + task.memory_gb * gb_price)


def estimate(tasks: Iterable[TaskUsage], prices: Prices | None = None) -> dict[str, Any]:
    """The `cost` entry of campaign.json: total and per role, in USD."""
    prices = prices or Prices()
    by_role: dict[str, dict[str, float]] = {}
    for task in tasks:
        entry = by_role.setdefault(task.role, {"tasks": 0, "task_hours": 0.0, "usd": 0.0})
        entry["tasks"] += 1
        entry["task_hours"] += task.seconds / 3600.0
        entry["usd"] += task_cost(task, prices)
    for entry in by_role.values():
        entry["task_hours"] = round(entry["task_hours"], 4)
        entry["usd"] = round(entry["usd"], 4)
    total = round(sum(e["usd"] for e in by_role.values()), 4)
    roles = ", ".join(
        f"{role}: {e['tasks']} task(s), {e['task_hours']:.2f} task-h" for role, e in by_role.items()
    )
    return {
        "currency": "USD",
        "total_usd": total,
        "description": f"AWS Fargate, {roles}" if roles else "AWS Fargate",
        "by_role": by_role,
        "prices": asdict(prices),
        "note": "estimate from task sizes and durations at list prices; not a bill",
    }

