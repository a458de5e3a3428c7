"""The async VRO REST client: one method per operation of the VRO REST API (v7.21 to v13.x).

Paths are VRO's documented PascalCase under ``/api/{version}/``; ids are URL-quoted. The
version is ``VRO_API_VERSION`` when set, else negotiated (``auto``): the newest version of
:data:`~bot.vro.operations.KNOWN_API_VERSIONS` the server answers, probed with one cheap
``GET /Plans?limit=1`` per version on first use, and again after a 404 when the version in use
stops answering (VRO was upgraded). Plan actions are sent as the action table
(:mod:`bot.vro.operations`) describes them for that version; an action the version lacks is
refused with :class:`VroNotAvailable` before anything is sent.

Every answer is parsed into a model from :mod:`bot.vro.models` on arrival, every failure is
raised as one of :mod:`bot.vro.errors`. GETs are retried on :class:`VroUnavailable` following a
:class:`RetryPolicy` (waits go through the injected clock); actions (POST / PUT / DELETE) are
never retried automatically: a second Failover is not ours to send.

The transport is the seam for tests and for the simulator::

    VroClient(base_url="http://vro", credentials=..., transport=httpx.ASGITransport(app=sim))
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import ssl
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from types import TracebackType
from typing import Any, Final, Self, TypeVar
from urllib.parse import quote

import httpx
import pydantic

from bot.clock import Clock, SystemClock
from bot.errors import ConfigError
from bot.vro.actions import validate_params
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
    VroNotAvailable,
    VroNotFound,
    VroOutcomeUnknown,
    VroRejected,
    VroUnavailable,
    VroUnexpected,
    as_clause,
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
from bot.vro.operations import (
    AUTO,
    KNOWN_API_VERSIONS,
    ActionSpec,
    PlanAction,
    newest_first,
    normalize_version,
    not_available_reason,
    product_name,
    spec_of,
    version_key,
)
from bot.vro.query import FilterArg, SortArg, encode_filter, encode_sort

log = logging.getLogger(__name__)

DEFAULT_API_VERSION: Final = AUTO
RECHECK_VERSION_SECONDS: Final = 30.0  # after a 404, re-probe the version in use at most this often
_CLIENTS_UNTIL: Final = "v13"  # [D13] the Clients tag is gone from v13
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
_PLANS: Final = Page[Plan]
_GROUPS: Final = Page[PlanGroup]
_VMS: Final = Page[PlanVm]
_STEPS: Final = Page[PlanStep]
_PARAMETERS: Final = Page[StepParameter]
_LOCATIONS: Final = Page[RecoveryLocation]
_SCOPES: Final = Page[Scope]
_YARA_RULES: Final = Page[YaraRule]


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
    segments: tuple[str, ...]  # URL-quoted, after /api/{version}/
    target: str  # what it is about: "plan 1234", "the plans"
    action: str | None = None  # the VRO operation for POST / PUT / DELETE: "Failover"
    version: str = ""  # filled in when sent

    @property
    def label(self) -> str:
        return f"{self.action} for {self.target}" if self.action else self.target

    @property
    def path(self) -> str:
        return "/".join(["", "api", self.version, *self.segments])

    def on(self, version: str) -> _Op:
        return _Op(self.method, self.segments, self.target, self.action, version)


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
        zone: tzinfo | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        verify: bool | str | ssl.SSLContext = True,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        clock: Clock | None = None,
        retry: RetryPolicy | None = None,
        rng: random.Random | None = None,
        event_hooks: Mapping[str, list[Callable[..., Any]]] | None = None,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        wanted = api_version.strip().strip("/")
        self._fixed_version: str | None = None if wanted.lower() == AUTO else normalize_version(wanted)
        self._negotiated: str | None = None
        self._version_lock = asyncio.Lock()
        self._version_checked_at = -math.inf
        self._zone: tzinfo = zone if zone is not None else UTC
        self._context: dict[str, Any] = {"vro_zone": self._zone}
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
        return f"VroClient(base_url={self._base_url!r}, api_version={self.api_version or AUTO!r})"

    # --- the API version ----------------------------------------------------------------------

    @property
    def api_version(self) -> str | None:
        """The path version in use (``v13.1``); ``None`` while ``auto`` has not probed yet."""
        return self._fixed_version or self._negotiated

    @property
    def negotiates(self) -> bool:
        """True when ``VRO_API_VERSION=auto``: the version follows what the server answers."""
        return self._fixed_version is None

    @property
    def zone(self) -> tzinfo:
        """``VRO_TIMEZONE``: the zone of the offset-less times VRO reads and writes."""
        return self._zone

    async def negotiate(self) -> str:
        """The version in use, probing the server first if ``auto`` has not yet (start-up)."""
        if self._fixed_version is not None:
            return self._fixed_version
        if self._negotiated is not None:
            return self._negotiated
        async with self._version_lock:
            if self._negotiated is None:
                self._negotiated = await self._probe_newest()
            return self._negotiated

    async def check_available(self, spec: ActionSpec) -> None:
        """:class:`VroNotAvailable` (nothing sent) if the server's version lacks ``spec``."""
        version = await self.negotiate()
        reason = not_available_reason(spec, version)
        if reason is not None:
            raise VroNotAvailable(
                reason, method=spec.wire_for(version).method, path=spec.wire_for(version).path
            )

    async def _probe_newest(self) -> str:
        for version in newest_first(list(KNOWN_API_VERSIONS)):
            if await self._answers(version):
                log.info("VRO answers REST API %s (%s); using it", version, product_name(version))
                return version
        known = ", ".join(KNOWN_API_VERSIONS)
        raise VroUnexpected(
            f"VRO answers none of the REST API versions the bot speaks ({known}). "
            "Check VRO_URL points at the Orchestrator server (port 9898 by default).",
            method="GET",
            path="/api/{version}/Plans",
        )

    async def _answers(self, version: str) -> bool:
        """Does the server serve ``version``? A cheap ``GET /Plans?limit=1`` tells."""
        op = _Op("GET", ("Plans",), target="the plans").on(version)
        response = await self._exchange(op, params={"limit": "1"}, json_body=None, authorized=True)
        if response.is_success:
            return True
        if response.status_code in (400, 404):  # "No HTTP resource was found that matches ..."
            return False
        raise _status_error(op, response, renewed=True)

    async def _version_gone(self, version: str) -> bool:
        """After a 404 in ``auto`` mode: has the server stopped serving ``version``?

        Re-probes at most every :data:`RECHECK_VERSION_SECONDS`, so a watched plan that was
        deleted does not cost a probe per poll; when the version is gone, negotiates afresh.
        """
        now = self._clock.monotonic()
        if now - self._version_checked_at < RECHECK_VERSION_SECONDS:
            return False
        async with self._version_lock:
            if self._negotiated != version:
                return True  # someone renegotiated meanwhile
            self._version_checked_at = self._clock.monotonic()
            if await self._answers(version):
                return False
            log.warning("VRO stopped answering REST API %s; negotiating again", version)
            self._negotiated = await self._probe_newest()
            return True

    async def aclose(self) -> None:
        await self._http.aclose()

    async def ensure_token(self) -> None:
        """Obtain (or reuse) an access token: the readiness probe's "VRO accepts our credentials"."""
        await self._tokens.access_token()
        await self.negotiate()

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

    async def _clients_op(self, method: str, target: str, action: str | None = None) -> _Op:
        version = await self.negotiate()
        if version_key(version) >= version_key(_CLIENTS_UNTIL):
            raise VroNotAvailable(
                f"API clients are not available on {product_name(version)} (REST API {version}): "
                f"VRO removed them in {product_name(_CLIENTS_UNTIL)}; log in with a user account.",
                method=method,
                path=f"/api/{version}/Clients",
            )
        return _Op(method, ("Clients",), target=target, action=action)

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
            raise _unexpected(op.on(self.api_version or ""), response, exc) from None

    async def delete_client(self, client_id: str) -> None:
        """``DELETE /Clients?clientId=`` (up to v7.21)."""
        op = await self._clients_op("DELETE", f"API client {client_id}", "Delete client")
        await self._send(op, params={"clientId": client_id})

    async def generate_mfa_code(self, mfa_token: str) -> MfaCode:
        """``POST /Mfa/GenerateMfaCode``: the TOTP secret to enrol (one time per user).

        Sent with the user's bearer token, as the reference documents ("userAuth or clientAuth"
        in v7.21, "userAuth" in v13) [D721][D13].
        """
        op = self._op("POST", "Mfa", "GenerateMfaCode", target="an MFA code", action="Generate MFA code")
        response = await self._send(op, json_body={"mfaToken": mfa_token})
        return self._parse(MfaCode, response, op)

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
        extra = {"onlyEnabled": "true"} if only_enabled else None
        return await self._page(_PLANS, op, start, limit, filter, sort, extra)

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
        return self._parse(Plan, await self._get(op), op)

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
        return await self._page(_GROUPS, op, start, limit, filter, sort)

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
        target = f"the VMs of group {group_id} in plan {plan_id}"
        op = self._op("GET", "Plans", plan_id, "Groups", group_id, "Vms", target=target)
        return await self._page(_VMS, op, start, limit, filter, sort)

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
        target = f"the steps of group {group_id} in plan {plan_id}"
        op = self._op("GET", "Plans", plan_id, "Groups", group_id, "Steps", target=target)
        return await self._page(_STEPS, op, start, limit, filter, sort)

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
        target = f"the steps of VM {vm_id} in plan {plan_id}"
        op = self._op("GET", "Plans", plan_id, "Vms", vm_id, "Steps", target=target)
        return await self._page(_STEPS, op, start, limit, filter, sort)

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
        target = f"the parameters of step {step_id} in plan {plan_id}"
        op = self._op("GET", "Plans", plan_id, "Steps", step_id, "Parameters", target=target)
        return await self._page(_PARAMETERS, op, start, limit, filter, sort)

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
        wire = spec.wire_for(version)
        request = spec.body(kwargs, self._zone)
        op = self._op(
            wire.method, "Plans", plan_id, *wire.segments, target=f"plan {plan_id}", action=spec.label
        )
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
        wire = spec.wire_for(version)
        op = self._op(
            wire.method, "Plans", plan_id, *wire.segments, target=f"plan {plan_id}", action=spec.label
        )
        return _parse_clone(response, op.on(version), self._context)

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
        return await self._page(_LOCATIONS, op, start, limit, filter, sort)

    async def get_recovery_location(self, location_id: str) -> RecoveryLocation:
        """``GET /RecoveryLocations/{id}``."""
        op = self._op("GET", "RecoveryLocations", location_id, target=f"recovery location {location_id}")
        return self._parse(RecoveryLocation, await self._get(op), op)

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
        return await self._page(_SCOPES, op, start, limit, filter, sort)

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
        return await self._page(_YARA_RULES, op, start, limit, filter, sort)

    async def get_license_usage_server(self) -> LicenseUsage:
        """``GET /License/Usage/Server``."""
        op = self._op("GET", "License", "Usage", "Server", target="the server's license usage")
        return self._parse(LicenseUsage, await self._get(op), op)

    async def get_license_usage_scope(self, scope_id: str) -> LicenseUsage:
        """``GET /License/Usage/Scopes/{scopeId}``."""
        op = self._op(
            "GET", "License", "Usage", "Scopes", scope_id, target=f"the license usage of scope {scope_id}"
        )
        return self._parse(LicenseUsage, await self._get(op), op)

    # --- runtime details --------------------------------------------------------------------

    async def get_plan_runtime(self, plan_id: str) -> PlanRuntimeDetails:
        """``GET /RuntimeDetails/Plans/{planId}``."""
        op = self._op("GET", "RuntimeDetails", "Plans", plan_id, target=f"the progress of plan {plan_id}")
        return self._parse(PlanRuntimeDetails, await self._get(op), op)

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
        target = f"the progress of the groups of plan {plan_id}"
        op = self._op("GET", "RuntimeDetails", "Plans", plan_id, "Groups", target=target)
        return await self._page(_GROUPS_RUNTIME, op, start, limit, filter, sort)

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
        target = f"the progress of the VMs of group {group_id} in plan {plan_id}"
        op = self._op("GET", "RuntimeDetails", "Plans", plan_id, "Groups", group_id, target=target)
        return await self._page(_VMS_RUNTIME, op, start, limit, filter, sort)

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
        target = f"the progress of the steps of group {group_id} in plan {plan_id}"
        op = self._op("GET", "RuntimeDetails", "Plans", plan_id, "Groups", group_id, "Steps", target=target)
        return await self._page(_STEPS_RUNTIME, op, start, limit, filter, sort)

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
        target = f"the progress of the steps of VM {vm_id} in plan {plan_id}"
        op = self._op("GET", "RuntimeDetails", "Plans", plan_id, "Vms", vm_id, "Steps", target=target)
        return await self._page(_STEPS_RUNTIME, op, start, limit, filter, sort)

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
        target = f"the details of step {step_id} in plan {plan_id}"
        op = self._op("GET", "RuntimeDetails", "Plans", plan_id, "Steps", step_id, target=target)
        return await self._page(_EXECUTION_DETAILS, op, start, limit, filter, sort)

    # --- plumbing ---------------------------------------------------------------------------

    def _op(self, method: str, *segments: str, target: str, action: str | None = None) -> _Op:
        for segment in segments:
            if not segment or segment in (".", ".."):
                raise ValueError(f"an empty or relative id cannot name {target}")
        return _Op(method, tuple(quote(s, safe="") for s in segments), target, action)

    def _parse(self, model: type[M], response: httpx.Response, op: _Op) -> M:
        try:
            return model.model_validate_json(response.content, context=self._context)
        except pydantic.ValidationError as exc:
            raise _unexpected(op.on(op.version or self.api_version or ""), response, exc) from None

    async def _page(
        self,
        model: type[M],
        op: _Op,
        start: int | None,
        limit: int | None,
        filter: FilterArg,
        sort: SortArg,
        extra: Mapping[str, str] | None = None,
    ) -> M:
        """One page of a collection: the paging / filter / sort parameters, a retried GET, a parse."""
        params = _collection_params(start, limit, filter, sort)
        if extra:
            params.update(extra)
        response = await self._get(op, params)
        return self._parse(model, response, op)

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
                    exc.method,
                    exc.path,
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
        """One request on the version in use; a 2xx response or a typed error.

        In ``auto`` mode a 404 makes the client check that the server still serves the version
        in use; if VRO was upgraded meanwhile, the request is made once more on the new version
        (a 404 from routing means nothing was done, so this holds for actions too).
        """
        version = await self.negotiate()
        sent = op.on(version)
        response = await self._exchange(sent, params=params, json_body=json_body, authorized=authorized)
        if response.status_code == 404 and self.negotiates and await self._version_gone(version):
            sent = op.on(await self.negotiate())
            response = await self._exchange(sent, params=params, json_body=json_body, authorized=authorized)
        if response.is_success:
            return response
        raise _status_error(sent, response, renewed=authorized, fixed=not self.negotiates)

    async def _exchange(
        self,
        op: _Op,
        *,
        params: Mapping[str, str] | None,
        json_body: Mapping[str, Any] | None,
        authorized: bool,
    ) -> httpx.Response:
        """One request plus one renewal of the token after a 401."""
        token = await self._tokens.access_token() if authorized else None
        response = await self._transmit(op, token, params, json_body)
        if response.status_code == 401 and token is not None:
            token = await self._tokens.token_rejected(token)
            response = await self._transmit(op, token, params, json_body)
        return response

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
            if op.action is not None:
                # The request may have reached VRO: only a person who looked may send it again.
                raise _outcome_unknown(op, transport_problem(exc)) from None
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


