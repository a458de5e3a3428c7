"""The simulator as an ASGI application: VRO's REST API (v7.21 to v13.2) plus an admin API.

* ``POST /api/token`` — password, refresh_token, client_credentials and mfa grants (form fields,
  urlencoded or multipart); OWIN-style errors ``{"error", "error_description"}``.
* ``/api/{version}/...`` — every operation of vro-api-notes.md §2.2–§5 on the path versions the
  simulator serves (``SimulatorConfig.api_versions``: by default every version the bot knows;
  ``vro-bot simulator --api-version`` serves one release's three), each with its differences as the action table
  (:mod:`bot.vro.operations`) records them: Clients only before v13, ResetChangeLog only before
  v13, MalwareScan from v13, schedule-at a POST from v13.1. An unserved version answers 404
  "No HTTP resource was found that matches the request URI", as IIS does. Paths are matched
  case-insensitively, body keys in any casing; errors as ``{"Message": ...}``: 401 without a
  valid token, 404 for unknown ids, 400 (configurable) for an action the plan's state forbids,
  400 for malformed bodies, filters and parameters. Never a 500 unless a fault is injected.
  Plan times are offset-less on the server's clock when ``SimulatorConfig.timezone`` is set.
* ``/__sim/...`` — the admin API (JSON, no token; never subject to injected faults):

  ====== ============================ ==================================================
  GET    /__sim/state                 clock, speed, every plan's state / mode / change log
  POST   /__sim/latency               ``{"path": glob, "seconds": 1.5, "method"?: "GET"}``
  DELETE /__sim/latency               remove all latency rules
  POST   /__sim/faults                ``{"path", "status"?: 500, "count": N}`` (next N) or
                                      ``{"path", "status"?, "rate": 0.3}``
  DELETE /__sim/faults                remove all fault rules
  POST   /__sim/expire-tokens         every token stops working now
  POST   /__sim/reboot                a VRO restart: RuntimeDetails and tokens are gone
  GET    /__sim/requests              the request log; DELETE clears it
  POST   /__sim/steps                 ``{"planId", "stepId", "outcome", "message"?,
                                      "errorAttempts"?, "isCritical"?}``
  POST   /__sim/plans/{id}/state      ``{"state", "mode"?}``: put a plan at rest there
  ====== ============================ ==================================================

  The same controls are methods on :class:`Simulator` (``fail_next``, ``set_error_rate``,
  ``add_latency``, ``expire_tokens``, ``reboot``, ``requests``, ``set_step_outcome``, ...).

Hand-written routing keeps a request to a few dictionary lookups.
"""

from __future__ import annotations

import json
import re
import urllib.parse
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

from bot.clock import Clock
from bot.simulator.auth import AccessDenied, AuthState, GrantError, Principal
from bot.simulator.core import ActionParams, LivePlan, SimCore, SimError, SimSettings, not_found
from bot.simulator.estate import Estate, default_estate
from bot.simulator.faults import Faults, RequestRecord
from bot.simulator.query import QueryError, apply_query, parse_int
from bot.simulator.render import (
    Json,
    RuntimeSnapshot,
    group_json,
    license_json,
    location_json,
    parameter_json,
    plan_json,
    scope_json,
    step_json,
    vm_json,
)
from bot.vro import plan_states as ps
from bot.vro.models import RunResult
from bot.vro.operations import (
    KNOWN_API_VERSIONS,
    RELEASE_VERSIONS,
    action_for_wire,
    at_least,
    normalize_version,
    version_key,
)
from bot.vro.times import zone_named

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

DEFAULT_USERNAME = "vro-bot"
DEFAULT_PASSWORD = "vro-bot-demo"  # noqa: S105 - public demo account of the simulator
ADMIN_USERNAME = "administrator"
ADMIN_PASSWORD = "Password1"  # noqa: S105 - the VRO docs' example account
MFA_USERNAME = "mfa-user"
MFA_PASSWORD = "mfa-pass"  # noqa: S105 - public demo account of the simulator
MFA_TOTP_SECRET = "HBIG4FZN5XM7RGZCYWM76EGEYLFZ6OYK"  # noqa: S105 - the VRO docs' sample key

UNAUTHORIZED = "Authorization has been denied for this request."
MAX_BODY_BYTES = 1_000_000


@dataclass(frozen=True)
class SimulatorConfig:
    """Knobs of the simulated server (defaults are VRO's where VRO has one)."""

    access_token_minutes: float = 15
    refresh_token_minutes: float = 120
    illegal_action_status: int = 400
    halt_seconds: float = 2.0
    reset_leaves_disabled: bool = True
    # Every version the bot knows, each with its own differences; `vro-bot simulator
    # --api-version` serves one release's three instead (default: the newest release's).
    api_versions: tuple[str, ...] = KNOWN_API_VERSIONS
    timezone: str | None = None  # the server's zone for offset-less times; None: "Z" times
    single_session: bool = False
    fault_seed: int | None = None
    request_log_size: int = 10_000


