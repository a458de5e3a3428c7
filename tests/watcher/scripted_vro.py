"""A scripted VRO for watcher tests: RuntimeDetails served from plain dicts (VRO's wire shapes)
behind ``httpx.MockTransport`` and the real :class:`~bot.vro.client.VroClient`.

A test edits :class:`ScriptedRuntime` between polls to say whatever a real VRO could say: any
spelling, missing fields, pages capped by the server.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

import httpx

from bot.clock import FakeClock
from bot.vro.auth import PasswordCredentials
from bot.vro.client import RetryPolicy, VroClient

PLAN_ID = "11111111-1111-1111-1111-111111111111"
_PREFIX = f"/api/v7.21/RuntimeDetails/Plans/{PLAN_ID}"

Json = dict[str, Any]


@dataclass
class ScriptedRuntime:
    """What VRO's ``/RuntimeDetails`` says now about plan :data:`PLAN_ID`."""

    plan: Json = field(default_factory=dict)
    groups: list[Json] = field(default_factory=list)
    vms: dict[str, list[Json]] = field(default_factory=dict)  # by group id
    group_steps: dict[str, list[Json]] = field(default_factory=dict)  # by (virtual) group id
    vm_steps: dict[str, list[Json]] = field(default_factory=dict)  # by VM id
    details: dict[str, list[Json]] = field(default_factory=dict)  # by step id
    page_cap: int | None = None  # the most items the server puts in one page
    missing_group_steps: bool = False  # /Groups/{id}/Steps answers 404 (a VM group's steps)
    requests: list[str] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/api/token":
            token = {"access_token": "a", "token_type": "bearer", "expires_in": 899, "refresh_token": "r"}
            return httpx.Response(200, json=token)
        self.requests.append(str(request.url))
        rest = path.removeprefix(_PREFIX)
        if rest == path:
            return httpx.Response(404, json={"Message": "unknown plan"})
        if rest == "":
            return httpx.Response(200, json=copy.deepcopy(self.plan))
        routes: list[tuple[str, dict[str, list[Json]] | None]] = [
            (r"/Groups", None),
            (r"/Groups/([^/]+)", self.vms),
            (r"/Groups/([^/]+)/Steps", self.group_steps),
            (r"/Vms/([^/]+)/Steps", self.vm_steps),
            (r"/Steps/([^/]+)", self.details),
        ]
        if self.missing_group_steps and re.fullmatch(r"/Groups/([^/]+)/Steps", rest):
            return httpx.Response(404, json={"Message": "No steps for a VM group"})
        for pattern, table in routes:
            if match := re.fullmatch(pattern, rest):
                items = self.groups if table is None else table.get(match.group(1), [])
                return self._page(items, request)
        return httpx.Response(404, json={"Message": "no such resource"})

    def _page(self, items: list[Json], request: httpx.Request) -> httpx.Response:
        start = int(request.url.params.get("start") or 0)
        limit = int(request.url.params.get("limit") or len(items))
        if self.page_cap is not None:
            limit = min(limit, self.page_cap)
        page = copy.deepcopy(items[start : start + limit])
        return httpx.Response(200, json={"total": len(items), "data": page})


def scripted_client(runtime: ScriptedRuntime, clock: FakeClock) -> VroClient:
    return VroClient(
        base_url="http://vro.test",
        credentials=PasswordCredentials("vro-bot", "secret"),
        api_version="v7.21",
        transport=httpx.MockTransport(runtime),
        clock=clock,
        retry=RetryPolicy(attempts=1),
    )


def outcome(
    result: str | None, *details: tuple[str, str], start: str | None, finish: str | None = None
) -> Json:
    """An ``executionResult``; ``details`` are (severity, friendlyInfo) pairs."""
    lines = [
        {"friendlyInfo": text, "level": "Normal", "severity": severity, "timestamp": finish or start}
        for severity, text in details
    ]
    return {"result": result, "details": lines, "startTime": start, "finishTime": finish}


def plan_runtime(
    state: str, progress: int, *, running: bool, result: str = "Undefined", **extra: Any
) -> Json:
    return {
        "id": PLAN_ID,
        "name": "SAP Tier1",
        "state": state,
        "stateName": state,
        "totalProgress": progress,
        "progress": progress,
        "isRunningState": running,
        "isStableState": not running,
        "currentRunResult": result,
        "planType": "Replica",
        "executionState": "Running" if running else "Completed",
        **extra,
    }


def runtime_item(item_id: str, name: str, state: str = "NotStarted", progress: int = 0, **extra: Any) -> Json:
    return {"id": item_id, "name": name, "executionState": state, "progress": progress, **extra}
