"""Typed views of VRO's wire format (REST API v7.21).

Field names are VRO's own, exactly as they appear on the wire (camelCase), so a reader can put
a model next to the API reference. Every model ignores unknown fields (VRO adds fields between
versions) and enum-like fields are plain ``str``: the known values are listed as constants in
the small classes below, but an unknown value still parses.

Facts come from ``shared/reference/vro-rest-api-seed.txt`` (RuntimeDetails shapes: authority)
and ``vro-api-notes.md`` (everything else, with confidence tags; inferred fields are optional).
"""

from __future__ import annotations

from datetime import MAXYEAR, MINYEAR, UTC, datetime, tzinfo
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, model_validator

from bot.vro.times import from_vro

T = TypeVar("T")


def _in_vro_zone(value: datetime, info: ValidationInfo) -> datetime | None:
    """An offset-less time is VRO's wall clock: read it in ``VRO_TIMEZONE`` (the parse context).

    .NET's ``DateTime.MinValue`` / ``MaxValue`` (year 1 / 9999) mean "no time": ``None``. Moved
    into UTC they would also leave Python's range of years (an ``OverflowError``, not a
    validation error). Every field typed :data:`VroTime` is optional.
    """
    if value.year in (MINYEAR, MAXYEAR):
        return None
    context = info.context if isinstance(info.context, dict) else {}
    zone = context.get("vro_zone")
    return from_vro(value, zone if isinstance(zone, tzinfo) else UTC)


VroTime = Annotated[datetime, AfterValidator(_in_vro_zone)]
"""A time from VRO, always aware (UTC) once parsed."""


class VroModel(BaseModel):
    """Base for every VRO payload: unknown fields ignored, names kept as on the wire.

    A ``null`` VRO sends for a field is read as the field's default (a count of 0, an empty
    list), so a half-filled answer still parses; only missing ids and names fail.
    """

    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=False)

    @model_validator(mode="before")
    @classmethod
    def _nulls_are_defaults(cls, data: Any) -> Any:
        if isinstance(data, dict) and None in data.values():
            return {key: value for key, value in data.items() if value is not None}
        return data


# --- known values of open enums -------------------------------------------------------------


class PlanType:
    REPLICA = "Replica"
    CDP_REPLICA = "CdpReplica"
    RESTORE = "Restore"
    STORAGE = "Storage"
    CLOUD = "Cloud"
    ALL = (REPLICA, CDP_REPLICA, RESTORE, STORAGE, CLOUD)


class PlanMode:
    ENABLED = "Enabled"
    DISABLED = "Disabled"
    IN_USE = "InUse"


class RunResult:
    SUCCESS = "Success"
    WARNING = "Warning"
    ERROR = "Error"
    UNDEFINED = "Undefined"


class ExecutionState:
    """``executionState`` of a plan / group / VM / step. Only ``Completed`` is documented."""

    NOT_STARTED = "NotStarted"
    RUNNING = "Running"
    COMPLETED = "Completed"
    SKIPPED = "Skipped"
    HALTED = "Halted"
    FAILED = "Failed"


class Severity:
    SUCCESS = "Success"
    INFO = "Info"
    WARNING = "Warning"
    ERROR = "Error"


class ContinueOption:
    PROCEED_TO_NEXT_VM = "ProceedToNextVm"
    PROCEED_TO_NEXT_GROUP = "ProceedToNextGroup"
    PROCEED_TO_NEXT_STEP = "ProceedToNextStep"
    RETRY_FAILED_STEP = "RetryFailedStep"
    RETRY_FAILED_VM = "RetryFailedVm"
    RETRY_FAILED_GROUP = "RetryFailedGroup"
    ALL = (
        PROCEED_TO_NEXT_VM,
        PROCEED_TO_NEXT_GROUP,
        PROCEED_TO_NEXT_STEP,
        RETRY_FAILED_STEP,
        RETRY_FAILED_VM,
        RETRY_FAILED_GROUP,
    )


