"""Failures become typed errors with readable messages; GETs retry within bounds, actions never."""

from __future__ import annotations

import httpx
import pytest

from bot.clock import FakeClock
from bot.vro.auth import MAX_VRO_MESSAGE_CHARS, PasswordCredentials
from bot.vro.client import RetryPolicy, VroClient
from bot.vro.errors import (
    VroError,
    VroNotFound,
    VroOutcomeUnknown,
    VroRejected,
    VroUnavailable,
    VroUnexpected,
)
from tests.vro.conftest import BASE_URL, PASSWORD, USERNAME, FakeVro, fixture_json

PLAN_ID = "b063f440-2f15-45aa-a8f7-196be6f652ba"
PLAN_PATH = f"/api/v7.21/Plans/{PLAN_ID}"
FAILOVER_PATH = f"{PLAN_PATH}/Failover"
HTML_PAGE = "<!DOCTYPE html><html><body><h1>Server Error in '/' Application.</h1></body></html>"


def html(status: int) -> httpx.Response:
    return httpx.Response(status, text=HTML_PAGE, headers={"content-type": "text/html; charset=utf-8"})


@pytest.mark.parametrize(
    ("answer", "error_type", "vro_message"),
    [
        (
            httpx.Response(500, json={"Message": "Plan 'SAP' is already running."}),
            VroRejected,
            "Plan 'SAP' is already running.",
        ),
        (httpx.Response(500, text=""), VroUnexpected, None),
        (httpx.Response(503, text="busy"), VroUnavailable, None),
        (httpx.Response(504, json={"Message": "Gateway Timeout"}), VroUnavailable, "Gateway Timeout"),
        (
            httpx.Response(404, json={"message": f"Plan with id '{PLAN_ID}' was not found."}),
            VroNotFound,
            None,
        ),
        (httpx.Response(400, json={"Message": "Plan is disabled."}), VroRejected, "Plan is disabled."),
        (
            httpx.Response(409, json={"error_description": "Plan is running."}),
            VroRejected,
            "Plan is running.",
        ),
        (httpx.Response(418, json={"Message": "teapot"}), VroRejected, "teapot"),
        (httpx.Response(418, text="teapot"), VroUnexpected, None),
        (httpx.Response(302, headers={"location": "/login"}), VroUnexpected, None),
    ],
    ids=["500-said", "500-bare", "503", "504-said", "404", "400", "409", "418-said", "418-bare", "302"],
)
async def test_status_codes_map_to_typed_errors(
    answer: httpx.Response,
    error_type: type[VroError],
    vro_message: str | None,
    fake_vro: FakeVro,
    clock: FakeClock,
) -> None:
    """Each status family raises its error class carrying method, path, status and VRO's message."""
    fake_vro.route("POST", FAILOVER_PATH, answer)
    async with VroClient(
        base_url=BASE_URL,
        api_version="v7.21",
        credentials=_creds(),
        transport=httpx.MockTransport(fake_vro),
        clock=clock,
    ) as vro:
        with pytest.raises(error_type) as caught:
            await vro.failover(PLAN_ID)
    error = caught.value
    assert type(error) is error_type
    assert (error.method, error.path, error.status) == ("POST", FAILOVER_PATH, answer.status_code)
    if vro_message is not None:
        assert error.vro_message == vro_message
        assert vro_message in str(error)


async def test_rejected_action_reads_well_in_slack(client: VroClient, fake_vro: FakeVro) -> None:
    """A refusal names the operation and the plan, then gives VRO's own reason."""
    fake_vro.route("POST", FAILOVER_PATH, httpx.Response(400, json={"Message": "Plan is in DISABLED mode."}))
    with pytest.raises(VroRejected) as caught:
        await client.failover(PLAN_ID)
    assert str(caught.value) == f"VRO refused Failover for plan {PLAN_ID}: Plan is in DISABLED mode."


async def test_not_found_names_what_is_missing(client: VroClient, fake_vro: FakeVro) -> None:
    """A 404 on a read says which item VRO does not know."""
    fake_vro.route("GET", PLAN_PATH, httpx.Response(404, json={"Message": "Plan was not found."}))
    with pytest.raises(VroNotFound) as caught:
        await client.get_plan(PLAN_ID)
    assert str(caught.value) == f"VRO could not find plan {PLAN_ID}: Plan was not found."


async def test_a_503_on_a_get_is_retried_with_growing_jittered_waits(
    client: VroClient, fake_vro: FakeVro, clock: FakeClock
) -> None:
    """Two 503s then a 200: the GET succeeds after two waits on the clock, each within its bounds."""
    fake_vro.route(
        "GET",
        PLAN_PATH,
        httpx.Response(503),
        httpx.Response(503),
        httpx.Response(200, json=fixture_json("plan")),
    )
    plan = await client.get_plan(PLAN_ID)
    assert plan.id == PLAN_ID
    policy = RetryPolicy()
    assert len(clock.sleeps) == 2
    for retry, waited in enumerate(clock.sleeps, start=1):
        base = policy.initial * policy.multiplier ** (retry - 1)
        assert base <= waited <= base * (1 + policy.jitter)
    assert clock.sleeps[1] > clock.sleeps[0]


