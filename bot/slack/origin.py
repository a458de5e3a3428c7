"""Where a request from Slack comes from, and whether it is from the workspace the bot serves.

Every request (command, click, form, options, event) is read once at the edge into an
:class:`Envelope`: its kind, the teams, enterprise and app it names, who sent it and what makes
the delivery unique. :class:`Workspace` is the bot's own identity, learned from ``auth.test``
(the bot token belongs to exactly one workspace of one app). A request naming any other team,
enterprise or app is refused before any work (:func:`foreign_reason`): a correctly signed
request only proves it went through Slack, not that it came from our workspace.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Self

import aiohttp
from pydantic import BaseModel, ConfigDict
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bot.errors import ConfigError
from bot.slack.payloads import mapping_of, text_of

log = logging.getLogger(__name__)

COMMAND = "command"
EVENT = "event_callback"
# Kinds keyed by their trigger_id (fresh for each delivery): a typed command, a click, a form
# submission. Clicks are keyed too: in Socket Mode Slack redelivers an envelope that was not
# acked (the socket died under it) with ``retry_attempt``, and that click must be recorded, not
# taken for a copy; a real copy is then recognised by its key and answered once.
TRIGGERED = frozenset({COMMAND, "block_actions", "view_submission"})


class Envelope(BaseModel):
    """The parts of a Slack request that say who sent it, from where, and which delivery it is."""

    model_config = ConfigDict(frozen=True)

    kind: str
    team_ids: frozenset[str]
    """Every team id the request names (its team, the user's team, the event's authorizations)."""
    enterprise_ids: frozenset[str]
    app_id: str | None
    enterprise_install: bool
    user_id: str | None
    trigger_id: str | None
    event_id: str | None

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Self:
        """Read a Bolt request body (form fields of a command, or an interaction / event payload)."""
        kind = text_of(body.get("type")) or (COMMAND if "command" in body else "")
        team = mapping_of(body.get("team"))
        user = mapping_of(body.get("user"))
        enterprise = mapping_of(body.get("enterprise"))
        teams = {text_of(body.get("team_id")), text_of(team.get("id")), text_of(user.get("team_id"))}
        enterprises = {
            text_of(body.get("enterprise_id")),
            text_of(enterprise.get("id")),
            text_of(team.get("enterprise_id")),
        }
        for authorization in body.get("authorizations") or ():
            granted = mapping_of(authorization)
            teams.add(text_of(granted.get("team_id")))
            enterprises.add(text_of(granted.get("enterprise_id")))
        event = mapping_of(body.get("event"))
        return cls(
            kind=kind,
            team_ids=frozenset(t for t in teams if t),
            enterprise_ids=frozenset(e for e in enterprises if e),
            app_id=text_of(body.get("api_app_id")) or None,
            enterprise_install=text_of(body.get("is_enterprise_install")).lower() == "true",
            user_id=text_of(body.get("user_id"))
            or text_of(user.get("id"))
            or text_of(event.get("user"))
            or None,
            trigger_id=text_of(body.get("trigger_id")) or None,
            event_id=text_of(body.get("event_id")) or None,
        )

    @property
    def team_id(self) -> str | None:
        """The request's team, when it names exactly one."""
        return next(iter(self.team_ids)) if len(self.team_ids) == 1 else None

    @property
    def delivery_key(self) -> str | None:
        """What makes this delivery unique (``None`` for options requests and unknown shapes)."""
        team = ",".join(sorted(self.team_ids))
        if self.kind == EVENT and self.event_id:
            return f"event:{team}:{self.event_id}"[:255]
        if self.kind in TRIGGERED and self.trigger_id:
            return f"{self.kind}:{team}:{self.trigger_id}"[:255]
        return None


@dataclass(frozen=True, slots=True)
class Workspace:
    """The workspace, enterprise and app the bot token belongs to (from ``auth.test``)."""

    team_id: str
    app_id: str | None
    """``None`` when Slack would not say (the signing secret, which is per app, still stands)."""
    enterprise_id: str | None = None
    enterprise_install: bool = False
    bot_user_id: str | None = None
    bot_id: str | None = None

    @classmethod
    def from_auth_test(cls, answer: Mapping[str, Any], *, app_id: str | None = None) -> Self:
        """Build it from ``auth.test``'s answer; ``app_id`` when the answer lacks one (``bots.info``)."""
        team_id = text_of(answer.get("team_id"))
        if not team_id:
            raise ValueError("auth.test did not say which team the bot token belongs to")
        return cls(
            team_id=team_id,
            app_id=text_of(answer.get("app_id")) or app_id or None,
            enterprise_id=text_of(answer.get("enterprise_id")) or None,
            enterprise_install=text_of(answer.get("is_enterprise_install")).lower() == "true",
            bot_user_id=text_of(answer.get("user_id")) or None,
            bot_id=text_of(answer.get("bot_id")) or None,
        )