def _parse_clone(response: httpx.Response, op: _Op, context: dict[str, Any]) -> CloneResult:
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
    try:
        return CloneResult.model_validate_json(response.content, context=context)
    except pydantic.ValidationError as exc:
        raise _unexpected(op, response, exc) from None


def _unavailable(op: _Op, detail: str, status: int | None, vro_message: str | None) -> VroUnavailable:
    if op.action:
        text = (
            f"VRO could not be reached for {op.label} ({detail}), so it did not take it. "
            "Check the plan's status, then try again in a minute."
        )
    else:
        text = f"VRO is not answering ({detail}) while reading {op.target}. Try again in a minute."
    return VroUnavailable(text, method=op.method, path=op.path, status=status, vro_message=vro_message)


def _outcome_unknown(op: _Op, detail: str) -> VroOutcomeUnknown:
    text = (
        f"The connection to VRO failed while sending {op.label} ({detail}). It may or may not "
        "have started: check the plan's status before trying again."
    )
    return VroOutcomeUnknown(text, method=op.method, path=op.path)


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


_UNREACHABLE_STATUSES: Final = frozenset({502, 503, 504})
_NO_ROUTE: Final = "no http resource was found"


def _status_error(op: _Op, response: httpx.Response, *, renewed: bool, fixed: bool = False) -> VroError:
    """The typed error for a non-2xx answer.

    An answer whose body carries a message is VRO's own: it is shown verbatim, never retried and
    never called unreachable (VRO documents only 200, 400, 401 and 500, so refusals often arrive
    as 500 with a message). Only 502 / 503 / 504 (gateways, IIS overload) and 429 are
    :class:`VroUnavailable`, with VRO's message if there is one.
    """
    status = response.status_code
    message = vro_message_of(response)
    said = f": {message}" if message else f" (HTTP {status})"
    clause = as_clause(message) if message else said  # for a sentence of ours that ends after it
    common: dict[str, Any] = {"method": op.method, "path": op.path, "status": status, "vro_message": message}
    if status == 401:
        again = " even after logging in again" if renewed else ""
        return VroAuthError(
            f"VRO refused the bot's access to {op.label}{again}{clause}. "
            "Check that the bot's VRO account still holds an Orchestrator role.",
            **common,
        )
    if status == 404:
        if fixed and message and _NO_ROUTE in message.lower():
            return VroNotFound(
                f"VRO does not serve REST API {op.version}{clause}. Set VRO_API_VERSION=auto "
                f"(or to a version this VRO serves) and restart the bot.",
                **common,
            )
        return VroNotFound(f"VRO could not find {op.target}{said}", **common)
    if status in _UNREACHABLE_STATUSES or status == 429:
        return _unavailable(op, f"HTTP {status}{said if message else ''}", status, message)
    if message:
        return VroRejected(f"VRO refused {op.label}: {message}", **common)
    if status in (400, 409):
        return VroRejected(f"VRO refused {op.label} (HTTP {status}).", **common)
    return VroUnexpected(
        f"VRO answered {op.label} with HTTP {status} and no explanation. Check VRO's own log.", **common
    )


__all__ = [
    "DEFAULT_API_VERSION",
    "ActionAccepted",
    "RetryPolicy",
    "VroClient",
    "tls_verify",
]
