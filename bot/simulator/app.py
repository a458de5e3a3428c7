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
  POST   /__sim/faults                ``{"path", "status"?: 500, "count": N, "message"?}`` (next N) or
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

Hand-written routing keeps a request to a few dictionary lookups. The parts: :mod:`.http` (the
request/response model and request bodies), :mod:`.routes` (the VRO handlers), :mod:`.controls`
(state, in-process controls and the admin API); this module serves them as ASGI.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from bot.clock import Clock, OffsetClock
from bot.simulator.auth import GrantError, Principal
from bot.simulator.core import SimCore
from bot.simulator.estate import Estate, default_estate
from bot.simulator.faults import RequestRecord
from bot.simulator.http import (
    UNAUTHORIZED,
    Receive,
    Request,
    Response,
    Scope,
    Send,
    form_fields,
    json_response,
    match_route,
    message,
)
from bot.simulator.plans import SimError, SimSettings
from bot.simulator.routes import VroRoutes
from bot.vro.operations import (
    KNOWN_API_VERSIONS,
    RELEASE_VERSIONS,
    action_for_wire,
    normalize_version,
)
from bot.vro.times import zone_named

DEFAULT_USERNAME = "vro-bot"
DEFAULT_PASSWORD = "vro-bot-demo"  # noqa: S105 - public demo account of the simulator
ADMIN_USERNAME = "administrator"
ADMIN_PASSWORD = "Password1"  # noqa: S105 - the VRO docs' example account
MFA_USERNAME = "mfa-user"
MFA_PASSWORD = "mfa-pass"  # noqa: S105 - public demo account of the simulator
MFA_TOTP_SECRET = "HBIG4FZN5XM7RGZCYWM76EGEYLFZ6OYK"  # noqa: S105 - the VRO docs' sample key

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
    # A run ends the moment it starts (every step takes no time): for tests of fast runs.
    instant_runs: bool = False
    # The server's clock is this many hours off the real time (negative: behind), as in VRO
    # servers with a wrong clock or time zone: every time it reports and reads is shifted.
    clock_offset_hours: float = 0.0


# Simulated seconds per real second that make every run end before anyone can look.
INSTANT_SPEED = 1e12


# --- the application ------------------------------------------------------------------------


class Simulator(VroRoutes):
    """A stateful VRO server, callable as an ASGI app, with in-process controls for tests."""

    def __init__(self, *, core: SimCore, clock: Clock, config: SimulatorConfig) -> None:
        super().__init__(core=core, clock=clock, config=config)
        self._register()

    # --- in-process handles ---------------------------------------------------------------

    def token(self, username: str = DEFAULT_USERNAME) -> str:
        """A valid access token for ``username``, without going through ``/api/token``."""
        return self.auth.issue_for(username, self.clock.now())

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
            form = form_fields(request)
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
        route, params = match_route(candidates, lowered, rest)
        if route is None:
            other_methods = [
                method
                for (method, size), routes in self._routes.items()
                if size == len(rest)
                and method != request.method
                and match_route([r for r in routes if r.served_on(version)], lowered, rest)[0]
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

    # --- auth-related operations ------------------------------------------------------------

    # --- plans --------------------------------------------------------------------------------

    # --- locations, scopes, license -------------------------------------------------------

    # --- runtime details ------------------------------------------------------------------

    # --- admin API ------------------------------------------------------------------------


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
    if config.clock_offset_hours:
        clock = OffsetClock(clock, timedelta(hours=config.clock_offset_hours))
    settings = SimSettings(
        speed=INSTANT_SPEED if config.instant_runs else speed,
        illegal_action_status=config.illegal_action_status,
        halt_seconds=config.halt_seconds,
        reset_leaves_disabled=config.reset_leaves_disabled,
        zone=zone_named(config.timezone) if config.timezone else None,
    )
    core = SimCore(estate=chosen, clock=clock, settings=settings)
    return Simulator(core=core, clock=clock, config=config)
