"""The approval card (its status line, buttons and parameters in words).

The list of pending requests and the audit log are in :mod:`bot.slack.blocks.approval_lists`.

The card's buttons carry only the request id (DESIGN §3: nothing else in a button value is
trusted); everything shown comes from :class:`ApprovalCardView`, which the listener builds from
the approval store (:meth:`ApprovalCardView.from_request` takes the store's request view as is).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Protocol

from bot.approvals.status import RequestStatus
from bot.slack.blocks.kit import (
    FALLBACK_TEXT_LIMIT,
    ActionId,
    Block,
    Message,
    actions,
    button,
    clip,
    confirm,
    context,
    esc,
    plan_action_id,
    plural,
    request_phrase,
    section,
    verb_title,
    when,
)
from bot.slack.grammar import VERBS, format_time, match_choice

MAX_REASON_SHOWN: Final = 1000
MAX_VRO_MESSAGE: Final = 1000

_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")


class RequestLike(Protocol):
    """What :meth:`ApprovalCardView.from_request` reads (``bot.approvals.outcomes.RequestView`` fits)."""

    @property
    def id(self) -> str: ...
    @property
    def requester(self) -> str: ...
    @property
    def verb(self) -> str: ...
    @property
    def plan_id(self) -> str: ...
    @property
    def plan_name(self) -> str: ...
    @property
    def plan_state(self) -> str: ...
    @property
    def params(self) -> Mapping[str, Any]: ...
    @property
    def reason(self) -> str | None: ...
    @property
    def status(self) -> str: ...
    @property
    def approvals_required(self) -> int: ...
    @property
    def approver_role(self) -> str: ...
    @property
    def approvers(self) -> tuple[str, ...]: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def expires_at(self) -> datetime: ...
    @property
    def decided_at(self) -> datetime | None: ...
    @property
    def decided_by(self) -> str | None: ...
    @property
    def executed_at(self) -> datetime | None: ...
    @property
    def vro_status(self) -> int | None: ...
    @property
    def vro_message(self) -> str | None: ...
    @property
    def status_reason(self) -> str | None: ...
    @property
    def card_channel(self) -> str | None: ...
    @property
    def approval_groups(self) -> Sequence[GroupLike]: ...
    @property
    def groups_assigned(self) -> Mapping[str, tuple[str, ...]]: ...
    @property
    def groups_needed(self) -> str: ...
    @property
    def readiness_warning(self) -> str | None: ...
    @property
    def held(self) -> bool: ...
    @property
    def param_names(self) -> Mapping[str, str]: ...


class GroupLike(Protocol):
    """One group of ``approvals: {all_of: [...]}`` (``bot.approvals.rules.GroupNeed`` fits)."""

    @property
    def role(self) -> str: ...
    @property
    def count(self) -> int: ...


@dataclass(frozen=True)
class ApprovalCardView:
    """Everything an approval card shows. ``param_names`` maps ids in ``params`` to names."""

    request_id: str
    requester: str
    verb: str
    plan_id: str
    plan_name: str
    plan_state: str
    status: RequestStatus
    approvals_required: int
    expires_at: datetime
    approvers: tuple[str, ...] = ()
    params: Mapping[str, Any] = field(default_factory=dict)
    reason: str | None = None
    approver_role: str | None = None
    created_at: datetime | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None
    executed_at: datetime | None = None
    vro_status: int | None = None
    vro_message: str | None = None
    status_reason: str | None = None
    card_channel: str | None = None
    param_names: Mapping[str, str] = field(default_factory=dict)
    # approvals from distinct groups: (role, count, who fills it), and what is still needed
    groups: tuple[tuple[str, int, tuple[str, ...]], ...] = ()
    groups_needed: str = ""
    # require_check in warn mode: why readiness was not proven when the request was made
    readiness_warning: str | None = None
    held: bool = False  # approved, never sent (its sender stopped): offers Send

    @classmethod
    def from_request(
        cls,
        request: RequestLike,
        *,
        plan_state: str | None = None,
        param_names: Mapping[str, str] | None = None,
    ) -> ApprovalCardView:
        """Build from the approval store's view; ``plan_state`` overrides the state at request time."""
        return cls(
            request_id=request.id,
            requester=request.requester,
            verb=request.verb,
            plan_id=request.plan_id,
            plan_name=request.plan_name,
            plan_state=plan_state or request.plan_state,
            status=RequestStatus(str(request.status)),
            approvals_required=request.approvals_required,
            expires_at=request.expires_at,
            approvers=tuple(request.approvers),
            params=dict(request.params),
            reason=request.reason,
            approver_role=request.approver_role,
            created_at=request.created_at,
            decided_by=request.decided_by,
            decided_at=request.decided_at,
            executed_at=request.executed_at,
            vro_status=request.vro_status,
            vro_message=request.vro_message,
            status_reason=request.status_reason,
            card_channel=request.card_channel,
            param_names=dict(param_names if param_names is not None else request.param_names),
            held=request.held,
            groups=tuple(
                (g.role, g.count, tuple(request.groups_assigned.get(g.role, ())))
                for g in request.approval_groups
            ),
            groups_needed=request.groups_needed,
            readiness_warning=request.readiness_warning,
        )

    @property
    def destructive(self) -> bool:
        spec = VERBS.get(self.verb)
        return spec.destructive if spec else True

    @property
    def approvals_missing(self) -> int:
        if self.groups:
            return sum(max(0, count - len(users)) for _, count, users in self.groups)
        return max(0, self.approvals_required - len(self.approvers))

    @property
    def is_open(self) -> bool:
        return self.status is RequestStatus.PENDING


