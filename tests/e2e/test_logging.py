"""Every command gets a request id on its log lines, even those written after the ack."""

from __future__ import annotations

import io
import json

from bot.observability.logging import configure_logging
from tests.e2e.conftest import CHANNEL, VIEWER, Stack


async def test_a_command_logs_json_with_its_request_id_and_user(stack: Stack) -> None:
    out = io.StringIO()
    setup = configure_logging(fmt="json", level="INFO", stream=out)
    try:
        await stack.driver.command("plans", user_id=VIEWER, channel_id=CHANNEL)
        await stack.driver.command("scopes", user_id=VIEWER, channel_id=CHANNEL)
        await stack.settle()
    finally:
        setup.restore()
    lines = [json.loads(line) for line in out.getvalue().splitlines() if line.startswith("{")]
    answered = [line for line in lines if "answered" in str(line.get("event", ""))]
    assert len(answered) == 2, lines
    assert all(line.get("user") == VIEWER for line in answered), json.dumps(answered)
    ids = {line.get("request_id") for line in answered}
    assert None not in ids
    assert len(ids) == 2, "each command has its own request id"