# --- HTTP plumbing --------------------------------------------------------------------------


@dataclass
class Request:
    method: str
    path: str
    raw_query: str
    headers: dict[str, str]
    body: bytes
    query: dict[str, str] = field(default_factory=dict)
    version: str = ""  # the path version, once routed

    def __post_init__(self) -> None:
        for key, value in urllib.parse.parse_qsl(self.raw_query, keep_blank_values=True):
            self.query.setdefault(key.lower(), value)

    def arg(self, name: str) -> str | None:
        return self.query.get(name.lower())


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str | None = "application/json; charset=utf-8"
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)


def json_response(data: Any, status: int = 200) -> Response:
    return Response(status, json.dumps(data, separators=(",", ":")).encode())


def message(status: int, text: str) -> Response:
    return json_response({"Message": text}, status)


def empty(status: int = 200) -> Response:
    return Response(status, b"", None)


def page(items: list[Json], request: Request) -> Response:
    """The ``{"total", "data"}`` envelope: filter and sort first, then start and limit."""
    try:
        start = parse_int(request.arg("start"), "start")
        limit = parse_int(request.arg("limit"), "limit")
        total, data = apply_query(
            items,
            filter_text=request.arg("filter"),
            sort_text=request.arg("sort"),
            start=start,
            limit=limit,
        )
    except QueryError as exc:
        raise SimError(400, f"The request is invalid: {exc}.") from None
    return json_response({"total": total, "data": data})


Handler = Callable[[Request, dict[str, str], Principal], Awaitable[Response]]


@dataclass(frozen=True)
class Route:
    method: str
    parts: tuple[str, ...]
    handler: Handler
    since: str | None = None  # first path version that has it
    until: str | None = None  # first path version that no longer has it

    def served_on(self, version: str) -> bool:
        return at_least(version, self.since) and (
            self.until is None or version_key(version) < version_key(self.until)
        )


# --- request bodies -------------------------------------------------------------------------


class Body:
    """A JSON object body with keys matched in any casing (as ASP.NET's binder does)."""

    def __init__(self, raw: bytes, zone: tzinfo = UTC) -> None:
        self.zone = zone
        self.fields: dict[str, Any] = {}
        text = raw.decode("utf-8", errors="replace").strip()
        if not text:
            return
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SimError(400, f"The request body is not valid JSON: {exc.msg}.") from None
        if data is None:
            return
        if not isinstance(data, dict):
            raise SimError(400, "The request body must be a JSON object.")
        self.fields = {str(k).lower(): v for k, v in data.items()}

    def flag(self, name: str) -> bool:
        value = self.fields.get(name.lower())
        if value is None:
            return False
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise SimError(400, f"{name} must be true or false.")

    def text(self, name: str) -> str | None:
        value = self.fields.get(name.lower())
        if value is None:
            return None
        if not isinstance(value, str):
            raise SimError(400, f"{name} must be a string.")
        return value

    def guid(self, name: str) -> str | None:
        value = self.text(name)
        if value is None or value == "":
            return None
        return _guid(value, name)

    def when(self, name: str) -> datetime | None:
        value = self.text(name)
        if value is None or value == "":
            return None
        return parse_datetime(value, name, self.zone)

    def integer(self, name: str) -> int | None:
        value = self.fields.get(name.lower())
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise SimError(400, f"{name} must be a whole number.")
        return value


def _guid(value: str, name: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise SimError(400, f"{name} must be a GUID, not '{value}'.") from None


_SLASH_DATE = re.compile(r"^(\d{4})/(\d{1,2})/(\d{1,2})")


def parse_datetime(value: str, name: str, zone: tzinfo = UTC) -> datetime:
    """ISO 8601, or VRO's documented ``2021/11/12T12:00:00``; no offset means the server's zone."""
    text = _SLASH_DATE.sub(lambda m: f"{m[1]}-{int(m[2]):02d}-{int(m[3]):02d}", value.strip())
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise SimError(400, f"{name} is not a date and time: '{value}'.") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=zone)
    return when.astimezone(UTC)


def _scan_options(body: Body) -> dict[str, object]:
    return {
        key: body.fields[key]
        for key in (
            "virusscan",
            "yarascan",
            "yararuleid",
            "scaninfectedflag",
            "scansuspiciousflag",
            "restorepointscountforransomwarescan",
            "ransomwareaction",
        )
        if key in body.fields
    }


