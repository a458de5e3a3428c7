"""Who may do what: the policy file of DESIGN.md §4, parsed and validated (pure, no I/O).

The file names roles (Slack user ids and user-group handles, ``"*"`` for anyone), the defaults
every action verb takes (requester role, number of approvals, approver role, time to live,
whether a reason is required), per-verb overrides, and the channels where ``/vro`` may be used.
Every mistake in the file is reported with the key that holds it, e.g.
``policy file: actions.failovr: unknown verb; known verbs: check, clear-log, ...``.

Group membership is asked of a :class:`~bot.approvals.membership.GroupResolver` (the Slack
layer implements it over ``usergroups.users.list``); ``bot.approvals.membership`` says how long
an answer is trusted, and a lookup that fails raises rather than grants.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Discriminator, Field, Strict, Tag, ValidationError

from bot.approvals.membership import GroupResolver
from bot.approvals.rules import CheckMode, CheckRule, GroupNeed
from bot.errors import ConfigError
from bot.vro import operations
from bot.vro import plan_states as ps

ANYONE = "*"
QUERY_ROLE = "viewer"
MAX_APPROVALS = 10
MAX_TTL_MINUTES = 7 * 24 * 60
MAX_CHECK_AGE_HOURS = 365 * 24
MAX_RTO_MINUTES = 30 * 24 * 60

# The action verbs of the slash command and the VRO operation(s) each may send.
VERB_ACTIONS: Mapping[str, frozenset[str]] = {
    verb: frozenset(action.value for action in actions) for verb, actions in operations.VERB_ACTIONS.items()
}
VERBS: tuple[str, ...] = tuple(sorted(VERB_ACTIONS))

_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")
_GROUP_HANDLE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class PolicyError(ConfigError):
    """The policy file is invalid; the message names every problem and the key that holds it.

    A :class:`~bot.errors.ConfigError`, so ``vro-bot`` stops with the message, not a traceback.
    """

    def __init__(self, problems: list[str], *, source: str = "policy file") -> None:
        self.problems = tuple(problems)
        self.source = source
        super().__init__("\n".join(f"{source}: {problem}" for problem in problems))


# --- the file's shape --------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# Numbers and yes/no as YAML writes them: `approvals: true` or `approvals: "2"` is a slip to
# point at, not a 1 or a 2 to guess.
WholeNumber = Annotated[int, Strict()]
YesNo = Annotated[bool, Strict()]
Number = Annotated[float, Strict()]


class RoleSpec(_Strict):
    users: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()


class GroupNeedSpec(_Strict):
    role: str
    count: WholeNumber = Field(default=1, ge=1, le=MAX_APPROVALS)


class AllOf(_Strict):
    """``{all_of: [{role: dr_lead, count: 1}, {role: app_owner, count: 1}]}``."""

    all_of: tuple[GroupNeedSpec, ...] = Field(min_length=1)


def _approvals_kind(value: Any) -> str:
    return "groups" if isinstance(value, dict | AllOf) else "number"


# A number, or approvals from distinct groups. The tags never show in error messages.
Approvals = Annotated[
    Annotated[WholeNumber, Field(ge=0, le=MAX_APPROVALS), Tag("number")] | Annotated[AllOf, Tag("groups")],
    Discriminator(_approvals_kind),
]


class RequireCheck(_Strict):
    """``require_check: {max_age_hours: 24, mode: refuse}``."""

    max_age_hours: Number = Field(default=24.0, gt=0, le=MAX_CHECK_AGE_HOURS)
    mode: Literal["refuse", "warn"] = "refuse"


class PlanOverride(_Strict):
    rto_minutes: WholeNumber | None = Field(default=None, ge=1, le=MAX_RTO_MINUTES)


class Defaults(_Strict):
    role: str = "operator"
    approvals: Approvals = 1
    approver_role: str = "approver"
    ttl_minutes: WholeNumber = Field(default=30, ge=1, le=MAX_TTL_MINUTES)
    reason_required: YesNo = False
    rto_minutes: WholeNumber | None = Field(default=None, ge=1, le=MAX_RTO_MINUTES)


class ActionOverride(_Strict):
    role: str | None = None
    approvals: Approvals | None = None
    approver_role: str | None = None
    ttl_minutes: WholeNumber | None = Field(default=None, ge=1, le=MAX_TTL_MINUTES)
    reason_required: YesNo | None = None
    require_check: RequireCheck | None = None


def _builtin_roles() -> dict[str, RoleSpec]:
    return {name: RoleSpec(users=(ANYONE,)) for name in (QUERY_ROLE, "operator", "approver")}


class PolicyFile(_Strict):
    channels: tuple[str, ...] = ()
    roles: dict[str, RoleSpec] = Field(default_factory=_builtin_roles)
    defaults: Defaults = Field(default_factory=Defaults)
    actions: dict[str, ActionOverride | None] = Field(default_factory=dict)  # null = the defaults
    plans: dict[str, PlanOverride] = Field(default_factory=dict)  # by plan name or id


_KNOWN_KEYS: dict[str, tuple[str, ...]] = {
    "top": tuple(PolicyFile.model_fields),
    "roles": tuple(RoleSpec.model_fields),
    "defaults": tuple(Defaults.model_fields),
    "actions": tuple(ActionOverride.model_fields),
    "plans": tuple(PlanOverride.model_fields),
    "approvals": tuple(AllOf.model_fields),
    "all_of": tuple(GroupNeedSpec.model_fields),
    "require_check": tuple(RequireCheck.model_fields),
}


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.safe_load`` that refuses a key given twice in one mapping.

    PyYAML keeps the last of duplicate keys without a word: a second ``failover:`` under
    ``actions`` (or a second ``approvals:``) would silently replace the first, e.g. drop a
    quorum of 2 back to the default 1.
    """


