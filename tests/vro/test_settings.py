"""bot.runtime.vro_client_from: credentials, API version and TLS trust from the VRO_* variables."""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx
import pytest

from bot.clock import FakeClock
from bot.config import ConfigError, load_settings
from bot.runtime import vro_client_from, vro_credentials_from
from bot.vro.auth import ClientCredentialsGrant, PasswordCredentials
from bot.vro.client import tls_verify
from tests.vro.conftest import FakeVro, fixture_json


def test_password_credentials_with_mfa_secret() -> None:
    """VRO_USERNAME / VRO_PASSWORD (+ VRO_MFA_SECRET) give PasswordCredentials."""
    settings = load_settings({"VRO_USERNAME": "svc", "VRO_PASSWORD": "pw", "VRO_MFA_SECRET": "JBSWY3DP"})
    assert vro_credentials_from(settings) == PasswordCredentials(
        username="svc", password="pw", mfa_secret="JBSWY3DP"
    )


def test_client_credentials_are_preferred_when_both_are_set() -> None:
    """An API client registration is VRO's advice for integrations, so it wins."""
    settings = load_settings(
        {"VRO_USERNAME": "svc", "VRO_PASSWORD": "pw", "VRO_CLIENT_ID": "cid", "VRO_CLIENT_SECRET": "cs"}
    )
    assert vro_credentials_from(settings) == ClientCredentialsGrant(client_id="cid", client_secret="cs")


def test_missing_credentials_name_the_variables() -> None:
    """No usable credentials: ConfigError naming both options."""
    with pytest.raises(ConfigError, match="VRO_USERNAME/VRO_PASSWORD or VRO_CLIENT_ID/VRO_CLIENT_SECRET"):
        vro_credentials_from(load_settings({"VRO_USERNAME": "svc"}))


def test_missing_url_is_a_config_error() -> None:
    """vro_client_from without VRO_URL names it."""
    with pytest.raises(ConfigError, match="VRO_URL"):
        vro_client_from(load_settings({"VRO_USERNAME": "svc", "VRO_PASSWORD": "pw"}))


async def test_vro_client_uses_url_and_api_version(fake_vro: FakeVro, clock: FakeClock) -> None:
    """VRO_URL and VRO_API_VERSION shape every request path."""
    fake_vro.route("GET", "/api/v13/Plans/p1", httpx.Response(200, json=fixture_json("plan")))
    settings = load_settings(
        {
            "VRO_URL": "https://vro.test:9898/",
            "VRO_USERNAME": "svc-bot",
            "VRO_PASSWORD": "hunter2-very-secret",
            "VRO_API_VERSION": "v13",
        }
    )
    async with vro_client_from(settings, transport=httpx.MockTransport(fake_vro), clock=clock) as vro:
        await vro.get_plan("p1")
    assert str(fake_vro.api_requests[0].url) == "https://vro.test:9898/api/v13/Plans/p1"


def test_tls_verify_from_settings(tmp_path: Path) -> None:
    """VRO_VERIFY_TLS=false disables checks; VRO_CA_BUNDLE gives an SSL context; a bad file is named."""
    assert tls_verify(ca_bundle=None, verify_tls=False) is False
    assert tls_verify(ca_bundle=None, verify_tls=True) is True
    with pytest.raises(ConfigError, match="VRO_CA_BUNDLE"):
        tls_verify(ca_bundle=str(tmp_path / "missing.pem"), verify_tls=True)
    (tmp_path / "bad.pem").write_text("not a certificate")
    with pytest.raises(ConfigError, match="VRO_CA_BUNDLE"):
        tls_verify(ca_bundle=str(tmp_path / "bad.pem"), verify_tls=True)


def test_tls_verify_loads_a_ca_bundle(tmp_path: Path) -> None:
    """A PEM CA file becomes an SSL context that trusts it."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vro test CA")])
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem = tmp_path / "ca.pem"
    pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    context = tls_verify(ca_bundle=str(pem), verify_tls=True)
    assert isinstance(context, ssl.SSLContext)
    assert context.cert_store_stats()["x509_ca"] >= 1
