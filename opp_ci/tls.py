"""TLS to Redis with a campaign's own CA: only that CA is trusted, and the server's name is checked.

redis-py's own `rediss://` connection builds its context with `ssl.create_default_context()`, which
also trusts every public CA of the system store: with a private CA and the hostname check turned off
(a cloud task's address is unknown when its certificate is made), any certificate from any public CA
would be accepted. `PinnedTLSConnection` trusts the given CA alone and checks the certificate against a
fixed name (`CAMPAIGN_SERVER_NAME`), whatever address the client dials.
"""

from __future__ import annotations

import os
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from redis.connection import Connection

from opp_ci.errors import UserError

#: The DNS name in every campaign's Redis certificate. `.invalid` never resolves (RFC 2606), so the name
#: says nothing about where Redis is; clients dial the task's IP address and check the certificate
#: against this name.
CAMPAIGN_SERVER_NAME = "redis.opp-ci.invalid"
#: PEM text of the CA, or a path to a PEM file (BYO workers of a cloud campaign set it).
CA_VARIABLE = "OPP_CI_REDIS_CA"
#: The name the server's certificate must carry (default: the host in the URL).
SERVER_NAME_VARIABLE = "OPP_CI_REDIS_SERVER_NAME"


@dataclass(frozen=True)
class RedisTLS:
    """How to trust a Redis server: the CA (PEM) that signed its certificate, and the name it carries."""

    ca: str
    server_name: str | None = None  # None: the host the client connects to

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RedisTLS | None:
        env = os.environ if env is None else env
        value = env.get(CA_VARIABLE, "")
        if not value.strip():
            return None
        return cls(read_ca(value.strip()) if not value.lstrip().startswith("-----BEGIN") else value,
                   env.get(SERVER_NAME_VARIABLE) or None)

    def connection_options(self) -> dict[str, Any]:
        """What `Redis.from_url` needs to connect through `PinnedTLSConnection`."""
        return {"connection_class": PinnedTLSConnection, "tls_ca": self.ca, "tls_server_name": self.server_name}


def read_ca(value: str) -> str:
    """PEM text as given, or read from the file the value names."""
    if value.startswith("-----BEGIN"):
        return value
    try:
        return Path(value).read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"{CA_VARIABLE}: cannot read the CA certificate {value!r}: {error}") from None


def client_context(ca: str) -> ssl.SSLContext:
    """A client context that trusts `ca` and nothing else (no system store), verifying name and chain."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED and check_hostname by default
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_verify_locations(cadata=ca)
    except ssl.SSLError as error:
        raise UserError(f"the Redis CA certificate is not a PEM certificate: {error}") from None
    return context


class PinnedTLSConnection(Connection):
    """A TCP connection to Redis wrapped in TLS that trusts one CA and checks one server name."""

    def __init__(self, *, tls_ca: str, tls_server_name: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.tls_ca = tls_ca
        self.tls_server_name = tls_server_name
        self._context = client_context(tls_ca)

    def _connect(self) -> socket.socket:
        sock = super()._connect()
        try:
            return self._context.wrap_socket(sock, server_hostname=self.tls_server_name or self.host)
        except (OSError, ssl.SSLError):
            sock.close()
            raise
