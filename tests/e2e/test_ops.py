"""Operations through the bot's own HTTP app: ``/healthz``, ``/readyz`` and ``/metrics``.

Everything goes through ``bot.http`` with ``httpx.ASGITransport``, as a load balancer or
Prometheus would reach it. VRO troubles come from the simulator's fault controls; database
troubles from settings pointing at a database that cannot be opened or is behind head.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.clock import FakeClock
from bot.config import load_settings
from bot.migrate import downgrade, upgrade
from bot.offline import OFFLINE_VRO_URL
from bot.runtime import Bot, build_bot, listeners
from bot.simulator.app import DEFAULT_PASSWORD, DEFAULT_USERNAME, Simulator, create_simulator
from tests.e2e.conftest import CHANNEL, OPERATOR, VIEWER, Stack

TOKEN_PATH = "/api/token"
FIRST_MIGRATION = "0001_approvals"


def sample(metrics: str, name: str, **labels: str) -> float | None:
    """The value of one Prometheus sample, or None when the series is absent."""
    for line in metrics.splitlines():
        match = re.fullmatch(r"([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)", line)
        if match is None or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(2) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(match.group(3))
    return None


async def readiness(http: httpx.AsyncClient) -> tuple[int, dict[str, Any]]:
    response = await http.get("/readyz")
    body = response.json()
    assert isinstance(body, dict)
    return response.status_code, body


async def test_healthz_answers_ok(stack: Stack) -> None:
    response = await stack.http.get("/healthz")
    assert (response.status_code, response.text) == (200, "ok")


async def test_metrics_count_the_command_just_run_and_the_vro_requests_it_made(stack: Stack) -> None:
    before = (await stack.http.get("/metrics")).text
    assert sample(before, "vro_bot_commands_total", verb="status", outcome="ok") is None

    await stack.driver.command('status "SAP Tier1"', user_id=VIEWER, channel_id=CHANNEL)
    await stack.settle()
    response = await stack.http.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert sample(text, "vro_bot_commands_total", verb="status", outcome="ok") == 1.0
    assert (sample(text, "vro_bot_vro_requests_total", operation="GET /Plans", status="200") or 0) >= 1
    assert (
        sample(text, "vro_bot_vro_requests_total", operation="GET /RuntimeDetails/Plans/{id}", status="200")
        == 1.0
    )
    assert sample(text, "vro_bot_active_watches") == 0.0
    assert sample(text, "vro_bot_outbox_depth") == 0.0


async def test_metrics_show_active_watches_and_the_outbox_filling_and_draining(stack: Stack) -> None:
    await stack.driver.command('watch "SAP Tier1"', user_id=VIEWER, channel_id=CHANNEL)
    await stack.settle()
    await stack.bot.watcher.poll_once()  # writes the status card to the outbox, sends nothing

    waiting = (await stack.http.get("/metrics")).text
    assert sample(waiting, "vro_bot_commands_total", verb="watch", outcome="ok") == 1.0
    assert sample(waiting, "vro_bot_active_watches") == 1.0
    assert (sample(waiting, "vro_bot_outbox_depth") or 0) >= 1

    await stack.bot.sender.send_due()
    drained = (await stack.http.get("/metrics")).text
    assert sample(drained, "vro_bot_outbox_depth") == 0.0
    assert sample(drained, "vro_bot_outbox_oldest_age_seconds") == 0.0


async def test_readyz_is_ready_when_the_database_and_vro_are(stack: Stack) -> None:
    status, body = await readiness(stack.http)
    assert status == 200, body
    assert body["status"] == "ready"
    assert body["checks"]["database"]["ok"]
    assert body["checks"]["vro"]["ok"]


async def test_readyz_names_vro_when_it_refuses_to_issue_a_token(stack: Stack) -> None:
    stack.sim.faults.fail_next(TOKEN_PATH, 5, status=401)
    status, body = await readiness(stack.http)
    assert status == 503
    assert body["failed"] == ["vro"]
    assert body["checks"]["database"]["ok"]


async def test_readyz_names_vro_when_it_stops_accepting_the_token_the_bot_holds(stack: Stack) -> None:
    """A bot that logged in earlier is not ready once VRO refuses its token and every new login."""
    await stack.driver.command("plans", user_id=VIEWER, channel_id=CHANNEL)
    await stack.settle()
    stack.sim.expire_tokens()
    stack.sim.faults.fail_next(TOKEN_PATH, 5, status=401)
    status, body = await readiness(stack.http)
    assert status == 503, body
    assert body["failed"] == ["vro"]


async def test_readyz_names_vro_when_it_fails(stack: Stack) -> None:
    await stack.driver.command("plans", user_id=VIEWER, channel_id=CHANNEL)
    await stack.settle()
    stack.sim.faults.error_rate("/api/*", 1.0, status=503)
    status, body = await readiness(stack.http)
    assert status == 503, body
    assert body["failed"] == ["vro"]

    stack.sim.faults.clear()
    status, body = await readiness(stack.http)
    assert status == 200, body


async def test_readyz_after_vro_recovers_from_expired_tokens_is_ready(stack: Stack) -> None:
    """Expired tokens alone are no outage: the bot logs in again and stays ready."""
    await stack.driver.command("plans", user_id=VIEWER, channel_id=CHANNEL)
    await stack.settle()
    stack.sim.expire_tokens()
    status, body = await readiness(stack.http)
    assert status == 200, body


# --- database troubles: a bot built without the start-up schema check ------------------------


@asynccontextmanager
async def bot_on(database_url: str, clock: FakeClock, sim: Simulator) -> AsyncIterator[Bot]:
    """A bot on ``database_url`` (not checked at start), VRO being ``sim``; Slack is never called."""
    settings = load_settings(
        {
            "SLACK_BOT_TOKEN": "xoxb-ops-test",
            "SLACK_SIGNING_SECRET": "ops-test-secret",
            "SLACK_API_URL": "http://127.0.0.1:9/api/",
            "VRO_URL": OFFLINE_VRO_URL,
            "VRO_USERNAME": DEFAULT_USERNAME,
            "VRO_PASSWORD": DEFAULT_PASSWORD,
            "DATABASE_URL": database_url,
        }
    )
    bot = await build_bot(
        settings,
        clock=clock,
        vro_transport=httpx.ASGITransport(app=sim),
        instance_id="ops",
        check_schema=False,
    )
    try:
        yield bot
    finally:
        await bot.aclose()


async def probe(bot: Bot) -> tuple[int, dict[str, Any]]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=bot.http), base_url="http://bot") as http:
        return await readiness(http)


async def test_readyz_names_the_database_when_it_cannot_be_reached(clock: FakeClock) -> None:
    """A database server that refuses connections (nothing listens on port 1)."""
    url = "postgresql://vro:secret-db-password@127.0.0.1:1/vro"
    async with bot_on(url, clock, create_simulator(clock=clock)) as bot:
        status, body = await probe(bot)
    assert status == 503, body
    assert body["failed"] == ["database"]
    assert body["checks"]["vro"]["ok"]
    assert "secret-db-password" not in str(body)


async def test_readyz_names_the_database_when_its_schema_is_behind(tmp_path: Path, clock: FakeClock) -> None:
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    upgrade(url)
    async with bot_on(url, clock, create_simulator(clock=clock)) as bot:
        status, body = await probe(bot)
        assert status == 200, body
        downgrade(url, FIRST_MIGRATION)
        status, body = await probe(bot)
    assert status == 503, body
    assert body["failed"] == ["database"]
    assert "vro-bot db upgrade" in body["checks"]["database"]["error"]


async def test_metrics_expose_the_verified_audit_chain_head_and_a_broken_row(
    stack: Stack, tmp_path: Path
) -> None:
    from bot.approvals.verify import verify_database
    from tests.approvals.test_audit_chain import _tamper

    await stack.driver.command('enable "SAP Tier1"', user_id=OPERATOR, channel_id=CHANNEL)
    await stack.settle()
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    head = verify_database(url).verified
    assert head.rows >= 1

    text = (await stack.http.get("/metrics")).text
    assert sample(text, "vro_bot_audit_chain_intact") == 1.0
    assert sample(text, "vro_bot_audit_chain_verified_rows") == float(head.rows)
    assert sample(text, "vro_bot_audit_chain_head_row") == float(head.row_id or 0)
    assert sample(text, "vro_bot_audit_chain_head_info", hash=head.hash) == 1.0
    assert sample(text, "vro_bot_audit_chain_broken_row") == 0.0

    _tamper(url, "UPDATE audit_log SET actor = 'UMALLORY' WHERE id = 1")
    stack.fake_clock.advance(3600)  # the next scrape walks the whole chain again
    broken = (await stack.http.get("/metrics")).text
    assert sample(broken, "vro_bot_audit_chain_intact") == 0.0
    assert sample(broken, "vro_bot_audit_chain_broken_row") == 1.0


def paths(routes: list[Any]) -> set[str]:
    return {str(getattr(route, "path", "")) for route in routes}


async def test_health_and_metrics_listen_with_slack_events_by_default(stack: Stack) -> None:
    settings = stack.bot.settings
    [(host, port, routes)] = listeners(settings, stack.bot)
    assert (host, port) == (settings.vro_bot_http_host, settings.vro_bot_http_port)
    assert paths(routes) == {"/slack/events", "/healthz", "/readyz", "/metrics"}


async def test_an_admin_listener_keeps_health_and_metrics_apart_from_slack_events(stack: Stack) -> None:
    settings = stack.bot.settings.model_copy(
        update={"vro_bot_admin_host": "127.0.0.1", "vro_bot_admin_port": 9100}
    )
    public, admin = listeners(settings, stack.bot)
    assert public[:2] == (settings.vro_bot_http_host, settings.vro_bot_http_port)
    assert paths(public[2]) == {"/slack/events"}
    assert admin[:2] == ("127.0.0.1", 9100)
    assert paths(admin[2]) == {"/healthz", "/readyz", "/metrics"}


def test_the_admin_listener_defaults_to_the_http_listener() -> None:
    settings = load_settings({"VRO_BOT_HTTP_HOST": "10.0.0.5", "VRO_BOT_HTTP_PORT": "3100"})
    assert settings.admin_listener == ("10.0.0.5", 3100)
    settings = load_settings({"VRO_BOT_HTTP_HOST": "10.0.0.5", "VRO_BOT_ADMIN_PORT": "9100"})
    assert settings.admin_listener == ("10.0.0.5", 9100)


async def test_building_the_bot_with_its_token_in_the_environment_warns_of_nothing(
    tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Bolt reads SLACK_BOT_TOKEN itself; with our client built from it, its warning is noise."""
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-ops-test")
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    upgrade(url)
    with caplog.at_level(logging.WARNING):
        async with bot_on(url, clock, create_simulator(clock=clock)):
            pass
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
