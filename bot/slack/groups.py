"""Slack user groups as policy role members: ``@dr-approvers`` -> the user ids in it."""

from __future__ import annotations

from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bot.approvals.membership import GroupLookupError


class SlackGroupResolver:
    """Resolves a user-group handle (with or without ``@``) to its members' user ids.

    Unknown handles resolve to nobody: a policy that names a group that does not exist grants
    nothing, which is the safe reading. Slack refusing or not answering (``ratelimited``,
    ``plan_upgrade_required``, a timeout) raises :class:`GroupLookupError` naming the problem.
    Wrap it in :class:`~bot.approvals.membership.CachedGroupResolver` to spare Slack's limits.
    """

    def __init__(self, *, client: AsyncWebClient) -> None:
        self._client = client

    async def members(self, handle: str) -> frozenset[str]:
        try:
            return await self._members(handle)
        except SlackApiError as exc:
            raise GroupLookupError(handle, f"Slack answered {_error_code(exc)}") from exc
        except (SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
            raise GroupLookupError(handle, f"Slack did not answer ({type(exc).__name__})") from exc

    async def _members(self, handle: str) -> frozenset[str]:
        wanted = handle.lstrip("@").lower()
        listing = await self._client.usergroups_list(include_disabled=False)
        groups: list[dict[str, Any]] = listing.get("usergroups", []) or []
        for group in groups:
            if str(group.get("handle", "")).lower() == wanted or str(group.get("id", "")) == handle:
                users = await self._client.usergroups_users_list(usergroup=group["id"])
                members: list[str] = users.get("users", []) or []
                return frozenset(str(u) for u in members)
        return frozenset()


def _error_code(exc: SlackApiError) -> str:
    try:
        return str(exc.response["error"])
    except (KeyError, TypeError):
        return f"HTTP {getattr(exc.response, 'status_code', '?')}"