def action_params(action: str, body: Body, request: Request) -> ActionParams:
    """Read the body / query fields an action takes (vro-api-notes.md §3.4)."""
    if action == ps.HALT:
        return ActionParams(full_stop=body.flag("fullStop"))
    if action == ps.FAILOVER:
        return ActionParams(
            execute_chained_plans=body.flag("executeChainedPlans"),
            restore_point_date=body.when("restorePointDate"),
            protect_storage_volumes=body.flag("protectStorageVolumes"),
        )
    if action == ps.RESTORE:
        body.flag("scanInfectedFlag")
        body.flag("scanSuspiciousFlag")
        body.integer("restorePointsCountForRansomwareScan")
        body.text("ransomwareAction")
        return ActionParams(
            restore_location_id=body.guid("restoreLocationId"),
            execute_chained_plans=body.flag("executeChainedPlans"),
            restore_point_date=body.when("restorePointDate"),
            protect_storage_volumes=body.flag("protectStorageVolumes"),
            virus_scan=body.flag("virusScan"),
            yara_scan=body.flag("yaraScan"),
            yara_rule_id=body.guid("yaraRuleId"),
        )
    if action in (ps.FAILBACK_TO_PRODUCTION, ps.PREPARE_TO_FAILBACK, ps.SWITCHOVER_TO_PRODUCTION):
        return ActionParams(
            restore_location_id=body.guid("restoreLocationId"),
            failback_restore_vm_tags=body.flag("failbackRestoreVMTags"),
        )
    if action == ps.RESET_STATE:
        return ActionParams(execute_readiness_check=body.flag("executeReadinessCheck"))
    if action == ps.RESET_CHANGE_LOG:
        return ActionParams(generate_dr_report=body.flag("generateDrReport"))
    if action == ps.READINESS_CHECK:
        return ActionParams(generate_report=body.flag("generateReport"))
    if action == ps.CONTINUE:
        option = body.text("executionContinueOptions")
        if option is None:
            raise SimError(400, "executionContinueOptions is required.")
        from bot.vro.models import ContinueOption

        known = {o.lower(): o for o in ContinueOption.ALL}
        return ActionParams(continue_option=known.get(option.lower(), option))
    if action == ps.SCHEDULE_AT:
        raw = request.arg("startTime") or body.text("startTime")
        if not raw:
            raise SimError(400, "startTime is required (query string, e.g. ?startTime=2026-11-12T12:00:00).")
        return ActionParams(
            start_time=parse_datetime(raw, "startTime", body.zone), schedule_options=_scan_options(body)
        )
    if action == ps.SCHEDULE_AFTER:
        raw = request.arg("previousPlanId") or body.text("previousPlanId")
        if not raw:
            raise SimError(400, "previousPlanId is required (query string).")
        return ActionParams(
            previous_plan_id=_guid(raw, "previousPlanId"), schedule_options=_scan_options(body)
        )
    if action == ps.CLONE:
        return ActionParams(clone_name=body.text("name"))
    return ActionParams()


# --- the application ------------------------------------------------------------------------


