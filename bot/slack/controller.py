"""What the bot does for each command and click, independent of Bolt.

The Bolt listeners (``bot.slack.app``) parse, record clicks, ack within milliseconds and hand
the rest to :class:`Controller` in the background. The controller talks to VRO, the approval
service and the watcher, and answers the person through a :class:`Reply`; everything the
channel sees goes through the outbox (written by the approval service's hooks and the watcher). It never lets an
exception reach Slack: VRO errors become short explanations, anything unexpected becomes a
polite apology and a log line with the details.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from bot.approvals.outcomes import Outcome, OutcomeKind, Refusal
from bot.approvals.service import ApprovalService
from bot.clock import Clock
from bot.db import before_ack
from bot.slack import resolve as rs
from bot.slack.access import Access
from bot.slack.blocks import (
    ApprovalCardView,
    Message,
    audit_message,
    error_message,
    groups_message,
    help_message,
    license_message,
    locations_message,
    notice_message,
    params_message,
    pending_approvals_message,
    plan_detail_message,
    plans_message,
    scopes_message,
    status_message,
    steps_message,
    vms_message,
)
from bot.slack.blocks.approvals import readiness_refusal_message
from bot.slack.grammar import Kind, ParsedCommand, Ref, RefKind
from bot.vro import plan_states
from bot.vro.client import VroClient
from bot.vro.errors import VroError, VroNotFound, VroUnavailable
from bot.vro.models import (
    GroupRuntimeDetails,
    Plan,
    PlanGroup,
    PlanStep,
    PlanVm,
    StepRuntimeDetails,
    VmRuntimeDetails,
)
from bot.vro.operations import available_actions, not_available_reason, spec_of

log = logging.getLogger(__name__)

UNEXPECTED = (
    "Something went wrong on my side and nothing was sent to VRO. "
    "Try again in a minute; if it keeps happening, tell whoever runs the bot (the details are in its log)."
)
VRO_UNREACHABLE = "I can't reach VRO right now ({detail}). Nothing was changed. Try again in a minute."
WATCH_STARTED = "Watching *{plan}*: progress will appear in the thread of its status card."
WATCH_STOPPED = "Stopped watching *{plan}* in this channel."
WATCH_NOT_FOUND = "I wasn't watching *{plan}* in this channel."
MAX_RUNTIME_GROUPS_EXPANDED = 5


@dataclass(frozen=True)
class Invoker:
    """Who asked, and where."""

    user_id: str
    channel_id: str
    response_url: str | None = None
    trigger_id: str | None = None


class Reply(Protocol):
    """Answers the person who typed or clicked (ephemeral unless ``public``)."""

    async def __call__(self, message: Message, *, public: bool = False) -> None: ...


class WatchControl(Protocol):
    """The watcher, as the controller sees it."""

    async def start_watch(
        self,
        plan_id: str,
        channel: str,
        *,
        plan_name: str | None = None,
        parent_ts: str | None = None,
        request_id: str | None = None,
        action: str | None = None,
        requested_by: str | None = None,
        approved_by: Sequence[str] = (),
    ) -> Any: ...

    async def stop_watch(self, plan_id: str, channel: str) -> bool: ...


class ResolveFailed(Exception):
    """A name could not be resolved; the message is for the user."""


class Controller:
    """Commands and clicks, from a parsed request to the answer in Slack."""

    def __init__(
        self,
        *,
        vro: VroClient,
        approvals: ApprovalService,
        access: Access,
        watcher: WatchControl,
        clock: Clock,
        record_command: Callable[[str, str], None] | None = None,
        record_approval: Callable[[str], None] | None = None,
    ) -> None:
        self._vro = vro
        self._approvals = approvals
        self._access = access
        self._watcher = watcher
        self._clock = clock
        self._record_command = record_command or (lambda _verb, _outcome: None)
        self._record_approval = record_approval or (lambda _outcome: None)

    # --- commands ----------------------------------------------------------------------

    @property
    def vro(self) -> VroClient:
        return self._vro

    async def command(self, who: Invoker, cmd: ParsedCommand, reply: Reply, *, page: int = 0) -> None:
        """Carry out a parsed ``/vro`` command and answer through ``reply`` (``page`` for long lists)."""
        outcome = "ok"
        try:
            if cmd.verb == "help":
                await reply(help_message(cmd.help_topic))
            elif cmd.kind is Kind.ACTION:
                outcome = await self._action(who, cmd, reply)
            elif cmd.verb in ("watch", "unwatch"):
                await self._require_viewer(who, cmd)
                await self._watch(who, cmd, reply)
            elif cmd.verb == "approvals":
                await self._require_viewer(who, cmd)
                pending = await self._approvals.pending()
                views = [ApprovalCardView.from_request(r) for r in pending]
                await reply(pending_approvals_message(views, page=page), public=cmd.public)
            elif cmd.verb == "audit":
                await self._require_viewer(who, cmd)
                plan = await self._plan(cmd.plan) if cmd.plan else None
                entries = await self._approvals.audit(plan.id if plan else None)
                await reply(
                    audit_message(
                        entries, plan_name=plan.name if plan else None, page=page, command=cmd.source
                    ),
                    public=cmd.public,
                )
            else:
                await self._require_viewer(who, cmd)
                await reply(await self._query(cmd, page), public=cmd.public)
        except ResolveFailed as exc:
            outcome = "bad_input"
            await reply(error_message(str(exc), usage=_usage(cmd)))
        except _Refused as exc:
            outcome = "refused"
            await reply(notice_message(str(exc), emoji=":no_entry:"))
        except VroUnavailable as exc:
            outcome = "vro_unavailable"
            await reply(notice_message(VRO_UNREACHABLE.format(detail=_short(exc)), emoji=":warning:"))
        except VroError as exc:
            outcome = "vro_error"
            await reply(notice_message(str(exc), emoji=":warning:"))
        except Exception:
            outcome = "error"
            log.exception("command %s failed", cmd.verb)
            await reply(notice_message(UNEXPECTED, emoji=":warning:"))
        finally:
            self._record_command(cmd.verb, outcome)
            log.info("command %s answered: %s", cmd.verb, outcome)

    async def _require_viewer(self, who: Invoker, cmd: ParsedCommand) -> None:
        """The viewer role, in an allowed channel: whichever surface the command came from."""
        refused = await self._access.refuse_read(
            who.user_id, surface=f"query.{cmd.verb}", channel=who.channel_id
        )
        if refused is not None:
            raise _Refused(refused.message)

    async def _query(self, cmd: ParsedCommand, page: int) -> Message:
        verb = cmd.verb
        if verb == "plans":
            return await self._plans(cmd, page)
        if verb == "locations":
            locations = await self._vro.get_recovery_locations()
            return locations_message(locations.data, page=page, command=cmd.source)
        if verb == "scopes":
            scopes = await self._vro.get_scopes()
            return scopes_message(scopes.data, page=page, command=cmd.source)
        if verb == "license":
            server = await self._vro.get_license_usage_server()
            scopes = await self._vro.get_scopes()
            per_scope = []
            for scope in scopes.data[:10]:
                per_scope.append((scope, await self._vro.get_license_usage_scope(scope.id)))
            return license_message(server, scopes=per_scope)
        assert cmd.plan is not None
        plan = await self._plan(cmd.plan)
        if verb == "plan":
            full = await self._vro.get_plan(plan.id)
            state_allows = plan_states.allowed_actions(
                full.planType or "", full.state or "", full.planMode or ""
            )
            return plan_detail_message(full, allowed=available_actions(state_allows, self._vro.api_version))
        if verb == "groups":
            groups = await self._vro.get_plan_groups(plan.id)
            return groups_message(plan.name, groups.data, page=page, command=cmd.source)
        if verb == "vms":
            return await self._vms(plan, cmd, page)
        if verb == "steps":
            return steps_message(plan.name, await self._step_owners(plan, cmd), page=page, command=cmd.source)
        if verb == "params":
            return await self._params(plan, cmd)
        if verb == "status":
            return await self._status(plan)
        raise ResolveFailed(f"I don't know how to answer `{verb}` yet.")

    async def _plans(self, cmd: ParsedCommand, page: int) -> Message:
        text = (cmd.args.get("text") or "").strip().lower()
        wanted_type = str(cmd.options.get("type") or "").lower()
        wanted_state = str(cmd.options.get("state") or "").lower()
        plans = [p async for p in self._vro.iter_plans()]
        chosen = [
            p
            for p in plans
            if (not text or text in p.name.lower())
            and (not wanted_type or (p.planType or "").lower() == wanted_type)
            and (
                not wanted_state
                or wanted_state in (p.state or "").lower()
                or wanted_state in (p.stateName or "").lower()
                or wanted_state == (p.planMode or "").lower()
            )
        ]
        filters = ", ".join(
            bit
            for bit in (
                f"“{text}”" if text else "",
                f"type {wanted_type}" if wanted_type else "",
                f"state {wanted_state}" if wanted_state else "",
            )
            if bit
        )
        return plans_message(chosen, filters=filters or None, page=page, command=cmd.source)

    async def _groups(self, plan: Plan) -> list[PlanGroup]:
        return list((await self._vro.get_plan_groups(plan.id)).data)

    async def _vms(self, plan: Plan, cmd: ParsedCommand, page: int) -> Message:
        groups = await self._groups(plan)
        group_ref = cmd.refs.get("group")
        if group_ref is not None:
            groups = [_resolved(group_ref, groups, "group")]
        inventory = [g for g in groups if not _is_virtual(g)]
        pairs: list[tuple[PlanGroup, Sequence[PlanVm]]] = []
        for group in inventory:
            pairs.append((group, (await self._vro.get_group_vms(plan.id, group.id)).data))
        return vms_message(plan.name, pairs, page=page, command=cmd.source)

    async def _step_owners(self, plan: Plan, cmd: ParsedCommand) -> list[tuple[str, Sequence[PlanStep]]]:
        groups = await self._groups(plan)
        vm_ref, group_ref = cmd.refs.get("vm"), cmd.refs.get("group")
        owners: list[tuple[str, Sequence[PlanStep]]] = []
        if group_ref is not None:
            groups = [_resolved(group_ref, groups, "group")]
        if vm_ref is not None:
            vms = await self._all_vms(plan, groups)
            vm = _resolved(vm_ref, vms, "VM")
            return [(vm.name, (await self._vro.get_vm_steps(plan.id, vm.id)).data)]
        for group in groups:
            if _is_virtual(group):
                owners.append((group.name, (await self._vro.get_group_steps(plan.id, group.id)).data))
            else:
                for vm in (await self._vro.get_group_vms(plan.id, group.id)).data:
                    owners.append((vm.name, (await self._vro.get_vm_steps(plan.id, vm.id)).data))
        return owners

    async def _all_vms(self, plan: Plan, groups: Sequence[PlanGroup]) -> list[PlanVm]:
        vms: list[PlanVm] = []
        for group in groups:
            if not _is_virtual(group):
                vms.extend((await self._vro.get_group_vms(plan.id, group.id)).data)
        return vms

    async def _params(self, plan: Plan, cmd: ParsedCommand) -> Message:
        owners = await self._step_owners(plan, cmd)
        step_ref = cmd.refs.get("step")
        text = step_ref.text if step_ref else cmd.args.get("step", "")
        candidates = [(owner, step) for owner, steps in owners for step in steps]
        found = rs.resolve(text, [s for _, s in candidates], kind="step")
        if not isinstance(found, rs.Found):
            raise ResolveFailed(found.message)
        step = found.item
        owner = next(o for o, s in candidates if s is step)
        parameters = await self._vro.get_step_parameters(plan.id, step.id)
        return params_message(plan.name, step.name, parameters.data, owner=owner)

    async def _status(self, plan: Plan) -> Message:
        runtime = await self._vro.get_plan_runtime(plan.id)
        groups = (await self._vro.get_groups_runtime(plan.id)).data
        vms: dict[str, Sequence[VmRuntimeDetails]] = {}
        steps: dict[str, Sequence[StepRuntimeDetails]] = {}
        # Expand only the groups that are running or went wrong: the tree stays readable.
        notable = [g for g in groups if g.executionState == "Running" or g.errorCount or g.warningCount]
        for group in notable[:MAX_RUNTIME_GROUPS_EXPANDED]:
            if _is_virtual(group):
                steps[group.id] = (await self._vro.get_group_steps_runtime(plan.id, group.id)).data
            else:
                vms[group.id] = (await self._vro.get_group_vms_runtime(plan.id, group.id)).data
        return status_message(runtime, groups, vms=vms, steps=steps)

    async def _watch(self, who: Invoker, cmd: ParsedCommand, reply: Reply) -> None:
        assert cmd.plan is not None
        plan = await self._plan(cmd.plan)
        if cmd.verb == "watch":
            await self._watcher.start_watch(
                plan.id, who.channel_id, plan_name=plan.name, requested_by=who.user_id
            )
            await reply(notice_message(WATCH_STARTED.format(plan=plan.name), emoji=":eyes:"))
            return
        stopped = await self._watcher.stop_watch(plan.id, who.channel_id)
        text = WATCH_STOPPED if stopped else WATCH_NOT_FOUND
        await reply(notice_message(text.format(plan=plan.name)))

    # --- actions -----------------------------------------------------------------------

    async def _action(self, who: Invoker, cmd: ParsedCommand, reply: Reply) -> str:
        assert cmd.plan is not None
        assert cmd.action is not None
        # Channel and role first: names are resolved (with "did you mean" answers) only for
        # someone who may ask for this action at all.
        refused = await self._approvals.refuse_requester(
            who.user_id, cmd.verb, who.channel_id, surface=f"command.{cmd.verb}", plan_text=cmd.plan
        )
        if refused is not None:
            await reply(notice_message(refused.message, emoji=":no_entry:"))
            return "refused"
        unavailable = not_available_reason(spec_of(cmd.action), await self._vro.negotiate())
        if unavailable is not None:  # e.g. `scan` on VRO 7.2.1: no card, nothing to approve
            await reply(notice_message(f"{unavailable} Nothing was sent.", emoji=":no_entry:"))
            return "refused"
        plan = await self._vro.get_plan((await self._plan(cmd.plan)).id)
        resolved = await self._resolve_refs(cmd)
        params = cmd.perform_params(resolved)
        # The request, its card and (with no approval needed) its send and watch are written by
        # the approval service with their own changes; the card goes out through the outbox.
        outcome = await self._approvals.request(
            requester=who.user_id,
            verb=cmd.verb,
            action=cmd.action,
            plan=plan,
            params=params,
            reason=cmd.reason,
            channel=who.channel_id,
            param_names=_param_names(cmd, resolved),
        )
        if outcome.refusal is Refusal.READINESS:
            await reply(readiness_refusal_message(outcome.message, plan_id=plan.id))
            return "refused"
        if outcome.kind is OutcomeKind.REFUSED or outcome.request is None:
            await reply(notice_message(outcome.message, emoji=":no_entry:"))
            return "refused"
        self._record_approval(str(outcome.kind))
        return str(outcome.kind)

    async def _resolve_refs(self, cmd: ParsedCommand) -> dict[str, str]:
        resolved: dict[str, str] = {}
        for name, ref in cmd.refs.items():
            if ref.param is None:
                continue
            if ref.kind is RefKind.LOCATION:
                locations = list((await self._vro.get_recovery_locations()).data)
                resolved[name] = _resolved(ref, locations, "recovery location").id
            elif ref.kind is RefKind.PLAN:
                resolved[name] = (await self._plan(ref.text)).id
            else:
                raise ResolveFailed(f"I can't use a {ref.kind} as `{name}` here.")
        return resolved

    # --- clicks ------------------------------------------------------------------------

    async def record_decision(self, who: Invoker, request_id: str, approve: bool) -> Outcome | None:
        """Record an Approve or Deny click (before it is acknowledged); ``None`` if that failed.

        Only the request id comes from Slack. A quorum met here comes back ``APPROVED``: the send
        is :meth:`after_decision`'s, after the ack.
        """
        try:
            with before_ack():
                if approve:
                    return await self._approvals.approve(request_id, who.user_id, execute=False)
                return await self._approvals.deny(request_id, who.user_id)
        except Exception:
            log.exception("decision on %s failed", request_id)
            return None

    async def after_decision(self, who: Invoker, outcome: Outcome | None, reply: Reply) -> None:
        """The slow part of a click: send when the quorum was met; answer the clicker."""
        if outcome is None:
            await reply(notice_message(UNEXPECTED, emoji=":warning:"))
            return
        self._record_approval(str(outcome.kind) if not outcome.refused else f"refused_{outcome.refusal}")
        if outcome.refused or outcome.kind is OutcomeKind.IN_PROGRESS:
            await reply(
                notice_message(outcome.message, emoji=":no_entry:" if outcome.refused else ":hourglass:")
            )
            return
        if outcome.kind is OutcomeKind.APPROVED and outcome.request is not None:
            sent = await self._approvals.execute_approved(outcome.request.id, actor=who.user_id)
            self._record_approval(str(sent.kind))
            if sent.kind is OutcomeKind.IN_PROGRESS:
                await reply(notice_message(sent.message, emoji=":hourglass:"))
            return  # the card and its thread tell the channel what VRO answered
        await reply(notice_message(outcome.message, emoji=":white_check_mark:"))

    async def decide(self, who: Invoker, request_id: str, approve: bool, reply: Reply) -> None:
        """An Approve or Deny click, recorded and then carried out (where no ack sits in between)."""
        await self.after_decision(who, await self.record_decision(who, request_id, approve), reply)

    async def send_held(self, who: Invoker, request_id: str, reply: Reply) -> None:
        """A Send click on a held request: the approval service checks everything again first."""
        try:
            outcome = await self._approvals.send_held(request_id, who.user_id)
        except Exception:
            log.exception("send of held request %s failed", request_id)
            await reply(notice_message(UNEXPECTED, emoji=":warning:"))
            return
        self._record_approval(str(outcome.kind) if not outcome.refused else f"refused_{outcome.refusal}")
        if outcome.refused or outcome.kind is OutcomeKind.IN_PROGRESS:
            await reply(notice_message(outcome.message, emoji=":no_entry:"))

    async def expire_due(self) -> int:
        """Close expired requests (their cards are redrawn through the outbox); how many expired."""
        return len(await self._approvals.expire_due())

    # --- name resolution ---------------------------------------------------------------

    async def plans(self) -> list[Plan]:
        return [p async for p in self._vro.iter_plans()]

    async def _plan(self, text: str) -> Plan:
        plans = await self.plans()
        found = rs.resolve(text, plans, kind="plan")
        if isinstance(found, rs.Found):
            return found.item
        raise ResolveFailed(found.message)

    async def find_plan(self, plan_id: str) -> Plan | None:
        try:
            return await self._vro.get_plan(plan_id)
        except VroNotFound:
            return None


class _Refused(Exception):
    pass


def _resolved(ref: Ref, items: Sequence[Any], noun: str) -> Any:
    found = rs.resolve(ref.text, items, kind=noun)
    if isinstance(found, rs.Found):
        return found.item
    raise ResolveFailed(found.message)


def _is_virtual(group: PlanGroup | GroupRuntimeDetails) -> bool:
    return (group.groupType or "").lower().startswith("virtual")


def _usage(cmd: ParsedCommand) -> list[str]:
    return list(cmd.spec.usage_lines)


def _short(exc: Exception) -> str:
    text = str(exc)
    return text if len(text) <= 200 else text[:199] + "…"


def _param_names(cmd: ParsedCommand, resolved: Mapping[str, str]) -> dict[str, str]:
    """Ids in the params mapped back to what the user typed, for the card."""
    return {resolved[name]: ref.text for name, ref in cmd.refs.items() if name in resolved}
