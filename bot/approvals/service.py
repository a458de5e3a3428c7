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

import logging
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, timedelta, tzinfo
from typing import Any, Protocol, cast

from sqlalchemy import ColumnElement, CursorResult, and_, false, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.approvals import messages as msg
from bot.approvals.membership import GroupLookupError, GroupResolver
from bot.approvals.outcomes import AuditView, Outcome, OutcomeKind, Refusal, RequestView
from bot.approvals.policy import VERB_ACTIONS, ActionRule, Policy
from bot.approvals.rules import CheckMode, CheckRule, GroupNeed, ReadinessVerdict, match_approvers, readiness
from bot.approvals.status import DecisionKind, RequestStatus
from bot.approvals.tables import ActionRequest, AuditEntry, Decision
from bot.clock import Clock
from bot.vro import plan_states
from bot.vro.actions import ActionResult, PlanAction, validate_params
from bot.vro.errors import VroError, VroNotAvailable, VroOutcomeUnknown
from bot.vro.models import Plan

log = logging.getLogger(__name__)

SYSTEM_ACTOR = "system"
# A send claim not renewed for this long belongs to a process that stopped (heartbeat: a third).
DEFAULT_CLAIM_TTL = timedelta(seconds=12)
# Claims written before heartbeats existed have no ``claimed_until``: judged by their age.
DEFAULT_CLAIM_TIMEOUT = timedelta(minutes=5)
DEFAULT_AUDIT_LIMIT = 50
_CLOSED_AFTER_DECISION = (RequestStatus.APPROVED, RequestStatus.EXECUTING)


class AuditEvent:
    """The ``event`` column of the audit log."""

    REQUESTED = "requested"
    REQUEST_REFUSED = "request_refused"
    APPROVAL = "approval"
    APPROVED = "approved"  # the quorum was met
    DENIED = "denied"
    CANCELLED = "cancelled"
    DECISION_REFUSED = "decision_refused"
    EXPIRED = "expired"
    CLAIMED = "claimed"  # this instance is about to send
    NOT_SENT = "not_sent"  # refused at the last moment (plan state, parameters, VRO unreadable)
    VRO_ACCEPTED = "vro_accepted"
    VRO_REFUSED = "vro_refused"
    OUTCOME_UNKNOWN = "outcome_unknown"
    ACCESS_REFUSED = "access_refused"  # a read or a request refused before it reached the service's rules
    HELD = "held"  # approved, but its sender stopped before sending: waits for a Send click
    SEND_REQUESTED = "send_requested"  # someone clicked Send on a held request
    READINESS_PROVEN = "readiness_proven"  # a passed check lifted an open request's readiness warning


class Workspace(Protocol):
    """The Slack workspace the bot serves (learned from ``auth.test``); its id goes in every audit line."""

    @property
    def team_id(self) -> str | None: ...


class PlanGateway(Protocol):
    """The two VRO calls execution needs (the runtime implements it over ``VroClient``)."""

    async def current_plan(self, plan_id: str) -> Plan:
        """The plan as VRO sees it now."""
        ...

    async def perform(self, action: PlanAction, plan_id: str, params: Mapping[str, Any]) -> ActionResult:
        """Send ``action``; raises :class:`~bot.vro.errors.VroError` subclasses on failure."""
        ...

    async def runtime(self, plan_id: str) -> dict[str, Any]:
        """The plan's RuntimeDetails now, as JSON (the watch's baseline)."""
        ...


