"""The approval store: the service's state, the SQL it runs (locks, guarded transitions,
decisions, approvals, audit lines), what it reads back, and the refusal and readiness helpers
every step shares. :mod:`.execution` and :mod:`.service` build on it."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import UTC, timedelta, tzinfo
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.approvals.membership import GroupLookupError, GroupResolver
from bot.approvals.outcomes import AuditView, Outcome, OutcomeKind, Refusal, RequestView
from bot.approvals.policy import ActionRule, Policy
from bot.approvals.ports import AuditEvent, NoHooks, Notifier, PlanGateway, RequestHooks, Workspace
from bot.approvals.rules import ReadinessVerdict, readiness
from bot.approvals.status import DecisionKind, RequestStatus
from bot.approvals.tables import ActionRequest, AuditEntry, Decision
from bot.approvals.views import Approvals, audit_view, groups_unavailable, request_view
from bot.clock import Clock
from bot.vro import plan_states
from bot.vro.models import Plan

log = logging.getLogger(__name__)

SYSTEM_ACTOR = "system"
# A send claim not renewed for this long belongs to a process that stopped (heartbeat: a third).
DEFAULT_CLAIM_TTL = timedelta(seconds=12)
# Claims written before heartbeats existed have no ``claimed_until``: judged by their age.
DEFAULT_CLAIM_TIMEOUT = timedelta(minutes=5)
DEFAULT_AUDIT_LIMIT = 50
_CLOSED_AFTER_DECISION = (RequestStatus.APPROVED, RequestStatus.EXECUTING)


class RequestStore:
    """The approval service's state and its SQL; see :class:`~bot.approvals.service.ApprovalService`."""

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

    async def _group_roles(self, seen: RequestView, user: str) -> frozenset[str]:
        """The request's group roles ``user`` holds now (empty for a plain number of approvals)."""
        if not seen.approval_groups:
            return frozenset()
        return await self._policy.roles_of(user, [g.role for g in seen.approval_groups], self._groups)

    async def _groups_unavailable(
        self, seen: RequestView, user: str, kind: DecisionKind, exc: GroupLookupError
    ) -> Outcome:
        what = "accept your approval" if kind is DecisionKind.APPROVE else "accept your deny"
        return await self._refuse(
            seen.id, seen, user, Refusal.GROUPS_UNAVAILABLE, groups_unavailable(exc, what), kind
        )

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
        return Outcome(OutcomeKind.REFUSED, text, request=request_view(row, ()), refusal=code)

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
            return [request_view(r, approvals.get(r.id, ())) for r in rows]

    async def audit(self, plan_id: str | None = None, limit: int = DEFAULT_AUDIT_LIMIT) -> list[AuditView]:
        """The newest audit lines first, for one plan or for all."""
        query = select(AuditEntry)
        if plan_id is not None:
            query = query.where(AuditEntry.plan_id == plan_id)
        query = query.order_by(AuditEntry.id.desc()).limit(limit)
        async with self._sessions.begin() as session:
            return [audit_view(e) for e in (await session.scalars(query)).all()]

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
        return request_view(row, approvals.get(request_id, ()))

    async def _views(self, request_ids: Sequence[str]) -> list[RequestView]:
        if not request_ids:
            return []
        async with self._sessions.begin() as session:
            rows = (
                await session.scalars(select(ActionRequest).where(ActionRequest.id.in_(request_ids)))
            ).all()
            approvals = await self._approvals(session, request_ids)
        by_id = {r.id: r for r in rows}
        return [request_view(by_id[i], approvals.get(i, ())) for i in request_ids if i in by_id]

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

    def _system_audit(self, session: AsyncSession, row: ActionRequest, event: str, **detail: Any) -> None:
        """An audit line the bot writes on its own account (expiry, cancel, recovery)."""
        self._audit(session, event=event, actor=SYSTEM_ACTOR, row=row, **detail)

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
