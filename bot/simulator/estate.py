"""The estate a simulator serves: users, scopes, recovery locations, plans, groups, VMs, steps.

An estate is a JSON file (``data/default_estate.json`` is the default; ``--scenario FILE`` loads
another) validated by the pydantic models below. Field names follow VRO's camelCase so a file
reads like the API it feeds; simulation knobs (``duration``, ``outcome``, ...) sit on the steps.
"""

from __future__ import annotations

import json
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from bot.vro import plan_states
from bot.vro.models import PlanMode, PlanType, RunResult

DEFAULT_ESTATE_RESOURCE = "default_estate.json"
FORWARD_OPERATIONS = [plan_states.FAILOVER, plan_states.RESTORE]


class EstateError(ValueError):
    """The estate file cannot be used; the message says where and why."""


class SpecModel(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ParameterSpec(SpecModel):
    name: str
    value: Any = None
    type: str = "String"
    isRequired: bool = False
    description: str = ""


class StepSpec(SpecModel):
    """One step of a VM or of a virtual group, with how it behaves when run."""

    id: str
    name: str
    actionType: str = "RunScript"
    stepDefinitionUid: str = "00000000-0000-0000-0000-000000000000"
    hidden: bool = False
    isCritical: bool = False
    prohibitedOperations: list[str] = Field(default_factory=list)
    parameters: list[ParameterSpec] = Field(default_factory=list)
    # simulation knobs
    duration: float = Field(default=10.0, ge=0, description="simulated seconds per run")
    checkDuration: float = Field(default=1.0, ge=0, description="simulated seconds per check")
    outcome: Literal["Success", "Warning", "Error"] = "Success"
    outcomeOn: list[str] = Field(
        default_factory=lambda: [str(op) for op in FORWARD_OPERATIONS],
        description="operations the outcome applies to; others succeed",
    )
    errorAttempts: int = Field(default=1, ge=0, description="attempts that fail before a retry succeeds")
    checkOutcome: Literal["Success", "Warning", "Error"] = "Success"
    message: str | None = Field(default=None, description="friendlyInfo when the outcome applies")


class VmSpec(SpecModel):
    id: str
    name: str
    voId: int = 0
    isCritical: bool = False
    sourceMissing: bool = False
    isWebConsoleAvailable: bool = True
    steps: list[StepSpec] = Field(default_factory=list)


class GroupSpec(SpecModel):
    id: str
    name: str
    groupType: Literal["VmGroup", "VirtualGroup"] = "VmGroup"
    groupCategory: str = "Tag"
    virtualGroupType: str = "Normal"
    isParallel: bool = False
    parallelProcessingVmsCount: int = Field(default=1, ge=1)
    vmsCriticality: str = "AllNotCritical"
    isProtected: bool = False
    vcenter: str = ""
    datacenter: str = ""
    description: str = ""
    vms: list[VmSpec] = Field(default_factory=list)
    steps: list[StepSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _contents_match_type(self) -> Self:
        if self.groupType == "VmGroup" and self.steps:
            raise ValueError(f"group '{self.name}' is a VmGroup: put its steps on its VMs")
        if self.groupType == "VirtualGroup" and self.vms:
            raise ValueError(f"group '{self.name}' is a VirtualGroup: it holds steps, not VMs")
        return self


class ScheduleSpec(SpecModel):
    type: Literal["OnTime", "AfterPlan"]
    startTime: str | None = None
    previousPlanId: str | None = None


class PlanSpec(SpecModel):
    id: str
    name: str
    description: str = ""
    planType: str
    mode: str = PlanMode.ENABLED
    state: str = plan_states.READY
    scopeId: str
    recoveryLocationId: str
    vendor: str = "VMware"
    reportTemplateId: str = "00000000-0000-0000-0000-000000000000"
    containsAgentGroups: bool = False
    contactName: str | None = None
    contactEmail: str | None = None
    targetRPO: int | None = None
    targetRTO: int | None = None
    resultName: str = ""
    currentRunResult: str = RunResult.UNDEFINED
    currentTestResult: str = RunResult.UNDEFINED
    currentCheckResult: str = RunResult.UNDEFINED
    # When that check ran (ISO 8601, with an offset): a check result and its time come together.
    lastCheckTime: str | None = None
    planVerificationState: str = "NeedsVerified"
    schedule: ScheduleSpec | None = None
    groups: list[GroupSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _known_type_state_mode(self) -> Self:
        if self.planType not in PlanType.ALL:
            raise ValueError(f"planType '{self.planType}' is not one of {', '.join(PlanType.ALL)}")
        modes = (PlanMode.ENABLED, PlanMode.DISABLED, PlanMode.IN_USE)
        if self.mode not in modes:
            raise ValueError(f"mode '{self.mode}' is not one of {', '.join(modes)}")
        if self.state not in plan_states.STATE_INFO:
            raise ValueError(f"state '{self.state}' is not a known plan state")
        if plan_states.is_running(self.state):
            raise ValueError(f"state '{self.state}' is a running state; an estate starts at rest")
        checked = self.currentCheckResult != RunResult.UNDEFINED
        if checked != (self.lastCheckTime is not None):
            raise ValueError(
                "currentCheckResult and lastCheckTime go together: a check result needs the time it ran, "
                "and a time needs its result"
            )
        if self.lastCheckTime is not None and datetime.fromisoformat(self.lastCheckTime).tzinfo is None:
            raise ValueError(f"lastCheckTime '{self.lastCheckTime}' needs an offset, like +00:00")
        return self

    def all_steps(self) -> list[StepSpec]:
        """Every step of the plan, in execution order."""
        out: list[StepSpec] = []
        for group in self.groups:
            out.extend(group.steps)
            for vm in group.vms:
                out.extend(vm.steps)
        return out


class YaraRuleSpec(SpecModel):
    id: str
    name: str
    description: str = ""


class ScopeSpec(SpecModel):
    id: str
    name: str
    description: str = ""
    isDefault: bool = False
    state: str = "Active"
    yaraRules: list[YaraRuleSpec] = Field(default_factory=list)


class LocationSpec(SpecModel):
    id: str
    name: str
    type: str = "Restore"
    description: str = ""
    isOriginal: bool = False
    useReIp: bool = False
    useNetworkMapping: bool = False
    availability: str = "Available"


class UserSpec(SpecModel):
    username: str
    password: str
    roles: list[str] = Field(default_factory=lambda: ["DRSiteAdmin", "DRPlanAuthor", "DRPlanOperator"])
    mfaSecret: str | None = Field(default=None, description="base32 TOTP secret: MFA is on when set")


class ServerSpec(SpecModel):
    id: str = "ab6dfa51-c6c3-49ef-9291-067194635e37"
    name: str = "vro.corp.local"
    siteName: str = "Ontario"


class LicenseSpec(SpecModel):
    newInstances: int = 0
    managedInstances: int | None = Field(default=None, description="default: VMs in all plans")


class Estate(SpecModel):
    """Everything a simulator serves, as loaded from an estate file."""

    server: ServerSpec = Field(default_factory=ServerSpec)
    license: LicenseSpec = Field(default_factory=LicenseSpec)
    users: list[UserSpec] = Field(default_factory=list)
    scopes: list[ScopeSpec] = Field(default_factory=list)
    recoveryLocations: list[LocationSpec] = Field(default_factory=list)
    plans: list[PlanSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _references_and_ids(self) -> Self:
        _unique("scope id", [s.id.lower() for s in self.scopes])
        _unique("recovery location id", [loc.id.lower() for loc in self.recoveryLocations])
        _unique("plan id", [p.id.lower() for p in self.plans])
        _unique("plan name", [p.name.lower() for p in self.plans])
        _unique("username", [u.username.lower() for u in self.users])
        scope_ids = {s.id.lower() for s in self.scopes}
        location_ids = {loc.id.lower() for loc in self.recoveryLocations}
        plan_ids = {p.id.lower() for p in self.plans}
        for plan in self.plans:
            where = f"plan '{plan.name}'"
            if plan.scopeId.lower() not in scope_ids:
                raise ValueError(f"{where}: scopeId '{plan.scopeId}' is not a scope of this estate")
            if plan.recoveryLocationId.lower() not in location_ids:
                raise ValueError(
                    f"{where}: recoveryLocationId '{plan.recoveryLocationId}' is not a recovery location"
                )
            previous = plan.schedule.previousPlanId if plan.schedule else None
            if previous and previous.lower() not in plan_ids:
                raise ValueError(f"{where}: schedule.previousPlanId is not a plan of this estate")
            ids = [g.id.lower() for g in plan.groups]
            ids += [vm.id.lower() for g in plan.groups for vm in g.vms]
            ids += [step.id.lower() for step in plan.all_steps()]
            _unique(f"{where}: group / VM / step id", ids)
        return self

    def vm_count(self) -> int:
        return sum(len(g.vms) for p in self.plans for g in p.groups)


def _unique(what: str, values: list[str]) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"duplicate {what} '{value}'")
        seen.add(value)


def _format_validation_error(error: ValidationError, source: str) -> str:
    lines = [f"{source} is not a valid estate:"]
    for item in error.errors()[:10]:
        location = ".".join(str(part) for part in item["loc"]) or "(top level)"
        message = str(item["msg"]).removeprefix("Value error, ")
        lines.append(f"  {location}: {message}")
    if error.error_count() > 10:
        lines.append(f"  ... and {error.error_count() - 10} more")
    return "\n".join(lines)


def parse_estate(data: Any, *, source: str = "estate") -> Estate:
    """Validate already-decoded JSON as an estate; :class:`EstateError` says what is wrong."""
    try:
        return Estate.model_validate(data)
    except ValidationError as exc:
        raise EstateError(_format_validation_error(exc, source)) from None


def load_estate(path: str | Path) -> Estate:
    """Read and validate an estate file."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise EstateError(f"cannot read estate file {file}: {exc.strerror or exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise EstateError(
            f"{file} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    return parse_estate(data, source=str(file))


def default_estate() -> Estate:
    """The estate shipped with the package (``bot/simulator/data/default_estate.json``)."""
    text = (
        resources.files("bot.simulator")
        .joinpath("data")
        .joinpath(DEFAULT_ESTATE_RESOURCE)
        .read_text(encoding="utf-8")
    )
    return parse_estate(json.loads(text), source="default estate")
