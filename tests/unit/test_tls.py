"""The campaign CA and certificate, and which TLS settings connect_redis builds (no servers)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509

from opp_ci.cloud.certificates import issue
from opp_ci.errors import UserError
from opp_ci.queue import connect_redis
from opp_ci.tls import CAMPAIGN_SERVER_NAME, PinnedTLSConnection, RedisTLS, client_context


def test_the_server_certificate_is_signed_by_the_campaign_ca_for_the_fixed_name():
    now = datetime(2026, 1, 1, tzinfo=UTC)
    made = issue("c1", timedelta(hours=3), now)
    ca, server = x509.load_pem_x509_certificate(made.ca.encode()), x509.load_pem_x509_certificate(
        made.certificate.encode())
    server.verify_directly_issued_by(ca)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 0
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == [CAMPAIGN_SERVER_NAME]
    assert server.not_valid_after_utc == now + timedelta(hours=4)
    assert "PRIVATE KEY" in made.key and made.key not in repr(made)
    other = x509.load_pem_x509_certificate(issue("c1", timedelta(hours=3)).ca.encode())
    with pytest.raises(Exception):  # noqa: B017  (InvalidSignature or ValueError)
        server.verify_directly_issued_by(other)


def test_a_pinned_client_trusts_only_the_given_ca():
    context = client_context(issue("c2", timedelta(hours=1)).ca)
    assert len(context.get_ca_certs()) == 1 and context.check_hostname


def test_connect_redis_uses_the_pinned_connection_with_a_ca():
    tls = RedisTLS(issue("c3", timedelta(hours=1)).ca, CAMPAIGN_SERVER_NAME)
    client = connect_redis("rediss://:pw@10.0.0.1:6379/0", tls=tls)
    pool = client.connection_pool
    assert pool.connection_class is PinnedTLSConnection
    assert pool.connection_kwargs["tls_server_name"] == CAMPAIGN_SERVER_NAME


def test_without_a_ca_rediss_verifies_against_the_system_with_the_hostname(monkeypatch):
    monkeypatch.delenv("OPP_CI_REDIS_CA", raising=False)
    kwargs = connect_redis("rediss://10.0.0.1:6379/0").connection_pool.connection_kwargs
    assert kwargs["ssl_cert_reqs"] == "required" and kwargs["ssl_check_hostname"] is True


def test_the_ca_comes_from_the_environment_as_text_or_file(tmp_path):
    pem = issue("c4", timedelta(hours=1)).ca
    (tmp_path / "ca.pem").write_text(pem)
    assert RedisTLS.from_env({"OPP_CI_REDIS_CA": pem}) == RedisTLS(pem)
    assert RedisTLS.from_env({"OPP_CI_REDIS_CA": str(tmp_path / "ca.pem"),
                              "OPP_CI_REDIS_SERVER_NAME": "x"}) == RedisTLS(pem, "x")
    assert RedisTLS.from_env({}) is None
    with pytest.raises(UserError, match="cannot read the CA"):
        RedisTLS.from_env({"OPP_CI_REDIS_CA": str(tmp_path / "missing.pem")})
