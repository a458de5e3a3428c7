"""Reading a running plan from VRO incrementally: the plan first, then only the groups, VMs
and steps whose progress or state moved since the last snapshot, and the details of steps that
ended with a warning or an error. Every request waits for its turn (``vro_concurrency`` over
all watches); one watch's reads run ``fetch_concurrency`` at a time."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from bot.clock import Clock
from bot.vro.errors import VroNotFound, VroRejected
from bot.vro.models import Page, PlanRuntimeDetails
from bot.watcher.readings import result_of
from bot.watcher.snapshot import (
    TERMINAL,
    Observation,
    Snapshot,
    group_key,
    is_virtual_group,
    item_moved,
    needs_step_details,
    phase_of,
    plan_is_running,
    plan_moved,
    runtime_sig,
    step_key,
    vm_key,
)
from bot.watcher.source import RuntimeSource

if TYPE_CHECKING:
    from bot.watcher.service import WatcherStats

T = TypeVar("T")


class RuntimeReader:
    """What one poll reads from VRO, counted in the watcher's stats."""

    def __init__(
        self,
        *,
        source: RuntimeSource,
        clock: Clock,
        stats: WatcherStats,
        vro_concurrency: int,
        fetch_concurrency: int,
    ) -> None:
        self._source = source
        self._clock = clock
        self.stats = stats
        self._fetch_concurrency = fetch_concurrency
        self._vro_limit = asyncio.Semaphore(vro_concurrency)

    async def observe(self, plan_id: str, snapshot: Snapshot) -> Observation:
        """What VRO says now about ``plan_id``: the plan, and the groups, VMs, steps and step
        details that moved since ``snapshot`` (the plan's groups on every poll while it runs)."""
        src = self._source
        plan: PlanRuntimeDetails = await self.call(src.get_plan_runtime(plan_id))
        obs = Observation(plan=plan, at=self._clock.now())
        limit = asyncio.Semaphore(self._fetch_concurrency)

        async def bounded(work: Awaitable[None]) -> None:
            async with limit:
                await work

        # VRO's plan progress is coarse (1% of a 5,000-step plan is 50 steps): while the plan
        # runs its groups are read every poll (one request), so a step never waits for the next
        # percent to be seen; the groups' VMs and steps are still read only where they moved.
        if plan_moved(snapshot, plan) or plan_is_running(plan):
            groups = await self.all_pages(lambda s, n: src.get_groups_runtime(plan_id, start=s, limit=n))
            obs.groups = groups
            vm_lists: dict[str, list[Any]] = {}

            async def read_group(group_id: str, virtual: bool) -> None:
                gkey = group_key(group_id)
                if virtual:
                    obs.steps[gkey] = await self.all_pages(
                        lambda s, n: src.get_group_steps_runtime(plan_id, group_id, start=s, limit=n)
                    )
                else:
                    vms = vm_lists[gkey] = await self.all_pages(
                        lambda s, n: src.get_group_vms_runtime(plan_id, group_id, start=s, limit=n)
                    )
                    if not vms:
                        # A group that moved yet holds no VMs is a virtual group by another name
                        # (only "VirtualGroup" is known; the reference shows groupType "VmGroup"
                        # with a virtualGroupType): its steps hang under the group itself.
                        with contextlib.suppress(VroNotFound, VroRejected):  # an empty VM group
                            obs.steps[gkey] = await self.all_pages(
                                lambda s, n: src.get_group_steps_runtime(plan_id, group_id, start=s, limit=n)
                            )

            await asyncio.gather(
                *(
                    bounded(read_group(g.id, is_virtual_group(g)))
                    for g in groups
                    if item_moved(snapshot, group_key(g.id), g)
                )
            )
            obs.vms.update(vm_lists)

            async def read_vm(vm_id: str) -> None:
                obs.steps[vm_key(vm_id)] = await self.all_pages(
                    lambda s, n: src.get_vm_steps_runtime(plan_id, vm_id, start=s, limit=n)
                )

            moved_vms = [
                vm.id for vms in vm_lists.values() for vm in vms if item_moved(snapshot, vm_key(vm.id), vm)
            ]
            await asyncio.gather(*(bounded(read_vm(v)) for v in moved_vms))

        wanted = self.steps_needing_details(snapshot, obs)

        async def read_details(key: str, step_id: str) -> None:
            page = await self.call(src.get_step_runtime(plan_id, step_id))
            obs.step_details[key] = list(page.data)

        await asyncio.gather(*(bounded(read_details(k, s)) for k, s in wanted.items()))
        return obs

    @staticmethod
    def steps_needing_details(snapshot: Snapshot, obs: Observation) -> dict[str, str]:
        """Step key -> step id of steps that ended with a warning or an error, details unread."""
        wanted: dict[str, str] = {}
        for owner, steps in obs.steps.items():
            for step in steps:
                key = step_key(owner, step.id)
                result = result_of(step.executionResult)
                phase = phase_of(step.executionState, result)
                if phase not in TERMINAL:
                    continue
                if not (phase == "failed" or (result or "").lower() in ("warning", "error")):
                    continue
                known = snapshot.items.get(key)
                rerun = known is not None and known.phase not in TERMINAL
                if known is None or not known.details_fetched or rerun or known.sig != runtime_sig(step):
                    wanted[key] = step.id
        for item in snapshot.items.values():
            if item.key not in wanted and needs_step_details(item):
                wanted[item.key] = item.id
        return wanted

    async def call(self, call: Awaitable[T]) -> T:
        """``call`` in its turn: at most ``vro_concurrency`` requests at once, over all watches."""
        self.stats.vro_requests += 1
        try:
            await self._vro_limit.acquire()
        except BaseException:
            if isinstance(call, Coroutine):
                call.close()  # cancelled while waiting for a turn: the request never starts
            raise
        try:
            return await call
        finally:
            self._vro_limit.release()

    async def all_pages(self, fetch: Callable[[int | None, int | None], Awaitable[Page[T]]]) -> list[T]:
        page = await self.call(fetch(None, None))
        items = list(page.data)
        while page.data and len(items) < page.total:
            page = await self.call(fetch(len(items), None))
            items.extend(page.data)
        return items
