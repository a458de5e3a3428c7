"""``vro-bot check``: each dependency (configuration, policy, database, VRO, Slack, Socket Mode)
with a verdict; exit 0 only when all pass.
"""

from __future__ import annotations

import asyncio

from bot.config import Settings
from bot.observability.check import (
    CONFIG_ADVICE,
    CONFIG_MISSING,
    CONFIG_OK,
    CheckFailed,
    DependencyCheck,
    run_check_command,
)
from bot.observability.dependencies import (
    database_check,
    policy_check,
    slack_check,
    socket_mode_check,
    vro_check,
)
from bot.observability.logging import Redactor
from bot.runtime.from_settings import load_configured_policy, secret, secrets_from_settings, vro_client_from


def check(settings: Settings) -> int:
    """``vro-bot check``: each dependency with a verdict; exit 0 only when all pass."""
    return asyncio.run(_check(settings))


async def _check(settings: Settings) -> int:
    checks = [
        configuration_check(settings),
        policy_check(lambda: load_configured_policy(settings), builtin=settings.vro_bot_policy is None),
        database_check(settings.database_url),
        vro_check(lambda: vro_client_from(settings), settings.vro_url),
        slack_check(secret(settings.slack_bot_token), settings.slack_api_url),
    ]
    if settings.socket_mode:
        checks.append(socket_mode_check(secret(settings.slack_app_token), settings.slack_api_url))
    return await run_check_command(checks, redactor=Redactor(secrets_from_settings(settings)))


def configuration_check(settings: Settings, *, name: str = "configuration") -> DependencyCheck:
    """Passes when every variable ``vro-bot run`` needs is set; names the missing ones otherwise."""

    async def run() -> str:
        missing = settings.missing_for_run()
        if missing:
            raise CheckFailed(CONFIG_MISSING.format(names=", ".join(missing)), advice=CONFIG_ADVICE)
        conflict = settings.listener_conflict()
        if conflict:
            raise CheckFailed(conflict, advice=CONFIG_ADVICE)
        if settings.socket_mode:
            mode = "Socket Mode"
        else:
            mode = f"HTTP mode on {settings.vro_bot_http_host}:{settings.vro_bot_http_port}"
        return CONFIG_OK.format(mode=mode)

    return DependencyCheck(name=name, run=run, advice=CONFIG_ADVICE)
