"""The driver signs and shapes requests the way Slack does: checked with slack_sdk's verifier
and by pushing them through a real Bolt AsyncApp (in-process), whose replies land in the sandbox."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk import signature
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.clock import FakeClock, SystemClock
from bot.sandbox import RunningSandbox, SlackSandbox
from bot.sandbox.driver import SlackDriver
from bot.sandbox.requests import view_state
from tests.sandbox.conftest import ALICE, BOB, OPS, TOKEN

SECRET = "sandbox-signing-secret"
CARD: list[dict[str, Any]] = [
    {"type": "section", "text": {"type": "mrkdwn", "text": "Failover of *SAP Tier1*"}},
    {
        "type": "actions",
        "block_id": "decision",
        "elements": [
            {
                "type": "button",
                "action_id": "vro_approve",
                "value": "req-1",
                "style": "primary",
                "text": {"type": "plain_text", "text": "Approve"},
            },
            {
                "type": "button",
                "action_id": "vro_deny",
                "value": "req-1",
                "text": {"type": "plain_text", "text": "Deny"},
            },
        ],
    },
]
MODAL: dict[str, Any] = {
    "type": "modal",
    "callback_id": "vro_run",
    "title": {"type": "plain_text", "text": "Run a plan"},
    "submit": {"type": "plain_text", "text": "Request"},
    "blocks": [
        {
            "type": "input",
            "block_id": "plan",
            "label": {"type": "plain_text", "text": "Plan"},
            "element": {"type": "external_select", "action_id": "plan_pick"},
        },
        {
            "type": "input",
            "block_id": "reason",
            "label": {"type": "plain_text", "text": "Reason"},
            "element": {"type": "plain_text_input", "action_id": "reason_text"},
        },
    ],
}


class SdkClock(signature.Clock):
    """slack_sdk's verifier clock, reading the test's fake clock."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock

    def now(self) -> float:
        return self.clock.now().timestamp()


def driver_without_sandbox(clock: FakeClock) -> SlackDriver:
    http = httpx.AsyncClient(base_url="http://bot.invalid")
    return SlackDriver(http=http, signing_secret=SECRET, clock=clock)


def test_signature_verifies_with_the_signing_secret_and_the_same_clock(clock: FakeClock) -> None:
    driver = driver_without_sandbox(clock)
    request = driver.build_command("status SAP", user_id=ALICE, channel_id=OPS)
    headers = driver.signed_headers(request)
    verifier = SignatureVerifier(SECRET, clock=SdkClock(clock))
    assert verifier.is_valid_request(request.body, headers)


def test_a_wrong_secret_or_an_old_timestamp_fails_verification(clock: FakeClock) -> None:
    driver = driver_without_sandbox(clock)
    request = driver.build_command("status SAP", user_id=ALICE, channel_id=OPS)
    verifier = SignatureVerifier(SECRET, clock=SdkClock(clock))
    assert not verifier.is_valid_request(
        request.body, driver.signed_headers(request, secret="not-the-secret")
    )
    assert not verifier.is_valid_request(request.body, driver.signed_headers(request, age_seconds=301))
    assert verifier.is_valid_request(request.body, driver.signed_headers(request, age_seconds=299))


def test_slash_command_is_form_encoded_with_slack_fields(sandbox: SlackSandbox, clock: FakeClock) -> None:
    driver = SlackDriver(http=httpx.AsyncClient(), signing_secret=SECRET, clock=clock, sandbox=sandbox)
    request = driver.build_command('failover "SAP Tier1" --reason "site lost"', user_id=ALICE, channel_id=OPS)
    fields = {k: v[0] for k, v in parse_qs(request.body.decode()).items()}
    assert fields["command"] == "/vro"
    assert fields["text"] == 'failover "SAP Tier1" --reason "site lost"'
    assert (fields["user_id"], fields["user_name"], fields["channel_id"], fields["channel_name"]) == (
        ALICE,
        "alice",
        OPS,
        "ops-dr",
    )
    assert fields["response_url"].startswith(f"{sandbox.base_url}/hooks/")
    assert fields["trigger_id"] in sandbox.workspace.triggers
    assert request.content_type == "application/x-www-form-urlencoded"


