"""The queue: one RQ job per run on a Redis queue, JSON only, and the Redis connection.

Payloads are `opp_ci.payloads` objects; the job class that refuses foreign functions is
`opp_ci.jobs.RunJob`.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import parse_qs, urlsplit

from rq import Queue, Retry
from rq.serializers import JSONSerializer

from opp_ci.errors import UserError
from opp_ci.jobs import JOB_FUNCTION, RunJob
from opp_ci.naming import QUEUE_NAME
from opp_ci.payloads import BatchPayload, RunPayload
from opp_ci.safe_text import redacted_message
from opp_ci.safe_text import redacted_url as redacted  # every message showing a URL goes through it
from opp_ci.tls import CA_VARIABLE, RedisTLS

#: RQ's own timeout is a backstop behind the worker's per-run timeout, which kills the process group.
JOB_TIMEOUT_GRACE = 120
#: How long finished and failed jobs stay in Redis (a campaign reads them long before that).
RESULT_TTL = 7 * 86400
#: How often a busy worker refreshes its job's heartbeat; the orchestrator treats a job whose heartbeat
#: is several intervals old as abandoned by a dead worker.
JOB_MONITORING_INTERVAL = 5
#: Jobs per Redis pipeline when enqueueing.
ENQUEUE_BATCH = 500
FALSE = {"0", "false", "f", "n", "no", "off"}  # how redis-py's URL parser reads a false flag


def make_queue(connection, name: str = QUEUE_NAME) -> Queue:
    return Queue(name, connection=connection, serializer=JSONSerializer, job_class=RunJob)


def enqueue_runs(queue: Queue, jobs: list[tuple[str, RunPayload | BatchPayload, int, str]]) -> None:
    """Enqueues (job id, payload, retries, description) tuples in one pipeline."""
    data = [
        Queue.prepare_data(
            JOB_FUNCTION,
            kwargs={"payload": payload.to_json()},
            job_id=identifier,
            timeout=int(payload.timeout) + JOB_TIMEOUT_GRACE,
            result_ttl=RESULT_TTL,
            failure_ttl=RESULT_TTL,
            description=description,
            retry=Retry(max=retries) if retries else None,
        )
        for identifier, payload, retries, description in jobs
    ]
    for start in range(0, len(data), ENQUEUE_BATCH):
        with queue.connection.pipeline() as pipeline:
            queue.enqueue_many(data[start:start + ENQUEUE_BATCH], pipeline=pipeline)
            pipeline.execute()


def connect_redis(url: str, password: str | None = None, tls: RedisTLS | None = None, **options: Any):
    """A Redis client from a URL; the password may come separately (OPP_CI_REDIS_PASSWORD), so that
    a task definition can inject it as a secret and the URL carries none.

    A `rediss://` URL always verifies the server: against `tls` (or OPP_CI_REDIS_CA) alone when given,
    else against the system's CAs with the host name checked. A URL that turns verification off is refused.
    """
    from redis import Redis

    password = password or os.environ.get("OPP_CI_REDIS_PASSWORD") or None
    if password:
        options["password"] = password
    if urlsplit(url).scheme == "rediss":
        options.update(tls_options(url, tls or RedisTLS.from_env()))
    elif tls is not None:
        raise UserError(f"{redacted(url)} is not a rediss:// URL, but this Redis is reached over TLS")
    return Redis.from_url(url, **options)


def tls_options(url: str, tls: RedisTLS | None) -> dict[str, Any]:
    """The client's TLS settings for a rediss:// URL; never without verifying the server."""
    query = {name.lower(): values[-1].lower() for name, values in parse_qs(urlsplit(url).query).items()}
    if query.get("ssl_cert_reqs", "required") != "required" or query.get("ssl_check_hostname") in FALSE:
        raise UserError(f"{redacted(url)} turns off the check of the Redis server's certificate; opp-ci always "
                        "checks it: remove ssl_cert_reqs / ssl_check_hostname from the URL")
    if tls is None:
        return {"ssl_cert_reqs": "required", "ssl_check_hostname": True}
    if any(name.startswith("ssl_") for name in query):
        raise UserError(f"{redacted(url)}: ssl_* URL options do not apply with a campaign CA ({CA_VARIABLE})")
    return tls.connection_options()


def check_redis(url: str, tls: RedisTLS | None = None) -> str:
    """Fails with a clear message, before anything is started, when Redis cannot be reached."""
    checked_connection(url, tls)
    return url


def checked_connection(url: str, tls: RedisTLS | None = None, **options: Any):
    """`connect_redis`, once the server answered on it (else the clear message of `check_redis`): a
    process checks the connection it goes on using, rather than a second one of its own."""
    from redis.exceptions import RedisError

    try:
        client = connect_redis(url, tls=tls, socket_connect_timeout=5, **options)
        client.ping()
    except (RedisError, ValueError) as error:  # ValueError: a malformed URL
        raise UserError(redacted_message(f"cannot reach Redis at {url}: {error}", url)) from None
    except TypeError as error:  # redis-py passes a URL's query parameters to its connection as arguments
        raise UserError(redacted_message(f"cannot reach Redis at {url}: a URL option redis-py does not know "
                                         f"({error})", url)) from None
    return client
