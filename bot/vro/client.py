"""The async VRO REST client: one method per operation of the v7.21 API.

Paths are VRO's documented PascalCase under ``/api/{api_version}/``; ids are URL-quoted.
Every answer is parsed into a model from :mod:`bot.vro.models` on arrival, every failure is
raised as one of :mod:`bot.vro.errors`. GETs are retried on :class:`VroUnavailable` following a
:class:`RetryPolicy` (waits go through the injected clock); actions (POST / PUT / DELETE) are
never retried automatically: a second Failover is not ours to send.

The transport is the seam for tests and for the simulator::

    VroClient(base_url="http://vro", credentials=..., transport=httpx.ASGITransport(app=sim))
"""

from __future__ import annotations

import logging
import random
import ssl
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Final, Self, TypeVar
from urllib.parse import quote

import httpx
import pydantic

from bot.clock import Clock, SystemClock
from bot.errors import ConfigError
from bot.vro.auth import (
    Credentials,
    TokenManager,
    body_kind,
    transport_problem,
    vro_message_of,
)
from bot.vro.errors import (
    VroAuthError,
    VroError,
    VroNotFound,
    VroRejected,
    VroUnavailable,
    VroUnexpected,
)
from bot.vro.models import (
    ClientCredentials,
    CloneResult,
    ExecutionDetail,
    GroupRuntimeDetails,
    LicenseUsage,
    MfaCode,
    Page,
    Plan,
    PlanGroup,
    PlanRuntimeDetails,
    PlanStep,
    PlanVm,
    RecoveryLocation,
    Scope,
    StepParameter,
    StepRuntimeDetails,
    VmRuntimeDetails,
    YaraRule,
)
from bot.vro.query import FilterArg, SortArg, encode_filter, encode_sort

log = logging.getLogger(__name__)

DEFAULT_API_VERSION: Final = "v7.21"
DEFAULT_TIMEOUT_SECONDS: Final = 30.0
DEFAULT_PAGE_SIZE: Final = 100

DEFAULT_RETRY_ATTEMPTS: Final = 4
DEFAULT_RETRY_INITIAL_SECONDS: Final = 0.5
DEFAULT_RETRY_MULTIPLIER: Final = 2.0
DEFAULT_RETRY_MAX_WAIT_SECONDS: Final = 8.0
DEFAULT_RETRY_JITTER: Final = 0.25
DEFAULT_RETRY_TOTAL_SECONDS: Final = 30.0

M = TypeVar("M", bound=pydantic.BaseModel)

# Parametrized once: ``Page[X]`` costs a cache lookup in pydantic on every evaluation, and the
# watcher reads these pages many times a second.
_GROUPS_RUNTIME: Final = Page[GroupRuntimeDetails]
_VMS_RUNTIME: Final = Page[VmRuntimeDetails]
_STEPS_RUNTIME: Final = Page[StepRuntimeDetails]
_EXECUTION_DETAILS: Final = Page[ExecutionDetail]


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """How GETs are retried on :class:`VroUnavailable`.

    The n-th wait is ``initial * multiplier**(n-1)``, capped at ``max_wait``, plus up to
    ``jitter`` of itself at random. No more than ``attempts`` tries, and no wait that would take
    the whole call past ``total_seconds``.
    """

    attempts: int = DEFAULT_RETRY_ATTEMPTS
    initial: float = DEFAULT_RETRY_INITIAL_SECONDS
    multiplier: float = DEFAULT_RETRY_MULTIPLIER
    max_wait: float = DEFAULT_RETRY_MAX_WAIT_SECONDS
    jitter: float = DEFAULT_RETRY_JITTER
    total_seconds: float = DEFAULT_RETRY_TOTAL_SECONDS

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("RetryPolicy.attempts must be at least 1")
        if self.initial < 0 or self.max_wait < 0 or self.total_seconds < 0 or not 0 <= self.jitter <= 1:
            raise ValueError("RetryPolicy waits must be >= 0 and jitter within [0, 1]")

    @classmethod
    def never(cls) -> RetryPolicy:
        """One attempt only."""
        return cls(attempts=1)

    def wait(self, retry: int, rand: float) -> float:
        """Seconds to wait before retry number ``retry`` (1-based); ``rand`` is in [0, 1)."""
        base = min(self.max_wait, self.initial * self.multiplier ** (retry - 1))
        return base * (1 + self.jitter * rand)


