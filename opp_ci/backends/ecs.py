"""The ECS backend: `provision` brings a cluster up (Redis, workers, S3) and always takes it down.

Options come from an `EcsOptions`: `options_from` fills it from the spec's `[ecs]` settings, which
the options layer (opp_ci/options.py) resolved from defaults, opp-ci.toml, OPP_CI_* and flags.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from opp_ci import output
from opp_ci.backends import Infrastructure
from opp_ci.cloud.aws import Clients, Log, aws_errors, resolve_region
from opp_ci.cloud.cluster import REDIS_PORT, Cluster, EcsOptions
from opp_ci.cloud.create import up
from opp_ci.cloud.tags import Names, ca_parameter_beside, campaign_of_parameter
from opp_ci.cloud.teardown import down
from opp_ci.cloud.usage import task_usages
from opp_ci.cloud.waiting import RedisProbe, redis_answers
from opp_ci.cost import Prices, estimate
from opp_ci.errors import UserError
from opp_ci.safe_text import shell_join
from opp_ci.tls import CAMPAIGN_SERVER_NAME, RedisTLS


def options_from(spec: Any, env: Mapping[str, str]) -> EcsOptions:
    """EcsOptions from the spec's resolved `[ecs]` settings (defaults, opp-ci.toml, OPP_CI_*, flags)."""
    table = {name.replace("-", "_"): value for name, value in spec.ecs.items() if value is not None}
    unknown = set(table) - {f.name for f in fields(EcsOptions)}
    if unknown:  # an [ecs] option the options layer declares but EcsOptions does not take
        raise UserError(f"unknown [ecs] setting(s): {', '.join(sorted(unknown))}")
    image = table.pop("image", None)
    if not image:
        raise UserError(
            "the ecs backend needs an image: pass --image, or set image in [ecs] of opp-ci.toml or OPP_CI_ECS_IMAGE"
        )
    region = resolve_region(table.pop("region", None), env)
    return EcsOptions(image=image, region=region, **table)


class EcsBackend:
    """`provision(spec, out_dir)`: up on enter; cost estimate and down on exit, whatever happened."""

    plans_remotely = True  # the simulation lives in the image, not on the machine running opp-ci

    def __init__(
        self,
        options: EcsOptions | None = None,
        clients: Clients | None = None,
        probe: RedisProbe = redis_answers,
        log: Log = output.info,
        prices: Prices | None = None,
        env: Mapping[str, str] | None = None,
        attach: tuple[str, str, str] | None = None,
    ) -> None:
        self.attach = attach  # (redis URL, password parameter, region) of a cluster from `cluster up`
        self.options = options
        self.clients = clients
        self.probe = probe
        self.log = log
        self.prices = prices or Prices.from_env(env if env is not None else os.environ)
        self.env = env if env is not None else os.environ
        self.cluster: Cluster | None = None

    def start_early(self, spec: Any) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()  # a cluster starts in provision: it needs the plan to be good

    @contextlib.contextmanager
    def provision(self, spec: Any, out_dir: Path) -> Iterator[Infrastructure]:
        if self.attach:
            yield self.attached(*self.attach)
            return
        options = self.options or options_from(spec, self.env)
        clients = self.clients or Clients(options.region)
        self.cluster = cluster = up(clients, options, probe=self.probe, log=self.log)
        self.log(
            f"ECS cluster {cluster.cluster} is up ({options.workers} workers, "
            f"Redis {cluster.public_redis_url}); it is deleted when the campaign ends"
        )
        infrastructure = Infrastructure(
            redis_url=cluster.redis_url,
            redis_tls=cluster.tls,
            store_url=cluster.store_url,
            extra={"aws": cluster.outputs()},
        )
        try:
            yield infrastructure
        finally:
            self.finish(clients, cluster, infrastructure, options)

    def attached(self, redis_url: str, password_parameter: str, region: str, store: str | None = None
                 ) -> Infrastructure:
        """A cluster that `opp-ci cluster up` started (and `cluster down` will delete): its Redis, with
        the password and the campaign's CA read from SSM Parameter Store, never passed around in clear; its
        store is `store`, else the one `up` made for the campaign its password parameter names."""
        parsed = urlsplit(redis_url)
        if parsed.scheme != "rediss":
            raise UserError(
                "the ecs backend reaches its Redis over TLS only: "
                "pass the rediss:// URL that `opp-ci cluster up` printed"
            )
        clients = self.clients or Clients(region)
        with aws_errors():
            ssm = clients("ssm")
            password = ssm.get_parameter(Name=password_parameter, WithDecryption=True)["Parameter"]["Value"]
            ca = ssm.get_parameter(Name=ca_parameter_beside(password_parameter))["Parameter"]["Value"]
            store = store or cluster_store(clients, password_parameter)
        netloc = f":{quote(password, safe='')}@{parsed.hostname}:{parsed.port or REDIS_PORT}"
        return Infrastructure(
            redis_url=urlunsplit((parsed.scheme, netloc, parsed.path or "/0", "", "")),
            redis_tls=RedisTLS(ca, CAMPAIGN_SERVER_NAME),
            store_url=store,
        )

    def finish(
        self, clients: Clients, cluster: Cluster, infrastructure: Infrastructure, options: EcsOptions
    ) -> None:
        """Adds the cost estimate (best effort), then deletes everything; a second Ctrl-C does not stop it."""
        try:
            with aws_errors():
                usages = task_usages(clients, cluster.cluster, datetime.now(UTC))
            infrastructure.extra["cost"] = estimate(usages, self.prices)
        except (UserError, KeyError, ValueError) as error:
            self.log(f"warning: no cost estimate: {error}")
        for attempt in range(3):
            try:
                down(
                    clients, cluster.campaign, timeout=options.timeout, poll=options.poll, log=self.log
                )
                return
            except KeyboardInterrupt:
                self.log(
                    f"still deleting campaign {cluster.campaign}'s AWS resources "
                    f"(attempt {attempt + 2})"
                )
        again = shell_join(["opp-ci", "cluster", "down", "--campaign", cluster.campaign])
        raise UserError(f"teardown interrupted: run `{again}`")


def cluster_store(clients: Clients, password_parameter: str) -> str:
    """The store `opp-ci cluster up` made for the campaign whose password parameter this is (`Names`)."""
    return Names(campaign_of_parameter(password_parameter), clients("sts").get_caller_identity()["Account"]).store_url
