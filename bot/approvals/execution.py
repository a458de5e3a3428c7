"""Execution: an approved request is claimed, sent to VRO once, and its answer written; expiry,
held requests and the recovery of sends a crash interrupted."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, and_, false, or_, select, update

from bot.approvals import messages as msg
from bot.approvals.outcomes import Outcome, OutcomeKind, Refusal, RequestView
from bot.approvals.ports import AuditEvent
from bot.approvals.rules import match_approvers
from bot.approvals.status import RequestStatus
from bot.approvals.store import RequestStore
from bot.approvals.tables import ActionRequest
from bot.approvals.views import readiness_blocks, state_refusal
from bot.vro.actions import PlanAction
from bot.vro.errors import VroError, VroNotAvailable, VroOutcomeUnknown

log = logging.getLogger(__name__)


class Execution(RequestStore):
    """Claiming, sending once, finishing; expiry and recovery."""

    async def expire_due(self) -> list[RequestView]:
        """Expire every pending request past its time; returns them (to update their cards)."""
        now = self._clock.now()
        async with self._sessions.begin() as session:
            due = (
                await session.scalars(
                    select(ActionRequest.id).where(
                        ActionRequest.status == RequestStatus.PENDING, ActionRequest.expires_at <= now
                    )
                )
            ).all()
            expired: list[str] = []
            for request_id in due:
                if await self._transition(
                    session,
                    request_id,
                    (RequestStatus.PENDING,),
                    status=RequestStatus.EXPIRED,
                    decided_at=now,
                ):
                    row = await session.get(ActionRequest, request_id)
                    assert row is not None
                    self._system_audit(session, row, AuditEvent.EXPIRED)
                    await self._hooks.changed(session, await self._view_in(session, request_id))
                    expired.append(request_id)
        return await self._views(expired)

    async def reconcile_unknown(self, *, older_than: timedelta | None = None) -> list[RequestView]:
        """Settle requests left mid-way by a process that stopped; call at start-up and every few seconds.

        A request still ``executing`` whose claim lapsed (``claimed_until`` passed: nobody renews
        it; or, for a claim without one, older than ``older_than`` / the claim timeout) may or
        may not have reached VRO: it becomes ``outcome_unknown``, is audited and reported, and is
        never resent; its watch keeps following the plan and says what VRO shows. A request
        ``approved`` whose sender stopped before sending (claim lapsed, or never claimed within
        the claim TTL) is *held*: certainly not sent, the channel is told, and only a Send click
        sends it (never a surprise send). Returns every request it changed.
        """
        now = self._clock.now()
        cutoff = now - (self._claim_timeout if older_than is None else older_than)
        unknown: list[str] = []
        held: list[str] = []
        async with self._sessions.begin() as session:
            stuck = (
                await session.scalars(
                    select(ActionRequest).where(
                        ActionRequest.status == RequestStatus.EXECUTING,
                        or_(
                            ActionRequest.claimed_until < now,
                            and_(ActionRequest.claimed_until.is_(None), ActionRequest.claimed_at <= cutoff),
                            ActionRequest.claimed_at <= cutoff if older_than is not None else false(),
                        ),
                    )
                )
            ).all()
            for row in stuck:
                text = msg.OUTCOME_UNKNOWN_AFTER_RESTART.format(
                    verb=row.verb, plan=row.plan_name, plan_id=row.plan_id
                )
                if row.id in self._sending and older_than is None:
                    continue  # this process is sending it right now (a slow event loop)
                if await self._transition(
                    session,
                    row.id,
                    (RequestStatus.EXECUTING,),
                    status=RequestStatus.OUTCOME_UNKNOWN,
                    status_reason=text,
                    claimed_until=None,
                ):
                    self._system_audit(
                        session,
                        row,
                        AuditEvent.OUTCOME_UNKNOWN,
                        cause="found executing after its sender stopped",
                        claimed_by=row.claimed_by,
                    )
                    view = await self._view_in(session, row.id)
                    await self._hooks.answered(session, view, OutcomeKind.OUTCOME_UNKNOWN, text)
                    unknown.append(row.id)
            ttl_cutoff = now - (self._claim_ttl if older_than is None else older_than)
            idle = (
                await session.scalars(
                    select(ActionRequest).where(
                        ActionRequest.status == RequestStatus.APPROVED,
                        ActionRequest.held_at.is_(None),
                        or_(
                            ActionRequest.claimed_until < now,
                            and_(
                                ActionRequest.claimed_until.is_(None),
                                ActionRequest.decided_at <= ttl_cutoff,
                            ),
                        ),
                    )
                )
            ).all()
            for row in idle:
                if row.id in self._sending and older_than is None:
                    continue
                if await self._transition(
                    session,
                    row.id,
                    (RequestStatus.APPROVED,),
                    ActionRequest.held_at.is_(None),
                    held_at=now,
                    claimed_by=None,
                    claimed_until=None,
                    status_reason=msg.HELD_AFTER_RESTART,
                ):
                    self._system_audit(
                        session, row, AuditEvent.HELD, cause="approved, but its sender stopped before sending"
                    )
                    await self._hooks.held(session, await self._view_in(session, row.id))
                    held.append(row.id)
        changed = await self._views(unknown + held)
        for view in changed:
            if view.status is RequestStatus.OUTCOME_UNKNOWN:
                await self._notifier.outcome_unknown(view)
        return changed

    async def heartbeat(self) -> int:
        """Renew the claims of the sends this process has in flight; how many were renewed."""
        if not self._sending:
            return 0
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(ActionRequest)
                .where(
                    ActionRequest.id.in_(sorted(self._sending)),
                    ActionRequest.claimed_by == self._instance,
                    ActionRequest.status.in_([RequestStatus.APPROVED, RequestStatus.EXECUTING]),
                )
                .values(claimed_until=self._clock.now() + self._claim_ttl)
                .execution_options(synchronize_session=False)
            )
        return int(cast(CursorResult[Any], result).rowcount or 0)

    async def execute_approved(self, request_id: str, *, actor: str) -> Outcome:
        """Send a request whose quorum was met (after the click that met it was acknowledged)."""
        return await self._execute(request_id, actor=actor)

    async def send_held(self, request_id: str, user: str) -> Outcome:
        """A Send click on a held request: everything is checked again before it is sent.

        The clicker needs the request's approver role or the requester's own role; every
        approval on it must still come from a current approver (the policy may have changed
        since); the request must not have expired; the plan's state is checked as for any send.
        """
        seen = await self.get(request_id)
        if seen is None:
            return await self._refuse(None, None, user, Refusal.NOT_FOUND, msg.NOT_FOUND, "send")
        if seen.status is not RequestStatus.APPROVED or not seen.held:
            text = msg.SEND_NOT_HELD
            return await self._refuse(request_id, seen, user, Refusal.CLOSED, text, "send")
        rule = self._policy.rule(seen.verb)
        allowed = await self._policy.holds_any(user, seen.approver_roles, self._groups) or (
            user == seen.requester and await self._policy.has_role(user, rule.role, self._groups)
        )
        if not allowed:
            text = msg.SEND_ROLE_REQUIRED.format(role=seen.approver_role)
            return await self._refuse(request_id, seen, user, Refusal.APPROVER_ROLE, text, "send")
        if seen.approval_groups:
            held_now = [(a, await self._group_roles(seen, a)) for a in seen.approvers]
            if not match_approvers(seen.approval_groups, held_now).complete:
                roles = ", ".join(g.role for g in seen.approval_groups)
                text = msg.SEND_APPROVALS_LAPSED.format(roles=roles)
                return await self._refuse(request_id, seen, user, Refusal.APPROVER_ROLE, text, "send")
        for approver in () if seen.approval_groups else seen.approvers:
            if not await self._policy.has_role(approver, seen.approver_role, self._groups):
                text = msg.SEND_APPROVER_GONE.format(user=approver, role=seen.approver_role)
                return await self._refuse(request_id, seen, user, Refusal.APPROVER_ROLE, text, "send")
        if seen.expires_at <= self._clock.now():
            text = msg.CLOSED_EXPIRED.format(expires=seen.expires_at.strftime("%Y-%m-%d %H:%M"))
            return await self._refuse(request_id, seen, user, Refusal.EXPIRED, text, "send")
        async with self._sessions.begin() as session:
            released = await self._transition(
                session,
                request_id,
                (RequestStatus.APPROVED,),
                ActionRequest.held_at.is_not(None),
                held_at=None,
                claimed_by=None,
                claimed_until=None,
                status_reason=None,
            )
            if released:
                row = await session.get(ActionRequest, request_id)
                assert row is not None
                self._audit(session, event=AuditEvent.SEND_REQUESTED, actor=user, row=row)
        if not released:
            return Outcome(
                OutcomeKind.IN_PROGRESS, msg.CLOSED_IN_PROGRESS, request=await self.get(request_id)
            )
        return await self._execute(request_id, actor=user)

    async def _execute(self, request_id: str, *, actor: str) -> Outcome:
        """Lease the approved request and, if this caller won the lease, send it once."""
        now = self._clock.now()
        async with self._sessions.begin() as session:
            won = await self._transition(
                session,
                request_id,
                (RequestStatus.APPROVED,),
                ActionRequest.held_at.is_(None),
                or_(
                    ActionRequest.claimed_by.is_(None),
                    ActionRequest.claimed_by == self._instance,
                    ActionRequest.claimed_until < now,
                ),
                claimed_by=self._instance,
                claimed_until=now + self._claim_ttl,
            )
            request = await self._view_in(session, request_id)
        if not won:
            return Outcome(
                OutcomeKind.IN_PROGRESS, msg.CLOSED_IN_PROGRESS, request=await self.get(request_id)
            )
        self._sending.add(request_id)
        try:
            return await self._send(request, actor=actor)
        finally:
            self._sending.discard(request_id)

    async def _send(self, request: RequestView, *, actor: str) -> Outcome:
        """Read the plan (and its baseline), claim for good with the watch, send, record the answer."""
        baseline: dict[str, Any] | None = None
        try:
            plan = await self._gateway.current_plan(request.plan_id)
            if self._hooks.wants_baseline(request.action):
                baseline = await self._gateway.runtime(request.plan_id)
        except VroError as exc:
            text = msg.NOT_SENT_PLAN_UNREADABLE.format(plan=request.plan_name, problem=str(exc))
            return await self._finish(
                request, OutcomeKind.FAILED, text, event=AuditEvent.NOT_SENT, vro_status=exc.status
            )
        why = state_refusal(plan, request.action)
        if why is not None:
            text = msg.NOT_SENT_PLAN_STATE.format(reason=why)
            return await self._finish(
                request, OutcomeKind.FAILED, text, event=AuditEvent.NOT_SENT, plan_state=plan.state
            )
        rule = self._policy.rule(request.verb)
        verdict = self._readiness(rule, plan)
        if verdict is not None and readiness_blocks(rule, verdict):
            # Readiness may have lapsed (or a check failed) while the approvals came in.
            text = msg.NOT_SENT_READINESS.format(problem=verdict.describe(), plan=request.plan_name)
            return await self._finish(
                request, OutcomeKind.FAILED, text, event=AuditEvent.NOT_SENT, **verdict.audit()
            )
        now = self._clock.now()
        async with self._sessions.begin() as session:
            claimed = await self._transition(
                session,
                request.id,
                (RequestStatus.APPROVED,),
                ActionRequest.claimed_by == self._instance,
                ActionRequest.held_at.is_(None),
                status=RequestStatus.EXECUTING,
                claimed_at=now,
                claimed_until=now + self._claim_ttl,
            )
            if claimed:
                row = await session.get(ActionRequest, request.id)
                assert row is not None
                self._audit(session, event=AuditEvent.CLAIMED, actor=actor, row=row)
                view = await self._view_in(session, request.id)
                await self._hooks.claimed(session, view, baseline)
                await self._hooks.changed(session, view)
        if not claimed:  # the lease lapsed (this process stalled) and the request was held meanwhile
            return Outcome(
                OutcomeKind.IN_PROGRESS, msg.CLOSED_IN_PROGRESS, request=await self.get(request.id)
            )
        try:
            action = PlanAction(request.action)
            result = await self._gateway.perform(action, request.plan_id, request.params)
        except ValueError as exc:  # bad parameters: raised before anything is sent
            text = msg.NOT_SENT_BAD_PARAMS.format(problem=str(exc).rstrip("."))
            return await self._finish(request, OutcomeKind.FAILED, text, event=AuditEvent.NOT_SENT)
        except VroNotAvailable as exc:  # the server's API version lacks it: nothing was sent
            text = msg.NOT_SENT_PLAN_STATE.format(reason=str(exc))
            return await self._finish(request, OutcomeKind.FAILED, text, event=AuditEvent.NOT_SENT)
        except VroOutcomeUnknown as exc:
            # Only a connection that failed while the action was on its way leaves the outcome
            # unknown; any answer from VRO (even a 500 or a 503) says what happened.
            log.warning("VRO outcome unknown for request %s: %s", request.id, type(exc).__name__)
            return await self._unknown(request, vro_status=exc.status, error=str(exc))
        except VroError as exc:
            return await self._refused(request, exc.status, exc.vro_message or exc.message)
        except Exception as exc:
            # Something unexpected after the claim: it may or may not have been sent.
            log.exception("unexpected error while sending request %s", request.id)
            return await self._unknown(request, error=type(exc).__name__)
        if not result.ok:
            return await self._refused(request, result.status_code, result.message)
        text = msg.EXECUTED.format(verb=request.verb, plan=request.plan_name, detail=result.message).strip()
        return await self._finish(
            request,
            OutcomeKind.EXECUTED,
            text,
            event=AuditEvent.VRO_ACCEPTED,
            vro_status=result.status_code,
            vro_message=result.message,
            new_plan_id=result.new_plan_id,
        )

    async def _unknown(self, request: RequestView, **detail: Any) -> Outcome:
        """The send may or may not have reached VRO: ``outcome_unknown``, never resent."""
        text = msg.OUTCOME_UNKNOWN.format(verb=request.verb, plan=request.plan_name, plan_id=request.plan_id)
        return await self._finish(
            request, OutcomeKind.OUTCOME_UNKNOWN, text, event=AuditEvent.OUTCOME_UNKNOWN, **detail
        )

    async def _refused(self, request: RequestView, status: int | None, problem: str) -> Outcome:
        """VRO answered the action with a refusal: its own words go to the card and the audit."""
        text = msg.VRO_REFUSED.format(verb=request.verb, plan=request.plan_name, problem=problem)
        return await self._finish(
            request,
            OutcomeKind.FAILED,
            text,
            event=AuditEvent.VRO_REFUSED,
            vro_status=status,
            vro_message=problem,
        )

    async def _finish(
        self,
        request: RequestView,
        kind: OutcomeKind,
        text: str,
        *,
        event: str,
        vro_status: int | None = None,
        vro_message: str | None = None,
        **detail: Any,
    ) -> Outcome:
        """Record how the send ended (also over an ``outcome_unknown`` set meanwhile by recovery).

        A refusal before the claim (plan state, VRO unreadable) ends an ``approved`` request this
        process leased. The hooks write the card's redraw and the thread line, and activate or
        close the watch, in the same transaction.
        """
        status = {
            OutcomeKind.EXECUTED: RequestStatus.EXECUTED,
            OutcomeKind.FAILED: RequestStatus.FAILED,
            OutcomeKind.OUTCOME_UNKNOWN: RequestStatus.OUTCOME_UNKNOWN,
        }[kind]
        now = self._clock.now()
        async with self._sessions.begin() as session:
            changed = await self._transition(
                session,
                request.id,
                (RequestStatus.EXECUTING, RequestStatus.OUTCOME_UNKNOWN, RequestStatus.APPROVED),
                or_(
                    ActionRequest.status != RequestStatus.APPROVED, ActionRequest.claimed_by == self._instance
                ),
                status=status,
                executed_at=now if status is RequestStatus.EXECUTED else None,
                vro_status=vro_status,
                vro_message=vro_message,
                status_reason=text,
                claimed_until=None,
            )
            self._audit(
                session,
                event=event,
                actor=self._instance,
                request_id=request.id,
                plan_id=request.plan_id,
                plan_name=request.plan_name,
                action=request.action,
                vro_status=vro_status,
                vro_message=vro_message,
                message=text,
                **detail,
            )
            if changed:
                await self._hooks.answered(session, await self._view_in(session, request.id), kind, text)
        return Outcome(kind, text, request=await self.get(request.id))