async def test_a_get_gives_up_after_the_attempt_cap(
    client: VroClient, fake_vro: FakeVro, clock: FakeClock
) -> None:
    """A GET that keeps failing stops after RetryPolicy.attempts tries and says so."""
    fake_vro.route("GET", PLAN_PATH, httpx.Response(502))
    with pytest.raises(VroUnavailable, match="tried 4 times") as caught:
        await client.get_plan(PLAN_ID)
    assert len([r for r in fake_vro.api_requests if r.method == "GET"]) == RetryPolicy().attempts
    assert len(clock.sleeps) == RetryPolicy().attempts - 1
    assert caught.value.status == 502


async def test_a_get_gives_up_when_the_next_wait_would_pass_the_total_time_cap(
    fake_vro: FakeVro, clock: FakeClock
) -> None:
    """The total-time cap stops retries before the attempt cap when waits are long."""
    policy = RetryPolicy(attempts=10, initial=4, multiplier=2, max_wait=100, jitter=0, total_seconds=15)
    fake_vro.route("GET", PLAN_PATH, httpx.Response(504))
    async with VroClient(
        base_url=BASE_URL,
        api_version="v7.21",
        credentials=_creds(),
        transport=httpx.MockTransport(fake_vro),
        clock=clock,
        retry=policy,
    ) as vro:
        with pytest.raises(VroUnavailable):
            await vro.get_plan(PLAN_ID)
    assert clock.sleeps == [4, 8]  # a third wait (16 s) would pass 15 s in total
    assert sum(clock.sleeps) <= policy.total_seconds


def test_retry_waits_are_capped() -> None:
    """No single wait exceeds max_wait plus its jitter."""
    policy = RetryPolicy(initial=1, multiplier=10, max_wait=5, jitter=0.5)
    assert policy.wait(1, 0.0) == 1
    assert policy.wait(3, 0.0) == 5
    assert policy.wait(3, 0.999) < 7.5


async def test_a_500_with_a_message_on_an_action_shows_the_message_and_sends_once(
    client: VroClient, fake_vro: FakeVro, clock: FakeClock
) -> None:
    """VRO's words are its answer: shown verbatim, never retried, never called unreachable."""
    said = "Cannot start failover: plan 'SAP Tier1' is being edited by DOMAIN\\alice."
    fake_vro.route("POST", FAILOVER_PATH, httpx.Response(500, json={"message": said}))
    with pytest.raises(VroRejected) as caught:
        await client.failover(PLAN_ID)
    assert not isinstance(caught.value, VroUnavailable)
    assert said in str(caught.value)
    assert caught.value.vro_message == said
    assert "unreachable" not in str(caught.value).lower()
    assert len([r for r in fake_vro.api_requests if r.method == "POST"]) == 1
    assert clock.sleeps == []


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ({"Message": "Plan is disabled."}, "Plan is disabled."),
        ({"MESSAGE": "Plan is disabled."}, "Plan is disabled."),
        ({"error": "invalid_request"}, "invalid_request"),
        (
            {"Errors": ["Plan is disabled.", "Location is offline."]},
            "Plan is disabled.; Location is offline.",
        ),
        (
            {"errors": {"restoreLocationId": ["The field is required."]}},
            "restoreLocationId: The field is required.",
        ),
        (
            {"Message": "An error has occurred.", "ExceptionMessage": "Location 'DR2' is unavailable."},
            "Location 'DR2' is unavailable.",
        ),
    ],
    ids=["Message", "MESSAGE", "error", "errors-list", "errors-dict", "exception-message"],
)
async def test_vro_messages_are_found_under_any_key_and_casing(
    body: dict[str, object], said: str, client: VroClient, fake_vro: FakeVro
) -> None:
    """Message, message, error, errors (a list or ASP.NET's field map), in any casing."""
    fake_vro.route("POST", FAILOVER_PATH, httpx.Response(500, json=body))
    with pytest.raises(VroRejected) as caught:
        await client.failover(PLAN_ID)
    assert caught.value.vro_message == said


async def test_a_bare_502_on_an_action_is_unreachable_but_not_an_unknown_outcome(
    client: VroClient, fake_vro: FakeVro, clock: FakeClock
) -> None:
    """A gateway error is an answer: VRO was not reached, and the outcome is not called unknown."""
    fake_vro.route("POST", FAILOVER_PATH, httpx.Response(502))
    with pytest.raises(VroUnavailable) as caught:
        await client.failover(PLAN_ID)
    assert not isinstance(caught.value, VroOutcomeUnknown)
    assert len([r for r in fake_vro.api_requests if r.method == "POST"]) == 1
    assert clock.sleeps == []


