"""What the channel is told about each action request, written with the request's own change.

:class:`ChannelHooks` is the approval service's :class:`~bot.approvals.service.RequestHooks`:
every message below is queued in the outbox inside the transaction that changes the request,
under a key derived from the request, so a crash can neither lose it nor send it twice, and no
listener ever waits for Slack:

- the approval card (``request:<id>:card``) when the request is created, and a redraw of it
  whenever what it shows changes (edits of one card collapse to the newest);
- with the claim, the action's watch (``sending``, with the plan's baseline), whose thread is
  the card's, named by its outbox key: the watch does not need the card's ``ts`` to exist;
- VRO's answer as a line in the card's thread, and the watch turned active, or closed with
  VRO's message; an unknown outcome says the bot keeps watching the plan to tell what VRO shows;
- a request approved but never sent (its sender stopped): a plain line in the channel, and the
  card offering Send.
"""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncSession

from bot.approvals.outcomes import OutcomeKind, RequestView
from bot.clock import Clock
from bot.outbox.store import Message, enqueue_post, enqueue_update
from bot.slack.blocks.approvals import ApprovalCardView, approval_card_message, mention
from bot.slack.blocks.kit import action_label
from bot.vro.operations import NARRATED_ACTIONS
from bot.watcher.lifecycle import (
    NewWatch,
    activate_watch,
    close_sending_watch,
    open_sending_watch,
)

# Actions after which VRO runs something worth narrating in the card's thread (the action table says).
WATCHED_ACTIONS: Final = NARRATED_ACTIONS

TEXT_ACCEPTED: Final = ":rocket: VRO accepted *{action}* for *{plan}*{code}."
TEXT_UNKNOWN_WATCHING: Final = (
    " I'm watching *{plan}* and will say here what VRO shows, so you know whether it arrived."
)
TEXT_HELD: Final = (
    ":pause_button: *{action}* for *{plan}* (requested by {requester}) was approved but *not sent*: "
    "the bot stopped before sending it. It will not be sent on its own. "
    "Press *Send* on the card to check it again and send it, or ask again later."
)


def card_key(request_id: str) -> str:
    """The outbox key of a request's approval card."""
    return f"request:{request_id}:card"


def card_request_id(key: str) -> str | None:
    """The request whose approval card has outbox key ``key`` (``None`` for any other message)."""
    prefix, _, rest = key.partition(":")
    request_id, _, suffix = rest.rpartition(":")
    return request_id if prefix == "request" and suffix == "card" and request_id else None


class ChannelHooks:
    """The approval service's hooks: the card, its thread and the watch, through the outbox."""

    def __init__(
        self,
        *,
        clock: Clock,
        poll_seconds: float,
        no_run_seconds: float,
        watched_actions: frozenset[str] = WATCHED_ACTIONS,
    ) -> None:
        self._clock = clock
        self._poll_seconds = poll_seconds
        self._no_run_seconds = no_run_seconds
        self._watched = watched_actions

    def wants_baseline(self, action: str) -> bool:
        return action in self._watched

    async def created(self, session: AsyncSession, request: RequestView) -> None:
        await enqueue_post(
            session,
            key=card_key(request.id),
            channel=_channel(request),
            message=_card(request),
            now=self._clock.now(),
        )

    async def changed(self, session: AsyncSession, request: RequestView) -> None:
        # One key per state the card can show: a replayed change queues nothing new.
        state = f"{request.status}:{len(request.approvers)}{':held' if request.held else ''}"
        await enqueue_update(
            session,
            key=f"{card_key(request.id)}:{state}",
            channel=_channel(request),
            message=_card(request),
            now=self._clock.now(),
            target_key=card_key(request.id),
        )

    async def claimed(
        self, session: AsyncSession, request: RequestView, baseline: dict[str, Any] | None
    ) -> None:
        if request.action not in self._watched:
            return
        await open_sending_watch(
            session,
            NewWatch(
                plan_id=request.plan_id,
                plan_name=request.plan_name,
                channel=_channel(request),
                request_id=request.id,
                action=request.action,
                requested_by=request.requester,
                approved_by=request.approvers,
                thread_key=card_key(request.id),
                baseline=baseline,
            ),
            now=self._clock.now(),
            poll_seconds=self._poll_seconds,
        )

    async def answered(
        self, session: AsyncSession, request: RequestView, kind: OutcomeKind, text: str
    ) -> None:
        now = self._clock.now()
        await self.changed(session, request)
        watched = False
        if kind is OutcomeKind.FAILED:
            await close_sending_watch(session, request.id, now=now, note=text)
        else:
            note = "outcome unknown" if kind is OutcomeKind.OUTCOME_UNKNOWN else None
            watched = (
                await activate_watch(
                    session, request.id, now=now, no_run_seconds=self._no_run_seconds, note=note
                )
                is not None
            )
        if kind is OutcomeKind.EXECUTED:
            code = f" (HTTP {request.vro_status})" if request.vro_status else ""
            line = TEXT_ACCEPTED.format(
                action=action_label(request.action), plan=request.plan_name, code=code
            )
        elif kind is OutcomeKind.OUTCOME_UNKNOWN:
            line = f":warning: {text}"
            if watched:
                line += TEXT_UNKNOWN_WATCHING.format(plan=request.plan_name)
        else:
            line = f":x: {text}"
        await enqueue_post(
            session,
            key=f"{card_key(request.id)}:answer:{kind}",
            channel=_channel(request),
            message=Message(text=line),
            now=now,
            parent_key=card_key(request.id),
            broadcast=kind is OutcomeKind.OUTCOME_UNKNOWN,
        )

    async def held(self, session: AsyncSession, request: RequestView) -> None:
        await self.changed(session, request)
        text = TEXT_HELD.format(
            action=action_label(request.action),
            plan=request.plan_name,
            requester=mention(request.requester),
        )
        await enqueue_post(
            session,
            key=f"{card_key(request.id)}:held",
            channel=_channel(request),
            message=Message(text=text),
            now=self._clock.now(),
            parent_key=card_key(request.id),
            broadcast=True,
        )


def _channel(request: RequestView) -> str:
    return request.card_channel or request.channel


def _card(request: RequestView) -> Message:
    return approval_card_message(ApprovalCardView.from_request(request))
