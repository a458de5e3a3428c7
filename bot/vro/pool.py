"""The VRO client's HTTP transport: httpx's own, with a cheaper check of idle connections.

Before every request, httpcore's pool asks each of its idle keep-alive connections whether the
server closed it meanwhile (``get_extra_info("is_readable")``). Its anyio streams answer by
building the socket's whole attribute table on every call, peer-address lookup included: with
the watcher's eight connections that was about 30 system calls and a third of a millisecond of
CPU per request, a fifth of the watcher's CPU (``bench.watcher_scale`` under cProfile). Here the
stream keeps its socket and answers with one zero-timeout ``poll``, exactly as httpcore itself
decides readability; everything else is passed through.

If a future httpx or httpcore arranges its pool differently, :func:`vro_transport` returns the
stock transport unchanged: only the saving is lost.
"""

from __future__ import annotations

# httpcore's interface names its parameters `timeout`: this module implements that interface.
# ruff: noqa: ASYNC109
import select
import ssl
import typing

import httpcore
import httpx


class _Socket(typing.Protocol):
    """A socket, or asyncio's wrapper of one (what the anyio stream hands out)."""

    def fileno(self) -> int: ...


def _is_readable(sock: _Socket) -> bool:
    """True when ``sock`` has data waiting or was closed by the peer (httpcore's test)."""
    if sock.fileno() == -1:
        return True
    try:
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(0))
    except (OSError, ValueError):  # pragma: no cover - poll() is missing on some platforms
        readable, _, _ = select.select([sock.fileno()], [], [], 0)
        return bool(readable)


class _Stream(httpcore.AsyncNetworkStream):
    """A network stream that remembers its socket for the pool's liveness checks."""

    def __init__(self, inner: httpcore.AsyncNetworkStream, sock: _Socket | None = None) -> None:
        self._inner = inner
        found = sock if sock is not None else inner.get_extra_info("socket")
        self._sock: _Socket | None = found if callable(getattr(found, "fileno", None)) else None

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
            return _is_readable(self._sock)
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


def vro_transport(*, verify: ssl.SSLContext | str | bool) -> httpx.AsyncHTTPTransport:
    """httpx's transport for ``verify``, its pool's idle connections checked cheaply."""
    transport = httpx.AsyncHTTPTransport(verify=verify)
    pool = getattr(transport, "_pool", None)
    inner = getattr(pool, "_network_backend", None)
    if isinstance(pool, httpcore.AsyncConnectionPool) and isinstance(inner, httpcore.AsyncNetworkBackend):
        pool._network_backend = _Backend(inner)
    return transport