# --- envelopes ------------------------------------------------------------------------------


class Page(VroModel, Generic[T]):
    """VRO's collection envelope ``{"total": N, "data": [...]}``; a bare array is read as one page."""

    total: int = 0
    data: list[T] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _bare_array(cls, data: Any) -> Any:
        if isinstance(data, list):
            return {"total": len(data), "data": data}
        if isinstance(data, dict) and "total" not in data and isinstance(data.get("data"), list):
            return {**data, "total": len(data["data"])}
        return data


# --- auth -----------------------------------------------------------------------------------


class TokenResponse(VroModel):
    """Answer of ``POST /api/token``: tokens, or an ``mfa_token`` for an MFA-enabled user."""

    access_token: str | None = Field(default=None, repr=False)
    token_type: str | None = None
    expires_in: int | None = None
    refresh_token: str | None = Field(default=None, repr=False)
    mfa_token: str | None = Field(default=None, repr=False)


class ClientCredentials(VroModel):
    client_id: str
    client_secret: str = Field(repr=False)


class MfaCode(VroModel):
    mfaKey: str = Field(repr=False)
    mfaQrCodeUrl: str | None = Field(default=None, repr=False)


# --- plans and their contents ---------------------------------------------------------------


class ScheduleInfo(VroModel):
    """``RecoveryScheduleInfo`` (field set partly inferred)."""

    type: str | None = None  # "OnTime" | "AfterPlan"
    startTime: VroTime | None = None
    previousPlanId: str | None = None
    previousPlanName: str | None = None
    virusScan: bool | None = None
    yaraScan: bool | None = None
    yaraRuleId: str | None = None


class Plan(VroModel):
    """``RecoveryPlanInfo``: one plan as ``GET /Plans`` and ``GET /Plans/{id}`` return it."""

    id: str
    name: str
    description: str | None = None
    planType: str | None = None
    state: str | None = None
    stateName: str | None = None
    resultName: str | None = None
    lastStableState: str | None = None
    lastStableStateName: str | None = None
    previousExecutionState: str | None = None
    recoveryLocationId: str | None = None
    recoveryLocationName: str | None = None
    recoveryLocationType: str | None = None
    serverId: str | None = None
    siteScopeId: str | None = None
    siteScopeName: str | None = None
    reportTemplateId: str | None = None
    containsAgentGroups: bool | None = None
    storageRecoveryLocations: list[dict[str, Any]] | None = None
    planMode: str | None = None
    planVerificationState: str | None = None
    currentRunResult: str | None = None
    currentTestResult: str | None = None
    currentCheckResult: str | None = None
    lastRunTime: VroTime | None = None
    lastTestTime: VroTime | None = None
    lastCheckTime: VroTime | None = None
    schedule: ScheduleInfo | None = None
    contactName: str | None = None
    contactEmail: str | None = None
    targetRPO: int | None = None
    targetRTO: int | None = None


class PlanGroup(VroModel):
    """``RecoveryGroupInfo``: an inventory (VM) group or a virtual group of a plan."""

    id: str
    name: str
    groupType: str | None = None  # "VmGroup" | "VirtualGroup"
    groupCategory: str | None = None
    virtualGroupType: str | None = None
    isParallel: bool | None = None
    parallelProcessingVmsCount: int | None = None
    vmsCriticality: str | None = None
    order: int | None = None
    description: str | None = None


class PlanVm(VroModel):
    id: str
    name: str
    voId: int | None = None
    isCritical: bool | None = None
    number: int | None = None
    sourceMissing: bool | None = None


class PlanStep(VroModel):
    """``StepInfoModel``: a step of a VM or of a virtual group."""

    id: str
    name: str
    actionType: str | None = None
    stepDefinitionUid: str | None = None
    hidden: bool | None = None
    isCritical: bool | None = None
    prohibitedOperations: list[str] | None = None
    order: int | None = None


