"""User-group membership: trusted for the TTL, kept through a failed lookup only for the grace."""

from __future__ import annotations

import asyncio

import pytest

from bot.approvals.membership import (
    DEFAULT_GROUP_GRACE_SECONDS,
    DEFAULT_GROUP_TTL_SECONDS,
    CachedGroupResolver,
    GroupLookupError,
)
from bot.approvals.policy import Policy
from bot.clock import FakeClock
from bot.config import load_settings
from tests.approvals.conftest import FakeGroups

RATE_LIMITED = GroupLookupError("dr-approvers", "Slack answered ratelimited")
GROUP_POLICY = """
roles:
  viewer:   {users: ["*"]}
  operator: {users: [U0OPS1]}
  approver: {groups: [dr-approvers]}
"""


def cached(
    inner: FakeGroups, clock: FakeClock, *, ttl: float = 60, grace: float = 600
) -> CachedGroupResolver:
    return CachedGroupResolver(inner=inner, clock=clock, ttl_seconds=ttl, grace_seconds=grace)


def test_the_defaults_are_a_minute_of_trust_and_ten_minutes_of_grace() -> None:
    assert (DEFAULT_GROUP_TTL_SECONDS, DEFAULT_GROUP_GRACE_SECONDS) == (60.0, 600.0)
    settings = load_settings({}, env_file=None)
    assert settings.vro_bot_group_ttl_seconds == 60.0
    assert load_settings({"VRO_BOT_GROUP_TTL_SECONDS": "15"}).vro_bot_group_ttl_seconds == 15.0


def test_a_grace_shorter_than_the_ttl_is_a_configuration_error() -> None:
    from bot.config import ConfigError

    with pytest.raises(ConfigError, match="VRO_BOT_GROUP_GRACE_SECONDS must be at least"):
        load_settings({"VRO_BOT_GROUP_TTL_SECONDS": "120", "VRO_BOT_GROUP_GRACE_SECONDS": "60"})


async def test_answers_are_kept_for_the_ttl_then_asked_again(clock: FakeClock) -> None:
    inner = FakeGroups({"dr-approvers": {"U1"}})
    groups = cached(inner, clock)
    assert await groups.members("dr-approvers") == {"U1"}
    inner.groups["dr-approvers"] = {"U2"}
    clock.advance(59)
    assert await groups.members("dr-approvers") == {"U1"}
    assert inner.lookups == 1
    clock.advance(1)
    assert await groups.members("dr-approvers") == {"U2"}
    assert inner.lookups == 2


async def test_a_failed_refresh_keeps_the_last_answer_while_it_is_younger_than_the_grace(
    clock: FakeClock,
) -> None:
    inner = FakeGroups({"dr-approvers": {"U1"}})
    groups = cached(inner, clock)
    await groups.members("dr-approvers")
    inner.error = RATE_LIMITED
    clock.advance(599)
    assert await groups.members("dr-approvers") == {"U1"}


async def test_past_the_grace_a_failed_refresh_refuses_instead_of_using_the_old_answer(
    clock: FakeClock,
) -> None:
    """The incident: someone removed from the group hours ago must not approve while Slack is down."""
    inner = FakeGroups({"dr-approvers": {"U1"}})
    groups = cached(inner, clock)
    await groups.members("dr-approvers")
    inner.error = RATE_LIMITED
    clock.advance(600)
    with pytest.raises(GroupLookupError) as caught:
        await groups.members("dr-approvers")
    assert caught.value.handle == "dr-approvers"
    assert "ratelimited" in caught.value.problem
    clock.advance(6 * 3600)
    with pytest.raises(GroupLookupError):
        await groups.members("dr-approvers")


async def test_a_group_never_answered_for_fails_at_once(clock: FakeClock) -> None:
    groups = cached(FakeGroups(error=RATE_LIMITED), clock)
    with pytest.raises(GroupLookupError):
        await groups.members("dr-approvers")


async def test_a_successful_refresh_restarts_the_clock_of_the_grace(clock: FakeClock) -> None:
    inner = FakeGroups({"dr-approvers": {"U1"}})
    groups = cached(inner, clock)
    await groups.members("dr-approvers")
    clock.advance(500)
    await groups.members("dr-approvers")  # refreshed at t=500
    inner.error = RATE_LIMITED
    clock.advance(599)
    assert await groups.members("dr-approvers") == {"U1"}


async def test_concurrent_callers_share_one_refresh(clock: FakeClock) -> None:
    inner = FakeGroups({"dr-approvers": {"U1"}})
    groups = cached(inner, clock)
    answers = await asyncio.gather(*(groups.members("dr-approvers") for _ in range(10)))
    assert set(answers) == {frozenset({"U1"})}
    assert inner.lookups == 1


async def test_has_role_raises_rather_than_grants_when_the_group_cannot_be_read(clock: FakeClock) -> None:
    policy = Policy.from_yaml(GROUP_POLICY)
    groups = cached(FakeGroups(error=RATE_LIMITED), clock)
    with pytest.raises(GroupLookupError):
        await policy.has_role("U0LEAD1", "approver", groups)
    assert await policy.has_role("U0LEAD1", "viewer", groups)  # no group needed


def test_the_grace_may_not_be_shorter_than_the_ttl(clock: FakeClock) -> None:
    with pytest.raises(ValueError, match="grace"):
        cached(FakeGroups(), clock, ttl=60, grace=30)
