"""Finding opp-ci's resources through the Resource Groups Tagging API, never local bookkeeping."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from opp_ci.cloud.aws import Clients
from opp_ci.cloud.tags import TAG_CAMPAIGN, TAG_EXPIRES, parse_iso


@dataclass(frozen=True)
class Resource:
    """A tagged resource as the Resource Groups Tagging API reports it."""

    arn: str
    tags: Mapping[str, str]

    @property
    def kind(self) -> str:
        """`service:type`, e.g. `ecs:cluster`, `s3:bucket`, `logs:log-group`."""
        parts = self.arn.split(":", 5)
        service, rest = parts[2], parts[5] if len(parts) > 5 else ""
        if service == "s3":
            return "s3:bucket" if "/" not in rest else "s3:object"
        return f"{service}:{re.split('[/:]', rest, maxsplit=1)[0]}"

    @property
    def name(self) -> str:
        rest = self.arn.split(":", 5)[5]
        if self.kind in ("logs:log-group", "secretsmanager:secret"):
            return rest.split(":", 1)[1]
        if self.kind == "ssm:parameter":
            return "/" + rest.split("/", 1)[1].lstrip("/")
        return rest.split("/", 1)[1] if "/" in rest else rest

    @property
    def campaign(self) -> str:
        return self.tags.get(TAG_CAMPAIGN, "")

    def expired(self, now: datetime) -> bool:
        moment = parse_iso(self.tags.get(TAG_EXPIRES, ""))
        return moment is not None and moment <= now


def find_resources(clients: Clients, tag_filters: list[dict[str, Any]]) -> list[Resource]:
    """Every resource in the region whose tags match (Resource Groups Tagging API)."""
    pages = (
        clients("resourcegroupstaggingapi")
        .get_paginator("get_resources")
        .paginate(TagFilters=tag_filters, ResourcesPerPage=100)
    )
    return [
        Resource(m["ResourceARN"], {t["Key"]: t["Value"] for t in m.get("Tags", [])})
        for page in pages
        for m in page["ResourceTagMappingList"]
    ]


def campaign_resources(clients: Clients, campaign: str) -> list[Resource]:
    return find_resources(clients, [{"Key": TAG_CAMPAIGN, "Values": [campaign]}])


def opp_ci_resources(clients: Clients) -> list[Resource]:
    return find_resources(clients, [{"Key": TAG_EXPIRES}])
