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
from bot.simulator.plans import ActionParams, SimError
from bot.simulator.query import QueryError, apply_query, parse_int
from bot.simulator.render import (
    Json,
)
from bot.vro import plan_states as ps
from bot.vro.models import ContinueOption
from bot.vro.operations import (
    Param,
    ParamKind,
    at_least,
    spec_of,
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


# Where ActionParams names a table parameter differently.
_FIELD_OF: dict[str, str] = {"option": "continue_option", "name": "clone_name"}
# [UNK] bodies: Prepare for Failback and Switchover accept the failback body too.
_BODY_LIKE: dict[str, str] = {
    ps.PREPARE_TO_FAILBACK: ps.FAILBACK_TO_PRODUCTION,
    ps.SWITCHOVER_TO_PRODUCTION: ps.FAILBACK_TO_PRODUCTION,
}


def _param_value(param: Param, body: Body, request: Request) -> object:
    """One parameter from the query string (where VRO documents times and ids) or the body."""
    if param.kind is ParamKind.BOOL:
        return body.flag(param.wire)
    if param.kind is ParamKind.TIME:
        raw = request.arg(param.wire) or body.text(param.wire)
        return parse_datetime(raw, param.wire, body.zone) if raw else None
    if param.kind is ParamKind.ID:
        raw = request.arg(param.wire) or body.text(param.wire)
        return _guid(raw, param.wire) if raw else None
    text = body.text(param.wire)
    if param.kind is ParamKind.OPTION and text is not None:
        known = {option.lower(): option for option in ContinueOption.ALL}
        return known.get(text.lower(), text)
    return text


def action_params(action: str, body: Body, request: Request) -> ActionParams:
    """Read the fields an action takes, as the action table names them (vro-api-notes.md §3.4)."""
    spec = spec_of(_BODY_LIKE.get(action, action))
    values: dict[str, Any] = {}
    for param in spec.params:
        value = _param_value(param, body, request)
        if value is None and param.required:
            where = " (query string)" if param.kind in (ParamKind.TIME, ParamKind.ID) else ""
            raise SimError(400, f"{param.wire} is required{where}.")
        if value is not None:
            values[_FIELD_OF.get(param.name, param.name)] = value
    if action == ps.RESTORE:  # ransomware-scan options VRO takes and the bot never sends [DCL v6]
        body.flag("scanInfectedFlag")
        body.flag("scanSuspiciousFlag")
        body.integer("restorePointsCountForRansomwareScan")
        body.text("ransomwareAction")
    if action in (ps.SCHEDULE_AT, ps.SCHEDULE_AFTER):
        values["schedule_options"] = _scan_options(body)
    return ActionParams(**values)


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
