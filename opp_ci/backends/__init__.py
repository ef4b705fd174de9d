"""Backends provide the infrastructure a campaign runs on: a Redis server, workers, a result store.

Each backend is a `provision` context manager: entering creates everything, leaving (also on an
exception or Ctrl-C) removes everything it created.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from opp_ci.errors import UserError
from opp_ci.spec import CampaignSpec

if TYPE_CHECKING:  # importing it imports redis, which a local backend starts without (it is quicker)
    from opp_ci.tls import RedisTLS


@dataclass
class Infrastructure:
    """What the orchestrator needs from a backend while the campaign runs."""

    redis_url: str  # with the password: for the orchestrator only, never printed
    store_url: str
    #: Returns the names of workers known to have died since the last call (their jobs are swept
    #: at once instead of waiting for a heartbeat to expire), replacing them where it can. Called on
    #: every wake-up of the orchestrator: it must be cheap.
    check_workers: Callable[[], set[str]] = field(default=lambda: set())
    extra: dict[str, Any] = field(default_factory=dict)  # merged into campaign.json, e.g. {"cost": ...}
    redis_tls: RedisTLS | None = None  # the CA to trust for a rediss:// URL (None: OPP_CI_REDIS_CA, else the system's)
    #: The store is the backend's own, removed when the campaign ends: result files are moved out of it.
    store_is_private: bool = False


class Backend(Protocol):
    """What the pipeline (`opp_ci.pipeline`) asks of a backend, and all it asks."""

    #: Whether the runs are listed by the workers (the simulation lives in their image, not here).
    plans_remotely: bool

    def start_early(self, spec: CampaignSpec) -> contextlib.AbstractContextManager[None]:
        """Starts what can start while the campaign is planned (the local Redis and workers); stops it on leaving
        if `provision` did not take it over. A backend with nothing to start early returns a null context."""
        ...

    def provision(self, spec: CampaignSpec, out_dir: Path) -> contextlib.AbstractContextManager[Infrastructure]:
        """Creates the infrastructure (or takes over what `start_early` started); removes it all on leaving."""
        ...


BACKENDS = {"local": ("opp_ci.backends.local", "LocalBackend"), "ecs": ("opp_ci.backends.ecs", "EcsBackend")}


def get_backend(name: str, **options: Any) -> Backend:
    if name not in BACKENDS:
        raise UserError(f"unknown backend {name!r}; choose one of: {', '.join(BACKENDS)}")
    module_name, class_name = BACKENDS[name]
    return getattr(importlib.import_module(module_name), class_name)(**options)
