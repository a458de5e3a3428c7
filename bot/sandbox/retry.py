"""A slack_sdk rate-limit retry handler that waits on an injected :class:`~bot.clock.Clock`.

slack_sdk's ``AsyncRateLimitErrorRetryHandler`` decides *whether* to retry (HTTP 429) and then
sleeps ``Retry-After + random()`` seconds with ``asyncio.sleep``. This subclass keeps the
decision and replaces the wait: exactly ``Retry-After`` seconds on the given clock, recorded in
:attr:`waits`. With a ``FakeClock`` a test sees the retry without waiting for real time.
"""

from __future__ import annotations

from collections.abc import Mapping

from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from bot.clock import Clock

DEFAULT_RETRY_AFTER_SECONDS = 1


class ClockRateLimitRetryHandler(AsyncRateLimitErrorRetryHandler):
    """Retry a 429 after its ``Retry-After`` seconds, waiting on ``clock``."""

    def __init__(self, *, clock: Clock, max_retry_count: int = 1) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.clock = clock
        self.waits: list[int] = []

    async def prepare_for_next_attempt_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        if response is None:
            if error is not None:
                raise error
            raise RuntimeError("a rate-limit retry needs the 429 response")
        seconds = retry_after_seconds(response.headers)
        self.waits.append(seconds)
        state.next_attempt_requested = True
        await self.clock.sleep(seconds)
        state.increment_current_attempt()


def retry_after_seconds(headers: Mapping[str, list[str] | str]) -> int:
    """The ``Retry-After`` value of a slack_sdk retry response (header names in any case)."""
    for name, values in headers.items():
        if name.lower() == "retry-after" and values:
            first = values if isinstance(values, str) else values[0]
            try:
                return max(0, int(first))
            except ValueError:
                break
    return DEFAULT_RETRY_AFTER_SECONDS
