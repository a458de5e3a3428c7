"""How far a run is: groups, VMs and steps done, by outcome (pure)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bot.watcher.snapshot import Item, Snapshot


@dataclass(frozen=True)
class Counts:
    total: int | None
    """None when only part of the items is known (the line then says how many are done)."""
    done: int
    success: int
    warning: int
    error: int
    skipped: int

    @classmethod
    def of(cls, items: Iterable[Item]) -> Counts:
        items = list(items)
        success = warning = error = skipped = done = 0
        for item in items:
            if item.phase == "failed" or (
                item.phase == "completed" and (item.result or "").lower() == "error"
            ):
                error += 1
            elif item.phase == "completed" and (item.result or "").lower() == "warning":
                warning += 1
            elif item.phase == "completed":
                success += 1
            elif item.phase in ("skipped", "halted"):
                skipped += 1
            done += item.phase in ("completed", "failed", "skipped", "halted")
        return cls(len(items), done, success, warning, error, skipped)

    @classmethod
    def reported(cls, items: Iterable[Item], *, complete: bool) -> Counts | None:
        """The sum of VRO's own counts on ``items`` (None when none carries any); the total is
        kept only when ``complete`` (every item that holds part of the total is known)."""
        counted = [item.counts for item in items if item.counts is not None]
        if not counted:
            return None
        success, warning, error, total = (sum(column) for column in zip(*counted, strict=True))
        if total == 0:  # VRO left them out (they default to 0)
            return None
        return cls(total if complete else None, success + warning + error, success, warning, error, 0)

    def line(self, noun: str) -> str:
        marks = f"✓ {self.success} · ⚠ {self.warning} · ✗ {self.error}"
        if self.skipped:
            marks += f" · ⤼ {self.skipped}"
        if self.total is None:
            return f"{noun} {self.done} done ({marks})"
        return f"{noun} {self.done}/{self.total} ({marks})"


RunCounts = tuple[Counts, Counts, Counts]  # groups, VMs, steps


def run_counts(snapshot: Snapshot) -> RunCounts:
    """Groups, VMs and steps of the whole plan.

    The watcher reads only the groups, VMs and steps that moved, so the snapshot may hold 2 of a
    plan's 9 VMs in the middle of a run: VM totals come from the counts VRO keeps on every group,
    step totals from those on every VM once all VMs have been seen ("N done" until then).
    """
    groups = snapshot.of_kind("group")
    vms = snapshot.of_kind("vm")
    seen_vms = Counts.of(vms)
    reported_vms = Counts.reported([g for g in groups if not g.virtual], complete=True)
    vm_counts = seen_vms
    if reported_vms is not None and (reported_vms.total or 0) >= len(vms):
        vm_counts = reported_vms
    all_vms_seen = vm_counts.total is not None and len(vms) >= vm_counts.total
    # Steps: those of every VM, plus those of groups without VMs (counted on the group itself).
    seen_steps = Counts.of(snapshot.of_kind("step"))
    reported_steps = Counts.reported([*vms, *(g for g in groups if g.virtual)], complete=all_vms_seen)
    step_counts = seen_steps
    if reported_steps is not None and reported_steps.done >= seen_steps.done:
        step_counts = reported_steps
    return Counts.of(groups), vm_counts, step_counts
