"""Plan actions by name: the bridge between an approved request and a :class:`VroClient` call.

An approval stores the action as a :class:`PlanAction` (VRO's own operation name) and its
parameters as a snake_case mapping of JSON values. :func:`validate_params` checks them (pure;
bad input raises :class:`ValueError` with a message fit for the requester) and :func:`perform`
makes the one matching VRO call.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, Self

from pydantic import BaseModel, ConfigDict

from bot.vro.errors import VroError
from bot.vro.models import ContinueOption
from bot.vro.operations import ACTIONS, ParamKind, spec_of
from bot.vro.operations import PlanAction as PlanAction  # re-exported: the actions and their runner

if TYPE_CHECKING:
    from bot.vro.client import VroClient

ACTION_LABELS: Final[Mapping[PlanAction, str]] = MappingProxyType(
    {spec.action: spec.label for spec in ACTIONS}
)
"""How each action is named in messages for people (the table's one label)."""

ACTION_PARAMS: Final[Mapping[PlanAction, Mapping[str, str]]] = MappingProxyType(
    {spec.action: {p.name: p.kind.value for p in spec.params} for spec in ACTIONS}
)
"""The snake_case parameters each action accepts, with their kind."""

REQUIRED_PARAMS: Final[Mapping[PlanAction, frozenset[str]]] = MappingProxyType(
    {spec.action: frozenset(p.name for p in spec.params if p.required) for spec in ACTIONS}
)


class ActionResult(BaseModel):
    """What came of one action: VRO accepted it (``ok``) or not, with a message for people."""

    model_config = ConfigDict(frozen=True)

    action: PlanAction
    plan_id: str
    ok: bool
    status_code: int
    message: str
    new_plan_id: str | None = None
    error: str | None = None  # the VroError class name when ok is False because of an error

    @classmethod
    def failed(cls, action: PlanAction, plan_id: str, error: VroError) -> Self:
        """An :class:`ActionResult` for an action VRO refused or could not run."""
        return cls(
            action=action,
            plan_id=plan_id,
            ok=False,
            status_code=error.status or 0,
            message=str(error),
            error=type(error).__name__,
        )


def _normalized_option(value: str) -> str | None:
    wanted = "".join(ch for ch in value.lower() if ch.isalnum())
    for option in ContinueOption.ALL:
        if option.lower() == wanted:
            return option
    return None


def _check_value(action: PlanAction, key: str, kind: str, value: Any) -> Any:
    label = ACTION_LABELS[action]
    if kind == ParamKind.BOOL:
        if not isinstance(value, bool):
            raise ValueError(f"{label}: {key} must be true or false, not {value!r}")
        return value
    if kind == ParamKind.TIME:
        if isinstance(value, datetime):
            moment = value
        elif isinstance(value, str):
            try:
                moment = datetime.fromisoformat(value.strip())
            except ValueError:
                raise ValueError(
                    f"{label}: {key} must be an ISO date and time such as 2026-03-01T14:30:00+00:00, not {value!r}"
                ) from None
        else:
            raise ValueError(f"{label}: {key} must be an ISO date and time string, not {value!r}")
        if moment.tzinfo is None:
            raise ValueError(f"{label}: {key} needs a timezone, e.g. 2026-03-01T14:30:00+00:00")
        return moment
    if kind == ParamKind.OPTION:
        option = _normalized_option(value) if isinstance(value, str) else None
        if option is None:
            raise ValueError(f"{label}: option must be one of {', '.join(ContinueOption.ALL)}, not {value!r}")
        return option
    # ids and text
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{label}: {key} must be a non-empty text")
    return value.strip()


def validate_params(action: PlanAction | str, params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Typed keyword arguments for the client call of ``action``; :class:`ValueError` if bad.

    ``None`` values count as not given.
    """
    try:
        action = PlanAction(action)
    except ValueError:
        raise ValueError(f"unknown plan action {action!r}") from None
    allowed = ACTION_PARAMS[action]
    given = {k: v for k, v in (params or {}).items() if v is not None}
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        accepted = ", ".join(sorted(allowed)) or "no parameters"
        raise ValueError(
            f"{ACTION_LABELS[action]} does not take {', '.join(unknown)} (it accepts {accepted})"
        )
    missing = sorted(REQUIRED_PARAMS.get(action, frozenset()) - set(given))
    if missing:
        raise ValueError(f"{ACTION_LABELS[action]} needs {', '.join(missing)}")
    kwargs = {key: _check_value(action, key, allowed[key], value) for key, value in given.items()}
    if kwargs.get("yara_scan") and "yara_rule_id" not in kwargs:
        raise ValueError("Restore: a YARA scan needs yara_rule_id")
    return kwargs


async def perform(
    client: VroClient, action: PlanAction | str, plan_id: str, params: Mapping[str, Any] | None = None
) -> ActionResult:
    """Run ``action`` on ``plan_id`` through ``client``: the one request the action table describes.

    Bad parameters raise :class:`ValueError` before anything is sent; so does an action that the
    server's API version lacks (:class:`~bot.vro.errors.VroNotAvailable`, a ``VroError``). VRO's
    refusals and failures raise the :class:`~bot.vro.errors.VroError` subclasses (an action is
    never retried). Failback and Restore always name a recovery location: the plan's own (read
    from VRO) unless the request named one.
    """
    kwargs = validate_params(action, params)
    action = PlanAction(action)
    spec = spec_of(action)
    if not plan_id or not plan_id.strip():
        raise ValueError(f"{spec.label} needs a plan id")
    if action == PlanAction.CLONE:
        cloned = await client.clone_plan(plan_id, **kwargs)
        new_id = cloned.data
        if not cloned.success:
            return ActionResult(
                action=action,
                plan_id=plan_id,
                ok=False,
                status_code=200,
                message=f"VRO did not clone plan {plan_id}" + (f": {new_id}" if new_id else "."),
            )
        as_what = f" as plan {new_id}" if new_id else ""
        return ActionResult(
            action=action,
            plan_id=plan_id,
            ok=True,
            status_code=200,
            message=f"VRO cloned plan {plan_id}{as_what}.",
            new_plan_id=new_id,
        )
    accepted = await client.run_action(spec, plan_id, kwargs)
    return ActionResult(
        action=action,
        plan_id=plan_id,
        ok=True,
        status_code=accepted.status_code,
        message=f"VRO accepted {spec.label} for plan {plan_id}.",
    )
