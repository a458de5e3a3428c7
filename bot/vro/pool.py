"""The VRO client's HTTP transport: httpx's own, with a cheaper connection pool.

Before every request, and after every response, httpcore's pool walks its connections: it asks
each idle keep-alive connection whether the server closed it meanwhile
(``get_extra_info("is_readable")``), and looks for one free to take the next request. With the
watcher's eight connections that was a tenth of the CPU of a RuntimeDetails GET
(``bench.vro_requests`` under py-spy), for three reasons fixed here:

* its anyio streams answered ``is_readable`` by building the socket's whole attribute table,
  peer-address lookup included, and a fresh ``select.poll`` registration: here the stream keeps
  its socket and one ``poll`` object registered once, and answers with one zero-timeout ``poll``,
  exactly as httpcore itself decides readability;
* its bookkeeping counted idle connections with a list built once per idle connection (quadratic
  in the pool's size) and built two candidate lists per queued request: :class:`_Pool` makes the
  same decisions, in the same order, without them;
* it opened an anyio cancellation shield (a task lookup and a cancel scope) to close the
  connections it dropped, also when it dropped none: :class:`_Pool` skips an empty list.

If a future httpx or httpcore arranges its pool differently, :func:`vro_transport` leaves the
part it cannot apply as stock: only the saving is lost.
"""

from __future__ import annotations

# httpcore's interface names its parameters `timeout`: this module implements that interface.
# ruff: noqa: ASYNC109
import select
import ssl
import typing
from typing import Final

import httpcore
import httpx


class _Socket(typing.Protocol):
    """A socket, or asyncio's wrapper of one (what the anyio stream hands out)."""

    def fileno(self) -> int: ...


def _is_readable(sock: _Socket, poller: select.poll | None = None) -> bool:
    """True when ``sock`` has data waiting or was closed by the peer (httpcore's test).

    ``poller``, when given, already has ``sock`` registered for ``POLLIN``.
    """
    if sock.fileno() == -1:
        return True
    try:
        if poller is None:
            poller = select.poll()
            poller.register(sock, select.POLLIN)
        return bool(poller.poll(0))
    except (OSError, ValueError):  # pragma: no cover - poll() is missing on some platforms
        readable, _, _ = select.select([sock.fileno()], [], [], 0)
        return bool(readable)


def _poller_of(sock: _Socket | None) -> select.poll | None:
    """A ``poll`` object watching ``sock`` for input, made once per connection; ``None`` if the
    platform has no ``poll`` (then :func:`_is_readable` builds its own test each time)."""
    if sock is None or sock.fileno() == -1:
        return None
    try:
        poller = select.poll()
        poller.register(sock, select.POLLIN)
    except (AttributeError, OSError, ValueError):  # pragma: no cover - no poll() on this platform
        return None
    return poller


class _Stream(httpcore.AsyncNetworkStream):
    """A network stream that remembers its socket for the pool's liveness checks."""

    def __init__(self, inner: httpcore.AsyncNetworkStream, sock: _Socket | None = None) -> None:
        self._inner = inner
        found = sock if sock is not None else inner.get_extra_info("socket")
        self._sock: _Socket | None = found if callable(getattr(found, "fileno", None)) else None
        # Registered once: the pool asks every idle connection before every request.
        self._poller = _poller_of(self._sock)

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        # TLS runs over the same TCP socket, and httpcore judges readability on that socket.
        inner = await self._inner.start_tls(ssl_context, server_hostname, timeout)
        return _Stream(inner, self._sock)

    def get_extra_info(self, info: str) -> typing.Any:
        if info == "is_readable" and self._sock is not None:
            return _is_readable(self._sock, self._poller)
        return self._inner.get_extra_info(info)


class _Backend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, its streams wrapped in :class:`_Stream`."""

    def __init__(self, inner: httpcore.AsyncNetworkBackend) -> None:
        self._inner = inner

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return _Stream(
            await self._inner.connect_tcp(
                host, port, timeout=timeout, local_address=local_address, socket_options=socket_options
            )
        )

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return _Stream(
            await self._inner.connect_unix_socket(path, timeout=timeout, socket_options=socket_options)
        )

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _Pool(httpcore.AsyncConnectionPool):
    """httpcore 1.0's connection pool, its bookkeeping without the quadratic and empty work.

    :meth:`_assign_requests_to_connections` is httpcore 1.0's, decision for decision: drop closed
    connections, close expired ones and idle ones beyond the keep-alive limit (httpcore compares
    the number of *all* connections with that limit; so does this), then give each queued request
    the first connection able to take it, else a new connection, else the place of the first idle
    one. Only installed on the httpcore versions it was written from (:data:`_POOL_VERSIONS`).
    """

    def _assign_requests_to_connections(self) -> list[httpcore.AsyncConnectionInterface]:
        closing: list[httpcore.AsyncConnectionInterface] = []
        connections = self._connections
        for connection in list(connections):
            if connection.is_closed():
                connections.remove(connection)
            elif connection.has_expired() or (
                connection.is_idle() and len(connections) > self._max_keepalive_connections
            ):
                connections.remove(connection)
                closing.append(connection)

        for pool_request in [request for request in self._requests if request.is_queued()]:
            origin = pool_request.request.url.origin
            chosen = next((c for c in connections if c.can_handle_request(origin) and c.is_available()), None)
            if chosen is None:
                if len(connections) >= self._max_connections:
                    idle = next((c for c in connections if c.is_idle()), None)
                    if idle is None:
                        continue  # the request waits for a connection to come free
                    connections.remove(idle)
                    closing.append(idle)
                chosen = self.create_connection(origin)
                connections.append(chosen)
            pool_request.assign_to_connection(chosen)
        return closing

    async def _close_connections(self, closing: list[httpcore.AsyncConnectionInterface]) -> None:
        if closing:
            await super()._close_connections(closing)


# The httpcore releases whose pool _Pool reproduces (their _assign_requests_to_connections is the
# same); on any other, the stock pool runs.
_POOL_VERSIONS: Final = ("1.0.",)
_POOL_ATTRIBUTES: Final = ("_connections", "_requests", "_max_connections", "_max_keepalive_connections")


def vro_transport(*, verify: ssl.SSLContext | str | bool) -> httpx.AsyncHTTPTransport:
    """httpx's transport for ``verify``, its pool's connections checked and assigned cheaply."""
    transport = httpx.AsyncHTTPTransport(verify=verify)
    pool = getattr(transport, "_pool", None)
    inner = getattr(pool, "_network_backend", None)
    if isinstance(pool, httpcore.AsyncConnectionPool) and isinstance(inner, httpcore.AsyncNetworkBackend):
        pool._network_backend = _Backend(inner)
    if (
        type(pool) is httpcore.AsyncConnectionPool
        and httpcore.__version__.startswith(_POOL_VERSIONS)
        and all(hasattr(pool, name) for name in _POOL_ATTRIBUTES)
        and all(
            callable(getattr(httpcore.AsyncConnectionPool, name, None))
            for name in ("_assign_requests_to_connections", "_close_connections")
        )
    ):
        pool.__class__ = _Pool  # the same object and state; only the two methods above differ
    return transport
