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
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.approvals import messages as msg
from bot.approvals.execution import Execution
from bot.approvals.membership import GroupLookupError
from bot.approvals.outcomes import Outcome, OutcomeKind, Refusal, RequestView
from bot.approvals.policy import VERB_ACTIONS
from bot.approvals.ports import AuditEvent
from bot.approvals.rules import match_approvers
from bot.approvals.status import DecisionKind, RequestStatus
from bot.approvals.store import SYSTEM_ACTOR
from bot.approvals.tables import ActionRequest, Decision
from bot.approvals.views import (
    group_needs,
    groups_unavailable,
    hhmm,
    hours_text,
    needed_text,
    readiness_blocks,
    state_refusal,
    still_needed,
)
from bot.vro.actions import PlanAction, validate_params
from bot.vro.models import Plan


class ApprovalService(Execution):
    """Requests, decisions, expiry, exactly-once execution and the audit log."""

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
                self._audit(
                    session,
                    event=AuditEvent.REQUEST_REFUSED,
                    actor=requester,
                    plan_id=plan.id,
                    plan_name=plan.name,
                    verb=verb,
                    action=action,
                    refusal=str(code),
                    message=text,
                    channel=channel,
                    reason=reason,
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
                    session, event=AuditEvent.APPROVED, actor=requester, row=row, approvers=[], approvals=0
                )
            await session.flush()
            await self._hooks.created(session, await self._view_in(session, row.id))
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
        if not self._policy.channel_allowed(channel):
            return Refusal.CHANNEL, msg.CHANNEL_NOT_ALLOWED
        try:
            allowed = await self._policy.has_role(requester, rule.role, self._groups)
        except GroupLookupError as exc:
            return Refusal.GROUPS_UNAVAILABLE, groups_unavailable(exc, f"take a request to {verb}")
        if not allowed:
            return Refusal.ROLE, msg.ROLE_REQUIRED_TO_REQUEST.format(role=rule.role, verb=verb)
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

    # --- deciding ----------------------------------------------------------------------

    async def approve(self, request_id: str, user: str, *, execute: bool = True) -> Outcome:
        """Record ``user``'s approval; when it completes the quorum, execute the request.

        With ``execute=False`` the quorum's outcome is ``APPROVED`` and the caller sends it later
        with :meth:`execute_approved` (a click is recorded before it is acknowledged; the slow
        send comes after).
        """
        seen = await self.get(request_id)
        early = await self._decision_precheck(seen, user, DecisionKind.APPROVE)
        if early is not None:
            return early
        assert seen is not None
        try:
            roles = await self._group_roles(seen, user)
        except GroupLookupError as exc:
            return await self._groups_unavailable(seen, user, DecisionKind.APPROVE, exc)
        try:
            refused, quorum, needed = await self._record_approval(request_id, user, roles)
        except IntegrityError:  # the same user's concurrent click won the unique constraint
            return await self._refuse(
                request_id, seen, user, Refusal.ALREADY_DECIDED, msg.ALREADY_DECIDED, DecisionKind.APPROVE
            )
        if refused is not None:
            return refused
        if quorum:
            if not execute:
                return Outcome(
                    OutcomeKind.APPROVED,
                    msg.APPROVED_SENDING.format(verb=seen.verb, plan=seen.plan_name),
                    request=await self.get(request_id),
                )
            return await self._execute(request_id, actor=user)
        return Outcome(
            OutcomeKind.APPROVAL_RECORDED,
            msg.APPROVAL_RECORDED.format(verb=seen.verb, plan=seen.plan_name, needed=needed),
            request=await self.get(request_id),
        )

    async def _record_approval(
        self, request_id: str, user: str, roles: frozenset[str]
    ) -> tuple[Outcome | None, bool, str]:
        """Under the row lock: (refusal or None, whether the quorum is now met, what is still needed).

        With approvals from groups, the quorum is a complete matching of approvers to group
        slots (:func:`~bot.approvals.rules.match_approvers`, each person once), and an approval
        that fills no slot the others could not (every group the user holds is full) is refused
        with what is still missing, rather than recorded as if it counted.
        """
        async with self._sessions.begin() as session:
            row = await self._locked(session, request_id)
            assert row is not None  # rows are never deleted
            closed = self._closed(session, row, user, DecisionKind.APPROVE)
            if closed is not None:
                return closed, False, ""
            needs = group_needs(row)
            before = (await self._approvals(session, [request_id])).get(request_id, ())
            if await self._decision_of(session, request_id, user) is not None:
                refused = self._refuse_in(
                    session,
                    row,
                    user,
                    Refusal.ALREADY_DECIDED,
                    msg.ALREADY_APPROVED_BY_YOU.format(needed=still_needed(row, needs, before)),
                    DecisionKind.APPROVE,
                )
                return refused, False, ""
            if needs and match_approvers(needs, [*before, (user, roles)]).filled <= len(before):
                refused = self._refuse_in(
                    session,
                    row,
                    user,
                    Refusal.GROUP_FULL,
                    msg.GROUP_ALREADY_FILLED.format(
                        roles=", ".join(sorted(roles)), needed=match_approvers(needs, before).needed_text()
                    ),
                    DecisionKind.APPROVE,
                )
                return refused, False, ""
            now = self._clock.now()
            session.add(
                Decision(
                    request_id=request_id,
                    user_id=user,
                    decision=DecisionKind.APPROVE,
                    at=now,
                    roles=sorted(roles) if needs else None,
                )
            )
            await session.flush()
            count = await self._approval_count(session, request_id)
            after = [*before, (user, roles)]
            matching = match_approvers(needs, after) if needs else None
            self._audit(
                session,
                event=AuditEvent.APPROVAL,
                actor=user,
                row=row,
                approvals=count,
                approvals_required=row.approvals_required,
                roles=sorted(roles) if needs else None,
                groups_missing=matching.missing_text() or None if matching else None,
            )
            quorum = False
            if matching.complete if matching is not None else count >= row.approvals_required:
                quorum = await self._transition(
                    session,
                    request_id,
                    (RequestStatus.PENDING,),
                    status=RequestStatus.APPROVED,
                    decided_at=now,
                    decided_by=user,
                )
                if quorum:
                    approvers = await self._approvers(session, [request_id])
                    self._audit(
                        session,
                        event=AuditEvent.APPROVED,
                        actor=user,
                        row=row,
                        approvers=list(approvers.get(request_id, ())),
                        approvals=count,
                        groups={k: list(v) for k, v in matching.assigned.items()} if matching else None,
                    )
            await self._hooks.changed(session, await self._view_in(session, request_id))
            return None, quorum, still_needed(row, needs, after)

    async def deny(self, request_id: str, user: str) -> Outcome:
        """An approver's deny ends the request; the requester's own deny cancels it."""
        seen = await self.get(request_id)
        if seen is not None and user == seen.requester:
            return await self.cancel(request_id, user)
        early = await self._decision_precheck(seen, user, DecisionKind.DENY)
        if early is not None:
            return early
        assert seen is not None
        try:
            refused = await self._record_denial(request_id, user)
        except IntegrityError:  # the same user's concurrent click won the unique constraint
            return await self._refuse(
                request_id, seen, user, Refusal.ALREADY_DECIDED, msg.ALREADY_DECIDED, DecisionKind.DENY
            )
        if refused is not None:
            return refused
        return Outcome(
            OutcomeKind.DENIED,
            msg.DENIED.format(verb=seen.verb, plan=seen.plan_name),
            request=await self.get(request_id),
        )

    async def _record_denial(self, request_id: str, user: str) -> Outcome | None:
        """Under the row lock: the refusal, or ``None`` once the request is denied."""
        async with self._sessions.begin() as session:
            row = await self._locked(session, request_id)
            assert row is not None
            closed = self._closed(session, row, user, DecisionKind.DENY)
            if closed is not None:
                return closed
            if await self._decision_of(session, request_id, user) is not None:
                approvals = (await self._approvals(session, [request_id])).get(request_id, ())
                return self._refuse_in(
                    session,
                    row,
                    user,
                    Refusal.ALREADY_DECIDED,
                    msg.ALREADY_APPROVED_BY_YOU.format(needed=still_needed(row, group_needs(row), approvals)),
                    DecisionKind.DENY,
                )
            now = self._clock.now()
            session.add(Decision(request_id=request_id, user_id=user, decision=DecisionKind.DENY, at=now))
            await self._transition(
                session,
                request_id,
                (RequestStatus.PENDING,),
                status=RequestStatus.DENIED,
                decided_at=now,
                decided_by=user,
            )
            self._audit(session, event=AuditEvent.DENIED, actor=user, row=row)
            await self._hooks.changed(session, await self._view_in(session, request_id))
        return None

    async def withdraw(self, request_id: str, why: str) -> bool:
        """Cancel a pending request nobody can see (its card could not be posted); whether it was."""
        async with self._sessions.begin() as session:
            done = await self._transition(
                session,
                request_id,
                (RequestStatus.PENDING,),
                status=RequestStatus.CANCELLED,
                decided_at=self._clock.now(),
                decided_by=SYSTEM_ACTOR,
                status_reason=why,
            )
            if done:
                row = await session.get(ActionRequest, request_id)
                assert row is not None
                self._audit(session, event=AuditEvent.CANCELLED, actor=SYSTEM_ACTOR, row=row, cause=why)
        return done

    async def cancel(self, request_id: str, user: str) -> Outcome:
        """The requester withdraws their pending request."""
        seen = await self.get(request_id)
        if seen is None:
            return await self._refuse(request_id, None, user, Refusal.NOT_FOUND, msg.NOT_FOUND, "cancel")
        if user != seen.requester:
            return await self._refuse(
                request_id,
                seen,
                user,
                Refusal.NOT_REQUESTER,
                msg.NOT_YOUR_REQUEST.format(requester=seen.requester, role=seen.approver_role),
                "cancel",
            )
        async with self._sessions.begin() as session:
            row = await self._locked(session, request_id)
            assert row is not None
            closed = self._closed(session, row, user, "cancel")
            if closed is not None:
                return closed
            now = self._clock.now()
            await self._transition(
                session,
                request_id,
                (RequestStatus.PENDING,),
                status=RequestStatus.CANCELLED,
                decided_at=now,
                decided_by=user,
            )
            self._audit(session, event=AuditEvent.CANCELLED, actor=user, row=row)
            await self._hooks.changed(session, await self._view_in(session, request_id))
        return Outcome(
            OutcomeKind.CANCELLED,
            msg.CANCELLED.format(verb=seen.verb, plan=seen.plan_name),
            request=await self.get(request_id),
        )

    async def _decision_precheck(
        self, seen: RequestView | None, user: str, kind: DecisionKind
    ) -> Outcome | None:
        """Refusals that need no lock: unknown request, self-approval, closed, role (may do I/O)."""
        if seen is None:
            return await self._refuse(None, None, user, Refusal.NOT_FOUND, msg.NOT_FOUND, kind)
        if kind is DecisionKind.APPROVE and user == seen.requester:
            return await self._refuse(
                seen.id,
                seen,
                user,
                Refusal.SELF_APPROVAL,
                msg.SELF_APPROVAL.format(role=seen.approver_role),
                kind,
            )
        if seen.status is not RequestStatus.PENDING or seen.expires_at <= self._clock.now():
            return None  # the locked pass reports it (and records an expiry)
        if not self._policy.channel_allowed(seen.card_channel or seen.channel):
            # The card's channel as stored, never the channel a click reports.
            return await self._refuse(seen.id, seen, user, Refusal.CHANNEL, msg.CHANNEL_NOT_ALLOWED, kind)
        try:
            if seen.approval_groups:
                allowed = bool(await self._group_roles(seen, user))
            else:
                allowed = await self._policy.has_role(user, seen.approver_role, self._groups)
        except GroupLookupError as exc:
            return await self._groups_unavailable(seen, user, kind, exc)
        if not allowed:
            return await self._refuse(
                seen.id,
                seen,
                user,
                Refusal.APPROVER_ROLE,
                msg.APPROVER_GROUPS_REQUIRED.format(roles=", ".join(g.role for g in seen.approval_groups))
                if seen.approval_groups
                else msg.APPROVER_ROLE_REQUIRED.format(role=seen.approver_role),
                kind,
            )
        return None

    def _closed(self, session: AsyncSession, row: ActionRequest, user: str, kind: str) -> Outcome | None:
        """The refusal for a request that no longer takes decisions; expires it when due."""
        status = RequestStatus(row.status)
        if status is RequestStatus.PENDING:
            if row.expires_at > self._clock.now():
                return None
            # Expire now (in this transaction) rather than wait for the expiry loop.
            row.status = RequestStatus.EXPIRED
            row.decided_at = self._clock.now()
            self._audit(session, event=AuditEvent.EXPIRED, actor=SYSTEM_ACTOR, row=row)
            status = RequestStatus.EXPIRED
        text = {
            RequestStatus.EXPIRED: msg.CLOSED_EXPIRED.format(expires=hhmm(row)),
            RequestStatus.DENIED: msg.CLOSED_DENIED.format(user=row.decided_by),
            RequestStatus.CANCELLED: msg.CLOSED_CANCELLED.format(user=row.decided_by),
            RequestStatus.APPROVED: msg.CLOSED_IN_PROGRESS,
            RequestStatus.EXECUTING: msg.CLOSED_IN_PROGRESS,
            RequestStatus.EXECUTED: msg.CLOSED_EXECUTED,
            RequestStatus.FAILED: msg.CLOSED_FAILED,
            RequestStatus.OUTCOME_UNKNOWN: msg.CLOSED_OUTCOME_UNKNOWN,
        }[status]
        code = Refusal.EXPIRED if status is RequestStatus.EXPIRED else Refusal.CLOSED
        return self._refuse_in(session, row, user, code, text, kind)

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

    # --- expiry and recovery ---------------------------------------------------------------

    # --- execution -----------------------------------------------------------------------

    # --- reading ---------------------------------------------------------------------------

    # --- helpers -----------------------------------------------------------------------------