class IdentityUnknown(ConfigError):
    """The bot could not learn which workspace and app its token belongs to.

    A :class:`~bot.config.ConfigError`, so ``vro-bot run`` stops with the message.
    """

    def __init__(self, problem: str) -> None:
        super().__init__(
            f"Slack did not say which workspace and app the bot token belongs to ({problem}). "
            "Check SLACK_BOT_TOKEN and SLACK_API_URL."
        )


class BotIdentity:
    """The bot's :class:`Workspace`, learned once (at start-up, or by the first request).

    Until it is known, nothing is served: a request that arrives while ``auth.test`` fails is
    refused rather than let through unchecked.
    """

    def __init__(self, learn: Callable[[], Awaitable[Workspace]]) -> None:
        self._learn = learn
        self._workspace: Workspace | None = None
        self._lock = asyncio.Lock()

    @property
    def known(self) -> Workspace | None:
        """The workspace if it has been learned (no call to Slack)."""
        return self._workspace

    @property
    def team_id(self) -> str | None:
        """The bot's team once known (the audit log's ``actor_team``)."""
        return self._workspace.team_id if self._workspace is not None else None

    async def workspace(self) -> Workspace:
        """The bot's workspace; learns it on first use. Raises :class:`IdentityUnknown`."""
        if self._workspace is not None:
            return self._workspace
        async with self._lock:
            if self._workspace is None:
                self._workspace = await self._learn()
                log.info(
                    "serving Slack team %s, app %s%s",
                    self._workspace.team_id,
                    self._workspace.app_id,
                    f", enterprise {self._workspace.enterprise_id}" if self._workspace.enterprise_id else "",
                )
            return self._workspace


def slack_identity(client: AsyncWebClient) -> Callable[[], Awaitable[Workspace]]:
    """Learns the workspace from ``auth.test`` (and ``bots.info`` when it leaves the app out)."""

    async def learn() -> Workspace:
        try:
            answer = await client.auth_test()
            app_id = text_of(answer.get("app_id"))
            if not app_id and answer.get("bot_id"):
                app_id = await _app_of_bot(client, str(answer["bot_id"]))
            return Workspace.from_auth_test(
                answer.data if isinstance(answer.data, dict) else {}, app_id=app_id
            )
        except ValueError as exc:
            raise IdentityUnknown(str(exc)) from exc
        except (SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
            raise IdentityUnknown(f"auth.test failed ({type(exc).__name__})") from exc

    return learn


async def _app_of_bot(client: AsyncWebClient, bot_id: str) -> str:
    """The app of the bot user (``bots.info``, which needs ``users:read``); empty if Slack won't say."""
    try:
        bot = await client.bots_info(bot=bot_id)
    except SlackApiError as exc:
        log.warning(
            "Slack would not say which app the bot token belongs to (bots.info: %s); requests are "
            "checked for their workspace and enterprise, and the signing secret stands for the app",
            exc.response.get("error") if exc.response is not None else type(exc).__name__,
        )
        return ""
    return text_of(mapping_of(bot.get("bot")).get("app_id"))


def foreign_reason(envelope: Envelope, workspace: Workspace) -> str | None:
    """Why the request is not from ``workspace`` (for the log), or ``None`` when it is."""
    # Slack names the app on every request; one naming another app is refused. (The signing
    # secret is per app, so a request naming none proves no more by carrying ours.)
    if workspace.app_id is not None and envelope.app_id not in (None, workspace.app_id):
        return f"app {envelope.app_id} is not {workspace.app_id}"
    if not envelope.team_ids:
        return "the request names no team"
    others = sorted(envelope.team_ids - {workspace.team_id})
    if others:
        return f"team {', '.join(others)} is not {workspace.team_id}"
    wrong = sorted(e for e in envelope.enterprise_ids if e != workspace.enterprise_id)
    if wrong:
        return f"enterprise {', '.join(wrong)} is not {workspace.enterprise_id or '(none)'}"
    if envelope.enterprise_install and not workspace.enterprise_install:
        return "an organization-wide install, but the bot is installed in one workspace"
    return None
