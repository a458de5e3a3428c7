"""Settings -> objects: what the environment's variables configure, one mapper each.

The VRO client and its credentials, the watcher's timing, the policy file, logging, and the
secrets the redactor hides. The rest of the root (wiring, ``run``, ``check``) calls these.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TextIO
from urllib.parse import urlsplit

import httpx
from pydantic import SecretStr

from bot.approvals.policy import Policy, load_policy
from bot.clock import Clock
from bot.config import ConfigError, Settings
from bot.observability.logging import LoggingSetup, Redactor, configure_logging
from bot.vro.auth import ClientCredentialsGrant, Credentials, PasswordCredentials
from bot.vro.client import VroClient, tls_verify
from bot.vro.times import zone_named
from bot.watcher.service import WatcherConfig


def load_configured_policy(settings: Settings) -> Policy:
    """The policy file named by ``VRO_BOT_POLICY``, or the built-in policy."""
    if settings.vro_bot_policy is None:
        return Policy.builtin()
    return load_policy(settings.vro_bot_policy)


def watcher_config_from(settings: Settings, **overrides: Any) -> WatcherConfig:
    """The watcher's timing from ``VRO_BOT_POLL_SECONDS`` and friends; ``overrides`` win."""
    values: dict[str, Any] = {
        "poll_seconds": settings.vro_bot_poll_seconds,
        "poll_max_seconds": max(settings.vro_bot_poll_max_seconds, settings.vro_bot_poll_seconds),
        "announce_channel": settings.vro_bot_announce_channel or None,
        "no_run_seconds": settings.vro_bot_no_run_minutes * 60.0,
    }
    values.update(overrides)
    return WatcherConfig(**values)


def vro_client_from(
    settings: Settings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    clock: Clock | None = None,
    event_hooks: Mapping[str, list[Callable[..., Any]]] | None = None,
) -> VroClient:
    """A client configured from ``VRO_*`` settings; :class:`ConfigError` names what is missing."""
    if not settings.vro_url:
        raise ConfigError("Missing configuration: VRO_URL")
    return VroClient(
        base_url=settings.vro_url,
        credentials=vro_credentials_from(settings),
        api_version=settings.vro_api_version,
        zone=zone_named(settings.vro_timezone),
        transport=transport,
        verify=tls_verify(
            ca_bundle=str(settings.vro_ca_bundle) if settings.vro_ca_bundle else None,
            verify_tls=settings.vro_verify_tls,
        ),
        clock=clock,
        event_hooks=event_hooks,
    )


def vro_credentials_from(settings: Settings) -> Credentials:
    """Client credentials when configured (VRO's recommendation for integrations), else a user."""
    if (
        settings.vro_client_id
        and settings.vro_client_secret
        and settings.vro_client_secret.get_secret_value()
    ):
        return ClientCredentialsGrant(
            client_id=settings.vro_client_id, client_secret=settings.vro_client_secret.get_secret_value()
        )
    if settings.vro_username and settings.vro_password and settings.vro_password.get_secret_value():
        mfa = settings.vro_mfa_secret.get_secret_value() if settings.vro_mfa_secret else None
        return PasswordCredentials(
            username=settings.vro_username,
            password=settings.vro_password.get_secret_value(),
            mfa_secret=mfa or None,
        )
    raise ConfigError("Missing configuration: VRO_USERNAME/VRO_PASSWORD or VRO_CLIENT_ID/VRO_CLIENT_SECRET")


def secrets_from_settings(settings: Settings) -> list[str]:
    """Every secret value in ``settings``: the SecretStr fields and a DATABASE_URL password."""
    found: list[str] = []
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr) and value.get_secret_value():
            found.append(value.get_secret_value())
    db_password = urlsplit(settings.database_url).password
    if db_password:
        found.append(db_password)
    return found


def configure_logging_from_settings(settings: Settings, *, stream: TextIO | None = None) -> LoggingSetup:
    """:func:`configure_logging` with ``VRO_BOT_LOG_FORMAT``/``VRO_BOT_LOG_LEVEL`` and every
    secret of ``settings`` registered with the redactor."""
    return configure_logging(
        fmt=settings.vro_bot_log_format,
        level=settings.vro_bot_log_level,
        redactor=Redactor(secrets_from_settings(settings)),
        stream=stream,
    )


def secret(value: SecretStr | None) -> str:
    """A secret setting's value, empty when unset."""
    return value.get_secret_value() if value is not None else ""
