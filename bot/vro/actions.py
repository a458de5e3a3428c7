"""Plan actions by name: the bridge between an approved request and a :class:`VroClient` call.

An approval stores the action as a :class:`PlanAction` (VRO's own operation name) and its
parameters as a snake_case mapping of JSON values. :func:`validate_params` checks them (pure;
bad input raises :class:`ValueError` with a message fit for the requester) and :func:`perform`
makes the one matching VRO call.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final, Self

from pydantic import BaseModel, ConfigDict

from bot.vro.client import VroClient
from bot.vro.errors import VroError
from bot.vro.models import ContinueOption
from bot.vro.plan_states import PlanAction as PlanAction  # re-exported: the actions and their runner

ACTION_LABELS: Final[Mapping[PlanAction, str]] = {
    PlanAction.ENABLE: "Enable",
    PlanAction.DISABLE: "Disable",
    PlanAction.HALT: "Halt",
    PlanAction.FAILOVER: "Failover",
    PlanAction.PERMANENT_FAILOVER: "Permanent failover",
    PlanAction.FAILBACK_TO_PRODUCTION: "Failback",
    PlanAction.PREPARE_TO_FAILBACK: "Prepare for failback",
    PlanAction.SWITCHOVER_TO_PRODUCTION: "Switchover to production",
    PlanAction.COMMIT_FAILBACK: "Commit failback",
    PlanAction.UNDO: "Undo",
    PlanAction.RESET_STATE: "Reset",
    PlanAction.RESET_CHANGE_LOG: "Clear change log",
    PlanAction.RESTORE: "Restore",
    PlanAction.CONTINUE: "Continue",
    PlanAction.READINESS_CHECK: "Readiness check",
    PlanAction.SCHEDULE_AT: "Schedule",
    PlanAction.SCHEDULE_AFTER: "Schedule",
    PlanAction.DELETE_SCHEDULE: "Delete schedule",
    PlanAction.CLONE: "Clone",
}
"""How each action is named in messages for people."""

_BOOL = "bool"
_TIME = "time"
_ID = "id"
_TEXT = "text"
_OPTION = "option"

_FAILOVER_OPTIONS: Final = {
    "restore_point_date": _TIME,
    "execute_chained_plans": _BOOL,
    "protect_storage_volumes": _BOOL,
}

ACTION_PARAMS: Final[Mapping[PlanAction, Mapping[str, str]]] = {
    PlanAction.ENABLE: {},
    PlanAction.DISABLE: {},
    PlanAction.HALT: {"full_stop": _BOOL},
    PlanAction.FAILOVER: _FAILOVER_OPTIONS,
    PlanAction.PERMANENT_FAILOVER: {},
    PlanAction.FAILBACK_TO_PRODUCTION: {"restore_location_id": _ID, "failback_restore_vm_tags": _BOOL},
    PlanAction.PREPARE_TO_FAILBACK: {},
    PlanAction.SWITCHOVER_TO_PRODUCTION: {},
    PlanAction.COMMIT_FAILBACK: {},
    PlanAction.UNDO: {},
    PlanAction.RESET_STATE: {"execute_readiness_check": _BOOL},
    PlanAction.RESET_CHANGE_LOG: {"generate_dr_report": _BOOL},
    PlanAction.RESTORE: {
        **_FAILOVER_OPTIONS,
        "restore_location_id": _ID,
        "virus_scan": _BOOL,
        "yara_scan": _BOOL,
        "yara_rule_id": _ID,
    },
    PlanAction.CONTINUE: {"option": _OPTION},
    PlanAction.READINESS_CHECK: {"generate_report": _BOOL},
    PlanAction.SCHEDULE_AT: {"start_time": _TIME},
    PlanAction.SCHEDULE_AFTER: {"previous_plan_id": _ID},
    PlanAction.DELETE_SCHEDULE: {},
    PlanAction.CLONE: {"name": _TEXT},
}
"""The snake_case parameters each action accepts, with their kind."""

REQUIRED_PARAMS: Final[Mapping[PlanAction, frozenset[str]]] = {
    PlanAction.CONTINUE: frozenset({"option"}),
    PlanAction.SCHEDULE_AT: frozenset({"start_time"}),
    PlanAction.SCHEDULE_AFTER: frozenset({"previous_plan_id"}),
}


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
    if kind == _BOOL:
        if not isinstance(value, bool):
            raise ValueError(f"{label}: {key} must be true or false, not {value!r}")
        return value
    if kind == _TIME:
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
    if kind == _OPTION:
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
    """Run ``action`` on ``plan_id`` through ``client``.

    Bad parameters raise :class:`ValueError` before anything is sent; VRO's refusals and
    failures raise the :class:`~bot.vro.errors.VroError` subclasses (an action is never retried).
    """
    kwargs = validate_params(action, params)
    action = PlanAction(action)
    if not plan_id or not plan_id.strip():
        raise ValueError(f"{ACTION_LABELS[action]} needs a plan id")
    status: int
    match action:
        case PlanAction.CLONE:
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
        case PlanAction.ENABLE:
            status = (await client.enable_plan(plan_id)).status_code
        case PlanAction.DISABLE:
            status = (await client.disable_plan(plan_id)).status_code
        case PlanAction.HALT:
            status = (await client.halt_plan(plan_id, **kwargs)).status_code
        case PlanAction.FAILOVER:
            status = (await client.failover(plan_id, **kwargs)).status_code
        case PlanAction.PERMANENT_FAILOVER:
            status = (await client.permanent_failover(plan_id)).status_code
        case PlanAction.FAILBACK_TO_PRODUCTION:
            status = (await client.failback_to_production(plan_id, **kwargs)).status_code
        case PlanAction.PREPARE_TO_FAILBACK:
            status = (await client.prepare_to_failback(plan_id)).status_code
        case PlanAction.SWITCHOVER_TO_PRODUCTION:
            status = (await client.switchover_to_production(plan_id)).status_code
        case PlanAction.COMMIT_FAILBACK:
            status = (await client.commit_failback(plan_id)).status_code
        case PlanAction.UNDO:
            status = (await client.undo_plan(plan_id)).status_code
        case PlanAction.RESET_STATE:
            status = (await client.reset_state(plan_id, **kwargs)).status_code
        case PlanAction.RESET_CHANGE_LOG:
            status = (await client.reset_change_log(plan_id, **kwargs)).status_code
        case PlanAction.RESTORE:
            status = (await client.restore(plan_id, **kwargs)).status_code
        case PlanAction.CONTINUE:
            status = (await client.continue_plan(plan_id, kwargs["option"])).status_code
        case PlanAction.READINESS_CHECK:
            status = (await client.readiness_check(plan_id, **kwargs)).status_code
        case PlanAction.SCHEDULE_AT:
            status = (await client.schedule_at(plan_id, kwargs["start_time"])).status_code
        case PlanAction.SCHEDULE_AFTER:
            status = (await client.schedule_after(plan_id, kwargs["previous_plan_id"])).status_code
        case PlanAction.DELETE_SCHEDULE:
            status = (await client.delete_schedule(plan_id)).status_code
    return ActionResult(
        action=action,
        plan_id=plan_id,
        ok=True,
        status_code=status,
        message=f"VRO accepted {ACTION_LABELS[action]} for plan {plan_id}.",
    )
