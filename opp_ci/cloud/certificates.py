"""A campaign's own CA and its Redis server's certificate, made fresh for each campaign.

The CA's private key lives only in memory while `issue` runs: it signs the one server certificate and
is dropped, so nobody (opp-ci included) can ever issue a second certificate a client would trust. The
server's key goes to SSM Parameter Store (SecureString) for the Redis task; the CA certificate is
public and goes to every client, which trusts it alone (see opp_ci/tls.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from opp_ci.tls import CAMPAIGN_SERVER_NAME

#: Clocks of the runner and of AWS may differ a little.
CLOCK_SKEW = timedelta(hours=1)


@dataclass(frozen=True)
class CampaignCertificates:
    """PEM texts: the CA certificate (public), the server certificate (public) and the server key (secret)."""

    ca: str
    certificate: str
    key: str = field(repr=False)


def issue(campaign: str, lifetime: timedelta, now: datetime | None = None) -> CampaignCertificates:
    """A new CA for `campaign` and a server certificate for `CAMPAIGN_SERVER_NAME`, both valid `lifetime`."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    now = now or datetime.now(UTC)
    not_before, not_after = now - CLOCK_SKEW, now + lifetime + CLOCK_SKEW
    ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = _ca_certificate(campaign, ca_key, not_before, not_after)
    server = _server_certificate(campaign, ca, ca_key, server_key, not_before, not_after)
    key = server_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return CampaignCertificates(_pem(ca), _pem(server), key.decode())


def _name(common_name: str):
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "opp-ci"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _ca_certificate(campaign: str, key, not_before: datetime, not_after: datetime):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    name = _name(f"opp-ci campaign {campaign} CA")
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )


def _server_certificate(campaign: str, ca, ca_key, key, not_before: datetime, not_after: datetime):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID

    ca_identifier = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return (
        x509.CertificateBuilder()
        .subject_name(_name(f"opp-ci campaign {campaign} Redis"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(CAMPAIGN_SERVER_NAME)]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_identifier), critical=False)
        .sign(ca_key, hashes.SHA256())
    )


def _usage(cert_sign: bool):
    from cryptography import x509

    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _pem(certificate) -> str:
    from cryptography.hazmat.primitives import serialization

    return certificate.public_bytes(serialization.Encoding.PEM).decode()
