"""Answers about the Orchestrator itself: recovery locations, scopes, license usage."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final

from bot.slack.blocks.kit import (
    FALLBACK_TEXT_LIMIT,
    Block,
    Message,
    clip,
    cut_notice,
    described,
    esc,
    pack_sections,
    page_of,
    paged_list,
    plural,
    section,
)
from bot.vro.models import LicenseUsage, RecoveryLocation, Scope

ESTATE_PAGE_SIZE: Final = 30
MAX_SCOPE_USAGE_ROWS: Final = 60


def _entry(name: str, bits: Iterable[str | None], description: str | None, *, mark: str = "") -> str:
    """``• *name*mark — bit · bit``, with the description indented beneath."""
    shown = [b for b in bits if b]
    return described(
        f"• *{esc(name)}*{mark}" + (f" — {esc(' · '.join(shown))}" if shown else ""), description
    )


def locations_message(
    locations: Sequence[RecoveryLocation], *, page: int = 0, command: str | None = "locations"
) -> Message:
    """``/vro locations``."""
    if not locations:
        return Message("No recovery locations.", [section("VRO has no recovery locations I can see.")])
    paged = page_of(len(locations), page, ESTATE_PAGE_SIZE)
    lines = []
    for location in locations[paged.start : paged.end]:
        bits = (location.type, location.availability, "original" if location.isOriginal else None)
        lines.append(_entry(location.name, bits, location.description))
    title = f"Recovery locations ({plural(len(locations), 'location')})"
    return paged_list(title, lines, paged, "location", command=command)


def scopes_message(scopes: Sequence[Scope], *, page: int = 0, command: str | None = "scopes") -> Message:
    """``/vro scopes``."""
    if not scopes:
        return Message("No scopes.", [section("VRO has no scopes I can see.")])
    paged = page_of(len(scopes), page, ESTATE_PAGE_SIZE)
    lines = []
    for scope in scopes[paged.start : paged.end]:
        default = " (default)" if scope.isDefault else ""
        lines.append(_entry(scope.name, (scope.siteName, scope.state), scope.description, mark=default))
    title = f"Scopes ({plural(len(scopes), 'scope')})"
    return paged_list(title, lines, paged, "scope", command=command)


def _count(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def license_message(server: LicenseUsage, *, scopes: Sequence[tuple[Scope, LicenseUsage]] = ()) -> Message:
    """``/vro license``: the server's usage, and per scope when given."""
    blocks: list[Block] = [
        section(
            "*License usage*",
            fields=[
                f"*Managed instances*\n{_count(server.managedInstances)}",
                f"*New instances*\n{_count(server.newInstances)}",
            ],
        )
    ]
    if scopes:
        lines = [
            f"• *{esc(scope.name)}* — {_count(usage.managedInstances)} managed, {_count(usage.newInstances)} new"
            for scope, usage in scopes[:MAX_SCOPE_USAGE_ROWS]
        ]
        blocks += pack_sections(["*By scope*", *lines])
        if len(scopes) > MAX_SCOPE_USAGE_ROWS:
            blocks.append(cut_notice(MAX_SCOPE_USAGE_ROWS, len(scopes), "scope"))
    text = f"License usage: {_count(server.managedInstances)} managed instances, {_count(server.newInstances)} new"
    return Message(clip(text, FALLBACK_TEXT_LIMIT), blocks)
