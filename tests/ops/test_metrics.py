"""Metrics: the named series, their labels, VRO request instrumentation and scrape-time samplers."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from bot.clock import FakeClock
from bot.observability.metrics import (
    OTHER_VERB,
    MeteredTransport,
    Metrics,
    OutboxStats,
    create_metrics,
    instrument_httpx,
    vro_operation,
)
from bot.vro.auth import PasswordCredentials
from bot.vro.client import VroClient

PLAN_ID = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
VRO = "https://vro.test:9898"


def family_names(metrics: Metrics) -> set[str]:
    payload, _ = metrics.render()
    return {f.name for f in text_string_to_metric_families(payload.decode())}


def test_render_exposes_every_series_the_issue_names(metrics: Metrics) -> None:
    metrics.record_command("failover", "ok")
    metrics.record_approval("approved")
    metrics.record_vro_request("POST /Plans/{id}/Failover", "200", 0.2)
    metrics.set_outbox(OutboxStats(depth=3, oldest_age_seconds=12.5))
    metrics.record_slack_error("chat.postMessage", "ratelimited")
    metrics.set_active_watches(2)

    names = family_names(metrics)

    for expected in (
        "vro_bot_commands",
        "vro_bot_approvals",
        "vro_bot_vro_requests",
        "vro_bot_vro_request_duration_seconds",
        "vro_bot_outbox_depth",
        "vro_bot_outbox_oldest_age_seconds",
        "vro_bot_slack_api_errors",
        "vro_bot_active_watches",
    ):
        assert expected in names
    reg = metrics.registry
    assert reg.get_sample_value("vro_bot_commands_total", {"verb": "failover", "outcome": "ok"}) == 1
    assert reg.get_sample_value("vro_bot_approvals_total", {"outcome": "approved"}) == 1
    assert reg.get_sample_value("vro_bot_outbox_depth") == 3
    assert reg.get_sample_value("vro_bot_outbox_oldest_age_seconds") == 12.5
    assert (
        reg.get_sample_value(
            "vro_bot_slack_api_errors_total", {"method": "chat.postMessage", "error": "ratelimited"}
        )
        == 1
    )
    assert reg.get_sample_value("vro_bot_active_watches") == 2


def test_render_returns_the_prometheus_text_content_type(metrics: Metrics) -> None:
    payload, content_type = metrics.render()
    assert content_type.startswith("text/plain; version=")
    assert b"# TYPE vro_bot_commands_total counter" in payload


def test_each_metrics_object_has_its_own_registry_and_leaves_the_global_one_alone() -> None:
    first = create_metrics(process_metrics=False)
    second = create_metrics(process_metrics=False)
    first.record_command("plans", "ok")

    assert first.registry.get_sample_value("vro_bot_commands_total", {"verb": "plans", "outcome": "ok"}) == 1
    assert (
        second.registry.get_sample_value("vro_bot_commands_total", {"verb": "plans", "outcome": "ok"}) is None
    )
    assert REGISTRY.get_sample_value("vro_bot_commands_total", {"verb": "plans", "outcome": "ok"}) is None


def test_process_metrics_are_included_by_default() -> None:
    assert "process_cpu_seconds" in family_names(create_metrics())


def test_unknown_verbs_share_one_label_so_typos_cannot_create_series() -> None:
    metrics = create_metrics(known_verbs={"failover", "plans"}, process_metrics=False)
    metrics.record_command("failovr", "invalid")
    metrics.record_command("plans", "ok")

    reg = metrics.registry
    assert reg.get_sample_value("vro_bot_commands_total", {"verb": OTHER_VERB, "outcome": "invalid"}) == 1
    assert reg.get_sample_value("vro_bot_commands_total", {"verb": "failovr", "outcome": "invalid"}) is None
    assert reg.get_sample_value("vro_bot_commands_total", {"verb": "plans", "outcome": "ok"}) == 1


def test_an_empty_outbox_reports_no_age(metrics: Metrics) -> None:
    metrics.set_outbox(OutboxStats(depth=0, oldest_age_seconds=99.0))
    assert metrics.registry.get_sample_value("vro_bot_outbox_oldest_age_seconds") == 0


@pytest.mark.parametrize(
    ("method", "path", "operation"),
    [
        ("get", f"/api/v7.21/Plans/{PLAN_ID}", "GET /Plans/{id}"),
        ("POST", f"/api/v7.21/Plans/{PLAN_ID.upper()}/Failover", "POST /Plans/{id}/Failover"),
        (
            "GET",
            f"/api/v7.21/RuntimeDetails/Plans/{PLAN_ID}/Groups/{PLAN_ID}/Vms",
            "GET /RuntimeDetails/Plans/{id}/Groups/{id}/Vms",
        ),
        ("POST", "/api/token", "POST /token"),
        ("GET", "/api/v7.21/Plans?filter=x", "GET /Plans"),
        ("GET", "/vro/api/v13.1/License/Usage/Server", "GET /License/Usage/Server"),
        ("GET", "/api/v7.21/Things/42", "GET /Things/{id}"),
    ],
)
def test_vro_operation_drops_the_version_prefix_and_replaces_ids(
    method: str, path: str, operation: str
) -> None:
    assert vro_operation(method, path) == operation


async def test_httpx_hooks_record_operation_status_and_latency(metrics: Metrics, clock: FakeClock) -> None:
    def vro(request: httpx.Request) -> httpx.Response:
        clock.advance(0.25)  # VRO takes a quarter of a second to answer
        if request.url.path.endswith("/Failover"):
            return httpx.Response(409, json={"message": "illegal state"})
        return httpx.Response(200, json={"id": PLAN_ID})

    async with httpx.AsyncClient(
        base_url=VRO, transport=httpx.MockTransport(vro), event_hooks=instrument_httpx(metrics)
    ) as client:
        await client.get(f"/api/v7.21/Plans/{PLAN_ID}")
        await client.get(f"/api/v7.21/Plans/{PLAN_ID}")
        await client.post(f"/api/v7.21/Plans/{PLAN_ID}/Failover")

    reg = metrics.registry
    assert (
        reg.get_sample_value("vro_bot_vro_requests_total", {"operation": "GET /Plans/{id}", "status": "200"})
        == 2
    )
    assert (
        reg.get_sample_value(
            "vro_bot_vro_requests_total", {"operation": "POST /Plans/{id}/Failover", "status": "409"}
        )
        == 1
    )
    duration = "vro_bot_vro_request_duration_seconds"
    assert reg.get_sample_value(f"{duration}_count", {"operation": "GET /Plans/{id}"}) == 2
    assert reg.get_sample_value(f"{duration}_sum", {"operation": "GET /Plans/{id}"}) == pytest.approx(0.5)
    # 0.25 s falls in the 0.25 bucket, not the 0.1 one.
    assert reg.get_sample_value(f"{duration}_bucket", {"operation": "GET /Plans/{id}", "le": "0.1"}) == 0
    assert reg.get_sample_value(f"{duration}_bucket", {"operation": "GET /Plans/{id}", "le": "0.25"}) == 2


async def test_metered_transport_counts_requests_that_never_got_an_answer(
    metrics: Metrics, clock: FakeClock
) -> None:
    def vro(request: httpx.Request) -> httpx.Response:
        clock.advance(1.0)
        if request.url.path.endswith("/Plans"):
            raise httpx.ConnectError("connection refused", request=request)
        if request.url.path.endswith("/Scopes"):
            raise httpx.ReadTimeout("timed out", request=request)
        return httpx.Response(204)

    transport = MeteredTransport(httpx.MockTransport(vro), metrics=metrics)
    async with httpx.AsyncClient(base_url=VRO, transport=transport) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get("/api/v7.21/Plans")
        with pytest.raises(httpx.ReadTimeout):
            await client.get("/api/v7.21/Scopes")
        await client.delete(f"/api/v7.21/Plans/{PLAN_ID}/Schedule")

    reg = metrics.registry
    total = "vro_bot_vro_requests_total"
    assert reg.get_sample_value(total, {"operation": "GET /Plans", "status": "network-error"}) == 1
    assert reg.get_sample_value(total, {"operation": "GET /Scopes", "status": "timeout"}) == 1
    assert reg.get_sample_value(total, {"operation": "DELETE /Plans/{id}/Schedule", "status": "204"}) == 1
    assert (
        reg.get_sample_value("vro_bot_vro_request_duration_seconds_sum", {"operation": "GET /Plans"}) == 1.0
    )


async def test_samplers_set_the_gauges_on_refresh(metrics: Metrics) -> None:
    reads: list[str] = []

    async def outbox() -> OutboxStats:
        reads.append("outbox")
        return OutboxStats(depth=7, oldest_age_seconds=30.0)

    async def watches() -> int:
        reads.append("watches")
        return 4

    metrics.sample_outbox(outbox)
    metrics.sample_active_watches(watches)
    assert reads == []  # nothing is read until a scrape

    await metrics.refresh()

    assert sorted(reads) == ["outbox", "watches"]
    assert metrics.registry.get_sample_value("vro_bot_outbox_depth") == 7
    assert metrics.registry.get_sample_value("vro_bot_outbox_oldest_age_seconds") == 30
    assert metrics.registry.get_sample_value("vro_bot_active_watches") == 4


async def test_a_synchronous_sampler_works_too(metrics: Metrics) -> None:
    metrics.add_sampler("watches", lambda: metrics.set_active_watches(5))
    await metrics.refresh()
    assert metrics.registry.get_sample_value("vro_bot_active_watches") == 5


async def test_a_failing_sampler_is_counted_and_keeps_the_last_value(metrics: Metrics) -> None:
    answers: list[OutboxStats | Exception] = [
        OutboxStats(depth=2, oldest_age_seconds=1.0),
        RuntimeError("database is gone"),
    ]

    async def outbox() -> OutboxStats:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    metrics.sample_outbox(outbox)
    await metrics.refresh()
    await metrics.refresh()  # must not raise

    assert metrics.registry.get_sample_value("vro_bot_outbox_depth") == 2
    assert metrics.registry.get_sample_value("vro_bot_sampler_errors_total", {"sampler": "outbox"}) == 1


async def test_a_hung_sampler_times_out_instead_of_blocking_the_scrape() -> None:
    metrics = create_metrics(process_metrics=False, sampler_timeout=0)
    never = asyncio.Event()

    async def outbox() -> OutboxStats:
        await never.wait()
        raise AssertionError("unreachable")

    metrics.sample_outbox(outbox)
    await metrics.refresh()

    assert metrics.registry.get_sample_value("vro_bot_sampler_errors_total", {"sampler": "outbox"}) == 1


def test_a_sampler_name_is_registered_once(metrics: Metrics) -> None:
    metrics.add_sampler("outbox", lambda: None)
    with pytest.raises(ValueError, match="outbox"):
        metrics.add_sampler("outbox", lambda: None)


async def test_the_vro_client_accepts_the_hooks_and_its_token_request_is_counted(
    metrics: Metrics, clock: FakeClock
) -> None:
    def vro(request: httpx.Request) -> httpx.Response:
        clock.advance(0.05)
        if request.url.path == "/api/token":
            return httpx.Response(
                200,
                json={
                    "access_token": "at",
                    "token_type": "bearer",
                    "expires_in": 3600,
                    "refresh_token": "rt",
                },
            )
        return httpx.Response(200, json=[PLAN_ID])

    client = VroClient(
        base_url=VRO,
        api_version="v7.21",
        credentials=PasswordCredentials(username="vro-bot", password="vro-bot-demo"),
        transport=httpx.MockTransport(vro),
        clock=clock,
        event_hooks=instrument_httpx(metrics),
    )
    async with client:
        assert await client.list_clients() == [PLAN_ID]

    total = "vro_bot_vro_requests_total"
    assert metrics.registry.get_sample_value(total, {"operation": "POST /token", "status": "200"}) == 1
    assert metrics.registry.get_sample_value(total, {"operation": "GET /Clients", "status": "200"}) == 1
