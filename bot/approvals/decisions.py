"""Deciding on a request: approve (quorum, groups), deny, cancel, withdraw, each under the row
lock and with its audit line; the refusals of a decision that cannot count (unknown request,
self-approval, closed or expired, channel, approver role, already decided, group full).

The rules are stated in :mod:`bot.approvals.service`, whose service these are part of.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.approvals import messages as msg
from bot.approvals.execution import Execution
from bot.approvals.membership import GroupLookupError
from bot.approvals.outcomes import Outcome, OutcomeKind, Refusal, RequestView
from bot.approvals.ports import AuditEvent
from bot.approvals.rules import match_approvers
from bot.approvals.status import DecisionKind, RequestStatus
from bot.approvals.store import SYSTEM_ACTOR
from bot.approvals.tables import ActionRequest, Decision
from bot.approvals.views import group_needs, hhmm, still_needed


class Decisions(Execution):
    """Approvals, denials, cancels and withdrawals of pending requests."""

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
            closed = await self._closed(session, row, user, DecisionKind.APPROVE)
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
            closed = await self._closed(session, row, user, DecisionKind.DENY)
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
            await self._close_pending(session, row, user, RequestStatus.DENIED, AuditEvent.DENIED, now)
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
                self._system_audit(session, row, AuditEvent.CANCELLED, cause=why)
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
            closed = await self._closed(session, row, user, "cancel")
            if closed is not None:
                return closed
            await self._close_pending(
                session, row, user, RequestStatus.CANCELLED, AuditEvent.CANCELLED, self._clock.now()
            )
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

    async def _close_pending(
        self,
        session: AsyncSession,
        row: ActionRequest,
        user: str,
        status: RequestStatus,
        event: str,
        now: datetime,
    ) -> None:
        """``user`` closes a pending request (denied, cancelled): the transition, its audit line, the hooks."""
        await self._transition(
            session, row.id, (RequestStatus.PENDING,), status=status, decided_at=now, decided_by=user
        )
        self._audit(session, event=event, actor=user, row=row)
        await self._hooks.changed(session, await self._view_in(session, row.id))

    async def _closed(
        self, session: AsyncSession, row: ActionRequest, user: str, kind: str
    ) -> Outcome | None:
        """The refusal for a request that no longer takes decisions; expires it when due.

        Expiring here (a click between the deadline and the sweep) redraws the card, as the
        sweep would: the sweep never sees the request again, so otherwise the card would show
        it pending, with live buttons, for good.
        """
        status = RequestStatus(row.status)
        if status is RequestStatus.PENDING:
            if row.expires_at > self._clock.now():
                return None
            # Expire now (in this transaction) rather than wait for the expiry loop.
            row.status = RequestStatus.EXPIRED
            row.decided_at = self._clock.now()
            self._system_audit(session, row, AuditEvent.EXPIRED)
            await self._hooks.changed(session, await self._view_in(session, row.id))
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
