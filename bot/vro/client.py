"""The async VRO REST client: one method per operation of the VRO REST API (v7.21 to v13.x).

Paths are VRO's documented PascalCase under ``/api/{version}/``; ids are URL-quoted. The
version is ``VRO_API_VERSION`` when set, else negotiated (``auto``): the newest version of
:data:`~bot.vro.operations.KNOWN_API_VERSIONS` the server answers, probed with one cheap
``GET /Plans?limit=1`` per version on first use, and again after a 404 (or 400, 405, 500)
when the version in use stops answering (VRO was upgraded). Plan actions are sent as the action table
(:mod:`bot.vro.operations`) describes them for that version; an action the version lacks is
refused with :class:`VroNotAvailable` before anything is sent.

Every answer is parsed into a model from :mod:`bot.vro.models` on arrival, every failure is
raised as one of :mod:`bot.vro.errors`. GETs are retried on :class:`VroUnavailable` following a
:class:`RetryPolicy` (waits go through the injected clock); actions (POST / PUT / DELETE) are
never retried automatically: a second Failover is not ours to send.

The transport is the seam for tests and for the simulator::

    VroClient(base_url="http://vro", credentials=..., transport=httpx.ASGITransport(app=sim))

The client is built in layers, one module each:

* :mod:`bot.vro.request`: what one request is (path, words for errors, paging keywords) [pure];
* :mod:`bot.vro.answers`: what an answer means (the typed error for each failure);
* :mod:`bot.vro.transport`: :class:`VroTransport`, version negotiation, token, retries, sending;
* :mod:`bot.vro.reads`: :class:`VroReads`, the GETs;
* this module: :class:`VroClient`, the plan actions and the API clients / MFA enrolment.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import httpx
import pydantic

from bot.vro.actions import validate_params
from bot.vro.answers import parse_clone, unexpected
from bot.vro.errors import VroNotAvailable
from bot.vro.models import ClientCredentials, CloneResult, MfaCode
from bot.vro.operations import ActionSpec, PlanAction, product_name, spec_of, version_key
from bot.vro.reads import VroReads
from bot.vro.request import Op, make_op
from bot.vro.transport import DEFAULT_API_VERSION, RetryPolicy, tls_verify

log = logging.getLogger(__name__)

_CLIENTS_UNTIL: Final = "v13"  # [D13] the Clients tag is gone from v13


@dataclass(frozen=True, slots=True)
class ActionAccepted:
    """VRO accepted an action (it runs on; follow it through RuntimeDetails)."""

    status_code: int


class VroClient(VroReads):
    """Async client for the VRO REST API. Use as ``async with VroClient(...) as vro:``."""

    # --- auth-related ---------------------------------------------------------------------

    async def _clients_op(self, method: str, target: str, action: str | None = None) -> Op:
        version = await self.negotiate()
        if version_key(version) >= version_key(_CLIENTS_UNTIL):
            raise VroNotAvailable(
                f"API clients are not available on {product_name(version)} (REST API {version}): "
                f"VRO removed them in {product_name(_CLIENTS_UNTIL)}; log in with a user account.",
                method=method,
                path=f"/api/{version}/Clients",
            )
        return Op(method, ("Clients",), target=target, action=action)

    async def create_client(self) -> ClientCredentials:
        """``POST /Clients`` (up to v7.21): register an API client; its secret is shown only once."""
        op = await self._clients_op("POST", "a new API client", "Create client")
        return self._parse(ClientCredentials, await self._send(op), op)

    async def list_clients(self) -> list[str]:
        """``GET /Clients`` (up to v7.21): ids of the API clients this account may see."""
        op = await self._clients_op("GET", "the API clients")
        response = await self._get(op)
        try:
            return pydantic.TypeAdapter(list[str]).validate_json(response.content)
        except pydantic.ValidationError as exc:
            raise unexpected(op.on(self.api_version or ""), response, exc) from None

    async def delete_client(self, client_id: str) -> None:
        """``DELETE /Clients?clientId=`` (up to v7.21)."""
        op = await self._clients_op("DELETE", f"API client {client_id}", "Delete client")
        await self._send(op, params={"clientId": client_id})

    async def generate_mfa_code(self, mfa_token: str) -> MfaCode:
        """``POST /Mfa/GenerateMfaCode``: the TOTP secret to enrol (one time per user).

        Sent with the user's bearer token, as the reference documents ("userAuth or clientAuth"
        in v7.21, "userAuth" in v13) [D721][D13].
        """
        op = make_op("POST", "Mfa", "GenerateMfaCode", target="an MFA code", action="Generate MFA code")
        response = await self._send(op, json_body={"mfaToken": mfa_token})
        return self._parse(MfaCode, response, op)

    # --- plan actions (never retried) -------------------------------------------------------

    async def run_action(
        self, action: ActionSpec | PlanAction | str, plan_id: str, values: Mapping[str, Any] | None = None
    ) -> ActionAccepted:
        """Send one plan action as the action table describes it for the server's version.

        ``values`` are checked by :func:`bot.vro.actions.validate_params` first (bad ones raise
        :class:`ValueError`, nothing sent). Failback and Restore always name a recovery location:
        the plan's own, read from VRO, unless one is given. Never retried.
        """
        spec = action if isinstance(action, ActionSpec) else spec_of(action)
        response = await self._send_action(spec, plan_id, values)
        log.info("VRO accepted %s for plan %s", spec.label, plan_id)
        return ActionAccepted(response.status_code)

    async def _send_action(
        self, spec: ActionSpec, plan_id: str, values: Mapping[str, Any] | None
    ) -> httpx.Response:
        kwargs = validate_params(spec.action, values)
        await self.check_available(spec)
        if spec.param("restore_location_id") and not kwargs.get("restore_location_id"):
            kwargs["restore_location_id"] = await self._own_location(spec, plan_id)
        version = await self.negotiate()
        request = spec.body(kwargs, self._zone)
        op = _action_op(spec, plan_id, version)
        return await self._send(op, params=request.query or None, json_body=request.body)

    async def _own_location(self, spec: ActionSpec, plan_id: str) -> str:
        plan = await self.get_plan(plan_id)
        if not plan.recoveryLocationId:
            raise ValueError(
                f"{spec.label}: VRO does not say which recovery location plan {plan.name} uses; "
                "name one with --location"
            )
        return plan.recoveryLocationId

    async def enable_plan(self, plan_id: str) -> ActionAccepted:
        """``POST /Plans/{planId}/Enable``."""
        return await self.run_action(PlanAction.ENABLE, plan_id)

    async def disable_plan(self, plan_id: str) -> ActionAccepted:
        """``POST /Plans/{planId}/Disable``."""
        return await self.run_action(PlanAction.DISABLE, plan_id)

    async def halt_plan(self, plan_id: str, *, full_stop: bool = False) -> ActionAccepted:
        """``POST /Plans/{planId}/Halt``; ``full_stop`` also stops the plans chained after it."""
        return await self.run_action(PlanAction.HALT, plan_id, {"full_stop": full_stop})

    async def permanent_failover(self, plan_id: str) -> ActionAccepted:
        """``POST /Plans/{planId}/PermanentFailover``."""
        return await self.run_action(PlanAction.PERMANENT_FAILOVER, plan_id)

    async def prepare_to_failback(self, plan_id: str) -> ActionAccepted:
        """``POST /Plans/{planId}/PrepareToFailback``."""
        return await self.run_action(PlanAction.PREPARE_TO_FAILBACK, plan_id)

    async def switchover_to_production(self, plan_id: str) -> ActionAccepted:
        """``POST /Plans/{planId}/SwitchoverToProduction``."""
        return await self.run_action(PlanAction.SWITCHOVER_TO_PRODUCTION, plan_id)

    async def failback_to_production(
        self,
        plan_id: str,
        *,
        restore_location_id: str | None = None,
        failback_restore_vm_tags: bool = False,
    ) -> ActionAccepted:
        """``POST /Plans/{planId}/FailbackToProduction`` (default location: the plan's own)."""
        values = {
            "restore_location_id": restore_location_id,
            "failback_restore_vm_tags": failback_restore_vm_tags,
        }
        return await self.run_action(PlanAction.FAILBACK_TO_PRODUCTION, plan_id, values)

    async def commit_failback(self, plan_id: str) -> ActionAccepted:
        """``POST /Plans/{planId}/CommitFailback``."""
        return await self.run_action(PlanAction.COMMIT_FAILBACK, plan_id)

    async def undo_plan(self, plan_id: str) -> ActionAccepted:
        """``POST /Plans/{planId}/Undo``."""
        return await self.run_action(PlanAction.UNDO, plan_id)

    async def reset_state(self, plan_id: str, *, execute_readiness_check: bool = False) -> ActionAccepted:
        """``POST /Plans/{planId}/ResetState``."""
        values = {"execute_readiness_check": execute_readiness_check}
        return await self.run_action(PlanAction.RESET_STATE, plan_id, values)

    async def reset_change_log(self, plan_id: str, *, generate_dr_report: bool = False) -> ActionAccepted:
        """``POST /Plans/{planId}/ResetChangeLog`` (Clear Change Log History; up to v7.21)."""
        values = {"generate_dr_report": generate_dr_report}
        return await self.run_action(PlanAction.RESET_CHANGE_LOG, plan_id, values)

    async def failover(
        self,
        plan_id: str,
        *,
        restore_point_date: datetime | None = None,
        execute_chained_plans: bool = False,
        protect_storage_volumes: bool = False,
    ) -> ActionAccepted:
        """``POST /Plans/{planId}/Failover``; no ``restore_point_date`` means the latest point."""
        values = {
            "restore_point_date": restore_point_date,
            "execute_chained_plans": execute_chained_plans,
            "protect_storage_volumes": protect_storage_volumes,
        }
        return await self.run_action(PlanAction.FAILOVER, plan_id, values)

    async def restore(
        self,
        plan_id: str,
        *,
        restore_location_id: str | None = None,
        restore_point_date: datetime | None = None,
        execute_chained_plans: bool = False,
        protect_storage_volumes: bool = False,
        virus_scan: bool = False,
        yara_scan: bool = False,
        yara_rule_id: str | None = None,
    ) -> ActionAccepted:
        """``POST /Plans/{planId}/Restore`` (restore plans; default location: the plan's own)."""
        values = {
            "restore_location_id": restore_location_id,
            "restore_point_date": restore_point_date,
            "execute_chained_plans": execute_chained_plans,
            "protect_storage_volumes": protect_storage_volumes,
            "virus_scan": virus_scan,
            "yara_scan": yara_scan,
            "yara_rule_id": yara_rule_id,
        }
        return await self.run_action(PlanAction.RESTORE, plan_id, values)

    async def malware_scan(self, plan_id: str) -> ActionAccepted:
        """``POST /Plans/{planId}/MalwareScan`` (restore plans, v13+)."""
        return await self.run_action(PlanAction.MALWARE_SCAN, plan_id)

    async def continue_plan(self, plan_id: str, option: str) -> ActionAccepted:
        """``POST /Plans/{planId}/Continue`` with a :class:`~bot.vro.models.ContinueOption`."""
        return await self.run_action(PlanAction.CONTINUE, plan_id, {"option": option})

    async def readiness_check(self, plan_id: str, *, generate_report: bool = False) -> ActionAccepted:
        """``POST /Plans/{planId}/ReadinessCheck``."""
        return await self.run_action(
            PlanAction.READINESS_CHECK, plan_id, {"generate_report": generate_report}
        )

    async def delete_schedule(self, plan_id: str) -> ActionAccepted:
        """``DELETE /Plans/{planId}/Schedule``."""
        return await self.run_action(PlanAction.DELETE_SCHEDULE, plan_id)

    async def schedule_at(self, plan_id: str, start_time: datetime) -> ActionAccepted:
        """``PUT /Plans/{planId}/Schedule/SaveTime?startTime=`` (POST from v13.1), in VRO's zone."""
        return await self.run_action(PlanAction.SCHEDULE_AT, plan_id, {"start_time": start_time})

    async def schedule_after(self, plan_id: str, previous_plan_id: str) -> ActionAccepted:
        """``PUT /Plans/{planId}/Schedule/SaveRunAfter?previousPlanId=``."""
        values = {"previous_plan_id": previous_plan_id}
        return await self.run_action(PlanAction.SCHEDULE_AFTER, plan_id, values)

    async def clone_plan(self, plan_id: str, *, name: str | None = None) -> CloneResult:
        """``POST /Plans/{planId}/Clone``; the result's ``data`` holds the new plan's id if VRO says."""
        spec = spec_of(PlanAction.CLONE)
        response = await self._send_action(spec, plan_id, {"name": name})
        version = self.api_version or ""
        return parse_clone(response, _action_op(spec, plan_id, version).on(version), self._context)


def _action_op(spec: ActionSpec, plan_id: str, version: str) -> Op:
    """The request of a plan action as the table describes it for ``version``."""
    wire = spec.wire_for(version)
    return make_op(wire.method, "Plans", plan_id, *wire.segments, target=f"plan {plan_id}", action=spec.label)


__all__ = [
    "DEFAULT_API_VERSION",
    "ActionAccepted",
    "RetryPolicy",
    "VroClient",
    "tls_verify",
]
