"""What a VRO answer means: the typed error for a failed request, and clone's loose answer.

Every failure the client raises is built here from the :class:`~bot.vro.request.Op` that failed,
so its text names what the user asked for (``Failover for plan 1234``, ``the plans``):

* :func:`status_error`: a non-2xx answer (VRO's own message shown verbatim when it sends one);
* :func:`unavailable` / :func:`outcome_unknown`: VRO not reached, before or while sending;
* :func:`unexpected`: a 2xx answer the bot cannot read.
"""

from __future__ import annotations

from typing import Any, Final

import httpx
import pydantic

from bot.vro.auth import body_kind, vro_message_of
from bot.vro.errors import (
    VroAuthError,
    VroError,
    VroNotFound,
    VroOutcomeUnknown,
    VroRejected,
    VroUnavailable,
    VroUnexpected,
    as_clause,
)
from bot.vro.models import CloneResult
from bot.vro.request import Op


def parse_clone(response: httpx.Response, op: Op, context: dict[str, Any]) -> CloneResult:
    """Clone's answer is undocumented: accept ``{success, data}``, a new plan, a bare id or nothing."""
    if not response.content.strip():
        return CloneResult(success=True, data=None)
    try:
        body = response.json()
    except ValueError:
        raise unexpected(op, response, None) from None
    if isinstance(body, str):
        return CloneResult(success=True, data=body)
    if isinstance(body, dict) and "success" not in body and isinstance(body.get("id"), str):
        return CloneResult(success=True, data=body["id"])
    try:
        return CloneResult.model_validate_json(response.content, context=context)
    except pydantic.ValidationError as exc:
        raise unexpected(op, response, exc) from None


def unavailable(op: Op, detail: str, status: int | None, vro_message: str | None) -> VroUnavailable:
    if op.action:
        text = (
            f"VRO could not be reached for {op.label} ({detail}), so it did not take it. "
            "Check the plan's status, then try again in a minute."
        )
    else:
        text = f"VRO is not answering ({detail}) while reading {op.target}. Try again in a minute."
    return VroUnavailable(text, method=op.method, path=op.path, status=status, vro_message=vro_message)


def outcome_unknown(op: Op, detail: str) -> VroOutcomeUnknown:
    text = (
        f"The connection to VRO failed while sending {op.label} ({detail}). It may or may not "
        "have started: check the plan's status before trying again."
    )
    return VroOutcomeUnknown(text, method=op.method, path=op.path)


def unexpected(op: Op, response: httpx.Response, exc: pydantic.ValidationError | None) -> VroUnexpected:
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


def status_error(op: Op, response: httpx.Response, *, renewed: bool, fixed: bool = False) -> VroError:
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
        return unavailable(op, f"HTTP {status}{said if message else ''}", status, message)
    if message:
        return VroRejected(f"VRO refused {op.label}: {message}", **common)
    if status in (400, 409):
        return VroRejected(f"VRO refused {op.label} (HTTP {status}).", **common)
    return VroUnexpected(
        f"VRO answered {op.label} with HTTP {status} and no explanation. Check VRO's own log.", **common
    )
