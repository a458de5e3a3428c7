"""/healthz, /readyz and /metrics over ASGI, with injected checks and the fake clock."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

import httpx
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from bot.clock import FakeClock
from bot.observability.health import (
    HEALTHZ_PATH,
    METRICS_PATH,
    READYZ_PATH,
    create_health_app,
    health_routes,
    health_server,
)
from bot.observability.logging import REDACTED, Redactor
from bot.observability.metrics import Metrics, OutboxStats

ReadinessCheck = Callable[[], Awaitable[object]]


async def passes() -> None:
    return None


def fails_with(message: str) -> ReadinessCheck:
    async def check() -> None:
        raise RuntimeError(message)

    return check


def client_for(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bot.test")


def app_with(
    checks: Mapping[str, ReadinessCheck], metrics: Metrics, clock: FakeClock, redactor: Redactor | None = None
) -> Starlette:
    return create_health_app(metrics=metrics, checks=checks, clock=clock, redactor=redactor)


async def test_healthz_says_ok_without_running_any_check(metrics: Metrics, clock: FakeClock) -> None:
    calls: list[str] = []

    async def counted() -> None:
        calls.append("db")

    async with client_for(app_with({"database": counted}, metrics, clock)) as client:
        response = await client.get(HEALTHZ_PATH)

    assert response.status_code == 200
    assert response.text == "ok"
    assert calls == []


async def test_readyz_is_200_with_a_verdict_per_check_when_all_pass(
    metrics: Metrics, clock: FakeClock
) -> None:
    app = app_with({"database": passes, "vro": passes}, metrics, clock)
    async with client_for(app) as client:
        response = await client.get(READYZ_PATH)

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert "failed" not in body
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["vro"]["ok"] is True


async def test_readyz_shows_what_a_passing_check_says_such_as_the_vro_api_version(
    metrics: Metrics, clock: FakeClock
) -> None:
    async def vro() -> str:
        return "REST API v13.1 (VRO 13.1), negotiated (VRO_API_VERSION=auto)"

    app = app_with({"database": passes, "vro": vro}, metrics, clock)
    async with client_for(app) as client:
        body = (await client.get(READYZ_PATH)).json()
    assert body["checks"]["vro"]["detail"] == "REST API v13.1 (VRO 13.1), negotiated (VRO_API_VERSION=auto)"
    assert "detail" not in body["checks"]["database"]


async def test_readyz_is_503_naming_the_failed_check(metrics: Metrics, clock: FakeClock) -> None:
    async def slow_refusal() -> None:
        clock.advance(1.5)  # VRO took a second and a half to say no
        raise RuntimeError("VRO refused the credentials (401)")

    app = app_with({"database": passes, "vro": slow_refusal}, metrics, clock)
    async with client_for(app) as client:
        response = await client.get(READYZ_PATH)

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unready"
    assert body["failed"] == ["vro"]
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["vro"] == {
        "ok": False,
        "seconds": 1.5,
        "error": "RuntimeError: VRO refused the credentials (401)",
    }


async def test_readyz_turns_unready_when_a_check_hangs_past_its_deadline(
    metrics: Metrics, clock: FakeClock
) -> None:
    never = asyncio.Event()

    async def hangs() -> None:
        await never.wait()

    # A zero deadline expires on the loop's next turn: no real waiting.
    app = create_health_app(
        metrics=metrics, checks={"database": hangs, "vro": passes}, clock=clock, check_timeout=0
    )
    async with client_for(app) as client:
        response = await client.get(READYZ_PATH)

    assert response.status_code == 503
    assert response.json()["failed"] == ["database"]
    assert response.json()["checks"]["database"]["error"] == "no answer within 0 s"


async def test_readyz_errors_never_show_secrets(metrics: Metrics, clock: FakeClock) -> None:
    failing = fails_with("could not connect to postgresql://bot:hunter22@db/vro with xoxb-123-abc")
    app = app_with({"database": failing}, metrics, clock, redactor=Redactor(["hunter22"]))
    async with client_for(app) as client:
        response = await client.get(READYZ_PATH)

    error = response.json()["checks"]["database"]["error"]
    assert "hunter22" not in error
    assert "xoxb-123-abc" not in error
    assert REDACTED in error


async def test_readyz_runs_the_checks_on_every_request(metrics: Metrics, clock: FakeClock) -> None:
    healthy = [True, False]

    async def flips() -> None:
        if not healthy.pop(0):
            raise ConnectionError("database unreachable")

    async with client_for(app_with({"database": flips}, metrics, clock)) as client:
        first = await client.get(READYZ_PATH)
        second = await client.get(READYZ_PATH)

    assert (first.status_code, second.status_code) == (200, 503)


async def test_metrics_serves_prometheus_text_after_running_the_samplers(
    metrics: Metrics, clock: FakeClock
) -> None:
    async def outbox() -> OutboxStats:
        return OutboxStats(depth=5, oldest_age_seconds=8.0)

    metrics.sample_outbox(outbox)
    metrics.record_command("status", "ok")

    async with client_for(app_with({}, metrics, clock)) as client:
        response = await client.get(METRICS_PATH)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    assert families["vro_bot_outbox_depth"].samples[0].value == 5
    assert "vro_bot_commands" in families


async def test_the_routes_mount_next_to_the_slack_endpoint_in_one_app(
    metrics: Metrics, clock: FakeClock
) -> None:
    async def slack_events(_request: Request) -> Response:
        return PlainTextResponse("slack")

    app = Starlette(
        routes=[
            *health_routes(metrics=metrics, checks={"database": passes}, clock=clock),
            Route("/slack/events", slack_events, methods=["POST"]),
        ]
    )
    async with client_for(app) as client:
        assert (await client.post("/slack/events")).text == "slack"
        assert (await client.get(HEALTHZ_PATH)).status_code == 200
        assert (await client.get(READYZ_PATH)).status_code == 200
        assert (await client.post(HEALTHZ_PATH)).status_code == 405


async def test_create_health_app_accepts_extra_routes(metrics: Metrics, clock: FakeClock) -> None:
    async def slack_events(_request: Request) -> Response:
        return PlainTextResponse("slack")

    app = create_health_app(
        metrics=metrics,
        checks={},
        clock=clock,
        extra_routes=[Route("/slack/events", slack_events, methods=["POST"])],
    )
    async with client_for(app) as client:
        assert (await client.post("/slack/events")).text == "slack"
        assert (await client.get(READYZ_PATH)).json() == {"status": "ready", "checks": {}}


def test_health_server_keeps_our_logging_and_binds_where_told(metrics: Metrics) -> None:
    app = create_health_app(metrics=metrics, checks={})
    server = health_server(app, host="127.0.0.1", port=3999)

    assert server.config.host == "127.0.0.1"
    assert server.config.port == 3999
    assert server.config.log_config is None
    assert server.config.access_log is False