def test_click_is_built_from_the_stored_message(sandbox: SlackSandbox, clock: FakeClock) -> None:
    card = sandbox.workspace.post_message(channel=OPS, text="card", blocks=CARD)
    driver = SlackDriver(http=httpx.AsyncClient(), signing_secret=SECRET, clock=clock, sandbox=sandbox)
    request = driver.build_click(user_id=BOB, channel_id=OPS, message_ts=card.ts, action_id="vro_deny")
    payload = json.loads(parse_qs(request.body.decode())["payload"][0])
    assert payload["type"] == "block_actions"
    assert payload["actions"][0]["action_id"] == "vro_deny"
    assert payload["actions"][0]["value"] == "req-1"
    assert payload["actions"][0]["block_id"] == "decision"
    assert payload["message"]["ts"] == card.ts
    assert payload["container"] == {
        "type": "message",
        "message_ts": card.ts,
        "channel_id": OPS,
        "is_ephemeral": False,
    }
    with pytest.raises(LookupError):
        driver.build_click(user_id=BOB, channel_id=OPS, message_ts=card.ts, action_id="vro_cancel")


def test_view_state_shapes_values_by_element_type() -> None:
    state = view_state(MODAL, {"plan_pick": "plan-42", "reason_text": "INC-42"})
    assert state["plan"]["plan_pick"]["selected_option"]["value"] == "plan-42"
    assert state["reason"]["reason_text"] == {"type": "plain_text_input", "value": "INC-42"}
    with pytest.raises(LookupError):
        view_state(MODAL, {"no_such_input": "x"})


def test_event_carries_an_event_id_and_optional_retry_headers(clock: FakeClock) -> None:
    driver = driver_without_sandbox(clock)
    first = driver.build_app_home_opened(user_id=ALICE)
    retried = driver.build_app_home_opened(user_id=ALICE, event_id=first.payload["event_id"], retry_num=1)
    assert first.payload["event"]["type"] == "app_home_opened"
    assert first.headers == {}
    assert retried.payload["event_id"] == first.payload["event_id"]
    assert retried.headers == {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}


# ---------------------------------------------------------------------- through a real Bolt app


def build_bolt_app(running: RunningSandbox) -> AsyncApp:
    app = AsyncApp(signing_secret=SECRET, client=AsyncWebClient(token=TOKEN, base_url=running.api_url))

    @app.command("/vro")
    async def vro(ack: Any, command: dict[str, Any], respond: Any, client: AsyncWebClient) -> None:
        await ack()
        if command["text"] == "run":
            await client.views_open(trigger_id=command["trigger_id"], view=MODAL)
        else:
            await respond(text=f"you said {command['text']}")

    @app.action("vro_approve")
    async def approve(ack: Any, body: dict[str, Any], respond: Any) -> None:
        await ack()
        await respond(
            text=f"Approved by <@{body['user']['id']}> ({body['actions'][0]['value']})", replace_original=True
        )

    @app.view("vro_run")
    async def submitted(ack: Any, view: dict[str, Any]) -> None:
        reason = view["state"]["values"]["reason"]["reason_text"]["value"]
        if not reason:
            await ack(response_action="errors", errors={"reason": "Say why."})
        else:
            await ack()

    @app.options("plan_pick")
    async def plans(ack: Any, payload: dict[str, Any]) -> None:
        typed = payload["value"]
        await ack(options=[{"text": {"type": "plain_text", "text": f"{typed} Tier1"}, "value": "plan-1"}])

    @app.event("app_home_opened")
    async def home(event: dict[str, Any], client: AsyncWebClient) -> None:
        await client.views_publish(user_id=event["user"], view={"type": "home", "blocks": CARD[:1]})

    return app


