"""Slack user groups as policy role members: ``@dr-approvers`` -> the user ids in it."""

from __future__ import annotations

from typing import Any, Protocol


class UserGroupsApi(Protocol):
    """The two Web API calls we need (slack_sdk's AsyncWebClient satisfies this)."""

    async def usergroups_list(self, **kwargs: Any) -> Any: ...

    async def usergroups_users_list(self, **kwargs: Any) -> Any: ...


class SlackGroupResolver:
    """Resolves a user-group handle (with or without ``@``) to its members' user ids.

    Unknown handles resolve to nobody: a policy that names a group that does not exist grants
    nothing, which is the safe reading. Wrap it in the policy's cache to spare Slack's limits.
    """

    def __init__(self, *, client: UserGroupsApi) -> None:
        self._client = client

    async def members(self, handle: str) -> frozenset[str]:
        wanted = handle.lstrip("@").lower()
        listing = await self._client.usergroups_list(include_disabled=False)
        for group in listing.get("usergroups", []) or []:
            if str(group.get("handle", "")).lower() == wanted or str(group.get("id", "")) == handle:
                users = await self._client.usergroups_users_list(usergroup=group["id"])
                return frozenset(str(u) for u in users.get("users", []) or [])
        return frozenset()
