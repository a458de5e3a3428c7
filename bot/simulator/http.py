"""The simulator's HTTP layer: a small ASGI request/response model, routes, paging, and the
request bodies VRO reads (case-insensitive keys, its date formats, action parameters)."""

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

from bot.simulator.auth import GrantError, Principal
from bot.simulator.core import ActionParams, SimError
from bot.simulator.query import QueryError, apply_query, parse_int
from bot.simulator.render import (
    Json,
)
from bot.vro import plan_states as ps
from bot.vro.operations import (
    at_least,
    version_key,
)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

UNAUTHORIZED = "Authorization has been denied for this request."


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


def match_route(
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


def form_fields(request: Request) -> dict[str, str]:
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
