"""What the watcher needs from VRO: the six RuntimeDetails calls (and the plan list).

``bot.vro.client.VroClient`` satisfies both protocols; tests hand in the same client over the
simulator, or a small fake. Keeping the surface this narrow is what lets the poll count be
reasoned about: every request the watcher makes goes through one of these methods.
"""

from __future__ import annotations

from typing import Protocol

from bot.vro.models import (
    ExecutionDetail,
    GroupRuntimeDetails,
    Page,
    Plan,
    PlanRuntimeDetails,
    StepRuntimeDetails,
    VmRuntimeDetails,
)


class RuntimeSource(Protocol):
    """VRO's ``/RuntimeDetails`` collection."""

    async def get_plan_runtime(self, plan_id: str) -> PlanRuntimeDetails: ...

    async def get_groups_runtime(
        self, plan_id: str, *, start: int | None = None, limit: int | None = None
    ) -> Page[GroupRuntimeDetails]: ...

    async def get_group_vms_runtime(
        self, plan_id: str, group_id: str, *, start: int | None = None, limit: int | None = None
    ) -> Page[VmRuntimeDetails]: ...

    async def get_group_steps_runtime(
        self, plan_id: str, group_id: str, *, start: int | None = None, limit: int | None = None
    ) -> Page[StepRuntimeDetails]: ...

    async def get_vm_steps_runtime(
        self, plan_id: str, vm_id: str, *, start: int | None = None, limit: int | None = None
    ) -> Page[StepRuntimeDetails]: ...

    async def get_step_runtime(self, plan_id: str, step_id: str) -> Page[ExecutionDetail]: ...


class PlanLister(Protocol):
    """``GET /Plans``: used by announce mode to notice plans that start running anywhere."""

    async def get_plans(self, *, start: int | None = None, limit: int | None = None) -> Page[Plan]: ...