def mention(user: str | None) -> str:
    """``<@U123>`` for a Slack user id; other actors (``system``, a process name) as text."""
    if not user:
        return "someone"
    return f"<@{user}>" if _USER_ID.match(user) else esc(user)


def _mentions(users: Sequence[str]) -> str:
    return ", ".join(mention(u) for u in users) if users else "nobody yet"


# --- parameters in words ------------------------------------------------------------------------

_PARAM_LABELS: Final = {
    "full_stop": "also stop chained plans",
    "restore_point_date": "restore point",
    "execute_chained_plans": "run chained plans",
    "restore_location_id": "location",
    "failback_restore_vm_tags": "restore VM tags",
    "execute_readiness_check": "readiness check after",
    "generate_dr_report": "generate the plan report",
    "generate_report": "generate the report",
    "option": "continue by",
    "start_time": "at",
    "previous_plan_id": "after",
    "name": "new name",
}


def describe_params(
    verb: str, params: Mapping[str, Any], names: Mapping[str, str] | None = None
) -> list[str]:
    """``["restore point: 2026-11-27 10:00 UTC", "run chained plans"]`` for a card or a log line."""
    names = names or {}
    spec = VERBS.get(verb)
    choices = [c for form in spec.forms for a in form.args for c in a.choices] if spec else []
    out: list[str] = []
    for key, value in params.items():
        label = _PARAM_LABELS.get(key, key.replace("_", " "))
        if isinstance(value, bool):
            out.append(label if value else f"{label}: no")
            continue
        text = str(value)
        if key in {"restore_point_date", "start_time"}:
            with contextlib.suppress(ValueError):
                text = format_time(datetime.fromisoformat(text))
        elif key == "option":
            choice = match_choice(text, choices)
            text = choice.label if choice else text
        elif key in {"restore_location_id", "previous_plan_id"}:
            text = names.get(text, text)
        out.append(f"{label}: {text}")
    return out


# --- the card ---------------------------------------------------------------------------------


def _status_line(view: ApprovalCardView) -> str:
    status = view.status
    if status is RequestStatus.PENDING:
        if view.groups:
            waiting = esc(view.groups_needed or "approvals")
            return f":hourglass_flowing_sand: Waiting for {waiting} · expires {when(view.expires_at)}"
        missing = view.approvals_missing
        return f":hourglass_flowing_sand: Waiting for {plural(missing, 'more approval')} · expires {when(view.expires_at)}"
    if status is RequestStatus.APPROVED and view.held:
        return (
            f":pause_button: Approved by {_mentions(view.approvers)} but *not sent*: the bot stopped before "
            "sending it. It will not be sent on its own. Send checks the plan, the policy and the approvals again."
        )
    if status in {RequestStatus.APPROVED, RequestStatus.EXECUTING}:
        return f":gear: Approved by {_mentions(view.approvers)}. Sending to VRO…"
    if status is RequestStatus.EXECUTED:
        answer = f" VRO said: {esc(clip(view.vro_message, MAX_VRO_MESSAGE))}" if view.vro_message else ""
        code = f" (HTTP {view.vro_status})" if view.vro_status else ""
        return f":white_check_mark: Done: VRO accepted it {when(view.executed_at, fallback='just now')}{code}.{answer}"
    if status is RequestStatus.FAILED:
        why = view.status_reason or view.vro_message or "VRO did not accept it"
        code = f" (HTTP {view.vro_status})" if view.vro_status else ""
        return f":x: Not done{code}: {esc(clip(why, MAX_VRO_MESSAGE))}"
    if status is RequestStatus.DENIED:
        return (
            f":no_entry: Denied by {mention(view.decided_by)} {when(view.decided_at, fallback='')}".rstrip()
            + "."
        )
    if status is RequestStatus.CANCELLED:
        return f":leftwards_arrow_with_hook: Cancelled by {mention(view.decided_by or view.requester)}."
    if status is RequestStatus.EXPIRED:
        got = f"{len(view.approvers)} of {view.approvals_required}"
        return f":hourglass: Expired {when(view.expires_at)} with {got} approvals. Ask again if it is still needed."
    return (
        ":grey_question: Outcome unknown: the request was sent but VRO's answer was lost. "
        f"Check `/vro status {esc(view.plan_name)}` before trying again; it will not be resent on its own."
    )


