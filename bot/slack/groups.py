"""Slack user groups as policy role members: ``@dr-approvers`` -> the user ids in it."""

from __future__ import annotations

from typing import Any

from slack_sdk.web.async_client import AsyncWebClient


class SlackGroupResolver:
    """Resolves a user-group handle (with or without ``@``) to its members' user ids.

    Unknown handles resolve to nobody: a policy that names a group that does not exist grants
    nothing, which is the safe reading. Wrap it in the policy's cache to spare Slack's limits.
    """

    def __init__(self, *, client: AsyncWebClient) -> None:
        self._client = client

    async def members(self, handle: str) -> frozenset[str]:
        wanted = handle.lstrip("@").lower()
        listing = await self._client.usergroups_list(include_disabled=False)
        groups: list[dict[str, Any]] = listing.get("usergroups", []) or []
        for group in groups:
            if str(group.get("handle", "")).lower() == wanted or str(group.get("id", "")) == handle:
                users = await self._client.usergroups_users_list(usergroup=group["id"])
                members: list[str] = users.get("users", []) or []
                return frozenset(str(u) for u in members)
        return frozenset()