class Simulator:
    """A stateful VRO server, callable as an ASGI app, with in-process controls for tests."""

    def __init__(self, *, core: SimCore, clock: Clock, config: SimulatorConfig) -> None:
        self.core = core
        self.clock = clock
        self.config = config
        self.auth = AuthState.from_users(
            core.estate.users,
            access_minutes=config.access_token_minutes,
            refresh_minutes=config.refresh_token_minutes,
            single_session=config.single_session,
        )
        self.faults = Faults(seed=config.fault_seed, log_size=config.request_log_size)
        self._versions = {normalize_version(v) for v in config.api_versions}
        self.zone: tzinfo = zone_named(config.timezone) if config.timezone else UTC
        self._routes: dict[tuple[str, int], list[Route]] = {}
        self._register()

    # --- in-process handles ---------------------------------------------------------------

    @property
    def estate(self) -> Estate:
        return self.core.estate

    @property
    def speed(self) -> float:
        return self.core.settings.speed

    def plan(self, name_or_id: str) -> LivePlan:
        """A live plan by exact name (any casing) or id, brought up to the clock's now."""
        self.core.advance()
        found = self.core.plans.get(name_or_id.lower())
        if found is not None:
            return found
        return self.core.plan_by_name(name_or_id)

    def plan_id(self, name: str) -> str:
        return self.plan(name).id

    def advance(self) -> None:
        """Bring every plan up to the clock's now (requests do this themselves)."""
        self.core.advance()

    def token(self, username: str = DEFAULT_USERNAME) -> str:
        """A valid access token for ``username``, without going through ``/api/token``."""
        return self.auth.issue_for(username, self.clock.now())

    def add_latency(self, path: str, seconds: float, *, method: str | None = None) -> None:
        self.faults.add_latency(path, seconds, method=method)

    def fail_next(self, path: str, count: int = 1, *, status: int = 500, method: str | None = None) -> None:
        self.faults.fail_next(path, count, status=status, method=method)

    def set_error_rate(self, path: str, rate: float, *, status: int = 500, method: str | None = None) -> None:
        self.faults.error_rate(path, rate, status=status, method=method)

    def clear_faults(self) -> None:
        self.faults.clear()

    @property
    def api_versions(self) -> tuple[str, ...]:
        """The path versions served now, newest first."""
        return tuple(sorted(self._versions, key=version_key, reverse=True))

    def serve_versions(self, versions: tuple[str, ...]) -> None:
        """Serve these path versions from now on: VRO was upgraded (or downgraded) in place."""
        self._versions = {normalize_version(v) for v in versions}

    def expire_tokens(self) -> None:
        """Every token issued so far stops working now."""
        self.auth.expire_all()

    def reboot(self) -> None:
        """A VRO restart: RuntimeDetails and tokens are gone; running plans stop (Halted)."""
        self.core.reboot()
        self.auth.expire_all()

    @property
    def requests(self) -> list[RequestRecord]:
        return list(self.faults.log)

    def clear_requests(self) -> None:
        self.faults.log.clear()

    def set_step_outcome(
        self,
        plan: str,
        step_id: str,
        outcome: str,
        *,
        message: str | None = None,
        error_attempts: int | None = None,
        critical: bool | None = None,
    ) -> None:
        """Make a step warn or fail (from its next attempt on)."""
        if outcome not in (RunResult.SUCCESS, RunResult.WARNING, RunResult.ERROR):
            raise ValueError("outcome must be Success, Warning or Error")
        live = self.plan(plan)
        index = live.layout.step_index.get(step_id.lower())
        if index is None:
            raise KeyError(f"plan {live.name!r} has no step {step_id!r}")
        spec = live.layout.steps[index].spec
        spec.outcome = outcome  # type: ignore[assignment]
        if message is not None:
            spec.message = message
        if error_attempts is not None:
            spec.errorAttempts = error_attempts
        if critical is not None:
            spec.isCritical = critical

    def force_state(self, plan: str, state: str, *, mode: str | None = None) -> None:
        """Put a plan at rest in ``state`` (and ``mode``) without running anything."""
        if state not in ps.STATE_INFO or ps.is_running(state):
            raise ValueError(f"{state!r} is not a stable plan state")
        live = self.plan(plan)
        live.run = None
        live.halting_until = None
        live.previous_state = live.state
        live.state = state
        live.last_stable = state
        if mode is not None:
            live.mode = mode

    # --- ASGI -----------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                event = await receive()
                if event["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif event["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        body = b""
        while True:
            event = await receive()
            body += event.get("body", b"")
            if len(body) > MAX_BODY_BYTES:
                await self._send(send, message(413, "The request body is too large."))
                return
            if not event.get("more_body", False):
                break
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        request = Request(
            method=scope["method"].upper(),
            path=scope.get("path", "/"),
            raw_query=scope.get("query_string", b"").decode("latin-1"),
            headers=headers,
            body=body,
        )
        response, user, fault, delay = await self.handle(request)
        if not request.path.lower().startswith("/__sim"):
            self.faults.log.append(
                RequestRecord(
                    self.clock.now(),
                    request.method,
                    request.path,
                    request.raw_query,
                    response.status,
                    user,
                    fault,
                    delay,
                )
            )
        await self._send(send, response)

    async def _send(self, send: Send, response: Response) -> None:
        headers = list(response.headers)
        if response.content_type:
            headers.append((b"content-type", response.content_type.encode()))
        headers.append((b"content-length", str(len(response.body)).encode()))
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": response.body})

    async def handle(self, request: Request) -> tuple[Response, str | None, bool, float]:
        """Answer one request: ``(response, user, injected fault?, added latency)``."""
        path = request.path.rstrip("/") or "/"
        lowered = path.lower()
        if lowered.startswith("/__sim"):
            try:
                return await self._admin(request, lowered), None, False, 0.0
            except (ValueError, KeyError, TypeError) as exc:
                return message(400, str(exc).strip("'\"")), None, False, 0.0
        delay = self.faults.delay_for(request.method, path)
        if delay > 0:
            await self.clock.sleep(delay)
        fault = self.faults.error_for(request.method, path)
        if fault is not None:
            return message(fault.status, fault.message), None, True, delay
        user: str | None = None
        try:
            if lowered == "/api/token":
                response = self._token(request)
            else:
                response, user = await self._api(request, path)
        except SimError as exc:
            response = message(exc.status, exc.message)
        return response, user, False, delay

    # --- token endpoint -------------------------------------------------------------------

    def _token(self, request: Request) -> Response:
        if request.method != "POST":
            return message(405, f"The requested resource does not support http method '{request.method}'.")
        try:
            form = _form_fields(request)
            answer = self.auth.grant(form, self.clock.now())
        except GrantError as exc:
            return json_response({"error": exc.error, "error_description": exc.description}, 400)
        return json_response(answer)

    # --- versioned API --------------------------------------------------------------------

    def _version_of(self, segment: str) -> str | None:
        try:
            version = normalize_version(segment)
        except ValueError:
            return None
        return version if version in self._versions and segment.lower().startswith("v") else None

    async def _api(self, request: Request, path: str) -> tuple[Response, str | None]:
        segments = [s for s in path.split("/") if s]
        version = (
            self._version_of(segments[1]) if len(segments) >= 3 and segments[0].lower() == "api" else None
        )
        if version is None:
            raise SimError(404, f"No HTTP resource was found that matches the request URI '{path}'.")
        request.version = version
        rest = segments[2:]
        lowered = tuple(s.lower() for s in rest)
        if request.method != "GET" and len(rest) >= 3 and lowered[0] == "plans":
            spec = action_for_wire(request.method, tuple(rest[2:]), version)
            if spec is not None:
                principal = self._principal(request)
                self.core.advance()
                return self._perform(request, rest[1], spec.action.value, principal), principal.username
        candidates = [r for r in self._routes.get((request.method, len(rest)), []) if r.served_on(version)]
        route, params = _match(candidates, lowered, rest)
        if route is None:
            other_methods = [
                method
                for (method, size), routes in self._routes.items()
                if size == len(rest)
                and method != request.method
                and _match([r for r in routes if r.served_on(version)], lowered, rest)[0]
            ]
            if other_methods or self._other_action_method(request.method, rest, version):
                raise SimError(
                    405, f"The requested resource does not support http method '{request.method}'."
                )
            raise SimError(404, f"No HTTP resource was found that matches the request URI '{path}'.")
        principal = self._principal(request)
        self.core.advance()
        return await route.handler(request, params, principal), principal.username

    @staticmethod
    def _other_action_method(method: str, rest: list[str], version: str) -> bool:
        if len(rest) < 3 or rest[0].lower() != "plans":
            return False
        return any(
            action_for_wire(other, tuple(rest[2:]), version) is not None
            for other in ("GET", "POST", "PUT", "DELETE")
            if other != method
        )

    def _principal(self, request: Request) -> Principal:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise SimError(401, UNAUTHORIZED)
        principal = self.auth.authenticate(token.strip(), self.clock.now())
        if principal is None:
            raise SimError(401, UNAUTHORIZED)
        return principal

    def _register(self) -> None:
        get, post, delete = "GET", "POST", "DELETE"
        # Plan actions (POST / PUT / DELETE under plans/{plan}/...) are routed by the action
        # table in _api; these are the reads and the account operations.
        versioned: list[tuple[str, str, Handler, str | None, str | None]] = [
            (post, "mfa/generatemfacode", self._generate_mfa_code, "v7.21", None),  # [DCL] new in v7.21
            (post, "clients", self._create_client, None, "v13"),  # [D13] Clients gone in v13
            (get, "clients", self._list_clients, None, "v13"),
            (delete, "clients", self._delete_client, None, "v13"),
        ]
        table: list[tuple[str, str, Handler]] = [
            (get, "plans", self._plans),
            (get, "plans/{plan}", self._plan),
            (get, "plans/{plan}/groups", self._groups),
            (get, "plans/{plan}/groups/{group}/vms", self._group_vms),
            (get, "plans/{plan}/groups/{group}/steps", self._group_steps),
            (get, "plans/{plan}/vms/{vm}/steps", self._vm_steps),
            (get, "plans/{plan}/steps/{step}/parameters", self._step_parameters),
            (get, "recoverylocations", self._locations),
            (get, "recoverylocations/{location}", self._location),
            (get, "scopes", self._scopes),
            (get, "scopes/{scope}", self._scope),
            (get, "scopes/{scope}/yararules", self._yara_rules),
            (get, "license/usage/server", self._license_server),
            (get, "license/usage/scopes/{scope}", self._license_scope),
            (get, "runtimedetails/plans/{plan}", self._rt_plan),
            (get, "runtimedetails/plans/{plan}/groups", self._rt_groups),
            (get, "runtimedetails/plans/{plan}/groups/{group}", self._rt_group_vms),
            (get, "runtimedetails/plans/{plan}/groups/{group}/steps", self._rt_group_steps),
            (get, "runtimedetails/plans/{plan}/vms/{vm}/steps", self._rt_vm_steps),
            (get, "runtimedetails/plans/{plan}/steps/{step}", self._rt_step),
            (get, "runtimedetails/plans/{plan}/step/{step}", self._rt_step),
        ]
        rows = [*versioned, *((method, pattern, handler, None, None) for method, pattern, handler in table)]
        for method, pattern, handler, since, until in rows:
            parts = tuple(pattern.split("/"))
            route = Route(method, parts, handler, since, until)
            self._routes.setdefault((method, len(parts)), []).append(route)

    # --- auth-related operations ------------------------------------------------------------

    async def _generate_mfa_code(self, request: Request, _: dict[str, str], __: Principal) -> Response:
        body = Body(request.body)
        token = body.text("mfaToken")
        if not token:
            raise SimError(400, "mfaToken is required.")
        answer = self.auth.generate_mfa_code(token, self.clock.now(), self.estate.server.name)
        if answer is None:
            raise SimError(401, UNAUTHORIZED)
        return json_response(answer)

    async def _create_client(self, _: Request, __: dict[str, str], who: Principal) -> Response:
        try:
            return json_response(self.auth.create_client(who))
        except AccessDenied as exc:
            raise SimError(403, str(exc)) from None

    async def _list_clients(self, _: Request, __: dict[str, str], who: Principal) -> Response:
        return json_response(self.auth.list_clients(who))

    async def _delete_client(self, request: Request, _: dict[str, str], who: Principal) -> Response:
        client_id = request.arg("clientId")
        if not client_id:
            raise SimError(400, "clientId is required (query string).")
        if not self.auth.delete_client(who, client_id):
            raise not_found("Client", client_id)
        return empty(204)

    # --- plans --------------------------------------------------------------------------------

    async def _plans(self, request: Request, _: dict[str, str], __: Principal) -> Response:
        only_enabled = (request.arg("onlyEnabled") or "false").lower()
        if only_enabled not in ("true", "false"):
            raise SimError(400, "onlyEnabled must be true or false.")
        plans = [
            plan_json(self.core, plan)
            for plan in self.core.plans.values()
            if only_enabled == "false" or plan.mode == "Enabled"
        ]
        return page(plans, request)

    async def _plan(self, _: Request, params: dict[str, str], __: Principal) -> Response:
        return json_response(plan_json(self.core, self.core.plan(params["plan"])))

    async def _groups(self, request: Request, params: dict[str, str], _: Principal) -> Response:
        plan = self.core.plan(params["plan"])
        return page([group_json(g, i + 1) for i, g in enumerate(plan.spec.groups)], request)

    def _group_of(self, plan: LivePlan, group_id: str) -> int:
        index = plan.layout.group_index.get(group_id.lower())
        if index is None:
            raise not_found("Group", group_id)
        return index

    async def _group_vms(self, request: Request, params: dict[str, str], _: Principal) -> Response:
        plan = self.core.plan(params["plan"])
        group = plan.spec.groups[self._group_of(plan, params["group"])]
        return page([vm_json(vm, i + 1) for i, vm in enumerate(group.vms)], request)

    async def _group_steps(self, request: Request, params: dict[str, str], _: Principal) -> Response:
        plan = self.core.plan(params["plan"])
        group = plan.spec.groups[self._group_of(plan, params["group"])]
        return page([step_json(s, i + 1) for i, s in enumerate(group.steps)], request)

    def _vm_of(self, plan: LivePlan, vm_id: str) -> tuple[int, int]:
        found = plan.layout.vm_index.get(vm_id.lower())
        if found is None:
            raise not_found("VM", vm_id)
        return found

    async def _vm_steps(self, request: Request, params: dict[str, str], _: Principal) -> Response:
        plan = self.core.plan(params["plan"])
        g, v = self._vm_of(plan, params["vm"])
        steps = plan.spec.groups[g].vms[v].steps
        return page([step_json(s, i + 1) for i, s in enumerate(steps)], request)

    def _step_of(self, plan: LivePlan, step_id: str) -> int:
        index = plan.layout.step_index.get(step_id.lower())
        if index is None:
            raise not_found("Step", step_id)
        return index

    async def _step_parameters(self, request: Request, params: dict[str, str], _: Principal) -> Response:
        plan = self.core.plan(params["plan"])
        spec = plan.layout.steps[self._step_of(plan, params["step"])].spec
        return page(parameter_json(spec), request)

    def _perform(self, request: Request, plan_id: str, action: str, who: Principal) -> Response:
        self.core.plan(plan_id)  # 404 before looking at the body
        body = Body(request.body, self.zone)
        result = self.core.perform(plan_id, action, action_params(action, body, request), _who(who))
        if action == ps.CLONE:
            return json_response({"success": True, "data": result})
        if action == ps.DELETE_SCHEDULE:
            return empty(204)
        return empty(200)

    # --- locations, scopes, license -------------------------------------------------------

    async def _locations(self, request: Request, _: dict[str, str], __: Principal) -> Response:
        return page([location_json(loc) for loc in self.core.locations.values()], request)

    async def _location(self, _: Request, params: dict[str, str], __: Principal) -> Response:
        return json_response(location_json(self.core.location(params["location"])))

    async def _scopes(self, request: Request, _: dict[str, str], __: Principal) -> Response:
        return page([scope_json(self.core, s) for s in self.core.scopes.values()], request)

    async def _scope(self, _: Request, params: dict[str, str], __: Principal) -> Response:
        return json_response(scope_json(self.core, self.core.scope(params["scope"])))

    async def _yara_rules(self, request: Request, params: dict[str, str], _: Principal) -> Response:
        scope = self.core.scope(params["scope"])
        rules = [{"id": r.id, "name": r.name, "description": r.description} for r in scope.yaraRules]
        return page(rules, request)

    async def _license_server(self, _: Request, __: dict[str, str], ___: Principal) -> Response:
        return json_response(license_json(self.core, None))

    async def _license_scope(self, _: Request, params: dict[str, str], __: Principal) -> Response:
        scope = self.core.scope(params["scope"])
        return json_response(license_json(self.core, scope.id))

    # --- runtime details ------------------------------------------------------------------

    def _snapshot(self, plan_id: str) -> RuntimeSnapshot:
        return RuntimeSnapshot(self.core.plan(plan_id), self.clock.now())

    async def _rt_plan(self, _: Request, params: dict[str, str], who: Principal) -> Response:
        snap = self._snapshot(params["plan"])
        return json_response(snap.plan_runtime(self.core, who.roles))

    async def _rt_groups(self, request: Request, params: dict[str, str], _: Principal) -> Response:
        snap = self._snapshot(params["plan"])
        return page([snap.group(g) for g in range(len(snap.plan.spec.groups))], request)

    async def _rt_group_vms(self, request: Request, params: dict[str, str], _: Principal) -> Response:
        snap = self._snapshot(params["plan"])
        g = self._group_of(snap.plan, params["group"])
        return page([snap.vm(g, v) for v in range(len(snap.plan.spec.groups[g].vms))], request)

    async def _rt_group_steps(self, request: Request, params: dict[str, str], _: Principal) -> Response:
        snap = self._snapshot(params["plan"])
        g = self._group_of(snap.plan, params["group"])
        indices = snap.layout.units[g][0] if snap.plan.spec.groups[g].steps else []
        return page([snap.step(i) for i in indices], request)

    async def _rt_vm_steps(self, request: Request, params: dict[str, str], _: Principal) -> Response:
        snap = self._snapshot(params["plan"])
        g, v = self._vm_of(snap.plan, params["vm"])
        return page([snap.step(i) for i in snap.layout.vm_steps[(g, v)]], request)

    async def _rt_step(self, request: Request, params: dict[str, str], _: Principal) -> Response:
        snap = self._snapshot(params["plan"])
        index = self._step_of(snap.plan, params["step"])
        return page(snap.step_details(index), request)

    # --- admin API ------------------------------------------------------------------------

    async def _admin(self, request: Request, path: str) -> Response:
        parts = [p for p in path.split("/") if p][1:]
        method = request.method
        body = _admin_body(request.body)
        if parts == ["state"] and method == "GET":
            self.core.advance()
            return json_response(self._admin_state())
        if parts == ["latency"] and method == "POST":
            self.add_latency(
                _req_str(body, "path"), _req_float(body, "seconds"), method=_opt_str(body, "method")
            )
            return json_response({"latency": [vars(r) for r in self.faults.latency]})
        if parts == ["latency"] and method == "DELETE":
            self.faults.latency.clear()
            return empty(204)
        if parts == ["faults"] and method == "POST":
            status = int(body.get("status", 500))
            if "count" in body:
                self.fail_next(
                    _req_str(body, "path"), int(body["count"]), status=status, method=_opt_str(body, "method")
                )
            elif "rate" in body:
                self.set_error_rate(
                    _req_str(body, "path"),
                    _req_float(body, "rate"),
                    status=status,
                    method=_opt_str(body, "method"),
                )
            else:
                raise ValueError("a fault needs either count (next N requests) or rate (0..1)")
            return json_response({"faults": [vars(r) for r in self.faults.errors]})
        if parts == ["faults"] and method == "DELETE":
            self.clear_faults()
            return empty(204)
        if parts == ["expire-tokens"] and method == "POST":
            self.expire_tokens()
            return empty(204)
        if parts == ["reboot"] and method == "POST":
            self.reboot()
            return empty(204)
        if parts == ["requests"] and method == "GET":
            return json_response([r.as_json() for r in self.faults.log])
        if parts == ["requests"] and method == "DELETE":
            self.clear_requests()
            return empty(204)
        if parts == ["steps"] and method == "POST":
            self.set_step_outcome(
                _req_str(body, "planId"),
                _req_str(body, "stepId"),
                _req_str(body, "outcome"),
                message=_opt_str(body, "message"),
                error_attempts=int(body["errorAttempts"]) if "errorAttempts" in body else None,
                critical=bool(body["isCritical"]) if "isCritical" in body else None,
            )
            return empty(204)
        if len(parts) == 3 and parts[0] == "plans" and parts[2] == "state" and method == "POST":
            self.force_state(parts[1], _req_str(body, "state"), mode=_opt_str(body, "mode"))
            return empty(204)
        return message(404, f"Unknown admin endpoint {method} {request.path}.")

    def _admin_state(self) -> Json:
        return {
            "now": self.clock.now().isoformat(),
            "speed": self.speed,
            "activeTokens": len(self.auth.access),
            "plans": [
                {
                    "id": p.id,
                    "name": p.name,
                    "planType": p.spec.planType,
                    "state": p.state,
                    "mode": p.mode,
                    "running": ps.is_running(p.state),
                    "changeLog": list(p.change_log),
                    "reports": list(p.reports),
                }
                for p in self.core.plans.values()
            ],
        }


def _who(principal: Principal) -> str:
    return principal.client_id or principal.username


def _match(
    routes: list[Route], lowered: tuple[str, ...], original: list[str]
) -> tuple[Route | None, dict[str, str]]:
    for route in routes:
        params: dict[str, str] = {}
        for pattern, low, raw in zip(route.parts, lowered, original, strict=True):
            if pattern.startswith("{"):
                params[pattern[1:-1]] = urllib.parse.unquote(raw)
            elif pattern != low:
                break
        else:
            return route, params
    return None, {}


def _form_fields(request: Request) -> dict[str, str]:
    content_type = request.headers.get("content-type", "")
    kind = content_type.split(";")[0].strip().lower()
    if kind == "multipart/form-data":
        header = f"Content-Type: {content_type}\r\n\r\n".encode("latin-1")
        parsed = BytesParser(policy=HTTP).parsebytes(header + request.body)
        if not parsed.is_multipart():
            raise GrantError("invalid_request", "The multipart form could not be read.")
        fields: dict[str, str] = {}
        for part in parsed.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            if isinstance(name, str) and isinstance(payload, bytes):
                fields[name] = payload.decode("utf-8", errors="replace")
        return fields
    if kind in ("application/x-www-form-urlencoded", ""):
        text = request.body.decode("utf-8", errors="replace")
        return dict(urllib.parse.parse_qsl(text, keep_blank_values=True))
    raise GrantError(
        "invalid_request",
        "The token endpoint takes form fields (application/x-www-form-urlencoded or multipart/form-data).",
    )


def _admin_body(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"the body is not valid JSON: {exc.msg}") from None
    if not isinstance(data, dict):
        raise ValueError("the body must be a JSON object")
    return data


def _req_str(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{key} is required (a string)")
    return value


def _opt_str(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{key} must be a string")
    return value


def _req_float(body: dict[str, Any], key: str) -> float:
    value = body.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{key} is required (a number)")
    return float(value)


def served_versions(text: str) -> tuple[str, ...]:
    """``--api-version``: a release's newest version (``v13.1``: what VRO 13.1 serves, i.e.
    v7.21, v13 and v13.1) or an exact comma-separated list (``v7.21,v13``)."""
    if "," in text:
        return tuple(normalize_version(part) for part in text.split(",") if part.strip())
    version = normalize_version(text)
    return RELEASE_VERSIONS.get(version, (version,))


def create_simulator(
    *,
    clock: Clock,
    estate: Estate | None = None,
    speed: float = 1.0,
    config: SimulatorConfig | None = None,
) -> Simulator:
    """A fresh simulator over ``estate`` (default: the shipped one), timed by ``clock``."""
    config = config or SimulatorConfig()
    chosen = (estate or default_estate()).model_copy(deep=True)
    settings = SimSettings(
        speed=speed,
        illegal_action_status=config.illegal_action_status,
        halt_seconds=config.halt_seconds,
        reset_leaves_disabled=config.reset_leaves_disabled,
        zone=zone_named(config.timezone) if config.timezone else None,
    )
    core = SimCore(estate=chosen, clock=clock, settings=settings)
    return Simulator(core=core, clock=clock, config=config)