async def test_a_timeout_on_an_action_is_raised_at_once(clock: FakeClock) -> None:
    """A timed-out action may have started; it is reported as such, never resent."""
    posts: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/token":
            return httpx.Response(200, json={"access_token": "t", "expires_in": 899})
        posts.append(request)
        raise httpx.ReadTimeout("timed out", request=request)

    async with VroClient(
        base_url=BASE_URL,
        api_version="v7.21",
        credentials=_creds(),
        transport=httpx.MockTransport(handler),
        clock=clock,
    ) as vro:
        with pytest.raises(VroOutcomeUnknown, match=r"timed out.*may or may not have started"):
            await vro.failover(PLAN_ID)
    assert len(posts) == 1
    assert clock.sleeps == []


async def test_network_errors_on_a_get_are_retried_then_unavailable(clock: FakeClock) -> None:
    """A refused connection is VroUnavailable after the retries, with no URL or trace in the text."""
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    async with VroClient(
        base_url=BASE_URL,
        api_version="v7.21",
        credentials=_creds(),
        transport=httpx.MockTransport(handler),
        clock=clock,
    ) as vro:
        with pytest.raises(VroUnavailable) as caught:
            await vro.get_plan(PLAN_ID)
    assert len(calls) == RetryPolicy().attempts
    assert "could not connect" in str(caught.value)
    assert "Errno" not in str(caught.value)


async def test_untrusted_certificate_says_to_set_the_ca_bundle(clock: FakeClock) -> None:
    """A TLS verification failure explains itself and points at VRO_CA_BUNDLE."""

    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(
            "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed", request=request
        )

    async with VroClient(
        base_url=BASE_URL,
        api_version="v7.21",
        credentials=_creds(),
        transport=httpx.MockTransport(handler),
        clock=clock,
        retry=RetryPolicy.never(),
    ) as vro:
        with pytest.raises(VroUnavailable, match="VRO_CA_BUNDLE"):
            await vro.get_plan(PLAN_ID)


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (
            httpx.Response(200, text='{"id": "x", "name": ', headers={"content-type": "application/json"}),
            "malformed JSON",
        ),
        (html(200), "an HTML page"),
        (httpx.Response(200, json={"name": "no id"}), "id: field required"),
        (httpx.Response(200, json=["not", "an", "object"]), "cannot read"),
        (httpx.Response(200), "an empty body"),
    ],
    ids=["malformed-json", "html", "missing-field", "wrong-shape", "empty"],
)
async def test_unreadable_answers_are_unexpected_errors(
    answer: httpx.Response, words: str, client: VroClient, fake_vro: FakeVro
) -> None:
    """Malformed JSON, an HTML page, or a body failing validation give VroUnexpected, not a crash."""
    fake_vro.route("GET", PLAN_PATH, answer)
    with pytest.raises(VroUnexpected) as caught:
        await client.get_plan(PLAN_ID)
    assert words in str(caught.value)
    assert caught.value.status == 200
    assert caught.value.path == PLAN_PATH


async def test_an_html_error_page_is_typed_by_its_status(client: VroClient, fake_vro: FakeVro) -> None:
    """IIS's HTML 404 page is VroNotFound, without the HTML in the message."""
    fake_vro.route("GET", PLAN_PATH, html(404))
    with pytest.raises(VroNotFound) as caught:
        await client.get_plan(PLAN_ID)
    assert "<html" not in str(caught.value).lower()
    assert caught.value.vro_message is None


async def test_unknown_enum_values_and_extra_fields_still_parse(client: VroClient, fake_vro: FakeVro) -> None:
    """A future plan type, an unknown state and HAL _links are tolerated."""
    body = {
        **fixture_json("plan"),
        "planType": "QuantumReplica",
        "state": "TeleportInProgress",
        "_links": {"self": {"href": f"/v2/Plans/{PLAN_ID}"}},
        "brandNewField": {"nested": True},
    }
    fake_vro.route("GET", PLAN_PATH, httpx.Response(200, json=body))
    plan = await client.get_plan(PLAN_ID)
    assert (plan.planType, plan.state) == ("QuantumReplica", "TeleportInProgress")


async def test_long_vro_messages_are_shortened(client: VroClient, fake_vro: FakeVro) -> None:
    """A stack-trace-sized VRO message is cut so it cannot flood a Slack message."""
    fake_vro.route("POST", FAILOVER_PATH, httpx.Response(400, json={"Message": "x" * 5000}))
    with pytest.raises(VroRejected) as caught:
        await client.failover(PLAN_ID)
    assert len(str(caught.value)) < MAX_VRO_MESSAGE_CHARS + 200


def _creds() -> PasswordCredentials:
    return PasswordCredentials(username=USERNAME, password=PASSWORD)
