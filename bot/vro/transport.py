"""The request core under :class:`~bot.vro.client.VroClient`: version, retries, token, one request.

:class:`VroTransport` owns the httpx client and the :class:`~bot.vro.auth.TokenManager`, and
sends every request the client makes:

* the API version: ``VRO_API_VERSION`` when set, else negotiated (``auto``): the newest of
  :data:`~bot.vro.operations.KNOWN_API_VERSIONS` the server answers, probed with one cheap
  ``GET /Plans?limit=1`` per version on first use, and again after a 404 (or 400, 405, 500)
  when the version in use stops answering (VRO was upgraded);
* :meth:`~VroTransport._send`: one request on that version, with one token renewal after a 401;
  a non-2xx answer raised as a typed error (:mod:`bot.vro.answers`);
* :meth:`~VroTransport._get`: a GET retried on :class:`VroUnavailable` following a
  :class:`RetryPolicy` (waits go through the injected clock); actions are never retried;
* :meth:`~VroTransport._page`: the one way a collection is read (paging, filter, sort, parse).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import random
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, tzinfo
from types import TracebackType
from typing import Any, Final, Self, TypeVar

import httpx
import pydantic

from bot.clock import Clock, SystemClock
from bot.errors import ConfigError
from bot.vro.answers import outcome_unknown, status_error, unavailable, unexpected
from bot.vro.auth import Credentials, TokenManager, transport_problem
from bot.vro.errors import VroError, VroNotAvailable, VroUnavailable, VroUnexpected
from bot.vro.httpclient import VroHttpClient
from bot.vro.operations import (
    AUTO,
    KNOWN_API_VERSIONS,
    ActionSpec,
    newest_first,
    normalize_version,
    not_available_reason,
    product_name,
)
from bot.vro.pool import vro_transport
from bot.vro.request import Op, PageQuery, collection_params

# The client's one logger, whichever of its modules writes: log filters name "bot.vro.client".
log = logging.getLogger("bot.vro.client")

DEFAULT_API_VERSION: Final = AUTO
RECHECK_VERSION_SECONDS: Final = 30.0  # after a 404, re-probe the version in use at most this often
NOT_SERVED_STATUSES: Final = frozenset({400, 404, 405, 500, 501})
"""How servers have been seen to answer a path version they do not serve (the probe's "no")."""
DEFAULT_TIMEOUT_SECONDS: Final = 30.0

DEFAULT_RETRY_ATTEMPTS: Final = 4
DEFAULT_RETRY_INITIAL_SECONDS: Final = 0.5
DEFAULT_RETRY_MULTIPLIER: Final = 2.0
DEFAULT_RETRY_MAX_WAIT_SECONDS: Final = 8.0
DEFAULT_RETRY_JITTER: Final = 0.25
DEFAULT_RETRY_TOTAL_SECONDS: Final = 30.0

M = TypeVar("M", bound=pydantic.BaseModel)


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """How GETs are retried on :class:`VroUnavailable`.

    The n-th wait is ``initial * multiplier**(n-1)``, capped at ``max_wait``, plus up to
    ``jitter`` of itself at random. No more than ``attempts`` tries, and no wait that would take
    the whole call past ``total_seconds``.
    """

    attempts: int = DEFAULT_RETRY_ATTEMPTS
    initial: float = DEFAULT_RETRY_INITIAL_SECONDS
    multiplier: float = DEFAULT_RETRY_MULTIPLIER
    max_wait: float = DEFAULT_RETRY_MAX_WAIT_SECONDS
    jitter: float = DEFAULT_RETRY_JITTER
    total_seconds: float = DEFAULT_RETRY_TOTAL_SECONDS

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("RetryPolicy.attempts must be at least 1")
        if self.initial < 0 or self.max_wait < 0 or self.total_seconds < 0 or not 0 <= self.jitter <= 1:
            raise ValueError("RetryPolicy waits must be >= 0 and jitter within [0, 1]")

    @classmethod
    def never(cls) -> RetryPolicy:
        """One attempt only."""
        return cls(attempts=1)

    def wait(self, retry: int, rand: float) -> float:
        """Seconds to wait before retry number ``retry`` (1-based); ``rand`` is in [0, 1)."""
        base = min(self.max_wait, self.initial * self.multiplier ** (retry - 1))
        return base * (1 + self.jitter * rand)


def tls_verify(*, ca_bundle: str | None, verify_tls: bool) -> ssl.SSLContext | bool:
    """httpx's ``verify`` from ``VRO_CA_BUNDLE`` / ``VRO_VERIFY_TLS``."""
    if ca_bundle:
        try:
            return ssl.create_default_context(cafile=ca_bundle)
        except (OSError, ssl.SSLError):
            raise ConfigError(
                "VRO_CA_BUNDLE: cannot read a CA certificate from that file (PEM expected)"
            ) from None
    return verify_tls


class VroTransport:
    """The connection to one VRO server: its API version, token, retries and requests."""

    def __init__(
        self,
        *,
        base_url: str,
        credentials: Credentials,
        api_version: str = DEFAULT_API_VERSION,
        zone: tzinfo | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        verify: bool | str | ssl.SSLContext = True,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        clock: Clock | None = None,
        retry: RetryPolicy | None = None,
        rng: random.Random | None = None,
        event_hooks: Mapping[str, list[Callable[..., Any]]] | None = None,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        wanted = api_version.strip().strip("/")
        self._fixed_version: str | None = None if wanted.lower() == AUTO else normalize_version(wanted)
        self._negotiated: str | None = None
        self._version_lock = asyncio.Lock()
        self._version_checked_at = -math.inf
        self._zone: tzinfo = zone if zone is not None else UTC
        self._context: dict[str, Any] = {"vro_zone": self._zone}
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._retry = retry if retry is not None else RetryPolicy()
        # Jitter only needs to spread retries, not to be unpredictable.
        self._rng = rng if rng is not None else random.Random()  # noqa: S311
        if isinstance(verify, str):
            verify = tls_verify(ca_bundle=verify, verify_tls=True)
        self._http = VroHttpClient(
            base_url=self._base_url,
            transport=transport if transport is not None else vro_transport(verify=verify),
            verify=verify,
            timeout=timeout,
            headers={"Accept": "application/json"},
            follow_redirects=False,
            event_hooks=dict(event_hooks) if event_hooks else None,
        )
        self._tokens = TokenManager(http=self._http, credentials=credentials, clock=self._clock)

    def __repr__(self) -> str:
        return f"VroClient(base_url={self._base_url!r}, api_version={self.api_version or AUTO!r})"

    # --- the API version ----------------------------------------------------------------------

    @property
    def api_version(self) -> str | None:
        """The path version in use (``v13.1``); ``None`` while ``auto`` has not probed yet."""
        return self._fixed_version or self._negotiated

    @property
    def negotiates(self) -> bool:
        """True when ``VRO_API_VERSION=auto``: the version follows what the server answers."""
        return self._fixed_version is None

    @property
    def zone(self) -> tzinfo:
        """``VRO_TIMEZONE``: the zone of the offset-less times VRO reads and writes."""
        return self._zone

    async def negotiate(self) -> str:
        """The version in use, probing the server first if ``auto`` has not yet (start-up)."""
        if self._fixed_version is not None:
            return self._fixed_version
        if self._negotiated is not None:
            return self._negotiated
        async with self._version_lock:
            if self._negotiated is None:
                self._negotiated = await self._probe_newest()
            return self._negotiated

    async def check_available(self, spec: ActionSpec) -> None:
        """:class:`VroNotAvailable` (nothing sent) if the server's version lacks ``spec``."""
        version = await self.negotiate()
        reason = not_available_reason(spec, version)
        if reason is not None:
            raise VroNotAvailable(
                reason, method=spec.wire_for(version).method, path=spec.wire_for(version).path
            )

    async def _probe_newest(self) -> str:
        failure: VroError | None = None
        for version in newest_first(list(KNOWN_API_VERSIONS)):
            served, error = await self._answers(version)
            if served:
                log.info("VRO answers REST API %s (%s); using it", version, product_name(version))
                return version
            if error is not None:
                failure = error
        if failure is not None:
            raise failure  # VRO's own error (HTTP 5xx) for every version: VRO is in trouble
        known = ", ".join(KNOWN_API_VERSIONS)
        raise VroUnexpected(
            f"VRO answers none of the REST API versions the bot speaks ({known}). "
            "Check VRO_URL points at the Orchestrator server (port 9898 by default).",
            method="GET",
            path="/api/{version}/Plans",
        )

    async def _answers(self, version: str) -> tuple[bool, VroError | None]:
        """Does the server serve ``version``? A cheap ``GET /Plans?limit=1`` tells.

        VRO documents only 200, 400, 401 and 500, and says nothing of unknown paths: a version it
        does not serve may come back 404 ("No HTTP resource was found ..."), 400, 405 or 500, and
        a web front end may answer 200 with a page. Only a JSON object means "served". A 401 (after
        one renewal), 429, 502-504 and a network failure are raised: they say nothing of versions.
        The second value is the error a 5xx answer would raise, for when no version is served.
        """
        op = Op("GET", ("Plans",), target="the plans").on(version)
        response = await self._exchange(op, params={"limit": "1"}, json_body=None, authorized=True)
        if response.is_success:
            return _json_object(response), None
        if response.status_code in NOT_SERVED_STATUSES:
            error = status_error(op, response, renewed=True)
            return False, error if response.status_code >= 500 else None
        raise status_error(op, response, renewed=True)

    async def _version_gone(self, version: str) -> bool:
        """After a 404 (or 400, 405, 500) in ``auto`` mode: has the server stopped serving ``version``?

        Re-probes at most every :data:`RECHECK_VERSION_SECONDS`, so a watched plan that was
        deleted (or an action VRO refuses with a 500) does not cost a probe per request; when the
        version is gone, negotiates afresh. When the check itself fails, the version stays and
        the answer that prompted it stands.
        """
        now = self._clock.monotonic()
        if now - self._version_checked_at < RECHECK_VERSION_SECONDS:
            return False
        async with self._version_lock:
            if self._negotiated != version:
                return True  # someone renegotiated meanwhile
            self._version_checked_at = self._clock.monotonic()
            try:
                if (await self._answers(version))[0]:
                    return False
                log.warning("VRO stopped answering REST API %s; negotiating again", version)
                self._negotiated = await self._probe_newest()
            except VroError as exc:
                log.warning("VRO: could not check REST API %s (%s); keeping it", version, type(exc).__name__)
                return False
            return True

    async def aclose(self) -> None:
        await self._http.aclose()

    async def ensure_token(self) -> None:
        """Obtain (or reuse) an access token: the readiness probe's "VRO accepts our credentials"."""
        await self._tokens.access_token()
        await self.negotiate()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # --- sending ---------------------------------------------------------------------------

    def _parse(self, model: type[M], response: httpx.Response, op: Op) -> M:
        try:
            return model.model_validate_json(response.content, context=self._context)
        except pydantic.ValidationError as exc:
            raise unexpected(op.on(op.version or self.api_version or ""), response, exc) from None

    async def _one(self, model: type[M], op: Op) -> M:
        """One object: a retried GET, a parse."""
        return self._parse(model, await self._get(op), op)

    async def _page(
        self, model: type[M], op: Op, query: PageQuery, extra: Mapping[str, str] | None = None
    ) -> M:
        """One page of a collection: the paging / filter / sort parameters, a retried GET, a parse."""
        params = collection_params(query)
        if extra:
            params.update(extra)
        response = await self._get(op, params)
        return self._parse(model, response, op)

    async def _get(self, op: Op, params: Mapping[str, str] | None = None) -> httpx.Response:
        """A GET, retried on :class:`VroUnavailable` within the retry policy."""
        started = self._clock.monotonic()
        attempt = 1
        while True:
            try:
                return await self._send(op, params=params)
            except VroUnavailable as exc:
                wait = self._retry.wait(attempt, self._rng.random())
                elapsed = self._clock.monotonic() - started
                if attempt >= self._retry.attempts or elapsed + wait > self._retry.total_seconds:
                    if attempt == 1:
                        raise
                    raise VroUnavailable(
                        f"{exc.message} (tried {attempt} times)",
                        method=exc.method,
                        path=exc.path,
                        status=exc.status,
                        vro_message=exc.vro_message,
                    ) from None
                log.warning(
                    "VRO unavailable for %s %s (attempt %d); retrying in %.2fs",
                    exc.method,
                    exc.path,
                    attempt,
                    wait,
                )
                await self._clock.sleep(wait)
                attempt += 1

    async def _send(
        self,
        op: Op,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Mapping[str, Any] | None = None,
        authorized: bool = True,
    ) -> httpx.Response:
        """One request on the version in use; a 2xx response or a typed error.

        In ``auto`` mode a 404 (or 400, 405, 500) makes the client check that the server still
        serves the version in use; if VRO was upgraded meanwhile, the request is made once more on
        the new version: a read always, an action only after a 4xx (nothing was done), never
        after a 5xx (VRO may have begun it).
        """
        version = await self.negotiate()
        sent = op.on(version)
        response = await self._exchange(sent, params=params, json_body=json_body, authorized=authorized)
        status = response.status_code
        gone = status in NOT_SERVED_STATUSES and self.negotiates and await self._version_gone(version)
        # A 5xx may come from an action VRO began: only a read, or a routing 4xx, goes again.
        if gone and (op.action is None or status < 500):
            sent = op.on(await self.negotiate())
            response = await self._exchange(sent, params=params, json_body=json_body, authorized=authorized)
        if response.is_success:
            return response
        raise status_error(sent, response, renewed=authorized, fixed=not self.negotiates)

    async def _exchange(
        self,
        op: Op,
        *,
        params: Mapping[str, str] | None,
        json_body: Mapping[str, Any] | None,
        authorized: bool,
    ) -> httpx.Response:
        """One request plus one renewal of the token after a 401."""
        token = await self._tokens.access_token() if authorized else None
        response = await self._transmit(op, token, params, json_body)
        if response.status_code == 401 and token is not None:
            token = await self._tokens.token_rejected(token)
            response = await self._transmit(op, token, params, json_body)
        return response

    async def _transmit(
        self,
        op: Op,
        token: str | None,
        params: Mapping[str, str] | None,
        json_body: Mapping[str, Any] | None,
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else None
        try:
            return await self._http.request(
                op.method,
                _url(self._base_url, op.path, tuple(params.items()) if params else ()),
                json=dict(json_body) if json_body is not None else None,
                headers=headers,
            )
        except httpx.TransportError as exc:
            if op.action is not None:
                # The request may have reached VRO: only a person who looked may send it again.
                raise outcome_unknown(op, transport_problem(exc)) from None
            raise unavailable(op, transport_problem(exc), None, None) from None


def _json_object(response: httpx.Response) -> bool:
    """Whether ``response`` carries a JSON object (VRO's answers do; a web page does not)."""
    try:
        return isinstance(response.json(), dict)
    except ValueError:
        return False


@functools.lru_cache(maxsize=4096)
def _url(base_url: str, path: str, params: tuple[tuple[str, str], ...]) -> httpx.URL:
    """The absolute URL of a request, parsed once: a watcher asks for the same few hundred URLs
    again and again, and httpx would otherwise parse and merge each one on every request."""
    return httpx.URL(base_url + path, params=params or None)
