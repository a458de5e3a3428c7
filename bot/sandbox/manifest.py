"""The Slack app manifest (``app-manifest.yml``): a pydantic model of its documented structure.

The model follows Slack's manifest schema v1 (slack-notes §5; ``slackapi/manifest-schema``):
unknown keys are errors, lengths and URL patterns are checked. :func:`manifest_json_schema`
exports the same rules as a JSON schema for validating with ``jsonschema``.

The readers (:func:`manifest_commands`, :func:`manifest_events`, :func:`manifest_scopes`, and
the lazy module attributes ``MANIFEST_COMMANDS``, ``MANIFEST_EVENTS``, ``MANIFEST_SCOPES``) let a
test compare the manifest with what the code registers. Nothing is read at import time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

DEFAULT_MANIFEST_PATH = Path(__file__).resolve().parents[2] / "app-manifest.yml"
"""``app-manifest.yml`` at the repository root (next to ``pyproject.toml``)."""

HttpUrl = Annotated[str, StringConstraints(pattern=r"^https?://", max_length=3000)]
RequestUrl = Annotated[str, StringConstraints(pattern=r"^https?://", max_length=3500)]
ScopeName = Annotated[str, StringConstraints(min_length=1, max_length=50)]
EventName = Annotated[str, StringConstraints(min_length=1, max_length=50)]


class ManifestError(Exception):
    """The manifest file is missing, not YAML, or does not match the manifest structure."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class ManifestMetadata(_Strict):
    schema_version: int | None = None
    min_version: int | None = None
    major_version: int | None = None
    minor_version: int | None = None


class DisplayInformation(_Strict):
    name: Annotated[str, StringConstraints(min_length=1, max_length=35)]
    description: Annotated[str, StringConstraints(min_length=1, max_length=140)] | None = None
    background_color: (
        Annotated[str, StringConstraints(pattern=r"^#[0-9a-fA-F]{3}([0-9a-fA-F]{3})?$")] | None
    ) = None
    long_description: Annotated[str, StringConstraints(min_length=175, max_length=4000)] | None = None


class AppHome(_Strict):
    home_tab_enabled: bool | None = None
    messages_tab_enabled: bool | None = None
    messages_tab_read_only_enabled: bool | None = None


class BotUser(_Strict):
    display_name: Annotated[str, StringConstraints(min_length=1, max_length=80)]
    always_online: bool | None = None


class SlashCommand(_Strict):
    command: Annotated[str, StringConstraints(min_length=2, max_length=32, pattern=r"^/")]
    description: Annotated[str, StringConstraints(min_length=1, max_length=2000)]
    url: HttpUrl | None = None
    usage_hint: Annotated[str, StringConstraints(min_length=1, max_length=1000)] | None = None
    should_escape: bool = False


class Shortcut(_Strict):
    name: Annotated[str, StringConstraints(min_length=1, max_length=24)]
    type: Literal["message", "global"]
    callback_id: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    description: Annotated[str, StringConstraints(min_length=1, max_length=150)]


class Features(_Strict):
    app_home: AppHome | None = None
    bot_user: BotUser | None = None
    slash_commands: Annotated[list[SlashCommand], Field(min_length=1, max_length=50)] | None = None
    shortcuts: Annotated[list[Shortcut], Field(min_length=1, max_length=10)] | None = None
    unfurl_domains: (
        Annotated[
            list[Annotated[str, StringConstraints(pattern=r"^[a-z0-9][-a-z0-9.]*[a-z0-9]$", max_length=255)]],
            Field(min_length=1, max_length=5),
        ]
        | None
    ) = None

    @model_validator(mode="after")
    def _distinct_commands(self) -> Features:
        names = [c.command for c in self.slash_commands or []]
        if len(names) != len(set(names)):
            raise ValueError("each slash command may appear only once")
        return self


class Scopes(_Strict):
    bot: Annotated[list[ScopeName], Field(max_length=255)] | None = None
    user: Annotated[list[ScopeName], Field(max_length=255)] | None = None
    bot_optional: Annotated[list[ScopeName], Field(max_length=255)] | None = None
    user_optional: Annotated[list[ScopeName], Field(max_length=255)] | None = None


class OAuthConfig(_Strict):
    redirect_urls: (
        Annotated[list[Annotated[str, StringConstraints(max_length=2500)]], Field(max_length=1000)] | None
    ) = None
    scopes: Scopes | None = None
    token_management_enabled: bool | None = None
    pkce_enabled: bool | None = None


class Interactivity(_Strict):
    is_enabled: bool
    request_url: RequestUrl | None = None
    message_menu_options_url: RequestUrl | None = None
    """Where an external select asks for its options (Bolt's ``options_load_url``)."""


