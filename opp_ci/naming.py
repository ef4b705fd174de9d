"""Names shared by the local and the cloud side: the campaign id format, the queue and the worker's store."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

QUEUE_NAME = "opp-ci"
"""The RQ queue the orchestrator fills and the workers listen on."""

WORKER_STORE = "opp-ci-store"
"""Where `opp-ci worker` puts the runs' files when it is given no `--store` (relative to where it runs)."""


def new_campaign_id(now: datetime | None = None) -> str:
    """Short, sortable, valid in bucket, cluster and log group names: `c20261125t180000-1a2b3c`."""
    moment = now or datetime.now(UTC)
    return f"c{moment.astimezone(UTC):%Y%m%dt%H%M%S}-{secrets.token_hex(3)}"