class RequestHooks(Protocol):
    """What the rest of the bot writes in the same transaction as a request's state change.

    The runtime's implementation queues the channel's messages in the outbox (the card, its
    redraws, the thread lines) and opens / activates / closes the action's watch, so what the
    channel will be told commits with the change itself.
    """

    def wants_baseline(self, action: str) -> bool:
        """Whether ``action`` gets a watch (and so a RuntimeDetails baseline before sending)."""
        ...

    async def created(self, session: AsyncSession, request: RequestView) -> None:
        """A new request (post its card)."""
        ...

    async def changed(self, session: AsyncSession, request: RequestView) -> None:
        """A decision, an expiry or a claim changed what the card shows (redraw it)."""
        ...

    async def claimed(
        self, session: AsyncSession, request: RequestView, baseline: dict[str, Any] | None
    ) -> None:
        """About to send (open the watch, ``sending``, with its baseline)."""
        ...

    async def answered(
        self, session: AsyncSession, request: RequestView, kind: OutcomeKind, text: str
    ) -> None:
        """The send ended: executed, failed (not sent or refused) or outcome unknown."""
        ...

    async def held(self, session: AsyncSession, request: RequestView) -> None:
        """Approved but never sent: its sender stopped; the channel must be told."""
        ...


class NoHooks:
    """Hooks that write nothing (the approval service on its own, e.g. in its tests)."""

    def wants_baseline(self, action: str) -> bool:
        return False

    async def created(self, session: AsyncSession, request: RequestView) -> None:
        return None

    async def changed(self, session: AsyncSession, request: RequestView) -> None:
        return None

    async def claimed(
        self, session: AsyncSession, request: RequestView, baseline: dict[str, Any] | None
    ) -> None:
        return None

    async def answered(
        self, session: AsyncSession, request: RequestView, kind: OutcomeKind, text: str
    ) -> None:
        return None

    async def held(self, session: AsyncSession, request: RequestView) -> None:
        return None


class Notifier(Protocol):
    """Tells humans about requests that need their attention outside a click's reply."""

    async def outcome_unknown(self, request: RequestView) -> None:
        """``request`` may or may not have run in VRO; someone must look."""
        ...


@dataclass(frozen=True, slots=True)
class _Plain:
    """A row's fields needed after its transaction ended."""

    id: str
    requester: str
    verb: str
    action: str
    plan_id: str
    plan_name: str
    params: dict[str, Any]