def decision_buttons(view: ApprovalCardView, *, block_id: str) -> Block:
    """Approve (with a confirm dialog for destructive verbs) and Deny; each value is the request id only."""
    what = verb_title(view.verb).lower()
    approve_confirm = None
    if view.destructive:
        approve_confirm = confirm(
            f"Approve {what}?",
            clip(
                f"This will {request_phrase(view.verb, view.plan_name, mrkdwn=False)} "
                f"(now {view.plan_state}) as soon as the approvals are in.",
                300,
            ),
            ok=f"Approve {what}",
        )
    return actions(
        [
            button(
                "Approve", ActionId.APPROVE, view.request_id, style="primary", confirm_dialog=approve_confirm
            ),
            button("Deny", ActionId.DENY, view.request_id, style="danger"),
        ],
        block_id=block_id,
    )


def send_button(view: ApprovalCardView, *, block_id: str) -> Block:
    """Send, for a held request; its value is the request id only, and it asks to confirm."""
    what = verb_title(view.verb).lower()
    dialog = confirm(
        f"Send {what} now?",
        clip(f"I check {view.plan_name}'s state, the policy and the approvals again, then send {what}.", 300),
        ok=f"Send {what}",
    )
    return actions(
        [button("Send", ActionId.SEND, view.request_id, style="primary", confirm_dialog=dialog)],
        block_id=block_id,
    )


def approval_card_message(view: ApprovalCardView) -> Message:
    """The card posted in the channel for an action request, in any of its states.

    Only a pending card has buttons: ``vro_approve`` (with a confirm dialog for destructive verbs)
    and ``vro_deny``, both with the request id as their whole value.
    """
    what = verb_title(view.verb).lower()
    lead = ":rotating_light:" if view.destructive else ":large_blue_circle:"
    intro = (
        f"{lead} {mention(view.requester)} asks to {request_phrase(view.verb, view.plan_name)} "
        f"(now *{esc(view.plan_state)}*)."
    )
    if view.reason:
        intro += f"\n*Reason:* {esc(clip(view.reason, MAX_REASON_SHOWN))}"
    options = describe_params(view.verb, view.params, view.param_names)
    needed = f"{len(view.approvers)} of {view.approvals_required}"
    role = f" from *{esc(view.approver_role)}*" if view.approver_role else ""
    approvals = (
        f"*Approvals*\n{needed}{role}: {_mentions(view.approvers)}"
        if view.approvals_required
        else "*Approvals*\nnone needed (policy)"
    )
    if view.groups:
        approvals = "*Approvals* (one person counts once)\n" + "\n".join(_group_line(g) for g in view.groups)
    fields = [
        f"*Options*\n{esc(', '.join(options)) if options else 'defaults'}",
        approvals,
        f"*Expires*\n{when(view.expires_at)}" if view.approvals_required else "*Expires*\n—",
        f"*Request*\n`{esc(view.request_id)}`",
    ]
    blocks: list[Block] = [section(intro, fields=fields, block_id=f"approval:{view.request_id}")]
    if view.readiness_warning and view.is_open:
        blocks.append(
            section(
                f":warning: *Readiness not proven.* {esc(view.readiness_warning)} "
                "Approving runs it anyway; a passed readiness check first is safer.",
                block_id=f"readiness:{view.request_id}",
            )
        )
    blocks.append(context(_status_line(view)))
    if view.is_open:
        # a new block id per count of approvals, so Slack redraws the buttons on update
        buttons = decision_buttons(view, block_id=f"decide:{view.request_id}:{len(view.approvers)}")
        if view.readiness_warning:
            buttons["elements"].append(readiness_button(view.plan_id))
        blocks.append(buttons)
    elif view.status is RequestStatus.APPROVED and view.held:
        blocks.append(send_button(view, block_id=f"send:{view.request_id}"))
    status_word = view.status.value.replace("_", " ")
    text = f"{what.capitalize()} of {view.plan_name} requested by {mention(view.requester)}: {status_word}"
    return Message(clip(text, FALLBACK_TEXT_LIMIT), blocks)


def _group_line(group: tuple[str, int, tuple[str, ...]]) -> str:
    role, count, users = group
    mark = ":white_check_mark:" if len(users) >= count else ":hourglass_flowing_sand:"
    return f"{mark} *{esc(role)}* {len(users)} of {count}: {_mentions(users)}"


RUN_CHECK_LABEL: Final = "Run readiness check now"


def readiness_button(plan_id: str) -> Block:
    """``vro_action:check`` with the plan id: a readiness check request of its own, under the policy."""
    return button(RUN_CHECK_LABEL, plan_action_id("check"), plan_id)


def readiness_refusal_message(text: str, *, plan_id: str) -> Message:
    """The answer to a request the readiness gate refused, with the button that runs the check."""
    return Message(
        clip(text, FALLBACK_TEXT_LIMIT),
        [section(f":no_entry: {esc(text)}"), actions([readiness_button(plan_id)], block_id="readiness")],
    )
