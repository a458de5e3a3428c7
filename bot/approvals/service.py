"""The approval service: request -> approve / deny / cancel / expire -> execute once -> outcome.

Each state change is one short transaction that also writes its audit line, so the store and
the audit log never disagree. The rules:

- Requesting needs the verb's role, an allowed channel, a reason where the policy asks for one,
  valid parameters, and a plan state from which VRO accepts the action.
- Approving needs the approver role *at click time*; the requester never approves; each user
  decides once (a unique constraint backs this); the request must be pending and unexpired.
- One deny from an approver ends the request whatever the quorum; the requester's deny is a
  cancel.
- When the quorum is met the request becomes ``approved``; it is then *claimed* with a
  conditional ``UPDATE ... SET status='executing' WHERE id=:id AND status='approved'``, and only
  the caller whose update touched the row sends anything. That holds across processes and
  replicas on PostgreSQL (row locks) and SQLite (``BEGIN IMMEDIATE``, see ``bot.db``).
- Just before sending, the plan is read again from VRO and checked with ``bot.vro.plan_states``.
- Sending is leased: the sender first takes a short claim on the approved request
  (``claimed_until``, renewed by :meth:`ApprovalService.heartbeat` while the send is in flight),
  reads the plan and its RuntimeDetails (the baseline), then claims it for good in ONE
  transaction that also opens the watch (:class:`RequestHooks`). VRO's answer is written with
  the watch's activation (or closing) and the card's redraw, again in one transaction.
- A network failure while sending leaves the outcome unknown: the request is marked so and is
  never resent. A request still ``executing`` whose claim lapsed (its process died mid-send) is
  found by :meth:`ApprovalService.reconcile_unknown` within seconds and reported; an approved
  request whose sender died before sending is *held*: the channel is told, and only a Send click
  (:meth:`ApprovalService.send_held`, which checks everything again) sends it.

Nothing here trusts a button's value beyond the opaque request id: everything else is read
from the database.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.approvals import messages as msg
from bot.approvals.decisions import Decisions
from bot.approvals.membership import GroupLookupError
from bot.approvals.outcomes import Outcome, OutcomeKind, Refusal
from bot.approvals.policy import VERB_ACTIONS
from bot.approvals.ports import AuditEvent
from bot.approvals.status import RequestStatus
from bot.approvals.tables import ActionRequest
from bot.approvals.views import (
    groups_unavailable,
    hours_text,
    needed_text,
    readiness_blocks,
    state_refusal,
)
from bot.db import serialize_on
from bot.vro.actions import PlanAction, validate_params
from bot.vro.models import Plan


class _Refused(NamedTuple):
    """Who asked for what, where and why: what a refused request's audit line records."""

    requester: str
    plan: Plan
    verb: str
    action: str
    channel: str
    reason: str | None


