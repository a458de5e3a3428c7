"""What the client reads from VRO: plans, their parts, locations, scopes, license, progress.

Every read is a GET, retried on :class:`~bot.vro.errors.VroUnavailable` (see
:class:`~bot.vro.transport.RetryPolicy`). A collection is read one page at a time through
:meth:`~bot.vro.transport.VroTransport._page`: each takes the same keywords, ``start``,
``limit``, ``filter`` and ``sort`` (:class:`~bot.vro.request.PageQuery`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Final, Unpack

from bot.vro.models import (
    ExecutionDetail,
    GroupRuntimeDetails,
    LicenseUsage,
    Page,
    Plan,
    PlanGroup,
    PlanRuntimeDetails,
    PlanStep,
    PlanVm,
    RecoveryLocation,
    Scope,
    StepParameter,
    StepRuntimeDetails,
    VmRuntimeDetails,
    YaraRule,
)
from bot.vro.query import FilterArg, SortArg
from bot.vro.request import PageQuery, make_op
from bot.vro.transport import VroTransport

DEFAULT_PAGE_SIZE: Final = 100

# Parametrized once: ``Page[X]`` costs a cache lookup in pydantic on every evaluation, and the
# watcher reads these pages many times a second.
_GROUPS_RUNTIME: Final = Page[GroupRuntimeDetails]
_VMS_RUNTIME: Final = Page[VmRuntimeDetails]
_STEPS_RUNTIME: Final = Page[StepRuntimeDetails]
_EXECUTION_DETAILS: Final = Page[ExecutionDetail]
_PLANS: Final = Page[Plan]
_GROUPS: Final = Page[PlanGroup]
_VMS: Final = Page[PlanVm]
_STEPS: Final = Page[PlanStep]
_PARAMETERS: Final = Page[StepParameter]
_LOCATIONS: Final = Page[RecoveryLocation]
_SCOPES: Final = Page[Scope]
_YARA_RULES: Final = Page[YaraRule]


class VroReads(VroTransport):
    """The GETs of the VRO REST API, one method each."""

    # --- plans ------------------------------------------------------------------------------

    async def get_plans(self, *, only_enabled: bool = False, **query: Unpack[PageQuery]) -> Page[Plan]:
        """``GET /Plans``: one page of plans."""
        op = make_op("GET", "Plans", target="the plans")
        extra = {"onlyEnabled": "true"} if only_enabled else None
        return await self._page(_PLANS, op, query, extra)

    async def iter_plans(
        self,
        *,
        filter: FilterArg = None,
        sort: SortArg = None,
        only_enabled: bool = False,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> AsyncIterator[Plan]:
        """Every plan matching ``filter``, page by page."""
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        start = 0
        while True:
            page = await self.get_plans(
                start=start, limit=page_size, filter=filter, sort=sort, only_enabled=only_enabled
            )
            for plan in page.data:
                yield plan
            start += len(page.data)
            if not page.data or start >= page.total:
                return

    async def get_plan(self, plan_id: str) -> Plan:
        """``GET /Plans/{planId}``."""
        return await self._one(Plan, make_op("GET", "Plans", plan_id, target=f"plan {plan_id}"))

    async def get_plan_groups(self, plan_id: str, **query: Unpack[PageQuery]) -> Page[PlanGroup]:
        """``GET /Plans/{planId}/Groups``."""
        op = make_op("GET", "Plans", plan_id, "Groups", target=f"the groups of plan {plan_id}")
        return await self._page(_GROUPS, op, query)

    async def get_group_vms(self, plan_id: str, group_id: str, **query: Unpack[PageQuery]) -> Page[PlanVm]:
        """``GET /Plans/{planId}/Groups/{groupId}/Vms``: the VMs of an inventory group."""
        target = f"the VMs of group {group_id} in plan {plan_id}"
        op = make_op("GET", "Plans", plan_id, "Groups", group_id, "Vms", target=target)
        return await self._page(_VMS, op, query)

    async def get_group_steps(
        self, plan_id: str, group_id: str, **query: Unpack[PageQuery]
    ) -> Page[PlanStep]:
        """``GET /Plans/{planId}/Groups/{groupId}/Steps``: the steps of a virtual group."""
        target = f"the steps of group {group_id} in plan {plan_id}"
        op = make_op("GET", "Plans", plan_id, "Groups", group_id, "Steps", target=target)
        return await self._page(_STEPS, op, query)

    async def get_vm_steps(self, plan_id: str, vm_id: str, **query: Unpack[PageQuery]) -> Page[PlanStep]:
        """``GET /Plans/{planId}/Vms/{vmId}/Steps``."""
        target = f"the steps of VM {vm_id} in plan {plan_id}"
        op = make_op("GET", "Plans", plan_id, "Vms", vm_id, "Steps", target=target)
        return await self._page(_STEPS, op, query)

    async def get_step_parameters(
        self, plan_id: str, step_id: str, **query: Unpack[PageQuery]
    ) -> Page[StepParameter]:
        """``GET /Plans/{planId}/Steps/{stepId}/Parameters``."""
        target = f"the parameters of step {step_id} in plan {plan_id}"
        op = make_op("GET", "Plans", plan_id, "Steps", step_id, "Parameters", target=target)
        return await self._page(_PARAMETERS, op, query)

    # --- recovery locations, scopes, license ------------------------------------------------

    async def get_recovery_locations(self, **query: Unpack[PageQuery]) -> Page[RecoveryLocation]:
        """``GET /RecoveryLocations``."""
        op = make_op("GET", "RecoveryLocations", target="the recovery locations")
        return await self._page(_LOCATIONS, op, query)

    async def get_recovery_location(self, location_id: str) -> RecoveryLocation:
        """``GET /RecoveryLocations/{id}``."""
        op = make_op("GET", "RecoveryLocations", location_id, target=f"recovery location {location_id}")
        return await self._one(RecoveryLocation, op)

    async def get_scopes(self, **query: Unpack[PageQuery]) -> Page[Scope]:
        """``GET /Scopes``."""
        return await self._page(_SCOPES, make_op("GET", "Scopes", target="the scopes"), query)

    async def get_yara_rules(self, scope_id: str, **query: Unpack[PageQuery]) -> Page[YaraRule]:
        """``GET /Scopes/{scopeId}/YaraRules``."""
        op = make_op("GET", "Scopes", scope_id, "YaraRules", target=f"the YARA rules of scope {scope_id}")
        return await self._page(_YARA_RULES, op, query)

    async def get_license_usage_server(self) -> LicenseUsage:
        """``GET /License/Usage/Server``."""
        op = make_op("GET", "License", "Usage", "Server", target="the server's license usage")
        return await self._one(LicenseUsage, op)

    async def get_license_usage_scope(self, scope_id: str) -> LicenseUsage:
        """``GET /License/Usage/Scopes/{scopeId}``."""
        target = f"the license usage of scope {scope_id}"
        return await self._one(
            LicenseUsage, make_op("GET", "License", "Usage", "Scopes", scope_id, target=target)
        )

    # --- runtime details --------------------------------------------------------------------

    async def get_plan_runtime(self, plan_id: str) -> PlanRuntimeDetails:
        """``GET /RuntimeDetails/Plans/{planId}``."""
        op = make_op("GET", "RuntimeDetails", "Plans", plan_id, target=f"the progress of plan {plan_id}")
        return await self._one(PlanRuntimeDetails, op)

    async def get_groups_runtime(self, plan_id: str, **query: Unpack[PageQuery]) -> Page[GroupRuntimeDetails]:
        """``GET /RuntimeDetails/Plans/{planId}/Groups``."""
        target = f"the progress of the groups of plan {plan_id}"
        op = make_op("GET", "RuntimeDetails", "Plans", plan_id, "Groups", target=target)
        return await self._page(_GROUPS_RUNTIME, op, query)

    async def get_group_vms_runtime(
        self, plan_id: str, group_id: str, **query: Unpack[PageQuery]
    ) -> Page[VmRuntimeDetails]:
        """``GET /RuntimeDetails/Plans/{planId}/Groups/{groupId}``: the VMs of an inventory group."""
        target = f"the progress of the VMs of group {group_id} in plan {plan_id}"
        op = make_op("GET", "RuntimeDetails", "Plans", plan_id, "Groups", group_id, target=target)
        return await self._page(_VMS_RUNTIME, op, query)

    async def get_group_steps_runtime(
        self, plan_id: str, group_id: str, **query: Unpack[PageQuery]
    ) -> Page[StepRuntimeDetails]:
        """``GET /RuntimeDetails/Plans/{planId}/Groups/{groupId}/Steps``: a virtual group's steps."""
        target = f"the progress of the steps of group {group_id} in plan {plan_id}"
        op = make_op("GET", "RuntimeDetails", "Plans", plan_id, "Groups", group_id, "Steps", target=target)
        return await self._page(_STEPS_RUNTIME, op, query)

    async def get_vm_steps_runtime(
        self, plan_id: str, vm_id: str, **query: Unpack[PageQuery]
    ) -> Page[StepRuntimeDetails]:
        """``GET /RuntimeDetails/Plans/{planId}/Vms/{vmId}/Steps``."""
        target = f"the progress of the steps of VM {vm_id} in plan {plan_id}"
        op = make_op("GET", "RuntimeDetails", "Plans", plan_id, "Vms", vm_id, "Steps", target=target)
        return await self._page(_STEPS_RUNTIME, op, query)

    async def get_step_runtime(
        self, plan_id: str, step_id: str, **query: Unpack[PageQuery]
    ) -> Page[ExecutionDetail]:
        """``GET /RuntimeDetails/Plans/{planId}/Steps/{stepId}``: the step's detail lines."""
        target = f"the details of step {step_id} in plan {plan_id}"
        op = make_op("GET", "RuntimeDetails", "Plans", plan_id, "Steps", step_id, target=target)
        return await self._page(_EXECUTION_DETAILS, op, query)
