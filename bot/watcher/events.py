"""What the watcher tells a channel: one :class:`Event` per thing worth saying (pure).

:func:`bot.watcher.diff.advance` makes them from two snapshots; the service adds its own
(VRO unreachable and back, stopped); :mod:`bot.watcher.render` words them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from bot.vro.models import ContinueOption

EventKind = Literal[
    "plan_state",  # the plan's stateName changed (previous -> text)
    "started",  # a group, VM or step started (retry=True when it ran before)
    "completed",  # ... finished; result Success or Warning
    "failed",
    "skipped",
    "halted",
    "issue",  # a warning or an error with VRO's friendlyInfo text
    "plan_halted",  # the plan stopped and waits: Continue options and Undo
    "plan_resumed",
    "runtime_reset",  # VRO's RuntimeDetails were wiped (VRO restarted)
    "finished",  # the run reached a stable state: time for the summary
    "vro_unreachable",  # (service) VRO stopped answering
    "vro_back",  # (service) VRO answers again
    "stopped",  # (service) someone stopped the watch
]
Scope = Literal["plan", "group", "vm", "step"]

PROCEED_OPTIONS: tuple[str, ...] = (
    ContinueOption.PROCEED_TO_NEXT_STEP,
    ContinueOption.PROCEED_TO_NEXT_VM,
    ContinueOption.PROCEED_TO_NEXT_GROUP,
)
RETRY_OPTIONS: tuple[str, ...] = (
    ContinueOption.RETRY_FAILED_STEP,
    ContinueOption.RETRY_FAILED_VM,
    ContinueOption.RETRY_FAILED_GROUP,
)


class Event(BaseModel):
    """One thing worth telling the channel. ``seq`` is assigned by the watcher (the cursor)."""

    model_config = ConfigDict(frozen=True)

    kind: EventKind
    seq: int = 0
    scope: Scope = "plan"
    key: str = ""
    name: str = ""
    group: str | None = None
    vm: str | None = None
    result: str | None = None
    severity: str | None = None
    text: str | None = None
    previous: str | None = None
    retry: bool = False
    options: tuple[str, ...] = ()
    undo: bool = False
    at: datetime | None = None
