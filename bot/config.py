"""Settings: the only reader of the environment (and of ``.env``).

``load_settings()`` builds a :class:`Settings` from the environment; nothing reads it at import
time. Errors name the environment variable at fault, never its value (values may be secrets).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.approvals.membership import DEFAULT_GROUP_GRACE_SECONDS, DEFAULT_GROUP_TTL_SECONDS
from bot.errors import ConfigError as ConfigError  # re-exported: callers catch it from here
from bot.vro.operations import AUTO, normalize_version
from bot.vro.times import zone_named

DEFAULT_SLACK_API_URL = "https://slack.com/api/"
DEFAULT_VRO_API_VERSION = AUTO
DEFAULT_VRO_TIMEZONE = "UTC"
DEFAULT_DATABASE_URL = "sqlite:///./vro-bot.db"
DEFAULT_HTTP_HOST = "0.0.0.0"  # noqa: S104 - a server in a container listens on all interfaces
DEFAULT_HTTP_PORT = 3000
DEFAULT_POLL_SECONDS = 5.0
WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::", "[::]"})  # noqa: S104 - names, not a bind


class Settings(BaseSettings):
    """Every variable of DESIGN.md section 4, plus a few operational knobs."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        # `VRO_BOT_ADMIN_PORT=` (an env file or a template that fills in nothing) means unset: the
        # default applies, rather than "not an integer" or a policy file named "."
        env_ignore_empty=True,
    )

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str = DEFAULT_SLACK_API_URL

    vro_url: str | None = None
    vro_username: str | None = None
    vro_password: SecretStr | None = None
    vro_client_id: str | None = None
    vro_client_secret: SecretStr | None = None
    vro_mfa_secret: SecretStr | None = None
    vro_api_version: str = DEFAULT_VRO_API_VERSION
    vro_timezone: str = DEFAULT_VRO_TIMEZONE
    vro_ca_bundle: Path | None = None
    vro_verify_tls: bool = True

    database_url: str = DEFAULT_DATABASE_URL
    vro_bot_policy: Path | None = None
    vro_bot_http_host: str = DEFAULT_HTTP_HOST
    vro_bot_http_port: int = Field(default=DEFAULT_HTTP_PORT, ge=1, le=65535)
    vro_bot_admin_host: str | None = None
    vro_bot_admin_port: int | None = Field(default=None, ge=1, le=65535)
    vro_bot_poll_seconds: float = Field(default=DEFAULT_POLL_SECONDS, gt=0, le=3600)
    vro_bot_group_ttl_seconds: float = Field(default=DEFAULT_GROUP_TTL_SECONDS, ge=0, le=3600)

    # Operational knobs beyond the contract (documented in the README).
    vro_bot_poll_max_seconds: float = Field(default=60.0, gt=0, le=3600)
    vro_bot_auto_migrate: bool = False
    vro_bot_announce_channel: str | None = None
    # An action's watch that sees no run in VRO for this long says so and ends.
    vro_bot_no_run_minutes: float = Field(default=10.0, gt=0, le=24 * 60)
    vro_bot_log_format: Literal["auto", "json", "console"] = "auto"
    vro_bot_log_level: str = "INFO"
    vro_bot_group_grace_seconds: float = Field(default=DEFAULT_GROUP_GRACE_SECONDS, ge=0, le=86400)

    @model_validator(mode="after")
    def _check_group_grace(self) -> Settings:
        if self.vro_bot_group_grace_seconds < self.vro_bot_group_ttl_seconds:
            raise ValueError(
                "VRO_BOT_GROUP_GRACE_SECONDS must be at least VRO_BOT_GROUP_TTL_SECONDS "
                "(an answer is trusted for the TTL, and for the grace only when a refresh fails)"
            )
        return self

    @field_validator("vro_url")
    @classmethod
    def _check_vro_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                "must be an http:// or https:// URL with a host, e.g. https://vro.corp.local:9898"
            )
        return value.rstrip("/")

    @field_validator("vro_api_version")
    @classmethod
    def _check_vro_api_version(cls, value: str) -> str:
        if value.strip().lower() == AUTO:
            return AUTO
        try:
            return normalize_version(value)
        except ValueError:
            raise ValueError(
                f"VRO_API_VERSION must be auto or a path version such as v7.21, v13 or v13.1, not {value!r}"
            ) from None

    @field_validator("vro_timezone")
    @classmethod
    def _check_vro_timezone(cls, value: str) -> str:
        try:
            zone_named(value)
        except ValueError as exc:
            raise ValueError(f"VRO_TIMEZONE: {exc}") from None
        return value.strip() or DEFAULT_VRO_TIMEZONE

    @field_validator("slack_api_url")
    @classmethod
    def _check_slack_api_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL, e.g. https://slack.com/api/")
        return value if value.endswith("/") else value + "/"

    @field_validator("slack_bot_token")
    @classmethod
    def _check_bot_token(cls, value: SecretStr | None) -> SecretStr | None:
        token = value.get_secret_value() if value is not None else ""
        if token.startswith("xapp-"):
            raise ValueError(
                "holds an app-level token (xapp-…), which belongs in SLACK_APP_TOKEN; the bot token "
                "(xoxb-…) is on the app's OAuth & Permissions page"
            )
        if token and not token.startswith("xoxb-"):
            raise ValueError("must be a bot token starting with xoxb-")
        return value

    @field_validator("slack_app_token")
    @classmethod
    def _check_app_token(cls, value: SecretStr | None) -> SecretStr | None:
        token = value.get_secret_value() if value is not None else ""
        if token.startswith("xoxb-"):
            raise ValueError(
                "holds a bot token (xoxb-…), but Socket Mode needs the app-level token (xapp-…, "
                "Basic Information → App-Level Tokens, scope connections:write); the bot token "
                "goes in SLACK_BOT_TOKEN"
            )
        if token and not token.startswith("xapp-"):
            raise ValueError("must be an app-level token starting with xapp-")
        return value

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        scheme = value.split("://", 1)[0] if "://" in value else ""
        if not scheme.startswith(("sqlite", "postgresql", "postgres")):
            raise ValueError("must be sqlite:///path.db or postgresql://user:pw@host/db")
        return value

    @property
    def socket_mode(self) -> bool:
        """Socket Mode is selected by the presence of ``SLACK_APP_TOKEN``."""
        return self.slack_app_token is not None and bool(self.slack_app_token.get_secret_value())

    @property
    def admin_listener(self) -> tuple[str, int]:
        """Where ``/healthz``, ``/readyz`` and ``/metrics`` listen: VRO_BOT_ADMIN_HOST/PORT, each
        defaulting to the HTTP listener's."""
        return (
            self.vro_bot_admin_host or self.vro_bot_http_host,
            self.vro_bot_admin_port or self.vro_bot_http_port,
        )

    def listener_conflict(self) -> str | None:
        """Why HTTP mode's two listeners could not both listen, or None.

        VRO_BOT_ADMIN_HOST alone moves ``/healthz``, ``/readyz`` and ``/metrics`` to another host
        on the HTTP listener's port; when either host is a wildcard the second bind fails (address
        in use), so ``vro-bot run`` says so before it starts. Socket Mode has one listener only.
        """
        if self.socket_mode:
            return None
        public = (self.vro_bot_http_host, self.vro_bot_http_port)
        admin = self.admin_listener
        if admin == public or admin[1] != public[1]:
            return None
        if public[0] not in WILDCARD_HOSTS and admin[0] not in WILDCARD_HOSTS:
            return None  # two distinct addresses may share a port
        return (
            f"VRO_BOT_ADMIN_HOST ({admin[0]}) and VRO_BOT_HTTP_HOST ({public[0]}) cannot both listen "
            f"on port {public[1]}: set VRO_BOT_ADMIN_PORT too (e.g. 9100)"
        )

    def missing_for_run(self) -> list[str]:
        """Names of the variables ``vro-bot run`` needs but does not have."""
        missing: list[str] = []
        if not _present(self.slack_bot_token):
            missing.append("SLACK_BOT_TOKEN")
        if not self.socket_mode and not _present(self.slack_signing_secret):
            missing.append("SLACK_SIGNING_SECRET")
        if not self.vro_url:
            missing.append("VRO_URL")
        has_password = bool(self.vro_username) and _present(self.vro_password)
        has_client = bool(self.vro_client_id) and _present(self.vro_client_secret)
        if not (has_password or has_client):
            missing.append("VRO_USERNAME/VRO_PASSWORD or VRO_CLIENT_ID/VRO_CLIENT_SECRET")
        return missing

    def require_for_run(self) -> None:
        """Raise :class:`ConfigError` naming every variable ``vro-bot run`` is missing."""
        missing = self.missing_for_run()
        if missing:
            raise ConfigError(
                "Missing configuration: " + ", ".join(missing) + ". Set them in the environment or in .env."
            )
        conflict = self.listener_conflict()
        if conflict:
            raise ConfigError(f"Invalid configuration: {conflict}.")


def _present(value: SecretStr | None) -> bool:
    return value is not None and bool(value.get_secret_value())


def load_settings(env: Mapping[str, str] | None = None, *, env_file: str | None = ".env") -> Settings:
    """Build settings from ``env`` (tests) or from the process environment and ``.env``.

    Raises :class:`ConfigError` whose message names each bad variable.
    """
    try:
        if env is not None:
            # Explicit mapping: ignore the process environment and .env entirely. An empty value
            # is unset, as in the environment (env_ignore_empty).
            values = {k.lower(): v for k, v in env.items() if v != ""}
            return Settings.model_validate(values)
        return Settings(_env_file=env_file)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            name = str(err["loc"][0]).upper() if err["loc"] else "configuration"
            msg = err["msg"].removeprefix("Value error, ")
            problems.append(f"{name}: {msg}")
        raise ConfigError("Invalid configuration: " + "; ".join(problems)) from None
