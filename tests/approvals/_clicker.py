"""A second bot process for the cross-process test: many approval clicks on one request at once.

Run as ``python -m tests.approvals._clicker URL REQUEST_ID USER...``. It prints ``ready`` once
connected, waits for a line on stdin (so both processes click together), approves with every
user concurrently, and prints ``{"performed": N, "kinds": [...]}`` as JSON.
"""

from __future__ import annotations

import asyncio
import json
import sys

from sqlalchemy import text

from bot.approvals.policy import Policy
from bot.approvals.service import ApprovalService
from bot.clock import FakeClock
from bot.db import create_engine, session_factory
from tests.approvals.conftest import FakeGateway, FakeGroups, FakeNotifier


async def main(url: str, request_id: str, users: list[str]) -> None:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        gateway = FakeGateway()
        service = ApprovalService(
            sessions=session_factory(engine),
            clock=FakeClock(),
            policy=Policy.builtin(),
            groups=FakeGroups(),
            gateway=gateway,
            notifier=FakeNotifier(),
            instance_id="process-2",
        )
        sys.stdout.write("ready\n")
        sys.stdout.flush()
        await asyncio.to_thread(sys.stdin.readline)
        outcomes = await asyncio.gather(*(service.approve(request_id, user) for user in users))
        sys.stdout.write(
            json.dumps({"performed": len(gateway.performed), "kinds": [o.kind for o in outcomes]})
        )
        sys.stdout.write("\n")
    finally:
        await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3:]))