class ApprovalService:
    """Requests, decisions, expiry, exactly-once execution and the audit log."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        policy: Policy,
        groups: GroupResolver,
        gateway: PlanGateway,
        notifier: Notifier,
        instance_id: str,
        claim_timeout: timedelta = DEFAULT_CLAIM_TIMEOUT,
        vro_timezone: tzinfo = UTC,
        workspace: Workspace | None = None,
        claim_ttl: timedelta = DEFAULT_CLAIM_TTL,
        hooks: RequestHooks | None = None,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._policy = policy
        self._groups = groups
        self._gateway = gateway
        self._notifier = notifier
        self._instance = instance_id
        self._claim_timeout = claim_timeout
        self._vro_timezone = vro_timezone
        self._workspace = workspace
        self._claim_ttl = claim_ttl
        self._hooks: RequestHooks = hooks or NoHooks()
        self._sending: set[str] = set()  # requests this process is sending (their claims need a heartbeat)

    @property
    def policy(self) -> Policy:
        return self._policy

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
        if refusal is None and verdict is not None and _blocks(rule, verdict):
            assert rule.require_check is not None
            limit = _hours(rule.require_check)
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
                verb=verb, plan=plan.name, needed=_needed(view), ttl_minutes=rule.ttl_minutes
            )
        else:
            text = msg.REQUEST_PENDING.format(
                verb=verb,
                plan=plan.name,
                needed=_needed(view),
                role=rule.approver_role,
                ttl_minutes=rule.ttl_minutes,
            )
        if warning is not None:
            text += " " + msg.READINESS_WARNING.format(problem=warning)
        return Outcome(OutcomeKind.PENDING, text, request=view)

    def _readiness(self, rule: ActionRule, plan: Plan) -> ReadinessVerdict | None:
        """The readiness gate's verdict on ``plan`` (None when the action has no ``require_check``)."""
        if rule.require_check is None:
            return None
        return readiness(
            check_result=plan.currentCheckResult,
            checked_at=plan.lastCheckTime,
            check_running=plan.state in (plan_states.CHECK_IN_PROGRESS, plan_states.CHECK_HALTING),
            rule=rule.require_check,
            now=self._clock.now(),
            vro_timezone=self._vro_timezone,
        )

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
        why = _state_refusal(plan, action)
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

    async def _group_roles(self, seen: RequestView, user: str) -> frozenset[str]:
        """The request's group roles ``user`` holds now (empty for a plain number of approvals)."""
        if not seen.approval_groups:
            return frozenset()
        return await self._policy.roles_of(user, [g.role for g in seen.approval_groups], self._groups)

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
            needs = _group_needs(row)
            before = (await self._approvals(session, [request_id])).get(request_id, ())
            if await self._decision_of(session, request_id, user) is not None:
                refused = self._refuse_in(
                    session,
                    row,
                    user,
                    Refusal.ALREADY_DECIDED,
                    msg.ALREADY_APPROVED_BY_YOU.format(needed=_still_needed(row, needs, before)),
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
            return None, quorum, _still_needed(row, needs, after)

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
                    msg.ALREADY_APPROVED_BY_YOU.format(
                        needed=_still_needed(row, _group_needs(row), approvals)
                    ),
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

    async def _groups_unavailable(
        self, seen: RequestView, user: str, kind: DecisionKind, exc: GroupLookupError
    ) -> Outcome:
        what = "accept your approval" if kind is DecisionKind.APPROVE else "accept your deny"
        return await self._refuse(
            seen.id, seen, user, Refusal.GROUPS_UNAVAILABLE, groups_unavailable(exc, what), kind
        )

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
            RequestStatus.EXPIRED: msg.CLOSED_EXPIRED.format(expires=_hhmm(row)),
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

    async def _refuse(
        self,
        request_id: str | None,
        seen: RequestView | None,
        user: str,
        code: Refusal,
        text: str,
        kind: str,
    ) -> Outcome:
        async with self._sessions.begin() as session:
            self._audit(
                session,
                event=AuditEvent.DECISION_REFUSED,
                actor=user,
                request_id=request_id,
                plan_id=seen.plan_id if seen else None,
                plan_name=seen.plan_name if seen else None,
                decision=str(kind),
                refusal=str(code),
                message=text,
            )
        return Outcome(OutcomeKind.REFUSED, text, request=seen, refusal=code)

    def _refuse_in(
        self, session: AsyncSession, row: ActionRequest, user: str, code: Refusal, text: str, kind: str
    ) -> Outcome:
        self._audit(
            session,
            event=AuditEvent.DECISION_REFUSED,
            actor=user,
            row=row,
            decision=str(kind),
            refusal=str(code),
            message=text,
        )
        return Outcome(OutcomeKind.REFUSED, text, request=_view(row, ()), refusal=code)

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
                    self._audit(session, event=AuditEvent.EXPIRED, actor=SYSTEM_ACTOR, row=row)
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
                    self._audit(
                        session,
                        event=AuditEvent.OUTCOME_UNKNOWN,
                        actor=SYSTEM_ACTOR,
                        row=row,
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
                    self._audit(
                        session,
                        event=AuditEvent.HELD,
                        actor=SYSTEM_ACTOR,
                        row=row,
                        cause="approved, but its sender stopped before sending",
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

    # --- execution -----------------------------------------------------------------------

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
            row = await session.get(ActionRequest, request_id)
            assert row is not None
            plain = _Plain(
                id=row.id,
                requester=row.requester,
                verb=row.verb,
                action=row.action,
                plan_id=row.plan_id,
                plan_name=row.plan_name,
                params=dict(row.params),
            )
        if not won:
            return Outcome(
                OutcomeKind.IN_PROGRESS, msg.CLOSED_IN_PROGRESS, request=await self.get(request_id)
            )
        self._sending.add(request_id)
        try:
            return await self._send(plain, actor=actor)
        finally:
            self._sending.discard(request_id)

    async def _send(self, plain: _Plain, *, actor: str) -> Outcome:
        """Read the plan (and its baseline), claim for good with the watch, send, record the answer."""
        baseline: dict[str, Any] | None = None
        try:
            plan = await self._gateway.current_plan(plain.plan_id)
            if self._hooks.wants_baseline(plain.action):
                baseline = await self._gateway.runtime(plain.plan_id)
        except VroError as exc:
            text = msg.NOT_SENT_PLAN_UNREADABLE.format(plan=plain.plan_name, problem=str(exc))
            return await self._finish(
                plain, OutcomeKind.FAILED, text, event=AuditEvent.NOT_SENT, vro_status=exc.status
            )
        why = _state_refusal(plan, plain.action)
        if why is not None:
            text = msg.NOT_SENT_PLAN_STATE.format(reason=why)
            return await self._finish(
                plain, OutcomeKind.FAILED, text, event=AuditEvent.NOT_SENT, plan_state=plan.state
            )
        rule = self._policy.rule(plain.verb)
        verdict = self._readiness(rule, plan)
        if verdict is not None and _blocks(rule, verdict):
            # Readiness may have lapsed (or a check failed) while the approvals came in.
            text = msg.NOT_SENT_READINESS.format(problem=verdict.describe(), plan=plain.plan_name)
            return await self._finish(
                plain, OutcomeKind.FAILED, text, event=AuditEvent.NOT_SENT, **verdict.audit()
            )
        now = self._clock.now()
        async with self._sessions.begin() as session:
            claimed = await self._transition(
                session,
                plain.id,
                (RequestStatus.APPROVED,),
                ActionRequest.claimed_by == self._instance,
                ActionRequest.held_at.is_(None),
                status=RequestStatus.EXECUTING,
                claimed_at=now,
                claimed_until=now + self._claim_ttl,
            )
            if claimed:
                row = await session.get(ActionRequest, plain.id)
                assert row is not None
                self._audit(session, event=AuditEvent.CLAIMED, actor=actor, row=row)
                view = await self._view_in(session, plain.id)
                await self._hooks.claimed(session, view, baseline)
                await self._hooks.changed(session, view)
        if not claimed:  # the lease lapsed (this process stalled) and the request was held meanwhile
            return Outcome(OutcomeKind.IN_PROGRESS, msg.CLOSED_IN_PROGRESS, request=await self.get(plain.id))
        try:
            action = PlanAction(plain.action)
            result = await self._gateway.perform(action, plain.plan_id, plain.params)
        except ValueError as exc:  # bad parameters: raised before anything is sent
            text = msg.NOT_SENT_BAD_PARAMS.format(problem=str(exc).rstrip("."))
            return await self._finish(plain, OutcomeKind.FAILED, text, event=AuditEvent.NOT_SENT)
        except VroNotAvailable as exc:  # the server's API version lacks it: nothing was sent
            text = msg.NOT_SENT_PLAN_STATE.format(reason=str(exc))
            return await self._finish(plain, OutcomeKind.FAILED, text, event=AuditEvent.NOT_SENT)
        except VroOutcomeUnknown as exc:
            # Only a connection that failed while the action was on its way leaves the outcome
            # unknown; any answer from VRO (even a 500 or a 503) says what happened.
            log.warning("VRO outcome unknown for request %s: %s", plain.id, type(exc).__name__)
            text = msg.OUTCOME_UNKNOWN.format(verb=plain.verb, plan=plain.plan_name, plan_id=plain.plan_id)
            return await self._finish(
                plain,
                OutcomeKind.OUTCOME_UNKNOWN,
                text,
                event=AuditEvent.OUTCOME_UNKNOWN,
                vro_status=exc.status,
                error=str(exc),
            )
        except VroError as exc:
            problem = exc.vro_message or exc.message
            text = msg.VRO_REFUSED.format(verb=plain.verb, plan=plain.plan_name, problem=problem)
            return await self._finish(
                plain,
                OutcomeKind.FAILED,
                text,
                event=AuditEvent.VRO_REFUSED,
                vro_status=exc.status,
                vro_message=problem,
            )
        except Exception as exc:
            # Something unexpected after the claim: it may or may not have been sent.
            log.exception("unexpected error while sending request %s", plain.id)
            text = msg.OUTCOME_UNKNOWN.format(verb=plain.verb, plan=plain.plan_name, plan_id=plain.plan_id)
            return await self._finish(
                plain,
                OutcomeKind.OUTCOME_UNKNOWN,
                text,
                event=AuditEvent.OUTCOME_UNKNOWN,
                error=type(exc).__name__,
            )
        if not result.ok:
            text = msg.VRO_REFUSED.format(verb=plain.verb, plan=plain.plan_name, problem=result.message)
            return await self._finish(
                plain,
                OutcomeKind.FAILED,
                text,
                event=AuditEvent.VRO_REFUSED,
                vro_status=result.status_code,
                vro_message=result.message,
            )
        text = msg.EXECUTED.format(verb=plain.verb, plan=plain.plan_name, detail=result.message).strip()
        return await self._finish(
            plain,
            OutcomeKind.EXECUTED,
            text,
            event=AuditEvent.VRO_ACCEPTED,
            vro_status=result.status_code,
            vro_message=result.message,
            new_plan_id=result.new_plan_id,
        )

    async def _finish(
        self,
        plain: _Plain,
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
                plain.id,
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
                request_id=plain.id,
                plan_id=plain.plan_id,
                plan_name=plain.plan_name,
                action=plain.action,
                vro_status=vro_status,
                vro_message=vro_message,
                message=text,
                **detail,
            )
            if changed:
                await self._hooks.answered(session, await self._view_in(session, plain.id), kind, text)
        return Outcome(kind, text, request=await self.get(plain.id))

    # --- reading ---------------------------------------------------------------------------

    async def readiness_proven(self, session: AsyncSession, plan_id: str, *, actor: str) -> list[str]:
        """A readiness check of ``plan_id`` just passed: open requests' readiness warnings lapse.

        Runs in the caller's transaction (the check's summary), so the cards are redrawn without
        the warning exactly when the check is on record. Requests refused by the gate need
        nothing: the next request reads VRO's data again. Returns the requests changed.
        """
        rows = (
            await session.scalars(
                select(ActionRequest).where(
                    ActionRequest.plan_id == plan_id,
                    ActionRequest.status == RequestStatus.PENDING,
                    ActionRequest.readiness_warning.is_not(None),
                )
            )
        ).all()
        for row in rows:
            self._audit(
                session,
                event=AuditEvent.READINESS_PROVEN,
                actor=actor,
                row=row,
                warning=row.readiness_warning,
            )
            row.readiness_warning = None
            await self._hooks.changed(session, await self._view_in(session, row.id))
        return [row.id for row in rows]

    async def attach_card(self, request_id: str, channel: str, ts: str) -> None:
        """Remember where the request's approval card was posted (to update it later)."""
        async with self._sessions.begin() as session:
            await session.execute(
                update(ActionRequest)
                .where(ActionRequest.id == request_id)
                .values(card_channel=channel, card_ts=ts)
                .execution_options(synchronize_session=False)
            )

    async def get(self, request_id: str) -> RequestView | None:
        """The request with this id, or ``None``."""
        views = await self._views([request_id])
        return views[0] if views else None

    async def pending(self, user: str | None = None) -> list[RequestView]:
        """Open, unexpired requests, oldest first; only those ``user`` made when given."""
        now = self._clock.now()
        query = select(ActionRequest).where(
            ActionRequest.status == RequestStatus.PENDING, ActionRequest.expires_at > now
        )
        if user is not None:
            query = query.where(ActionRequest.requester == user)
        async with self._sessions.begin() as session:
            rows = (await session.scalars(query.order_by(ActionRequest.created_at, ActionRequest.id))).all()
            approvals = await self._approvals(session, [r.id for r in rows])
            return [_view(r, approvals.get(r.id, ())) for r in rows]

    async def audit(self, plan_id: str | None = None, limit: int = DEFAULT_AUDIT_LIMIT) -> list[AuditView]:
        """The newest audit lines first, for one plan or for all."""
        query = select(AuditEntry)
        if plan_id is not None:
            query = query.where(AuditEntry.plan_id == plan_id)
        query = query.order_by(AuditEntry.id.desc()).limit(limit)
        async with self._sessions.begin() as session:
            return [audit_view(e) for e in (await session.scalars(query)).all()]

    # --- helpers -----------------------------------------------------------------------------

    async def _view_in(self, session: AsyncSession, request_id: str) -> RequestView:
        """The request as this transaction sees it (for the hooks)."""
        row = (
            await session.scalars(
                select(ActionRequest)
                .where(ActionRequest.id == request_id)
                .execution_options(populate_existing=True)
            )
        ).one()
        approvals = await self._approvals(session, [request_id])
        return _view(row, approvals.get(request_id, ()))

    async def _views(self, request_ids: Sequence[str]) -> list[RequestView]:
        if not request_ids:
            return []
        async with self._sessions.begin() as session:
            rows = (
                await session.scalars(select(ActionRequest).where(ActionRequest.id.in_(request_ids)))
            ).all()
            approvals = await self._approvals(session, request_ids)
        by_id = {r.id: r for r in rows}
        return [_view(by_id[i], approvals.get(i, ())) for i in request_ids if i in by_id]

    @staticmethod
    async def _locked(session: AsyncSession, request_id: str) -> ActionRequest | None:
        # FOR UPDATE serializes decisions on one request on PostgreSQL; SQLite's BEGIN
        # IMMEDIATE already does (and SQLAlchemy leaves FOR UPDATE out there).
        return (
            await session.scalars(
                select(ActionRequest).where(ActionRequest.id == request_id).with_for_update()
            )
        ).one_or_none()

    @staticmethod
    async def _transition(
        session: AsyncSession,
        request_id: str,
        from_: Iterable[RequestStatus],
        *where: ColumnElement[bool],
        **values: Any,
    ) -> bool:
        """``UPDATE ... WHERE id = :id AND status IN (:from_) [AND where]``; whether it touched the row."""
        result = await session.execute(
            update(ActionRequest)
            .where(ActionRequest.id == request_id, ActionRequest.status.in_([str(s) for s in from_]), *where)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        return cast(CursorResult[Any], result).rowcount == 1

    @staticmethod
    async def _decision_of(session: AsyncSession, request_id: str, user: str) -> Decision | None:
        return (
            await session.scalars(
                select(Decision).where(Decision.request_id == request_id, Decision.user_id == user)
            )
        ).one_or_none()

    @staticmethod
    async def _approval_count(session: AsyncSession, request_id: str) -> int:
        count = await session.scalar(
            select(func.count())
            .select_from(Decision)
            .where(Decision.request_id == request_id, Decision.decision == DecisionKind.APPROVE)
        )
        return int(count or 0)

    @classmethod
    async def _approvers(
        cls, session: AsyncSession, request_ids: Sequence[str]
    ) -> dict[str, tuple[str, ...]]:
        approvals = await cls._approvals(session, request_ids)
        return {k: tuple(user for user, _ in v) for k, v in approvals.items()}

    @staticmethod
    async def _approvals(session: AsyncSession, request_ids: Sequence[str]) -> dict[str, Approvals]:
        """Each request's approvers in click order, with the group roles they held at click time."""
        if not request_ids:
            return {}
        rows = await session.execute(
            select(Decision.request_id, Decision.user_id, Decision.roles)
            .where(Decision.request_id.in_(request_ids), Decision.decision == DecisionKind.APPROVE)
            .order_by(Decision.id)
        )
        out: dict[str, list[tuple[str, frozenset[str]]]] = {}
        for request_id, user_id, roles in rows:
            out.setdefault(request_id, []).append((user_id, frozenset(roles or ())))
        return {k: tuple(v) for k, v in out.items()}

    def _audit(
        self,
        session: AsyncSession,
        *,
        event: str,
        actor: str,
        row: ActionRequest | None = None,
        request_id: str | None = None,
        plan_id: str | None = None,
        plan_name: str | None = None,
        actor_team: str | None = None,
        **detail: Any,
    ) -> None:
        if row is not None:
            request_id, plan_id, plan_name = row.id, row.plan_id, row.plan_name
        detail["instance"] = self._instance
        session.add(
            AuditEntry(
                at=self._clock.now(),
                actor=actor,
                event=event,
                request_id=request_id,
                plan_id=plan_id,
                plan_name=plan_name,
                actor_team=actor_team or (self._workspace.team_id if self._workspace else None),
                detail={k: v for k, v in detail.items() if v is not None},
            )
        )


def _state_refusal(plan: Plan, action: str) -> str | None:
    return plan_states.refusal_reason(
        plan.planType or "", plan.state or "", plan.planMode or "", action, plan_name=plan.name
    )


def _hhmm(row: ActionRequest) -> str:
    return row.expires_at.strftime("%Y-%m-%d %H:%M")


def _view(row: ActionRequest, approvals: Approvals) -> RequestView:
    needs = _group_needs(row)
    matching = match_approvers(needs, approvals) if needs else None
    return RequestView(
        id=row.id,
        requester=row.requester,
        verb=row.verb,
        action=row.action,
        plan_id=row.plan_id,
        plan_name=row.plan_name,
        plan_state=row.plan_state,
        params=dict(row.params),
        reason=row.reason,
        channel=row.channel,
        card_channel=row.card_channel,
        card_ts=row.card_ts,
        status=RequestStatus(row.status),
        approvals_required=row.approvals_required,
        approver_role=row.approver_role,
        approvers=tuple(user for user, _ in approvals),
        created_at=row.created_at,
        expires_at=row.expires_at,
        decided_at=row.decided_at,
        decided_by=row.decided_by,
        executed_at=row.executed_at,
        vro_status=row.vro_status,
        vro_message=row.vro_message,
        status_reason=row.status_reason,
        approval_groups=needs,
        groups_assigned=dict(matching.assigned) if matching else {},
        groups_needed=matching.needed_text() if matching else "",
        readiness_warning=row.readiness_warning,
        held=row.held_at is not None,
        param_names=dict(row.param_names or {}),
    )


Approvals = Sequence[tuple[str, frozenset[str]]]


def _blocks(rule: ActionRule, verdict: ReadinessVerdict) -> bool:
    """Whether the readiness gate stops the action (``require_check`` in refuse mode, not proven)."""
    return rule.require_check is not None and rule.require_check.mode is CheckMode.REFUSE and not verdict.ok


def _group_needs(row: ActionRequest) -> tuple[GroupNeed, ...]:
    return tuple(GroupNeed(str(g["role"]), int(g["count"])) for g in row.approval_groups or ())


def _still_needed(row: ActionRequest, needs: Sequence[GroupNeed], approvals: Approvals) -> str:
    """``1 approval``, or ``approval from app_owner (1)`` for groups; ``nothing more`` when complete."""
    if needs:
        return match_approvers(needs, approvals).needed_text()
    return msg.count_of(max(row.approvals_required - len(approvals), 0), "approval")


def _needed(view: RequestView) -> str:
    if view.approval_groups:
        return "approval from " + ", ".join(f"{g.role} ({g.count})" for g in view.approval_groups)
    return msg.count_of(view.approvals_required, "approval")


def _hours(rule: CheckRule) -> str:
    hours = rule.max_age_hours
    return f"{hours:g} hour" + ("" if hours == 1 else "s")


def audit_view(entry: AuditEntry) -> AuditView:
    return AuditView(
        id=entry.id,
        at=entry.at,
        actor=entry.actor,
        event=entry.event,
        request_id=entry.request_id,
        plan_id=entry.plan_id,
        plan_name=entry.plan_name,
        detail=dict(entry.detail),
        actor_team=entry.actor_team,
    )


def groups_unavailable(exc: GroupLookupError, what: str) -> str:
    """The refusal for a role that hangs on a user group Slack won't tell us about now."""
    return msg.GROUPS_UNAVAILABLE.format(group=exc.handle, problem=exc.problem, what=what)