class StepParameter(VroModel):
    name: str
    value: Any = None
    type: str | None = None
    isRequired: bool | None = None
    description: str | None = None


class CloneResult(VroModel):
    """Answer of ``POST /Plans/{id}/Clone`` (shape inferred: ``{"success", "data"}``)."""

    success: bool = True
    data: str | None = None


# --- locations, scopes, license -------------------------------------------------------------


class RecoveryLocation(VroModel):
    id: str
    name: str
    type: str | None = None
    description: str | None = None
    isOriginal: bool | None = None
    useReIp: bool | None = None
    useNetworkMapping: bool | None = None
    computeGroups: list[dict[str, Any]] | None = None
    reIpRules: list[dict[str, Any]] | None = None
    networkMappingRules: list[dict[str, Any]] | None = None
    availability: str | None = None


class Scope(VroModel):
    id: str
    name: str
    description: str | None = None
    isDefault: bool | None = None
    state: str | None = None
    serverId: str | None = None
    siteName: str | None = None


class YaraRule(VroModel):
    id: str
    name: str
    description: str | None = None


class LicenseUsage(VroModel):
    newInstances: float = 0
    managedInstances: float = 0


# --- RuntimeDetails (shapes from the seed, field for field) ---------------------------------


class ExecutionDetail(VroModel):
    """One line of an execution result: ``{friendlyInfo, level, severity, timestamp}``."""

    friendlyInfo: str = ""
    level: str | None = None
    severity: str | None = None
    timestamp: VroTime | None = None


class ExecutionResult(VroModel):
    result: str | None = None
    details: list[ExecutionDetail] = Field(default_factory=list)
    startTime: VroTime | None = None
    finishTime: VroTime | None = None


class RuntimeItem(VroModel):
    """Fields shared by plan, group, VM and step runtime details."""

    id: str
    name: str = ""
    progress: int | float = 0
    executionState: str | None = None
    executionResult: ExecutionResult | None = None


class PlanRuntimeDetails(RuntimeItem):
    state: str | None = None
    stateName: str | None = None
    stateOrder: str | None = None
    resultName: str | None = None
    isEditingByCurrentUser: bool | None = None
    currentEditingUser: str | None = None
    lastStableState: str | None = None
    lastStableStateName: str | None = None
    totalProgress: int | float = 0
    isRunningState: bool = False
    isStableState: bool = True
    currentRunResult: str | None = None
    currentTestResult: str | None = None
    currentCheckResult: str | None = None
    planType: str | None = None
    recoveryLocationId: str | None = None
    siteScopeId: str | None = None
    siteScopeName: str | None = None
    recoveryToNewLocation: bool | None = None
    roles: list[str] = Field(default_factory=list)
    isUndoPossible: bool | None = None
    isReversePossible: bool | None = None
    vendor: str | None = None
    planMode: str | None = None
    planVerificationState: str | None = None


class GroupRuntimeDetails(RuntimeItem):
    groupType: str | None = None
    successCount: int = 0
    warningCount: int = 0
    errorCount: int = 0
    totalCount: int = 0
    isProtected: bool | None = None
    isParallel: bool | None = None
    parallelProcessingVmsCount: int | None = None
    vmsCriticality: str | None = None
    vcenter: str | None = None
    datacenter: str | None = None
    virtualGroupType: str | None = None
    groupCategory: str | None = None
    executionType: str | None = None


class VmRuntimeDetails(RuntimeItem):
    voId: int | None = None
    isCritical: bool | None = None
    successCount: int = 0
    warningCount: int = 0
    errorCount: int = 0
    totalCount: int = 0
    number: int | None = None
    isWebConsoleAvailable: bool | None = None
    sourceMissing: bool | None = None


class StepRuntimeDetails(RuntimeItem):
    actionType: str | None = None
    hidden: bool | None = None
    stepDefinitionUid: str | None = None
