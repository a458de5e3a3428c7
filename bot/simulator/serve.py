"""``vro-bot simulator``: serve the simulator over HTTP or HTTPS with uvicorn.

With ``--tls`` a throw-away certificate authority and a server certificate for the host (plus
``localhost`` and ``127.0.0.1``) are generated; point ``VRO_CA_BUNDLE`` at the printed CA file
to exercise certificate verification exactly as against a VRO server with a private CA.
"""

from __future__ import annotations

import ipaddress
import signal
import sys
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import uvicorn

from bot.clock import SystemClock
from bot.observability.health import ListenError, QuietServer, listening_socket
from bot.simulator.app import (
    DEFAULT_PASSWORD,
    DEFAULT_USERNAME,
    MFA_TOTP_SECRET,
    SimulatorConfig,
    create_simulator,
    served_versions,
)
from bot.simulator.estate import Estate, EstateError, default_estate, load_estate
from bot.vro.operations import NEWEST_API_VERSION
from bot.vro.times import zone_named

CERT_DAYS = 30
TLS_MISSING = (
    "--tls needs the 'cryptography' package to generate a certificate; "
    "install it with: pip install cryptography"
)


@dataclass(frozen=True)
class CertificatePaths:
    ca: Path
    certificate: Path
    key: Path


def make_certificates(cert_dir: Path, hosts: list[str], *, now: datetime) -> CertificatePaths:
    """Write ``ca.pem`` (trust this), ``server.pem`` and ``server-key.pem`` into ``cert_dir``.

    Raises ``ImportError`` when ``cryptography`` is not installed.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    cert_dir.mkdir(parents=True, exist_ok=True)
    start, end = now - timedelta(minutes=5), now + timedelta(days=CERT_DAYS)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vro-chatops simulator CA")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    for host in dict.fromkeys([*hosts, "localhost", "127.0.0.1"]):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    cert = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0] if hosts else "localhost")])
        )
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = CertificatePaths(cert_dir / "ca.pem", cert_dir / "server.pem", cert_dir / "server-key.pem")
    paths.ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    paths.certificate.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    paths.key.chmod(0o600)
    return paths


def _load(scenario: str | None) -> Estate:
    return load_estate(scenario) if scenario else default_estate()


class _Server(QuietServer):
    """uvicorn's server, stopping on SIGTERM or SIGINT with exit status 0.

    uvicorn's own ``run`` takes the signals only once it serves, and raises the signal again
    after stopping, so the process ended with 143 (or died at once, if signalled during start-up):
    supervisors and test harnesses read that as a crash. Here :meth:`take_signals` takes them
    before anything is printed, and (as a :class:`QuietServer`) uvicorn leaves them alone.
    """

    def take_signals(self) -> None:
        def stop(signum: int, frame: object) -> None:
            if self.should_exit:
                self.force_exit = True  # a second signal: stop without waiting for connections
            self.should_exit = True

        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, stop)


def run_simulator(
    *,
    host: str = "127.0.0.1",
    port: int = 9898,
    speed: float = 1.0,
    scenario: str | None = None,
    api_version: str | None = None,
    timezone: str | None = None,
    tls: bool = False,
    cert_dir: str | None = None,
    instant: bool = False,
    clock_offset_hours: float = 0.0,
) -> int:
    """Serve until interrupted; returns the process exit code."""
    out = sys.stdout.write
    if speed <= 0:
        sys.stderr.write("vro-bot simulator: --speed must be a positive number\n")
        return 2
    try:
        estate = _load(scenario)
    except EstateError as exc:
        sys.stderr.write(f"vro-bot simulator: {exc}\n")
        return 2
    try:
        versions = served_versions(api_version or NEWEST_API_VERSION)
        if timezone:
            zone_named(timezone)
    except ValueError as exc:
        sys.stderr.write(f"vro-bot simulator: {exc}\n")
        return 2
    clock = SystemClock()
    config = SimulatorConfig(
        api_versions=versions, timezone=timezone, instant_runs=instant, clock_offset_hours=clock_offset_hours
    )
    sim = create_simulator(clock=clock, estate=estate, speed=speed, config=config)
    certfile: str | None = None
    keyfile: str | None = None
    scheme = "http"
    if tls:
        folder = Path(cert_dir) if cert_dir else Path(tempfile.mkdtemp(prefix="vro-sim-tls-"))
        try:
            paths = make_certificates(folder, [host], now=clock.now())
        except ImportError:
            sys.stderr.write(f"vro-bot simulator: {TLS_MISSING}\n")
            return 2
        certfile, keyfile = str(paths.certificate), str(paths.key)
        scheme = "https"
        out(f"TLS certificate authority: {paths.ca}\n  export VRO_CA_BUNDLE={paths.ca}\n")
    server = _Server(
        uvicorn.Config(
            sim,
            host=host,
            port=port,
            log_level="warning",
            lifespan="on",
            ssl_certfile=certfile,
            ssl_keyfile=keyfile,
        )
    )
    # SIGTERM / SIGINT stop it and it exits 0; taken before anything is printed, so a harness
    # that stops it as soon as it reads the banner does not kill it with the signal's status.
    server.take_signals()
    try:
        sock = listening_socket(server)
    except ListenError as exc:
        sys.stderr.write(f"vro-bot simulator: {exc}\n")
        return 1
    # Listening already: a client that reads the banner and connects at once is served.
    shown_host = "localhost" if host in ("0.0.0.0", "::") else host  # noqa: S104 - only compared
    out(
        f"VRO simulator on {scheme}://{shown_host}:{port} (API {', '.join(f'/api/{v}' for v in sim.api_versions)}, "
        f"admin /__sim/state), "
        f"speed {'instant' if instant else f'x{speed:g}'}, {len(estate.plans)} plans, {estate.vm_count()} VMs"
        + (f", clock {clock_offset_hours:+g} h" if clock_offset_hours else "")
        + "\n"
        f"  VRO_URL={scheme}://{shown_host}:{port} VRO_USERNAME={DEFAULT_USERNAME} "
        f"VRO_PASSWORD={DEFAULT_PASSWORD}   (MFA user mfa-user, TOTP secret {MFA_TOTP_SECRET})\n"
    )
    sys.stdout.flush()
    server.run(sockets=[sock])
    return 0
    return 0