def _unique_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if isinstance(key, list | dict):
            continue  # unhashable: the schema refuses it anyway
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"the key {key!r} is given twice in one mapping; keep one", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=True)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)


# --- the parsed policy -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ActionRule:
    """What the policy says about one action verb.

    With ``approvals: {all_of: [...]}``, ``groups`` lists them, ``approvals`` is their total
    and ``approver_role`` names the roles for messages (``dr_lead or app_owner``).
    """

    verb: str
    role: str
    approvals: int
    approver_role: str
    ttl_minutes: int
    reason_required: bool
    groups: tuple[GroupNeed, ...] = ()
    require_check: CheckRule | None = None

    @property
    def ttl(self) -> timedelta:
        return timedelta(minutes=self.ttl_minutes)

    @property
    def approver_roles(self) -> tuple[str, ...]:
        """Every role whose holders may approve or deny."""
        return tuple(g.role for g in self.groups) if self.groups else (self.approver_role,)


class Policy:
    """A validated policy. Build it with :meth:`from_yaml`, :func:`load_policy` or :meth:`builtin`."""

    def __init__(self, spec: PolicyFile) -> None:
        self._spec = spec
        self._channels = frozenset(spec.channels)

    @classmethod
    def builtin(cls) -> Policy:
        """Anyone may query and request; every action needs one approval from someone else."""
        return cls(PolicyFile())

    @classmethod
    def from_yaml(cls, text: str, *, source: str = "policy file") -> Policy:
        """Parse and validate the YAML ``text``; :class:`PolicyError` names every problem."""
        try:
            data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader)
        except yaml.MarkedYAMLError as exc:
            where = ""
            if exc.problem_mark is not None:
                where = f" (line {exc.problem_mark.line + 1}, column {exc.problem_mark.column + 1})"
            raise PolicyError([f"not valid YAML{where}: {exc.problem}"], source=source) from None
        except yaml.YAMLError as exc:
            raise PolicyError([f"not valid YAML: {exc}"], source=source) from None
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise PolicyError(["must be a mapping with keys " + ", ".join(_KNOWN_KEYS["top"])], source=source)
        return cls.from_mapping(data, source=source)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, source: str = "policy file") -> Policy:
        """Validate an already-parsed policy document."""
        try:
            spec = PolicyFile.model_validate(data)
        except ValidationError as exc:
            raise PolicyError(_describe_all(exc.errors()), source=source) from None
        problems = _semantic_problems(spec)
        if problems:
            raise PolicyError(problems, source=source)
        return cls(_normalized(spec))

    @property
    def roles(self) -> tuple[str, ...]:
        return tuple(sorted(self._spec.roles))

    @property
    def channels(self) -> frozenset[str]:
        return self._channels

    def rule(self, verb: str) -> ActionRule:
        """The rule for an action verb; :class:`PolicyError` for a verb that is not an action."""
        if verb not in VERB_ACTIONS:
            raise PolicyError([f"{verb}: unknown verb; known verbs: {', '.join(VERBS)}"], source="policy")
        defaults = self._spec.defaults
        override = self._spec.actions.get(verb) or ActionOverride()
        approvals = override.approvals if override.approvals is not None else defaults.approvals
        approver_role = (
            override.approver_role if override.approver_role is not None else defaults.approver_role
        )
        groups: tuple[GroupNeed, ...] = ()
        if isinstance(approvals, AllOf):
            groups = tuple(GroupNeed(g.role, g.count) for g in approvals.all_of)
            approver_role = " or ".join(g.role for g in groups)
            count = sum(g.count for g in groups)
        else:
            count = approvals
        check = override.require_check
        return ActionRule(
            verb=verb,
            role=override.role if override.role is not None else defaults.role,
            approvals=count,
            approver_role=approver_role,
            ttl_minutes=override.ttl_minutes if override.ttl_minutes is not None else defaults.ttl_minutes,
            reason_required=(
                override.reason_required if override.reason_required is not None else defaults.reason_required
            ),
            groups=groups,
            require_check=(
                CheckRule(max_age_hours=check.max_age_hours, mode=CheckMode(check.mode)) if check else None
            ),
        )

    def rto_minutes(self, plan_id: str, plan_name: str | None = None) -> int | None:
        """The plan's recovery time objective: ``plans`` by id or name (any case), else the default."""
        keys = {plan_id.lower(), (plan_name or "").lower()} - {""}
        for key, override in self._spec.plans.items():
            if key.lower() in keys and override.rto_minutes is not None:
                return override.rto_minutes
        return self._spec.defaults.rto_minutes

    async def holds_any(self, user_id: str, roles: Iterable[str], groups: GroupResolver) -> bool:
        """Whether ``user_id`` holds at least one of ``roles`` now."""
        for role in roles:
            if await self.has_role(user_id, role, groups):
                return True
        return False

    async def roles_of(self, user_id: str, roles: Iterable[str], groups: GroupResolver) -> frozenset[str]:
        """Which of ``roles`` ``user_id`` holds now."""
        return frozenset([role for role in roles if await self.has_role(user_id, role, groups)])

    def channel_allowed(self, channel_id: str) -> bool:
        """Whether ``/vro`` may be used in this channel (an empty list allows every channel)."""
        return not self._channels or channel_id in self._channels

    def role_is_open(self, role: str) -> bool:
        """Whether anyone at all holds ``role`` (its users include ``"*"``)."""
        spec = self._spec.roles.get(role)
        return spec is not None and ANYONE in spec.users

    async def has_role(self, user_id: str, role: str, groups: GroupResolver) -> bool:
        """Whether ``user_id`` holds ``role`` now: listed by id, ``"*"``, or in a listed group.

        A role the policy does not define is held by nobody. Raises
        :class:`~bot.approvals.membership.GroupLookupError` when it depends on a group whose
        members cannot be found out: the caller refuses, never grants.
        """
        spec = self._spec.roles.get(role)
        if spec is None:
            return False
        if ANYONE in spec.users or user_id in spec.users:
            return True
        for handle in spec.groups:
            if user_id in await groups.members(handle):
                return True
        return False


