"""Build large estates for benchmarks: ``python -m bot.simulator.generate --groups 50 --vms 20``.

Ids are derived from the names and the seed (uuid5), so the same arguments always give the
same file. The default users of the shipped estate are kept, so the usual credentials work.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bot.simulator.estate import Estate, default_estate, parse_estate
from bot.vro.models import PlanType

_NAMESPACE = uuid.UUID("5a8e2c1d-7f3b-4e6a-9c0d-1b2a3c4d5e6f")
_STEP_KINDS = (
    ("Check license and availability", "CheckVmLicense"),
    ("Process Replica VM", "ProcessReplicaVm"),
    ("Power On VM", "PowerOnVm"),
    ("Check VM Heartbeat", "CheckVmHeartbeat"),
    ("Verify VM Ping", "VerifyVmPing"),
    ("Verify Web Site", "VerifyWebSite"),
    ("Run Script", "RunScript"),
    ("Verify SQL Database", "VerifySqlDatabase"),
)


def generate_estate(
    *,
    plans: int = 1,
    groups: int = 50,
    vms_per_group: int = 20,
    steps_per_vm: int = 10,
    step_seconds: float = 5.0,
    parallel: int = 4,
    warning_rate: float = 0.0,
    plan_type: str = PlanType.REPLICA,
    seed: int = 0,
) -> Estate:
    """An estate of ``plans`` plans, each ``groups`` x ``vms_per_group`` x ``steps_per_vm``.

    Every other group processes ``parallel`` VMs at a time; ``warning_rate`` of the steps warn.
    """
    if min(plans, groups, vms_per_group, steps_per_vm) < 1:
        raise ValueError("plans, groups, VMs per group and steps per VM must all be at least 1")
    rng = random.Random(seed)
    base = default_estate()
    scope_id = base.scopes[0].id
    location_id = base.recoveryLocations[0].id

    def uid(*parts: object) -> str:
        return str(uuid.uuid5(_NAMESPACE, "/".join(str(p) for p in (seed, *parts))))

    plan_list: list[dict[str, Any]] = []
    vo_id = 1000
    for p in range(plans):
        name = f"Bench Plan {p + 1:03d}"
        group_list: list[dict[str, Any]] = []
        for g in range(groups):
            vm_list: list[dict[str, Any]] = []
            for v in range(vms_per_group):
                vo_id += 1
                vm_name = f"bench-{p + 1:03d}-{g + 1:03d}-{v + 1:03d}"
                steps = []
                for s in range(steps_per_vm):
                    step_name, action = _STEP_KINDS[s % len(_STEP_KINDS)]
                    warns = rng.random() < warning_rate
                    steps.append(
                        {
                            "id": uid(p, g, v, s),
                            "name": step_name,
                            "actionType": action,
                            "isCritical": s == 1,
                            "duration": step_seconds,
                            "outcome": "Warning" if warns else "Success",
                            "parameters": [
                                {"name": "Timeout", "value": 300, "type": "Integer", "isRequired": True}
                            ],
                        }
                    )
                vm_list.append({"id": uid(p, g, v), "name": vm_name, "voId": vo_id, "steps": steps})
            is_parallel = parallel > 1 and g % 2 == 1
            group_list.append(
                {
                    "id": uid(p, g),
                    "name": f"Group {g + 1:03d}",
                    "isParallel": is_parallel,
                    "parallelProcessingVmsCount": parallel if is_parallel else 1,
                    "vms": vm_list,
                }
            )
        plan_list.append(
            {
                "id": uid(p),
                "name": name,
                "planType": plan_type,
                "scopeId": scope_id,
                "recoveryLocationId": location_id,
                "groups": group_list,
            }
        )
    data = base.model_dump(mode="json", exclude={"plans"})
    data["plans"] = plan_list
    return parse_estate(data, source="generated estate")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write a large simulator estate as JSON.")
    parser.add_argument("--plans", type=int, default=1)
    parser.add_argument("--groups", type=int, default=50)
    parser.add_argument("--vms", type=int, default=20, help="VMs per group")
    parser.add_argument("--steps", type=int, default=10, help="steps per VM")
    parser.add_argument("--step-seconds", type=float, default=5.0)
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--warning-rate", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-o", "--output", default="-", help="file to write (default: stdout)")
    args = parser.parse_args(argv)
    try:
        estate = generate_estate(
            plans=args.plans,
            groups=args.groups,
            vms_per_group=args.vms,
            steps_per_vm=args.steps,
            step_seconds=args.step_seconds,
            parallel=args.parallel,
            warning_rate=args.warning_rate,
            seed=args.seed,
        )
    except ValueError as exc:
        sys.stderr.write(f"generate: {exc}\n")
        return 2
    text = json.dumps(estate.model_dump(mode="json"), indent=1)
    if args.output == "-":
        sys.stdout.write(text + "\n")
    else:
        Path(args.output).write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