class ApprovalService(Decisions):
    """Requests, decisions, expiry, exactly-once execution and the audit log.

    Requesting is here; deciding in :class:`~bot.approvals.decisions.Decisions`; claiming,
    sending once, expiry and recovery in :class:`~bot.approvals.execution.Execution`; reading and
    the audit log in :class:`~bot.approvals.store.RequestStore`.
    """

    # --- requesting --------------------------------------------------------------------

    async def request(
        self,
        *,
        requester: str,
        verb: str,
        action: PlanAction | str,
        plan: Plan,
        params: Mapping[str, Any],
        reason: str | None,
        channel: str,
        param_names: Mapping[str, str] | None = None,
    ) -> Outcome:
        """Ask to run ``action`` (the VRO operation behind ``verb``) on ``plan``.

        ``plan`` is the plan as just read from VRO (its name and state are kept as a snapshot);
        ``param_names`` the names the person typed for ids in ``params`` (kept for the card).
        Returns ``PENDING``, or, when the policy asks for no approval, the execution's outcome,
        or ``REFUSED`` with the reason.
        """
        action = str(action)
        if action not in VERB_ACTIONS.get(verb, frozenset()):
            raise ValueError(f"{action!r} is not an action of the verb {verb!r}")
        rule = self._policy.rule(verb)
        reason = (reason or "").strip() or None
        refused = _Refused(requester, plan, verb, action, channel, reason)
        refusal = await self._request_refusal(requester, verb, action, plan, params, reason, channel)
        verdict = self._readiness(rule, plan)
        if refusal is None and verdict is not None and readiness_blocks(rule, verdict):
            assert rule.require_check is not None
            limit = hours_text(rule.require_check)
            text = msg.READINESS_REFUSED.format(
                problem=verdict.describe(), verb=verb, plan=plan.name, limit=limit
            )
            refusal = Refusal.READINESS, text
        warning = verdict.describe() if verdict is not None and not verdict.ok and refusal is None else None
        if refusal is not None:
            code, text = refusal
            async with self._sessions.begin() as session:
                self._audit_refused(
                    session,
                    refused,
                    code,
                    text,
                    **(verdict.audit() if verdict is not None and code is Refusal.READINESS else {}),
                )
            return Outcome(OutcomeKind.REFUSED, text, refusal=code)

        now = self._clock.now()
        immediate = rule.approvals == 0
        row = ActionRequest(
            id=secrets.token_urlsafe(12),
            requester=requester,
            verb=verb,
            action=action,
            plan_id=plan.id,
            plan_name=plan.name,
            plan_state=plan.state or "",
            params=dict(params),
            reason=reason,
            channel=channel,
            status=RequestStatus.APPROVED if immediate else RequestStatus.PENDING,
            approvals_required=rule.approvals,
            approver_role=rule.approver_role,
            created_at=now,
            expires_at=now + rule.ttl,
            decided_at=now if immediate else None,
            decided_by=requester if immediate else None,
            approval_groups=[{"role": g.role, "count": g.count} for g in rule.groups] or None,
            readiness_warning=warning,
            param_names=dict(param_names or {}),
            card_channel=channel,
        )
        async with self._sessions.begin() as session:
            # One waiting request per plan and action: a second one (two people typing the same
            # command, a double click on Continue) would only make a second card to approve.
            waiting = None
            if not immediate:  # an immediate request goes straight to VRO: no card to double
                await serialize_on(session, f"request:{plan.id}:{action}")
                waiting = await self._waiting(session, plan.id, action, now)
            if waiting is not None:
                duplicate = msg.DUPLICATE_REQUEST.format(
                    verb=verb,
                    plan=plan.name,
                    requester=waiting.requester,
                    asked=waiting.created_at.astimezone(UTC).strftime("%H:%M UTC"),
                    request_id=waiting.id,
                )
                self._audit_refused(
                    session,
                    refused,
                    Refusal.DUPLICATE,
                    duplicate,
                    waiting_request=waiting.id,
                )
            else:
                session.add(row)
                self._audit(
                    session,
                    event=AuditEvent.REQUESTED,
                    actor=requester,
                    row=row,
                    verb=verb,
                    action=action,
                    params=dict(params),
                    reason=reason,
                    channel=channel,
                    plan_state=plan.state,
                    approvals_required=rule.approvals,
                    approver_role=rule.approver_role,
                    approval_groups=row.approval_groups,
                    expires_at=row.expires_at.isoformat(),
                    readiness_warning=warning,
                    **(verdict.audit() if verdict is not None else {}),
                )
                if immediate:
                    self._audit(
                        session,
                        event=AuditEvent.APPROVED,
                        actor=requester,
                        row=row,
                        approvers=[],
                        approvals=0,
                    )
                await session.flush()
                await self._hooks.created(session, await self._view_in(session, row.id))
        if waiting is not None:
            return Outcome(OutcomeKind.REFUSED, duplicate, refusal=Refusal.DUPLICATE)
        if immediate:
            return await self._execute(row.id, actor=requester)
        view = await self.get(row.id)
        assert view is not None
        if view.approval_groups:
            text = msg.REQUEST_PENDING_GROUPS.format(
                verb=verb, plan=plan.name, needed=needed_text(view), ttl_minutes=rule.ttl_minutes
            )
        else:
            text = msg.REQUEST_PENDING.format(
                verb=verb,
                plan=plan.name,
                needed=needed_text(view),
                role=rule.approver_role,
                ttl_minutes=rule.ttl_minutes,
            )
        if warning is not None:
            text += " " + msg.READINESS_WARNING.format(problem=warning)
        return Outcome(OutcomeKind.PENDING, text, request=view)

    def _audit_refused(
        self, session: AsyncSession, refused: _Refused, code: Refusal, text: str, **detail: Any
    ) -> None:
        """The audit line of a request refused before it was stored."""
        self._audit(
            session,
            event=AuditEvent.REQUEST_REFUSED,
            actor=refused.requester,
            plan_id=refused.plan.id,
            plan_name=refused.plan.name,
            verb=refused.verb,
            action=refused.action,
            refusal=str(code),
            message=text,
            channel=refused.channel,
            reason=refused.reason,
            **detail,
        )

    @staticmethod
    async def _waiting(
        session: AsyncSession, plan_id: str, action: str, now: datetime
    ) -> ActionRequest | None:
        """The request for ``action`` on ``plan_id`` waiting for approval now, if there is one."""
        found: ActionRequest | None = await session.scalar(
            select(ActionRequest)
            .where(
                ActionRequest.plan_id == plan_id,
                ActionRequest.action == action,
                ActionRequest.status == RequestStatus.PENDING,
                ActionRequest.expires_at > now,
            )
            .order_by(ActionRequest.created_at)
            .limit(1)
        )
        return found

    async def _request_refusal(
        self,
        requester: str,
        verb: str,
        action: str,
        plan: Plan,
        params: Mapping[str, Any],
        reason: str | None,
        channel: str,
    ) -> tuple[Refusal, str] | None:
        rule = self._policy.rule(verb)
        refused = await self._requester_refusal(requester, verb, channel)
        if refused is not None:
            return refused
        if rule.reason_required and reason is None:
            return Refusal.REASON, msg.REASON_REQUIRED.format(verb=verb.capitalize())
        try:
            validate_params(action, params)
        except ValueError as exc:
            return Refusal.PARAMS, msg.BAD_PARAMS.format(problem=str(exc).rstrip("."))
        why = state_refusal(plan, action)
        if why is not None:
            return Refusal.PLAN_STATE, msg.PLAN_STATE_REFUSED.format(reason=why)
        return None

    async def _requester_refusal(self, requester: str, verb: str, channel: str) -> tuple[Refusal, str] | None:
        """Whether ``requester`` may ask for ``verb`` in ``channel`` at all: the channel, the verb's role."""
        rule = self._policy.rule(verb)
        if not self._policy.channel_allowed(channel):
            return Refusal.CHANNEL, msg.CHANNEL_NOT_ALLOWED
        try:
            allowed = await self._policy.has_role(requester, rule.role, self._groups)
        except GroupLookupError as exc:
            return Refusal.GROUPS_UNAVAILABLE, groups_unavailable(exc, f"take a request to {verb}")
        if not allowed:
            return Refusal.ROLE, msg.ROLE_REQUIRED_TO_REQUEST.format(role=rule.role, verb=verb)
        return None

    async def refuse_requester(
        self, requester: str, verb: str, channel: str, *, surface: str, **detail: Any
    ) -> Outcome | None:
        """The (audited) refusal of someone who may not ask for ``verb`` here, or ``None``.

        For callers to ask before they look anything up in VRO: someone without the verb's role
        must not learn plan or location names from "did you mean" answers.
        :meth:`request` checks the same again.
        """
        refused = await self._requester_refusal(requester, verb, channel)
        if refused is None:
            return None
        code, text = refused
        await self.record_refusal(
            actor=requester, surface=surface, refusal=code, message=text, verb=verb, channel=channel, **detail
        )
        return Outcome(OutcomeKind.REFUSED, text, refusal=code)

    async def record_refusal(
        self,
        *,
        actor: str,
        surface: str,
        refusal: Refusal,
        message: str,
        actor_team: str | None = None,
        **detail: Any,
    ) -> None:
        """Audit a refusal made outside the service's own rules (a read, a form, another workspace).

        ``actor_team`` is the team the refused request came from, when it is not the bot's own.
        """
        async with self._sessions.begin() as session:
            self._audit(
                session,
                event=AuditEvent.ACCESS_REFUSED,
                actor=actor,
                actor_team=actor_team,
                surface=surface,
                refusal=str(refusal),
                message=message,
                **detail,
            )