def load_policy(path: str | Path) -> Policy:
    """Read and validate the policy file at ``path`` (``VRO_BOT_POLICY``)."""
    source = f"policy file {path}"
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError([f"cannot read it: {exc.strerror or exc}"], source=source) from None
    except UnicodeDecodeError:
        raise PolicyError(["cannot read it: not UTF-8 text"], source=source) from None
    return Policy.from_yaml(text, source=source)


# --- validation helpers --------------------------------------------------------------------


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _known_keys(loc: tuple[int | str, ...]) -> tuple[str, ...]:
    parent = loc[:-1]
    if not parent:
        return _KNOWN_KEYS["top"]
    named = [part for part in parent if isinstance(part, str)]
    if len(named) >= 2 and named[-1] in ("approvals", "all_of", "require_check") and named[0] != "roles":
        return _KNOWN_KEYS[named[-1]]
    if parent[0] == "defaults":
        return _KNOWN_KEYS["defaults"]
    if parent[0] in ("roles", "actions", "plans") and len(parent) == 2:
        return _KNOWN_KEYS[str(parent[0])]
    return ()


_UNION_TAGS = frozenset({"number", "groups"})


def _without_union_tags(loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    """pydantic puts the union member's tag after ``approvals`` in error locations; people never wrote it."""
    out: list[int | str] = []
    for part in loc:
        if out and out[-1] == "approvals" and part in _UNION_TAGS:
            continue
        out.append(part)
    return tuple(out)


def _describe_all(errors: list[Any]) -> list[str]:
    """Each error once; a list reported "too short" only because its items were invalid is left out."""
    locs = [tuple(err["loc"]) for err in errors]
    kept = [
        err
        for err in errors
        if err["type"] != "too_short"
        or not any(
            len(other) > len(err["loc"]) and other[: len(err["loc"])] == tuple(err["loc"]) for other in locs
        )
    ]
    return [_describe(err) for err in kept]


def _describe(err: Any) -> str:
    loc: tuple[int | str, ...] = _without_union_tags(tuple(err["loc"]))
    kind = err["type"]
    ctx = err.get("ctx") or {}
    if kind == "extra_forbidden":
        known = _known_keys(loc)
        hint = f"; known keys: {', '.join(known)}" if known else ""
        return f"{_path(loc)}: unknown key{hint}"
    messages = {
        "missing": "required",
        "model_type": "must be a mapping (key: value)",
        "model_attributes_type": "must be a mapping (key: value)",
        "dict_type": "must be a mapping (key: value)",
        "tuple_type": "must be a list, like [a, b]",
        "list_type": "must be a list, like [a, b]",
        "int_type": "must be a whole number",
        "int_parsing": "must be a whole number",
        "int_from_float": "must be a whole number",
        "bool_type": "must be true or false",
        "bool_parsing": "must be true or false",
        "string_type": "must be text",
        "greater_than_equal": f"must be at least {ctx.get('ge')}",
        "greater_than": f"must be more than {ctx.get('gt')}",
        "less_than_equal": f"must be at most {ctx.get('le')}",
        "float_type": "must be a number",
        "float_parsing": "must be a number",
        "literal_error": f"must be one of {ctx.get('expected', '')}".rstrip(),
        "too_short": "must list at least one group, like [{role: dr_lead, count: 1}]",
        "union_tag_invalid": "must be a whole number or {all_of: [{role: ..., count: ...}]}",
    }
    if kind in ("int_type", "int_parsing") and loc and loc[-1] == "approvals":
        return f"{_path(loc)}: must be a whole number or {{all_of: [{{role: ..., count: ...}}]}}"
    return f"{_path(loc)}: {messages.get(kind, str(err['msg']))}"


def _semantic_problems(spec: PolicyFile) -> list[str]:
    problems: list[str] = []
    roles = sorted(spec.roles)
    known_roles = f"known roles: {', '.join(roles) or '(none)'}"
    for i, channel in enumerate(spec.channels):
        if not _CHANNEL_ID.match(channel):
            problems.append(f"channels[{i}]: {channel!r} is not a channel id (like C0123ABCD)")
    if QUERY_ROLE not in spec.roles:
        problems.append(f'roles.{QUERY_ROLE}: missing; queries need it (users: ["*"] lets anyone query)')
    for name, role in spec.roles.items():
        for i, user in enumerate(role.users):
            if user != ANYONE and not _USER_ID.match(user):
                problems.append(
                    f'roles.{name}.users[{i}]: {user!r} is not a Slack user id (like U0123ABCD) or "*"'
                )
        for i, handle in enumerate(role.groups):
            if not _GROUP_HANDLE.match(handle.removeprefix("@")):
                problems.append(
                    f"roles.{name}.groups[{i}]: {handle!r} is not a user-group handle (like dr-operators)"
                )
    for key in ("role", "approver_role"):
        value = getattr(spec.defaults, key)
        if value not in spec.roles:
            problems.append(f"defaults.{key}: unknown role {value!r}; {known_roles}")
    problems.extend(_group_problems("defaults.approvals", spec.defaults.approvals, spec, known_roles))
    for verb, override in spec.actions.items():
        if verb not in VERB_ACTIONS:
            problems.append(f"actions.{verb}: unknown verb; known verbs: {', '.join(VERBS)}")
            continue
        for key in ("role", "approver_role"):
            value = getattr(override, key, None)
            if value is not None and value not in spec.roles:
                problems.append(f"actions.{verb}.{key}: unknown role {value!r}; {known_roles}")
        if override is not None:
            where = f"actions.{verb}.approvals"
            problems.extend(_group_problems(where, override.approvals, spec, known_roles))
            if override.require_check is not None and VERB_ACTIONS[verb] == {ps.READINESS_CHECK}:
                problems.append(
                    f"actions.{verb}.require_check: the readiness check itself can't require one; remove it"
                )
    problems.extend(_unreachable_quorums(spec))
    return problems


def _listed_members(spec: PolicyFile, role: str) -> frozenset[str] | None:
    """Everyone who can ever hold ``role``, when the file lists them all (users only, no "*",
    no groups, which may grow); None when the role is open-ended or unknown."""
    found = spec.roles.get(role)
    if found is None or found.groups or ANYONE in found.users:
        return None
    return frozenset(found.users)


def _unreachable_quorums(spec: PolicyFile) -> list[str]:
    """Approvals no one could ever give: more distinct approvers than a role lists.

    Found during an incident, such a quorum would hold a failover forever; found here, it stops
    the bot with the key to fix. Roles with groups or ``"*"`` can always grow, so only roles
    that list their users alone are counted.
    """
    problems: list[str] = []
    inherits = any(o is None or o.approvals is None for o in spec.actions.values()) or len(
        spec.actions
    ) < len(VERB_ACTIONS)
    places: list[tuple[str, object, str]] = []
    if inherits:
        places.append(("defaults", spec.defaults.approvals, spec.defaults.approver_role))
    for verb, override in spec.actions.items():
        if override is not None and override.approvals is not None and verb in VERB_ACTIONS:
            role = override.approver_role or spec.defaults.approver_role
            places.append((f"actions.{verb}", override.approvals, role))
        elif override is not None and override.approver_role is not None and verb in VERB_ACTIONS:
            places.append((f"actions.{verb}", spec.defaults.approvals, override.approver_role))
    for where, approvals, role in places:
        needs = (
            [
                (f"{where}.approvals.all_of[{i}]", need.role, need.count)
                for i, need in enumerate(approvals.all_of)
            ]
            if isinstance(approvals, AllOf)
            else [(f"{where}.approvals", role, approvals)]
            if isinstance(approvals, int)
            else []
        )
        everyone: set[str] = set()
        counted = True
        for key, need_role, count in needs:
            members = _listed_members(spec, need_role)
            if members is None:
                counted = False
                continue
            everyone |= members
            if count > len(members):
                problems.append(
                    f"{key}: {count} approvals from role {need_role!r}, which lists only "
                    f"{len(members)} user{'s' if len(members) != 1 else ''} and no groups: "
                    "it could never be approved; lower the count or add approvers"
                )
        total = sum(count for _, _, count in needs)
        if counted and len(needs) > 1 and total > len(everyone):
            problems.append(
                f"{where}.approvals: {total} distinct approvers in all, but its roles list only "
                f"{len(everyone)} user{'s' if len(everyone) != 1 else ''} and no groups: "
                "it could never be approved"
            )
    return problems


def _group_problems(where: str, approvals: object, spec: PolicyFile, known_roles: str) -> list[str]:
    if not isinstance(approvals, AllOf):
        return []
    problems: list[str] = []
    seen: set[str] = set()
    for i, need in enumerate(approvals.all_of):
        if need.role not in spec.roles:
            problems.append(f"{where}.all_of[{i}].role: unknown role {need.role!r}; {known_roles}")
        elif need.role in seen:
            problems.append(f"{where}.all_of[{i}].role: {need.role!r} is listed twice; give it one count")
        seen.add(need.role)
    if sum(need.count for need in approvals.all_of) > MAX_APPROVALS:
        problems.append(f"{where}.all_of: at most {MAX_APPROVALS} approvals in all")
    return problems


def _normalized(spec: PolicyFile) -> PolicyFile:
    """Group handles without a leading ``@`` (people copy them from Slack with it)."""
    roles = {
        name: RoleSpec(users=role.users, groups=tuple(h.removeprefix("@") for h in role.groups))
        for name, role in spec.roles.items()
    }
    return spec.model_copy(update={"roles": roles})
