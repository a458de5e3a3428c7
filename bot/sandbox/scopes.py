"""Which bot-token scope each Web API method the bot uses needs (Slack's method reference).

Used two ways: the sandbox can refuse a call with ``missing_scope`` when it was built with the
manifest's scopes (so an end-to-end test catches a scope the manifest forgot), and a test can
check that every method the bot called is covered by ``app-manifest.yml``.

Conversation methods need a scope per conversation type: ``channels:*`` for public channels,
``groups:*`` for private ones, ``im:*`` for direct messages.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

ConversationKind = str
"""``public``, ``private`` or ``im``."""

NO_SCOPE: frozenset[str] = frozenset()

METHOD_SCOPES: Mapping[str, frozenset[str]] = {
    "api.test": NO_SCOPE,
    "auth.test": NO_SCOPE,
    "bots.info": frozenset({"users:read"}),
    "chat.postMessage": frozenset({"chat:write"}),
    "chat.update": frozenset({"chat:write"}),
    "chat.delete": frozenset({"chat:write"}),
    "chat.postEphemeral": frozenset({"chat:write"}),
    "chat.getPermalink": NO_SCOPE,
    "views.open": NO_SCOPE,
    "views.push": NO_SCOPE,
    "views.update": NO_SCOPE,
    "views.publish": NO_SCOPE,
    "usergroups.list": frozenset({"usergroups:read"}),
    "usergroups.users.list": frozenset({"usergroups:read"}),
    "users.info": frozenset({"users:read"}),
}
"""Methods whose scope does not depend on the conversation type."""

CONVERSATION_METHOD_SCOPES: Mapping[str, Mapping[ConversationKind, str]] = {
    "conversations.history": {"public": "channels:history", "private": "groups:history", "im": "im:history"},
    "conversations.replies": {"public": "channels:history", "private": "groups:history", "im": "im:history"},
    "conversations.info": {"public": "channels:read", "private": "groups:read", "im": "im:read"},
}


def required_scope(method: str, conversation: ConversationKind | None = None) -> frozenset[str]:
    """The scopes ``method`` needs (for conversation methods, in that kind of conversation).

    Without a ``conversation`` a conversation method needs its public-channel scope. Raises
    :class:`KeyError` for a method this table does not know, so a new call cannot slip by.
    """
    if method in METHOD_SCOPES:
        return METHOD_SCOPES[method]
    by_kind = CONVERSATION_METHOD_SCOPES[method]
    return frozenset({by_kind[conversation or "public"]})


def missing_scopes(
    methods: Iterable[str], granted: Iterable[str], *, conversations: Iterable[ConversationKind] = ("public",)
) -> dict[str, frozenset[str]]:
    """For each method, the scopes it needs that ``granted`` lacks (methods fully covered are left out)."""
    have = frozenset(granted)
    kinds = tuple(conversations)
    missing: dict[str, frozenset[str]] = {}
    for method in sorted(set(methods)):
        if method in METHOD_SCOPES:
            needed = METHOD_SCOPES[method]
        else:
            needed = frozenset().union(*(required_scope(method, kind) for kind in kinds))
        lacking = needed - have
        if lacking:
            missing[method] = lacking
    return missing