class EventSubscriptions(_Strict):
    request_url: RequestUrl | None = None
    bot_events: Annotated[list[EventName], Field(max_length=100)] | None = None
    user_events: Annotated[list[EventName], Field(max_length=100)] | None = None

    @model_validator(mode="after")
    def _distinct_events(self) -> EventSubscriptions:
        for events in (self.bot_events or [], self.user_events or []):
            if len(events) != len(set(events)):
                raise ValueError("each event may be listed only once")
        return self


class IncomingWebhooks(_Strict):
    incoming_webhooks_enabled: bool | None = None


class ManifestSettings(_Strict):
    interactivity: Interactivity | None = None
    event_subscriptions: EventSubscriptions | None = None
    allowed_ip_address_ranges: Annotated[list[str], Field(min_length=1, max_length=50)] | None = None
    incoming_webhooks: IncomingWebhooks | None = None
    org_deploy_enabled: bool | None = None
    socket_mode_enabled: bool | None = None
    token_rotation_enabled: bool | None = None
    is_hosted: bool | None = None


class Manifest(_Strict):
    """A Slack app manifest (schema v1)."""

    schema_uri: str | None = Field(default=None, alias="$schema")
    metadata: ManifestMetadata | None = Field(default=None, alias="_metadata")
    display_information: DisplayInformation
    features: Features | None = None
    oauth_config: OAuthConfig | None = None
    settings: ManifestSettings | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Manifest:
        features = self.features or Features()
        settings = self.settings or ManifestSettings()
        if features.slash_commands and "commands" not in self.bot_scopes:
            raise ValueError("slash commands need the bot scope 'commands'")
        if not settings.socket_mode_enabled:
            missing = [c.command for c in features.slash_commands or [] if c.url is None]
            if missing:
                raise ValueError(f"without Socket Mode every slash command needs a url: {missing}")
            interactivity = settings.interactivity
            if interactivity is not None and interactivity.is_enabled and interactivity.request_url is None:
                raise ValueError("without Socket Mode interactivity needs a request_url")
            events = settings.event_subscriptions
            if (
                events is not None
                and (events.bot_events or events.user_events)
                and events.request_url is None
            ):
                raise ValueError("without Socket Mode event subscriptions need a request_url")
        return self

    @property
    def bot_scopes(self) -> frozenset[str]:
        scopes = self.oauth_config.scopes if self.oauth_config is not None else None
        return frozenset(scopes.bot or []) if scopes is not None else frozenset()

    @property
    def commands(self) -> frozenset[str]:
        commands = self.features.slash_commands if self.features is not None else None
        return frozenset(c.command for c in commands or [])

    @property
    def bot_events(self) -> frozenset[str]:
        events = self.settings.event_subscriptions if self.settings is not None else None
        return frozenset(events.bot_events or []) if events is not None else frozenset()


def parse_manifest(data: Any, *, source: str = "manifest") -> Manifest:
    """Validate an already-parsed manifest (a dict)."""
    try:
        return Manifest.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']}" for e in error.errors()
        )
        raise ManifestError(f"{source} does not match the Slack manifest structure: {problems}") from None


def load_manifest(path: Path | str = DEFAULT_MANIFEST_PATH) -> Manifest:
    """Read and validate ``app-manifest.yml`` (or another manifest file)."""
    location = Path(path)
    try:
        data = yaml.safe_load(location.read_text(encoding="utf-8"))
    except OSError as error:
        raise ManifestError(f"cannot read the manifest {location}: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise ManifestError(f"{location} is not valid YAML: {error}") from None
    return parse_manifest(data, source=str(location))


def manifest_json_schema() -> dict[str, Any]:
    """The model's rules as a JSON schema (draft 2020-12), keyed by the manifest's own names."""
    return Manifest.model_json_schema(by_alias=True, mode="validation")


def manifest_commands(path: Path | str = DEFAULT_MANIFEST_PATH) -> frozenset[str]:
    """The slash commands the manifest declares, e.g. ``{"/vro"}``."""
    return load_manifest(path).commands


def manifest_events(path: Path | str = DEFAULT_MANIFEST_PATH) -> frozenset[str]:
    """The bot events the manifest subscribes to, e.g. ``{"app_home_opened"}``."""
    return load_manifest(path).bot_events


def manifest_scopes(path: Path | str = DEFAULT_MANIFEST_PATH) -> frozenset[str]:
    """The bot token scopes the manifest asks for."""
    return load_manifest(path).bot_scopes


def __getattr__(name: str) -> frozenset[str]:
    """``MANIFEST_COMMANDS`` / ``MANIFEST_EVENTS`` / ``MANIFEST_SCOPES``, read when first used."""
    readers = {
        "MANIFEST_COMMANDS": manifest_commands,
        "MANIFEST_EVENTS": manifest_events,
        "MANIFEST_SCOPES": manifest_scopes,
    }
    if name in readers:
        return readers[name]()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