@pytest.fixture
async def bolt_driver(running: RunningSandbox, sandbox: SlackSandbox) -> AsyncIterator[SlackDriver]:
    handler = AsyncSlackRequestHandler(build_bolt_app(running))

    async def endpoint(request: Request) -> Response:
        return await handler.handle(request)

    api = Starlette(routes=[Route("/slack/events", endpoint, methods=["POST"])])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url="http://bot") as http:
        # Bolt checks request timestamps against the real clock.
        yield SlackDriver(http=http, signing_secret=SECRET, clock=SystemClock(), sandbox=sandbox)


async def test_bolt_accepts_a_signed_command_and_respond_reaches_the_sandbox_hook(
    bolt_driver: SlackDriver, sandbox: SlackSandbox
) -> None:
    response = await bolt_driver.command("status SAP", user_id=ALICE, channel_id=OPS)
    assert response.status_code == 200
    [post] = await sandbox.log.wait_for("response_url")
    assert post.params["text"] == "you said status SAP"
    [note] = sandbox.workspace.ephemerals_for(OPS, ALICE)
    assert note.text == "you said status SAP"


async def test_bolt_rejects_a_wrong_secret_and_a_ten_minute_old_timestamp(bolt_driver: SlackDriver) -> None:
    request = bolt_driver.build_command("status SAP", user_id=ALICE, channel_id=OPS)
    assert (await bolt_driver.send(request, secret="wrong")).status_code == 401
    assert (await bolt_driver.send(request, age_seconds=600)).status_code == 401


async def test_bolt_click_replaces_the_card_through_response_url(
    bolt_driver: SlackDriver, sandbox: SlackSandbox
) -> None:
    card = sandbox.workspace.post_message(channel=OPS, text="card", blocks=CARD)
    response = await bolt_driver.click(
        user_id=BOB, channel_id=OPS, message_ts=card.ts, action_id="vro_approve"
    )
    assert response.status_code == 200
    await sandbox.log.wait_for("response_url")
    assert sandbox.workspace.message(OPS, card.ts).text == f"Approved by <@{BOB}> (req-1)"


async def test_bolt_opens_a_modal_and_the_submission_round_trips(
    bolt_driver: SlackDriver, sandbox: SlackSandbox
) -> None:
    await bolt_driver.command("run", user_id=ALICE, channel_id=OPS)
    await sandbox.log.wait_for("views.open")
    modal = sandbox.workspace.open_modal(ALICE)
    assert modal is not None

    options = await bolt_driver.suggest(user_id=ALICE, action_id="plan_pick", value="SAP", view_id=modal.id)
    assert options.json()["options"][0]["value"] == "plan-1"

    refused = await bolt_driver.submit_view(user_id=ALICE, view_id=modal.id, values={"plan_pick": "plan-1"})
    assert refused.json() == {"response_action": "errors", "errors": {"reason": "Say why."}}
    assert sandbox.workspace.open_modal(ALICE) is modal

    accepted = await bolt_driver.submit_view(
        user_id=ALICE, view_id=modal.id, values={"plan_pick": "plan-1", "reason_text": "INC-42"}
    )
    assert accepted.status_code == 200
    assert sandbox.workspace.open_modal(ALICE) is None


async def test_bolt_handles_app_home_opened_and_publishes_home(
    bolt_driver: SlackDriver, sandbox: SlackSandbox
) -> None:
    response = await bolt_driver.app_home_opened(user_id=ALICE)
    assert response.status_code == 200
    await sandbox.log.wait_for("views.publish")
    assert sandbox.workspace.home_view(ALICE) is not None


async def test_pressing_a_transcript_button_clicks_it_in_bolt(
    bolt_driver: SlackDriver, sandbox: SlackSandbox
) -> None:
    sandbox.workspace.post_message(channel=OPS, text="card", blocks=CARD)
    transcript = sandbox.transcript(OPS)
    approve = next(b for b in transcript.buttons.values() if b.action_id == "vro_approve")
    await bolt_driver.press(approve, user_id=BOB)
    await sandbox.log.wait_for("response_url")
    assert sandbox.transcript(OPS).lines[0] == "[12:00:00] vro (edited): Approved by @bob (req-1)"