@dataclass(frozen=True, slots=True)
class ActionAccepted:
    """VRO accepted an action (it runs on; follow it through RuntimeDetails)."""

    status_code: int


@dataclass(frozen=True, slots=True)
class _Op:
    """One request, with the words used to explain its failure to a Slack user."""

    method: str
    path: str
    target: str  # what it is about: "plan 1234", "the plans"
    action: str | None = None  # the VRO operation for POST / PUT / DELETE: "Failover"

    @property
    def label(self) -> str:
        return f"{self.action} for {self.target}" if self.action else self.target


def _iso(moment: datetime, what: str) -> str:
    if moment.tzinfo is None:
        raise ValueError(f"{what} must carry a timezone (e.g. 2026-01-01T12:00:00+00:00)")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def tls_verify(*, ca_bundle: str | None, verify_tls: bool) -> ssl.SSLContext | bool:
    """httpx's ``verify`` from ``VRO_CA_BUNDLE`` / ``VRO_VERIFY_TLS``."""
    if ca_bundle:
        try:
            return ssl.create_default_context(cafile=ca_bundle)
        except (OSError, ssl.SSLError):
            raise ConfigError(
                "VRO_CA_BUNDLE: cannot read a CA certificate from that file (PEM expected)"
            ) from None
    return verify_tls


