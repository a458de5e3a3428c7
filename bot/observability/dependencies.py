"""What ``vro-bot check`` and ``/readyz`` ask of each dependency: the policy file, the database,
VRO and Slack (Web API and Socket Mode).

Each check is built from objects and plain values (a client factory, a URL, a token), never from
Settings: the composition root maps the configuration and hands them over.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.approvals.policy import Policy
from bot.errors import ConfigError
from bot.migrate import check_at_head
from bot.observability.check import CheckFailed, DependencyCheck
from bot.slack.connection import (
    SlackRefused,
    SlackUnreachable,
    check_bot_token,
    probe_socket_mode,
    refusal_advice,
)
from bot.vro.client import VroClient
from bot.vro.errors import VroAuthError, VroError
from bot.vro.operations import product_name

T = TypeVar("T")


def policy_check(load: Callable[[], Policy], *, builtin: bool) -> DependencyCheck:
    """The policy file reads and validates (``builtin``: no file is configured)."""

    async def run() -> str:
        try:
            policy = load()
        except ConfigError as exc:
            raise CheckFailed(str(exc), advice="Fix the policy file named by VRO_BOT_POLICY.") from None
        return f"{len(policy.roles)} roles" + (" (built-in policy)" if builtin else "")

    return DependencyCheck("policy", run, "Fix the policy file.")


def database_check(database_url: str) -> DependencyCheck:
    """The database answers and its schema is at the code's head revision."""

    async def run() -> str:
        try:
            await asyncio.to_thread(check_at_head, database_url)
        except ConfigError as exc:
            raise CheckFailed(str(exc)) from None
        return "reachable, schema at the latest revision"

    return DependencyCheck("database", run, "Run `vro-bot db upgrade`.", requires=("configuration",))


def vro_check(make_client: Callable[[], VroClient], url: str | None) -> DependencyCheck:
    """VRO accepts the bot's credentials and shows its plans (the client is made, used, closed)."""

    async def run() -> str:
        try:
            client = make_client()
        except ConfigError as exc:
            raise CheckFailed(str(exc)) from None
        try:
            await client.ensure_token()
            page = await client.get_plans(limit=1)
        except VroAuthError as exc:
            raise CheckFailed(
                f"VRO refused the credentials: {exc}",
                advice="Check VRO_USERNAME/VRO_PASSWORD or VRO_CLIENT_ID/VRO_CLIENT_SECRET (and VRO_MFA_SECRET).",
            ) from None
        except VroError as exc:
            raise CheckFailed(
                f"VRO did not answer: {exc}", advice="Check VRO_URL and TLS settings."
            ) from None
        finally:
            await client.aclose()
        return f"{url}: credentials accepted, {page.total} plans visible, {vro_version_text(client)}"

    return DependencyCheck("vro", run, "Check the VRO_* variables.", requires=("configuration",))


def slack_check(bot_token: str, api_url: str) -> DependencyCheck:
    """Slack accepts the bot token (``auth.test``)."""

    async def run() -> str:
        if not bot_token:
            raise CheckFailed(
                "SLACK_BOT_TOKEN is not set.", advice="Copy the bot token from the app's OAuth page."
            )
        client = AsyncWebClient(token=bot_token, base_url=api_url)
        answer = await _asking_slack(check_bot_token(client), app_token=False)
        return f"workspace {answer.get('team')}, bot user {answer.get('user')}"

    return DependencyCheck(
        "slack", run, "Check SLACK_BOT_TOKEN and SLACK_API_URL.", requires=("configuration",)
    )


def socket_mode_check(app_token: str, api_url: str) -> DependencyCheck:
    """Slack opens a Socket Mode connection for the app token."""

    async def run() -> str:
        client = AsyncWebClient(base_url=api_url)
        return await _asking_slack(probe_socket_mode(client, app_token), app_token=True)

    return DependencyCheck(
        "socket mode",
        run,
        "Check SLACK_APP_TOKEN and that websockets to Slack are allowed.",
        requires=("configuration",),
    )


async def _asking_slack(call: Awaitable[T], *, app_token: bool) -> T:
    """``call``'s answer; Slack's refusal, or no answer from Slack, becomes the check's verdict."""
    token = "app token" if app_token else "bot token"
    try:
        return await call
    except SlackRefused as refusal:
        raise CheckFailed(
            f"Slack refused the {token} ({refusal.error}).",
            advice=refusal_advice(refusal, app_token=app_token),
        ) from None
    except SlackUnreachable as unreachable:
        raise CheckFailed(f"Slack not reached: {unreachable.problem}.", advice=unreachable.advice) from None


async def database_ready(engine: AsyncEngine, database_url: str) -> None:
    """``/readyz``: the pool reaches the database and the schema is at head."""
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
    await asyncio.to_thread(check_at_head, database_url)


def vro_version_text(client: VroClient) -> str:
    """``REST API v13.1 (VRO 13.1), negotiated``: what ``check``, ``/readyz`` and App Home show."""
    version = client.api_version
    if version is None:
        return "REST API version not negotiated yet"
    how = "negotiated (VRO_API_VERSION=auto)" if client.negotiates else "set by VRO_API_VERSION"
    return f"REST API {version} ({product_name(version)}), {how}"
