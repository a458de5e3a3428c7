"""The simulator's state and controls: what tests and the demo change in process (faults,
latency, reboots, step outcomes, plan states) and the same controls over HTTP (``/__sim/...``)."""

from __future__ import annotations

import json
from datetime import UTC, tzinfo
from typing import TYPE_CHECKING, Any

from bot.clock import Clock
from bot.simulator.auth import AuthState
from bot.simulator.core import SimCore
from bot.simulator.estate import Estate
from bot.simulator.faults import Faults, RequestRecord
from bot.simulator.http import Request, Response, Route, empty, json_response, message
from bot.simulator.plans import LivePlan
from bot.simulator.render import (
    Json,
)
from bot.vro import plan_states as ps
from bot.vro.models import RunResult
from bot.vro.operations import (
    normalize_version,
    version_key,
)
from bot.vro.times import zone_named

if TYPE_CHECKING:
    from bot.simulator.app import SimulatorConfig


class Controls:
    """The simulator's state, and the controls a test or the admin API uses."""

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

    async def _admin(self, request: Request, path: str) -> Response:
        parts = [p for p in path.split("/") if p][1:]
        method = request.method
        body = _admin_body(request.body)
        if parts == ["state"] and method == "GET":
            self.core.advance()
            return json_response(self._admin_state())
        if parts == ["latency"] and method == "POST":
            self.faults.add_latency(
                _req_str(body, "path"), _req_float(body, "seconds"), method=_opt_str(body, "method")
            )
            return json_response({"latency": [vars(r) for r in self.faults.latency]})
        if parts == ["latency"] and method == "DELETE":
            self.faults.latency.clear()
            return empty(204)
        if parts == ["faults"] and method == "POST":
            status = int(body.get("status", 500))
            if "count" in body:
                self.faults.fail_next(
                    _req_str(body, "path"),
                    int(body["count"]),
                    status=status,
                    method=_opt_str(body, "method"),
                    message=_opt_str(body, "message"),
                )
            elif "rate" in body:
                self.faults.error_rate(
                    _req_str(body, "path"),
                    _req_float(body, "rate"),
                    status=status,
                    method=_opt_str(body, "method"),
                )
            else:
                raise ValueError("a fault needs either count (next N requests) or rate (0..1)")
            return json_response({"faults": [vars(r) for r in self.faults.errors]})
        if parts == ["faults"] and method == "DELETE":
            self.faults.clear()
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