class VroClient:
    """Async client for the VRO REST API. Use as ``async with VroClient(...) as vro:``."""

    def __init__(
        self,
        *,
        base_url: str,
        credentials: Credentials,
        api_version: str = DEFAULT_API_VERSION,
        transport: httpx.AsyncBaseTransport | None = None,
        verify: bool | str | ssl.SSLContext = True,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        clock: Clock | None = None,
        retry: RetryPolicy | None = None,
        rng: random.Random | None = None,
        event_hooks: Mapping[str, list[Callable[..., Any]]] | None = None,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._api_version = api_version.strip("/")
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._retry = retry if retry is not None else RetryPolicy()
        # Jitter only needs to spread retries, not to be unpredictable.
        self._rng = rng if rng is not None else random.Random()  # noqa: S311
        if isinstance(verify, str):
            verify = tls_verify(ca_bundle=verify, verify_tls=True)
        self._http = httpx.AsyncClient(
            base_url=self._base_url,
            transport=transport,
            verify=verify,
            timeout=timeout,
            headers={"Accept": "application/json"},
            follow_redirects=False,
            event_hooks=dict(event_hooks) if event_hooks else None,
        )
        self._tokens = TokenManager(http=self._http, credentials=credentials, clock=self._clock)

    def __repr__(self) -> str:
        return f"VroClient(base_url={self._base_url!r}, api_version={self._api_version!r})"

    async def aclose(self) -> None:
        await self._http.aclose()

    async def ensure_token(self) -> None:
        """Obtain (or reuse) an access token: the readiness probe's "VRO accepts our credentials"."""
        await self._tokens.access_token()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # --- auth-related ---------------------------------------------------------------------

    async def create_client(self) -> ClientCredentials:
        """``POST /Clients``: register an API client; its secret is shown only this once."""
        op = self._op("POST", "Clients", target="a new API client", action="Create client")
        return _parse(ClientCredentials, await self._send(op), op)

    async def list_clients(self) -> list[str]:
        """``GET /Clients``: ids of the API clients this account may see."""
        op = self._op("GET", "Clients", target="the API clients")
        response = await self._get(op)
        try:
            return pydantic.TypeAdapter(list[str]).validate_json(response.content)
        except pydantic.ValidationError as exc:
            raise _unexpected(op, response, exc) from None

    async def delete_client(self, client_id: str) -> None:
        """``DELETE /Clients?clientId=``."""
        op = self._op("DELETE", "Clients", target=f"API client {client_id}", action="Delete client")
        await self._send(op, params={"clientId": client_id})

    async def generate_mfa_code(self, mfa_token: str) -> MfaCode:
        """``POST /Mfa/GenerateMfaCode``: the TOTP secret to enrol, during an MFA login.

        Sent without a bearer token: the caller is half-way through logging in and holds only
        the ``mfa_token`` VRO gave it.
        """
        op = self._op("POST", "Mfa", "GenerateMfaCode", target="an MFA code", action="Generate MFA code")
        response = await self._send(op, json_body={"mfaToken": mfa_token}, authorized=False)
        return _parse(MfaCode, response, op)

    # --- plans ------------------------------------------------------------------------------

    async def get_plans(
        self,
        *,
        start: int | None = None,
        limit: int | None = None,
        filter: FilterArg = None,
        sort: SortArg = None,
        only_enabled: bool = False,
    ) -> Page[Plan]:
        """``GET /Plans``: one page of plans."""
        op = self._op("GET", "Plans", target="the plans")
        params = _collection_params(start, limit, filter, sort)
        if only_enabled:
            params["onlyEnabled"] = "true"
        return _parse(Page[Plan], await self._get(op, params), op)

    async def iter_plans(
        self,
        *,
        filter: FilterArg = None,
        sort: SortArg = None,
        only_enabled: bool = False,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> AsyncIterator[Plan]:
        """Every plan matching ``filter``, page by page."""
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        start = 0
        while True:
            page = await self.get_plans(
                start=start, limit=page_size, filter=filter, sort=sort, only_enabled=only_enabled
            )
            for plan in page.data:
                yield plan
            start += len(page.data)
            if not page.data or start >= page.total:
                return

    async def get_plan(self, plan_id: str) -> Plan:
        """``GET /Plans/{planId}``."""
        op = self._op("GET", "Plans", plan_id, target=f"plan {plan_id}")
        return _parse(Plan, await self._get(op), op)

    async def get_plan_groups(
        self,
        plan_id: str,
        *,
        start: int | None = None,
        limit: int | None = None,
        filter: FilterArg = None,
        sort: SortArg = None,
    ) -> Page[PlanGroup]:
        """``GET /Plans/{planId}/Groups``."""
        op = self._op("GET", "Plans", plan_id, "Groups", target=f"the groups of plan {plan_id}")
        params = _collection_params(start, limit, filter, sort)
        return _parse(Page[PlanGroup], await self._get(op, params), op)

    async def get_group_vms(
        self,
        plan_id: str,
        group_id: str,
        *,
        start: int | None = None,
        limit: int | None = None,
        filter: FilterArg = None,
        sort: SortArg = None,
    ) -> Page[PlanVm]:
        """``GET /Plans/{planId}/Groups/{groupId}/Vms``: the VMs of an inventory group."""
        op = self._op(
            "GET",
            "Plans",
            plan_id,
            "Groups",
            group_id,
            "Vms",
            target=f"the VMs of group {group_id} in plan {plan_id}",
        )
        params = _collection_params(start, limit, filter, sort)
        return _parse(Page[PlanVm], await self._get(op, params), op)

    async def get_group_steps(
        self,
        plan_id: str,
        group_id: str,
        *,
        start: int | None = None,
        limit: int | None = None,
        filter: FilterArg = None,
        sort: SortArg = None,
    ) -> Page[PlanStep]:
        """``GET /Plans/{planId}/Groups/{groupId}/Steps``: the steps of a virtual group."""
        op = self._op(
            "GET",
            "Plans",
            plan_id,
            "Groups",
            group_id,
            "Steps",
            target=f"the steps of group {group_id} in plan {plan_id}",
        )
        params = _collection_params(start, limit, filter, sort)
        return _parse(Page[PlanStep], await self._get(op, params), op)

    async def get_vm_steps(
        self,
        plan_id: str,
        vm_id: str,
        *,
        start: int | None = None,
        limit: int | None = None,
        filter: FilterArg = None,
        sort: SortArg = None,
    ) -> Page[PlanStep]:
        """``GET /Plans/{planId}/Vms/{vmId}/Steps``."""
        op = self._op(
            "GET",
            "Plans",
            plan_id,
            "Vms",
            vm_id,
            "Steps",
            target=f"the steps of VM {vm_id} in plan {plan_id}",
        )
        params = _collection_params(start, limit, filter, sort)
        return _parse(Page[PlanStep], await self._get(op, params), op)

    async def get_step_parameters(
        self,
        plan_id: str,
        step_id: str,
        *,
        start: int | None = None,
        limit: int | None = None,
        filter: FilterArg = None,
        sort: SortArg = None,
    ) -> Page[StepParameter]:
        """``GET /Plans/{planId}/Steps/{stepId}/Parameters``."""
        op = self._op(
            "GET",
            "Plans",
            plan_id,
            "Steps",
            step_id,
            "Parameters",
            target=f"the parameters of step {step_id} in plan {plan_id}",
        )
        params = _collection_params(start, limit, filter, sort)
        return _parse(Page[StepParameter], await self._get(op, params), op)

    # --- plan actions (never retried) -------------------------------------------------------

    async def enable_plan(self, plan_id: str) -> ActionAccepted:
        """``POST /Plans/{planId}/Enable``."""
        return await self._plan_action(plan_id, "Enable")

    async def disable_plan(self, plan_id: str) -> ActionAccepted:
        """``POST /Plans/{planId}/Disable``."""
        return await self._plan_action(plan_id, "Disable")

    async def halt_plan(self, plan_id: str, *, full_stop: bool = False) -> ActionAccepted:
        """``POST /Plans/{planId}/Halt``; ``full_stop`` also stops the plans chained after it."""
        return await self._plan_action(plan_id, "Halt", {"fullStop": full_stop})

    async def permanent_failover(self, plan_id: str) -> ActionAccepted:
        """``POST /Plans/{planId}/PermanentFailover``."""
        return await self._plan_action(plan_id, "PermanentFailover", label="Permanent failover")

    async def prepare_to_failback(self, plan_id: str) -> ActionAccepted:
        """``POST /Plans/{planId}/PrepareToFailback``."""
        return await self._plan_action(plan_id, "PrepareToFailback", label="Prepare for failback")

    async def switchover_to_production(self, plan_id: str) -> ActionAccepted:
        """``POST /Plans/{planId}/SwitchoverToProduction``."""
        return await self._plan_action(plan_id, "SwitchoverToProduction", label="Switchover to production")

    async def failback_to_production(
        self,
        plan_id: str,
        *,
        restore_location_id: str | None = None,
        failback_restore_vm_tags: bool = False,
    ) -> ActionAccepted:
        """``POST /Plans/{planId}/FailbackToProduction``."""
        body: dict[str, Any] = {"failbackRestoreVMTags": failback_restore_vm_tags}
        if restore_location_id is not None:
            body["restoreLocationId"] = restore_location_id
        return await self._plan_action(plan_id, "FailbackToProduction", body, label="Failback")

    async def commit_failback(self, plan_id: str) -> ActionAccepted:
        """``POST /Plans/{planId}/CommitFailback``."""
        return await self._plan_action(plan_id, "CommitFailback", label="Commit failback")

    async def undo_plan(self, plan_id: str) -> ActionAccepted:
        """``POST /Plans/{planId}/Undo``."""
        return await self._plan_action(plan_id, "Undo")

    async def reset_state(self, plan_id: str, *, execute_readiness_check: bool = False) -> ActionAccepted:
        """``POST /Plans/{planId}/ResetState``."""
        body = {"executeReadinessCheck": execute_readiness_check}
        return await self._plan_action(plan_id, "ResetState", body, label="Reset")

    async def reset_change_log(self, plan_id: str, *, generate_dr_report: bool = False) -> ActionAccepted:
        """``POST /Plans/{planId}/ResetChangeLog`` (Clear Change Log History)."""
        body = {"generateDrReport": generate_dr_report}
        return await self._plan_action(plan_id, "ResetChangeLog", body, label="Clear change log")

    async def failover(
        self,
        plan_id: str,
        *,
        restore_point_date: datetime | None = None,
        execute_chained_plans: bool = False,
        protect_storage_volumes: bool = False,
    ) -> ActionAccepted:
        """``POST /Plans/{planId}/Failover``; no ``restore_point_date`` means the latest point."""
        body = {
            "executeChainedPlans": execute_chained_plans,
            "restorePointDate": _iso(restore_point_date, "restore_point_date")
            if restore_point_date
            else None,
            "protectStorageVolumes": protect_storage_volumes,
        }
        return await self._plan_action(plan_id, "Failover", body)

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
        """``POST /Plans/{planId}/Restore`` (restore plans)."""
        if yara_scan and not yara_rule_id:
            raise ValueError("a YARA scan needs yara_rule_id (see GET /Scopes/{scopeId}/YaraRules)")
        body: dict[str, Any] = {
            "executeChainedPlans": execute_chained_plans,
            "restorePointDate": _iso(restore_point_date, "restore_point_date")
            if restore_point_date
            else None,
            "protectStorageVolumes": protect_storage_volumes,
            "virusScan": virus_scan,
            "yaraScan": yara_scan,
        }
        if restore_location_id is not None:
            body["restoreLocationId"] = restore_location_id
        if yara_rule_id is not None:
            body["yaraRuleId"] = yara_rule_id
        return await self._plan_action(plan_id, "Restore", body)

    async def continue_plan(self, plan_id: str, option: str) -> ActionAccepted:
        """``POST /Plans/{planId}/Continue`` with a :class:`~bot.vro.models.ContinueOption`."""
        return await self._plan_action(plan_id, "Continue", {"executionContinueOptions": option})

    async def readiness_check(self, plan_id: str, *, generate_report: bool = False) -> ActionAccepted:
        """``POST /Plans/{planId}/ReadinessCheck``."""
        body = {"generateReport": generate_report}
        return await self._plan_action(plan_id, "ReadinessCheck", body, label="Readiness check")

    async def delete_schedule(self, plan_id: str) -> ActionAccepted:
        """``DELETE /Plans/{planId}/Schedule``."""
        op = self._op(
            "DELETE", "Plans", plan_id, "Schedule", target=f"plan {plan_id}", action="Delete schedule"
        )
        return ActionAccepted((await self._send(op)).status_code)

    async def schedule_at(self, plan_id: str, start_time: datetime) -> ActionAccepted:
        """``PUT /Plans/{planId}/Schedule/SaveTime?startTime=`` (time in UTC)."""
        op = self._op(
            "PUT", "Plans", plan_id, "Schedule", "SaveTime", target=f"plan {plan_id}", action="Schedule"
        )
        response = await self._send(op, params={"startTime": _iso(start_time, "start_time")})
        return ActionAccepted(response.status_code)

    async def schedule_after(self, plan_id: str, previous_plan_id: str) -> ActionAccepted:
        """``PUT /Plans/{planId}/Schedule/SaveRunAfter?previousPlanId=``."""
        op = self._op(
            "PUT", "Plans", plan_id, "Schedule", "SaveRunAfter", target=f"plan {plan_id}", action="Schedule"
        )
        response = await self._send(op, params={"previousPlanId": previous_plan_id})
        return ActionAccepted(response.status_code)

    async def clone_plan(self, plan_id: str, *, name: str | None = None) -> CloneResult:
        """``POST /Plans/{planId}/Clone``; the result's ``data`` holds the new plan's id if VRO says."""
        op = self._op("POST", "Plans", plan_id, "Clone", target=f"plan {plan_id}", action="Clone")
        response = await self._send(op, json_body={"name": name} if name is not None else None)
        return _parse_clone(response, op)

    # --- recovery locations, scopes, license ------------------------------------------------

    async def get_recovery_locations(
        self,
        *,
        start: int | None = None,
        limit: int | None = None,
        filter: FilterArg = None,
        sort: SortArg = None,
    ) -> Page[RecoveryLocation]:
        """``GET /RecoveryLocations``."""
        op = self._op("GET", "RecoveryLocations", target="the recovery locations")
        params = _collection_params(start, limit, filter, sort)
        return _parse(Page[RecoveryLocation], await self._get(op, params), op)

    async def get_recovery_location(self, location_id: str) -> RecoveryLocation:
        """``GET /RecoveryLocations/{id}``."""
        op = self._op("GET", "RecoveryLocations", location_id, target=f"recovery location {location_id}")
        return _parse(RecoveryLocation, await self._get(op), op)

    async def get_scopes(
        self,
        *,
        start: int | None = None,
        limit: int | None = None,
        filter: FilterArg = None,
        sort: SortArg = None,
    ) -> Page[Scope]:
        """``GET /Scopes``."""
        op = self._op("GET", "Scopes", target="the scopes")
        params = _collection_params(start, limit, filter, sort)
        return _parse(Page[Scope], await self._get(op, params), op)

    async def get_yara_rules(
        self,
        scope_id: str,
        *,
        start: int | None = None,
        limit: int | None = None,
        filter: FilterArg = None,
        sort: SortArg = None,
    ) -> Page[YaraRule]:
        """``GET /Scopes/{scopeId}/YaraRules``."""
        op = self._op("GET", "Scopes", scope_id, "YaraRules", target=f"the YARA rules of scope {scope_id}")
        params = _collection_params(start, limit, filter, sort)
        return _parse(Page[YaraRule], await self._get(op, params), op)

    async def get_license_usage_server(self) -> LicenseUsage:
        """``GET /License/Usage/Server``."""
        op = self._op("GET", "License", "Usage", "Server", target="the server's license usage")
        return _parse(LicenseUsage, await self._get(op), op)

    async def get_license_usage_scope(self, scope_id: str) -> LicenseUsage:
        """``GET /License/Usage/Scopes/{scopeId}``."""
        op = self._op(
            "GET", "License", "Usage", "Scopes", scope_id, target=f"the license usage of scope {scope_id}"
        )
        return _parse(LicenseUsage, await self._get(op), op)

    # --- runtime details --------------------------------------------------------------------

    async def get_plan_runtime(self, plan_id: str) -> PlanRuntimeDetails:
        """``GET /RuntimeDetails/Plans/{planId}``."""
        op = self._op("GET", "RuntimeDetails", "Plans", plan_id, target=f"the progress of plan {plan_id}")
        return _parse(PlanRuntimeDetails, await self._get(op), op)

    async def get_groups_runtime(
        self,
        plan_id: str,
        *,
        start: int | None = None,
        limit: int | None = None,
        filter: FilterArg = None,
        sort: SortArg = None,
    ) -> Page[GroupRuntimeDetails]:
        """``GET /RuntimeDetails/Plans/{planId}/Groups``."""
        op = self._op(
            "GET",
            "RuntimeDetails",
            "Plans",
            plan_id,
            "Groups",
            target=f"the progress of the groups of plan {plan_id}",
        )
        params = _collection_params(start, limit, filter, sort)
        return _parse(_GROUPS_RUNTIME, await self._get(op, params), op)

    async def get_group_vms_runtime(
        self,
        plan_id: str,
        group_id: str,
        *,
        start: int | None = None,
        limit: int | None = None,
        filter: FilterArg = None,
        sort: SortArg = None,
    ) -> Page[VmRuntimeDetails]:
        """``GET /RuntimeDetails/Plans/{planId}/Groups/{groupId}``: the VMs of an inventory group."""
        op = self._op(
            "GET",
            "RuntimeDetails",
            "Plans",
            plan_id,
            "Groups",
            group_id,
            target=f"the progress of the VMs of group {group_id} in plan {plan_id}",
        )
        params = _collection_params(start, limit, filter, sort)
        return _parse(_VMS_RUNTIME, await self._get(op, params), op)

    async def get_group_steps_runtime(
        self,
        plan_id: str,
        group_id: str,
        *,
        start: int | None = None,
        limit: int | None = None,
        filter: FilterArg = None,
        sort: SortArg = None,
    ) -> Page[StepRuntimeDetails]:
        """``GET /RuntimeDetails/Plans/{planId}/Groups/{groupId}/Steps``: a virtual group's steps."""
        op = self._op(
            "GET",
            "RuntimeDetails",
            "Plans",
            plan_id,
            "Groups",
            group_id,
            "Steps",
            target=f"the progress of the steps of group {group_id} in plan {plan_id}",
        )
        params = _collection_params(start, limit, filter, sort)
        return _parse(_STEPS_RUNTIME, await self._get(op, params), op)

    async def get_vm_steps_runtime(
        self,
        plan_id: str,
        vm_id: str,
        *,
        start: int | None = None,
        limit: int | None = None,
        filter: FilterArg = None,
        sort: SortArg = None,
    ) -> Page[StepRuntimeDetails]:
        """``GET /RuntimeDetails/Plans/{planId}/Vms/{vmId}/Steps``."""
        op = self._op(
            "GET",
            "RuntimeDetails",
            "Plans",
            plan_id,
            "Vms",
            vm_id,
            "Steps",
            target=f"the progress of the steps of VM {vm_id} in plan {plan_id}",
        )
        params = _collection_params(start, limit, filter, sort)
        return _parse(_STEPS_RUNTIME, await self._get(op, params), op)

    async def get_step_runtime(
        self,
        plan_id: str,
        step_id: str,
        *,
        start: int | None = None,
        limit: int | None = None,
        filter: FilterArg = None,
        sort: SortArg = None,
    ) -> Page[ExecutionDetail]:
        """``GET /RuntimeDetails/Plans/{planId}/Steps/{stepId}``: the step's detail lines."""
        op = self._op(
            "GET",
            "RuntimeDetails",
            "Plans",
            plan_id,
            "Steps",
            step_id,
            target=f"the details of step {step_id} in plan {plan_id}",
        )
        params = _collection_params(start, limit, filter, sort)
        return _parse(_EXECUTION_DETAILS, await self._get(op, params), op)

    # --- plumbing ---------------------------------------------------------------------------

    def _op(self, method: str, *segments: str, target: str, action: str | None = None) -> _Op:
        for segment in segments:
            if not segment or segment in (".", ".."):
                raise ValueError(f"an empty or relative id cannot name {target}")
        path = "/".join(["", "api", self._api_version, *(quote(s, safe="") for s in segments)])
        return _Op(method, path, target, action)

    async def _plan_action(
        self, plan_id: str, operation: str, body: Mapping[str, Any] | None = None, *, label: str | None = None
    ) -> ActionAccepted:
        op = self._op(
            "POST", "Plans", plan_id, operation, target=f"plan {plan_id}", action=label or operation
        )
        response = await self._send(op, json_body=body)
        log.info("VRO accepted %s", op.label)
        return ActionAccepted(response.status_code)

    async def _get(self, op: _Op, params: Mapping[str, str] | None = None) -> httpx.Response:
        """A GET, retried on :class:`VroUnavailable` within the retry policy."""
        started = self._clock.monotonic()
        attempt = 1
        while True:
            try:
                return await self._send(op, params=params)
            except VroUnavailable as exc:
                wait = self._retry.wait(attempt, self._rng.random())
                elapsed = self._clock.monotonic() - started
                if attempt >= self._retry.attempts or elapsed + wait > self._retry.total_seconds:
                    if attempt == 1:
                        raise
                    raise VroUnavailable(
                        f"{exc.message} (tried {attempt} times)",
                        method=exc.method,
                        path=exc.path,
                        status=exc.status,
                        vro_message=exc.vro_message,
                    ) from None
                log.warning(
                    "VRO unavailable for %s %s (attempt %d); retrying in %.2fs",
                    op.method,
                    op.path,
                    attempt,
                    wait,
                )
                await self._clock.sleep(wait)
                attempt += 1

    async def _send(
        self,
        op: _Op,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Mapping[str, Any] | None = None,
        authorized: bool = True,
    ) -> httpx.Response:
        """One request (plus one renewal of the token after a 401); a 2xx response or an error."""
        token = await self._tokens.access_token() if authorized else None
        response = await self._transmit(op, token, params, json_body)
        if response.status_code == 401 and token is not None:
            token = await self._tokens.token_rejected(token)
            response = await self._transmit(op, token, params, json_body)
        if response.is_success:
            return response
        raise _status_error(op, response, renewed=authorized)

    async def _transmit(
        self,
        op: _Op,
        token: str | None,
        params: Mapping[str, str] | None,
        json_body: Mapping[str, Any] | None,
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else None
        try:
            return await self._http.request(
                op.method,
                op.path,
                params=dict(params) if params else None,
                json=dict(json_body) if json_body is not None else None,
                headers=headers,
            )
        except httpx.TransportError as exc:
            raise _unavailable(op, transport_problem(exc), None, None) from None


# --- pure helpers ---------------------------------------------------------------------------


def _collection_params(
    start: int | None, limit: int | None, filter: FilterArg, sort: SortArg
) -> dict[str, str]:
    params: dict[str, str] = {}
    if start is not None:
        if start < 0:
            raise ValueError("start must be >= 0")
        params["start"] = str(start)
    if limit is not None:
        if limit < 1:
            raise ValueError("limit must be >= 1")
        params["limit"] = str(limit)
    encoded_filter = encode_filter(filter)
    if encoded_filter is not None:
        params["filter"] = encoded_filter
    encoded_sort = encode_sort(sort)
    if encoded_sort is not None:
        params["sort"] = encoded_sort
    return params


def _parse(model: type[M], response: httpx.Response, op: _Op) -> M:
    try:
        return model.model_validate_json(response.content)
    except pydantic.ValidationError as exc:
        raise _unexpected(op, response, exc) from None


def _parse_clone(response: httpx.Response, op: _Op) -> CloneResult:
    """Clone's answer is undocumented: accept ``{success, data}``, a new plan, a bare id or nothing."""
    if not response.content.strip():
        return CloneResult(success=True, data=None)
    try:
        body = response.json()
    except ValueError:
        raise _unexpected(op, response, None) from None
    if isinstance(body, str):
        return CloneResult(success=True, data=body)
    if isinstance(body, dict) and "success" not in body and isinstance(body.get("id"), str):
        return CloneResult(success=True, data=body["id"])
    return _parse(CloneResult, response, op)


def _unavailable(op: _Op, detail: str, status: int | None, vro_message: str | None) -> VroUnavailable:
    reason = f": {vro_message}" if vro_message else ""
    if op.action:
        text = (
            f"VRO did not complete {op.label} ({detail}{reason}). It may or may not have started: "
            "check the plan's status before trying again."
        )
    else:
        text = f"VRO is not answering ({detail}{reason}) while reading {op.target}. Try again in a minute."
    return VroUnavailable(text, method=op.method, path=op.path, status=status, vro_message=vro_message)


def _unexpected(op: _Op, response: httpx.Response, exc: pydantic.ValidationError | None) -> VroUnexpected:
    if exc is not None and not any(e["type"] == "json_invalid" for e in exc.errors()):
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the body"
        detail = f"{where}: {first['msg'].lower()}"
    else:
        detail = body_kind(response)
    return VroUnexpected(
        f"VRO sent an answer the bot cannot read for {op.label} ({detail}).",
        method=op.method,
        path=op.path,
        status=response.status_code,
    )


def _status_error(op: _Op, response: httpx.Response, *, renewed: bool) -> VroError:
    """The typed error for a non-2xx answer."""
    status = response.status_code
    message = vro_message_of(response)
    said = f": {message}" if message else f" (HTTP {status})"
    common: dict[str, Any] = {"method": op.method, "path": op.path, "status": status, "vro_message": message}
    if status >= 500 or status == 429:
        return _unavailable(op, f"HTTP {status}", status, message)
    if status == 401:
        again = " even after logging in again" if renewed else ""
        return VroAuthError(
            f"VRO refused the bot's access to {op.label}{again}{said}. "
            "Check that the bot's VRO account still holds an Orchestrator role.",
            **common,
        )
    if status == 404:
        return VroNotFound(f"VRO could not find {op.target}{said}", **common)
    if status in (400, 409):
        return VroRejected(f"VRO refused {op.label}{said}", **common)
    return VroUnexpected(
        f"VRO answered {op.label} with HTTP {status}{': ' + message if message else ''}.", **common
    )


__all__ = [
    "DEFAULT_API_VERSION",
    "ActionAccepted",
    "RetryPolicy",
    "VroClient",
    "tls_verify",
]
