"""Prometheus metrics of the bot, on a registry of its own.

:class:`Metrics` owns a fresh :class:`~prometheus_client.CollectorRegistry` (never the process-wide
default one), so two bots in one process (tests, the demo) never collide and nothing is
registered at import time. Callers record what happened through small typed methods; the
``/metrics`` endpoint awaits :meth:`Metrics.refresh` (which runs the registered samplers for the
gauges that are cheaper to read on scrape, such as the outbox depth) and then serves
:meth:`Metrics.render`.

Series (all prefixed ``vro_bot_``):

========================================  ==========================  =========================
series                                    labels                      recorded by
========================================  ==========================  =========================
``commands_total``                        verb, outcome               the Slack command handler
``approvals_total``                       outcome                     the approval handlers
``vro_requests_total``                    operation, status           :func:`instrument_httpx`
``vro_request_duration_seconds``          operation                   :func:`instrument_httpx`
``outbox_depth``                          -                           outbox sampler / setter
``outbox_oldest_age_seconds``             -                           outbox sampler / setter
``slack_api_errors_total``                method, error               Slack callers
``active_watches``                        -                           watcher sampler / setter
``sampler_errors_total``                  sampler                     :meth:`Metrics.refresh`
``audit_chain_intact``                    -                           audit chain sampler
``audit_chain_verified_rows``             -                           audit chain sampler
``audit_chain_head_row``                  -                           audit chain sampler
``audit_chain_head_info``                 hash                        audit chain sampler
``audit_chain_broken_row``                -                           audit chain sampler
========================================  ==========================  =========================

VRO operations are ``METHOD /Path`` with the ``/api/<version>`` prefix dropped and every id
replaced by ``{id}`` (``POST /Plans/{id}/Failover``), so a label never carries a plan id.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
import weakref
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final

import httpx
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from bot.clock import Clock, SystemClock

__all__ = [
    "OTHER_VERB",
    "VRO_LATENCY_BUCKETS",
    "MeteredTransport",
    "Metrics",
    "OutboxStats",
    "create_metrics",
    "instrument_httpx",
    "vro_operation",
]

_log = logging.getLogger(__name__)

PREFIX: Final = "vro_bot"
# VRO answers reads in milliseconds but plan actions and token grants can take seconds; the
# client's own timeout is 30 s, so the last finite bucket sits there.
VRO_LATENCY_BUCKETS: Final = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# Label used for a verb outside ``known_verbs`` (typos must not create new series).
OTHER_VERB: Final = "other"
DEFAULT_SAMPLER_TIMEOUT: Final = 5.0

_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_NUMBER_SEGMENT = re.compile(r"(?<=/)\d+(?=/|$)")
_API_PREFIX = re.compile(r"^.*?/api(?:/v\d+(?:\.\d+)*)?(?=/|$)")


@dataclass(frozen=True, slots=True)
class OutboxStats:
    """What the outbox sampler reports: rows waiting, and how long the oldest has waited."""

    depth: int
    oldest_age_seconds: float


Sampler = Callable[[], Awaitable[None] | None]


class Metrics:
    """The bot's metrics. Build one per process with :func:`create_metrics` and pass it around."""

    def __init__(
        self,
        *,
        known_verbs: Iterable[str] | None = None,
        process_metrics: bool = True,
        clock: Clock | None = None,
        sampler_timeout: float = DEFAULT_SAMPLER_TIMEOUT,
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.clock: Clock = clock or SystemClock()
        self._known_verbs = frozenset(known_verbs) if known_verbs is not None else None
        self._sampler_timeout = sampler_timeout
        self._samplers: dict[str, Sampler] = {}
        reg = self.registry

        self.commands = Counter(
            f"{PREFIX}_commands",
            "Slash commands handled, by verb and outcome.",
            ["verb", "outcome"],
            registry=reg,
        )
        self.approvals = Counter(
            f"{PREFIX}_approvals",
            "Approval decisions and request endings, by outcome.",
            ["outcome"],
            registry=reg,
        )
        self.vro_requests = Counter(
            f"{PREFIX}_vro_requests",
            "HTTP requests sent to VRO, by operation and status code (or network-error/timeout).",
            ["operation", "status"],
            registry=reg,
        )
        self.vro_latency = Histogram(
            f"{PREFIX}_vro_request_duration_seconds",
            "Time until VRO's response headers arrived, by operation.",
            ["operation"],
            buckets=VRO_LATENCY_BUCKETS,
            registry=reg,
        )
        self.outbox_depth = Gauge(
            f"{PREFIX}_outbox_depth", "Slack posts and updates waiting in the outbox.", registry=reg
        )
        self.outbox_oldest_age = Gauge(
            f"{PREFIX}_outbox_oldest_age_seconds",
            "Age of the oldest waiting outbox row (0 when the outbox is empty).",
            registry=reg,
        )
        self.slack_errors = Counter(
            f"{PREFIX}_slack_api_errors",
            "Slack Web API calls that failed, by method and Slack error code.",
            ["method", "error"],
            registry=reg,
        )
        self.active_watches = Gauge(
            f"{PREFIX}_active_watches", "Plans the watcher is following right now.", registry=reg
        )
        self.audit_intact = Gauge(
            f"{PREFIX}_audit_chain_intact",
            "1 when the audit log's hash chain verified clean at the last check, 0 when it is broken.",
            registry=reg,
        )
        self.audit_rows = Gauge(
            f"{PREFIX}_audit_chain_verified_rows", "Audit rows verified up to the head.", registry=reg
        )
        self.audit_head_row = Gauge(
            f"{PREFIX}_audit_chain_head_row", "Id of the last verified audit row.", registry=reg
        )
        self.audit_head_info = Gauge(
            f"{PREFIX}_audit_chain_head_info",
            "The verified head of the audit chain (its hash as a label; always 1).",
            ["hash"],
            registry=reg,
        )
        self.audit_broken_row = Gauge(
            f"{PREFIX}_audit_chain_broken_row",
            "The first audit row that does not fit the chain (0 while it is intact).",
            registry=reg,
        )
        self.sampler_errors = Counter(
            f"{PREFIX}_sampler_errors",
            "Scrape-time samplers that failed or timed out (their gauges keep the last value).",
            ["sampler"],
            registry=reg,
        )
        if process_metrics:
            ProcessCollector(registry=reg)
            PlatformCollector(registry=reg)
            GCCollector(registry=reg)

    # -- recording -------------------------------------------------------------------------

    def record_command(self, verb: str, outcome: str) -> None:
        """Count one slash command (``outcome``: e.g. ``ok``, ``refused``, ``invalid``, ``error``)."""
        if self._known_verbs is not None and verb not in self._known_verbs:
            verb = OTHER_VERB
        self.commands.labels(verb=verb, outcome=outcome).inc()

    def record_approval(self, outcome: str) -> None:
        """Count one approval event (``approved``, ``denied``, ``refused``, ``expired``, ...)."""
        self.approvals.labels(outcome=outcome).inc()

    def record_vro_request(self, operation: str, status: str, seconds: float) -> None:
        """Count one VRO request and observe its latency."""
        self.vro_requests.labels(operation=operation, status=status).inc()
        self.vro_latency.labels(operation=operation).observe(max(0.0, seconds))

    def record_slack_error(self, method: str, error: str) -> None:
        """Count one failed Slack Web API call (``error``: Slack's code, e.g. ``ratelimited``)."""
        self.slack_errors.labels(method=method, error=error).inc()

    def set_outbox(self, stats: OutboxStats) -> None:
        """Set the outbox gauges (push style; a sampler does the same on scrape)."""
        self.outbox_depth.set(stats.depth)
        self.outbox_oldest_age.set(stats.oldest_age_seconds if stats.depth else 0.0)

    def set_active_watches(self, count: int) -> None:
        """Set the number of plans being watched (push style)."""
        self.active_watches.set(count)

    def set_audit_chain(
        self, *, intact: bool, rows: int, head_row: int | None, head_hash: str, broken_row: int | None
    ) -> None:
        """Publish the audit chain's verified head (push style; the runtime's sampler calls it)."""
        self.audit_intact.set(1 if intact else 0)
        self.audit_rows.set(rows)
        self.audit_head_row.set(head_row or 0)
        self.audit_head_info.clear()
        self.audit_head_info.labels(hash=head_hash).set(1)
        self.audit_broken_row.set(broken_row or 0)

    # -- scrape-time sampling --------------------------------------------------------------

    def add_sampler(self, name: str, sampler: Sampler) -> None:
        """Run ``sampler`` (sync or async) before every scrape; it sets gauges itself."""
        if name in self._samplers:
            raise ValueError(f"a sampler named {name!r} is already registered")
        self._samplers[name] = sampler

    def sample_outbox(self, read: Callable[[], Awaitable[OutboxStats]]) -> None:
        """Read the outbox gauges on scrape through ``read`` (e.g. one SQL query)."""

        async def _sample() -> None:
            self.set_outbox(await read())

        self.add_sampler("outbox", _sample)

    def sample_active_watches(self, read: Callable[[], Awaitable[int]]) -> None:
        """Read the active-watch gauge on scrape through ``read``."""

        async def _sample() -> None:
            self.set_active_watches(await read())

        self.add_sampler("active_watches", _sample)

    async def refresh(self) -> None:
        """Run every sampler concurrently; a failing or slow one is counted and logged, not raised."""
        names = list(self._samplers)
        results = await asyncio.gather(*(self._run_sampler(n) for n in names), return_exceptions=True)
        for name, result in zip(names, results, strict=True):
            if isinstance(result, BaseException):
                self.sampler_errors.labels(sampler=name).inc()
                _log.warning(
                    "metrics sampler failed",
                    extra={"sampler": name, "error": type(result).__name__},
                )

    async def _run_sampler(self, name: str) -> None:
        result = self._samplers[name]()
        if inspect.isawaitable(result):
            async with asyncio.timeout(self._sampler_timeout):
                await result

    def render(self) -> tuple[bytes, str]:
        """The registry in the Prometheus text format, and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def create_metrics(
    *,
    known_verbs: Iterable[str] | None = None,
    process_metrics: bool = True,
    clock: Clock | None = None,
    sampler_timeout: float = DEFAULT_SAMPLER_TIMEOUT,
) -> Metrics:
    """A new :class:`Metrics` on a registry of its own.

    ``known_verbs`` (the grammar's verbs) bounds the ``verb`` label; ``clock`` times VRO
    requests; ``sampler_timeout`` bounds each scrape-time sampler."""
    return Metrics(
        known_verbs=known_verbs, process_metrics=process_metrics, clock=clock, sampler_timeout=sampler_timeout
    )


# -- VRO request instrumentation ----------------------------------------------------------


def vro_operation(method: str, path: str) -> str:
    """``METHOD /Path`` with the ``/api/<version>`` prefix dropped and ids replaced by ``{id}``."""
    path = path.split("?", 1)[0]
    path = _API_PREFIX.sub("", path, count=1) or "/"
    path = _GUID.sub("{id}", path)
    path = _NUMBER_SEGMENT.sub("{id}", path)
    return f"{method.upper()} {path}"


def instrument_httpx(metrics: Metrics, *, clock: Clock | None = None) -> dict[str, list[Callable[..., Any]]]:
    """Event hooks for an ``httpx.AsyncClient`` recording each VRO request's operation, status
    and latency (time to response headers). Pass as ``httpx.AsyncClient(event_hooks=...)``.

    Event hooks never see a request that failed at the transport (connection refused,
    timeout); wrap the transport in :class:`MeteredTransport` instead to count those too.
    """
    timer = clock or metrics.clock
    started: weakref.WeakKeyDictionary[httpx.Request, float] = weakref.WeakKeyDictionary()

    async def on_request(request: httpx.Request) -> None:
        started[request] = timer.monotonic()

    async def on_response(response: httpx.Response) -> None:
        request = response.request
        began = started.pop(request, None)
        elapsed = timer.monotonic() - began if began is not None else 0.0
        metrics.record_vro_request(
            vro_operation(request.method, request.url.path), str(response.status_code), elapsed
        )

    return {"request": [on_request], "response": [on_response]}


class MeteredTransport(httpx.AsyncBaseTransport):
    """An httpx transport wrapper recording every request, including transport failures
    (status ``timeout`` or ``network-error``). Use it where a client takes ``transport=``."""

    def __init__(
        self, inner: httpx.AsyncBaseTransport, *, metrics: Metrics, clock: Clock | None = None
    ) -> None:
        self._inner = inner
        self._metrics = metrics
        self._clock = clock or metrics.clock

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        operation = vro_operation(request.method, request.url.path)
        began = self._clock.monotonic()
        try:
            response = await self._inner.handle_async_request(request)
        except httpx.TimeoutException:
            self._metrics.record_vro_request(operation, "timeout", self._clock.monotonic() - began)
            raise
        except httpx.TransportError:
            self._metrics.record_vro_request(operation, "network-error", self._clock.monotonic() - began)
            raise
        self._metrics.record_vro_request(
            operation, str(response.status_code), self._clock.monotonic() - began
        )
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()
