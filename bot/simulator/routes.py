"""The VRO operations the simulator answers: account operations and every read of plans,
estate and RuntimeDetails (plan actions are routed by the action table)."""

from __future__ import annotations

from bot.simulator.auth import AccessDenied, Principal
from bot.simulator.controls import Controls
from bot.simulator.http import (
    UNAUTHORIZED,
    Body,
    Handler,
    Request,
    Response,
    Route,
    action_params,
    empty,
    json_response,
    page,
)
from bot.simulator.plans import LivePlan, SimError, lookup, not_found
from bot.simulator.render import (
    RuntimeSnapshot,
    group_json,
    license_json,
    location_json,
    parameter_json,
    plan_json,
    scope_json,
    step_json,
    vm_json,
)
from bot.vro import plan_states as ps


class VroRoutes(Controls):
    """The handlers behind the simulator's VRO routes."""

    def _register(self) -> None:
        get, post, delete = "GET", "POST", "DELETE"
        # Plan actions (POST / PUT / DELETE under plans/{plan}/...) are routed by the action
        # table in _api; these are the reads and the account operations.
        versioned: list[tuple[str, str, Handler, str | None, str | None]] = [
            (post, "mfa/generatemfacode", self._generate_mfa_code, "v7.21", None),  # [DCL] new in v7.21
            (post, "clients", self._create_client, None, "v13"),  # [D13] Clients gone in v13
            (get, "clients", self._list_clients, None, "v13"),
            (delete, "clients", self._delete_client, None, "v13"),
        ]
        table: list[tuple[str, str, Handler]] = [
            (get, "plans", self._plans),
            (get, "plans/{plan}", self._plan),
            (get, "plans/{plan}/groups", self._groups),
            (get, "plans/{plan}/groups/{group}/vms", self._group_vms),
            (get, "plans/{plan}/groups/{group}/steps", self._group_steps),
            (get, "plans/{plan}/vms/{vm}/steps", self._vm_steps),
            (get, "plans/{plan}/steps/{step}/parameters", self._step_parameters),
            (get, "recoverylocations", self._locations),
            (get, "recoverylocations/{location}", self._location),
            (get, "scopes", self._scopes),
            (get, "scopes/{scope}", self._scope),
            (get, "scopes/{scope}/yararules", self._yara_rules),
            (get, "license/usage/server", self._license_server),
            (get, "license/usage/scopes/{scope}", self._license_scope),
            (get, "runtimedetails/plans/{plan}", self._rt_plan),
            (get, "runtimedetails/plans/{plan}/groups", self._rt_groups),
            (get, "runtimedetails/plans/{plan}/groups/{group}", self._rt_group_vms),
            (get, "runtimedetails/plans/{plan}/groups/{group}/steps", self._rt_group_steps),
            (get, "runtimedetails/plans/{plan}/vms/{vm}/steps", self._rt_vm_steps),
            (get, "runtimedetails/plans/{plan}/steps/{step}", self._rt_step),
            (get, "runtimedetails/plans/{plan}/step/{step}", self._rt_step),
        ]
        rows = [*versioned, *((method, pattern, handler, None, None) for method, pattern, handler in table)]
        for method, pattern, handler, since, until in rows:
            parts = tuple(pattern.split("/"))
            route = Route(method, parts, handler, since, until)
            self._routes.setdefault((method, len(parts)), []).append(route)

    async def _generate_mfa_code(self, request: Request, _: dict[str, str], __: Principal) -> Response:
        body = Body(request.body)
        token = body.text("mfaToken")
        if not token:
            raise SimError(400, "mfaToken is required.")
        answer = self.auth.generate_mfa_code(token, self.clock.now(), self.estate.server.name)
        if answer is None:
            raise SimError(401, UNAUTHORIZED)
        return json_response(answer)

    async def _create_client(self, _: Request, __: dict[str, str], who: Principal) -> Response:
        try:
            return json_response(self.auth.create_client(who))
        except AccessDenied as exc:
            raise SimError(403, str(exc)) from None

    async def _list_clients(self, _: Request, __: dict[str, str], who: Principal) -> Response:
        return json_response(self.auth.list_clients(who))

    async def _delete_client(self, request: Request, _: dict[str, str], who: Principal) -> Response:
        client_id = request.arg("clientId")
        if not client_id:
            raise SimError(400, "clientId is required (query string).")
        if not self.auth.delete_client(who, client_id):
            raise not_found("Client", client_id)
        return empty(204)

    async def _plans(self, request: Request, _: dict[str, str], __: Principal) -> Response:
        only_enabled = (request.arg("onlyEnabled") or "false").lower()
        if only_enabled not in ("true", "false"):
            raise SimError(400, "onlyEnabled must be true or false.")
        plans = [
            plan_json(self.core, plan)
            for plan in self.core.plans.values()
            if only_enabled == "false" or plan.mode == "Enabled"
        ]
        return page(plans, request)

    async def _plan(self, _: Request, params: dict[str, str], __: Principal) -> Response:
        return json_response(plan_json(self.core, self.core.plan(params["plan"])))

    async def _groups(self, request: Request, params: dict[str, str], _: Principal) -> Response:
        plan = self.core.plan(params["plan"])
        return page([group_json(g, i + 1) for i, g in enumerate(plan.spec.groups)], request)

    def _group_of(self, plan: LivePlan, group_id: str) -> int:
        return lookup(plan.layout.group_index, "Group", group_id)

    async def _group_vms(self, request: Request, params: dict[str, str], _: Principal) -> Response:
        plan = self.core.plan(params["plan"])
        group = plan.spec.groups[self._group_of(plan, params["group"])]
        return page([vm_json(vm, i + 1) for i, vm in enumerate(group.vms)], request)

    async def _group_steps(self, request: Request, params: dict[str, str], _: Principal) -> Response:
        plan = self.core.plan(params["plan"])
        group = plan.spec.groups[self._group_of(plan, params["group"])]
        return page([step_json(s, i + 1) for i, s in enumerate(group.steps)], request)

    def _vm_of(self, plan: LivePlan, vm_id: str) -> tuple[int, int]:
        return lookup(plan.layout.vm_index, "VM", vm_id)

    async def _vm_steps(self, request: Request, params: dict[str, str], _: Principal) -> Response:
        plan = self.core.plan(params["plan"])
        g, v = self._vm_of(plan, params["vm"])
        steps = plan.spec.groups[g].vms[v].steps
        return page([step_json(s, i + 1) for i, s in enumerate(steps)], request)

    def _step_of(self, plan: LivePlan, step_id: str) -> int:
        return lookup(plan.layout.step_index, "Step", step_id)

    async def _step_parameters(self, request: Request, params: dict[str, str], _: Principal) -> Response:
        plan = self.core.plan(params["plan"])
        spec = plan.layout.steps[self._step_of(plan, params["step"])].spec
        return page(parameter_json(spec), request)

    def _perform(self, request: Request, plan_id: str, action: str, who: Principal) -> Response:
        self.core.plan(plan_id)  # 404 before looking at the body
        body = Body(request.body, self.zone)
        result = self.core.perform(plan_id, action, action_params(action, body, request), _who(who))
        if action == ps.CLONE:
            return json_response({"success": True, "data": result})
        if action == ps.DELETE_SCHEDULE:
            return empty(204)
        return empty(200)

    async def _locations(self, request: Request, _: dict[str, str], __: Principal) -> Response:
        return page([location_json(loc) for loc in self.core.locations.values()], request)

    async def _location(self, _: Request, params: dict[str, str], __: Principal) -> Response:
        return json_response(location_json(self.core.location(params["location"])))

    async def _scopes(self, request: Request, _: dict[str, str], __: Principal) -> Response:
        return page([scope_json(self.core, s) for s in self.core.scopes.values()], request)

    async def _scope(self, _: Request, params: dict[str, str], __: Principal) -> Response:
        return json_response(scope_json(self.core, self.core.scope(params["scope"])))

    async def _yara_rules(self, request: Request, params: dict[str, str], _: Principal) -> Response:
        scope = self.core.scope(params["scope"])
        rules = [{"id": r.id, "name": r.name, "description": r.description} for r in scope.yaraRules]
        return page(rules, request)

    async def _license_server(self, _: Request, __: dict[str, str], ___: Principal) -> Response:
        return json_response(license_json(self.core, None))

    async def _license_scope(self, _: Request, params: dict[str, str], __: Principal) -> Response:
        scope = self.core.scope(params["scope"])
        return json_response(license_json(self.core, scope.id))

    def _snapshot(self, plan_id: str) -> RuntimeSnapshot:
        return RuntimeSnapshot(self.core.plan(plan_id), self.clock.now())

    async def _rt_plan(self, _: Request, params: dict[str, str], who: Principal) -> Response:
        snap = self._snapshot(params["plan"])
        return json_response(snap.plan_runtime(self.core, who.roles))

    async def _rt_groups(self, request: Request, params: dict[str, str], _: Principal) -> Response:
        snap = self._snapshot(params["plan"])
        return page([snap.group(g) for g in range(len(snap.plan.spec.groups))], request)

    async def _rt_group_vms(self, request: Request, params: dict[str, str], _: Principal) -> Response:
        snap = self._snapshot(params["plan"])
        g = self._group_of(snap.plan, params["group"])
        return page([snap.vm(g, v) for v in range(len(snap.plan.spec.groups[g].vms))], request)

    async def _rt_group_steps(self, request: Request, params: dict[str, str], _: Principal) -> Response:
        snap = self._snapshot(params["plan"])
        g = self._group_of(snap.plan, params["group"])
        indices = snap.layout.units[g][0] if snap.plan.spec.groups[g].steps else []
        return page([snap.step(i) for i in indices], request)

    async def _rt_vm_steps(self, request: Request, params: dict[str, str], _: Principal) -> Response:
        snap = self._snapshot(params["plan"])
        g, v = self._vm_of(snap.plan, params["vm"])
        return page([snap.step(i) for i in snap.layout.vm_steps[(g, v)]], request)

    async def _rt_step(self, request: Request, params: dict[str, str], _: Principal) -> Response:
        snap = self._snapshot(params["plan"])
        index = self._step_of(snap.plan, params["step"])
        return page(snap.step_details(index), request)


def _who(principal: Principal) -> str:
    return principal.client_id or principal.username
