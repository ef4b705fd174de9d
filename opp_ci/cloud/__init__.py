"""The AWS side of a campaign: an ECS cluster with Redis and workers, results in S3, and teardown.

Every resource `up` creates carries three tags (`TAG_CAMPAIGN`, `TAG_REPOSITORY`, `TAG_EXPIRES`).
`down` and `janitor` find what to delete through the Resource Groups Tagging API, never through
local bookkeeping, so they also clean up after an `up` that died half-way or ran on another
machine. boto3 clients come from a `Clients` object that callers pass in.

Modules, each importing only those above it: `aws` (clients, regions, errors), `tags` (tags, names,
times), `resources` (finding them by tag), `cluster` (`EcsOptions`, `Cluster`), `waiting`, `teardown`
(`down`, `janitor`, `status`), `ecr`, `builder` (the steps of `up`), `create` (`up`), `usage` (for the cost).
This package re-exports what the `opp-ci cluster / janitor / ecr` commands call.
"""

from opp_ci.cloud.aws import Clients, aws_errors, resolve_region
from opp_ci.cloud.cluster import Cluster, EcsOptions
from opp_ci.cloud.create import up
from opp_ci.cloud.ecr import ensure_repository
from opp_ci.cloud.tags import TAG_CAMPAIGN, TAG_EXPIRES, TAG_REPOSITORY, campaign_of_parameter
from opp_ci.cloud.teardown import down, janitor, status

__all__ = [
    "TAG_CAMPAIGN",
    "TAG_EXPIRES",
    "TAG_REPOSITORY",
    "Clients",
    "Cluster",
    "EcsOptions",
    "aws_errors",
    "campaign_of_parameter",
    "down",
    "ensure_repository",
    "janitor",
    "resolve_region",
    "status",
    "up",
]
