"""The VRO client's transport: pooled connections a server closed are never reused, and its pool
hands out, keeps and closes connections exactly as httpcore's own pool does."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable

import httpcore
import httpx
import pytest

from bot.vro.pool import _Backend, _is_readable, _poller_of, _Pool, _Stream, vro_transport


def test_an_idle_socket_is_not_readable_until_data_comes_or_the_peer_closes() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        assert not _is_readable(ours)
        theirs.sendall(b"x")
        assert _is_readable(ours)
        ours.recv(1)
        assert not _is_readable(ours)
        theirs.close()
        assert _is_readable(ours)  # the peer hung up: the connection must not be reused


def test_a_poller_made_once_sees_data_and_the_peer_hanging_up_on_every_later_check() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        poller = _poller_of(ours)
        assert poller is not None
        assert not _is_readable(ours, poller)
        assert not _is_readable(ours, poller)
        theirs.sendall(b"x")
        assert _is_readable(ours, poller)
        ours.recv(1)
        assert not _is_readable(ours, poller)
        theirs.close()
        assert _is_readable(ours, poller)


class SocketOnly(httpcore.AsyncNetworkStream):
    """An inner stream that only hands out its socket (what the pooled stream wraps)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def get_extra_info(self, info: str) -> object:
        return self.sock if info == "socket" else None


def test_the_pooled_stream_reports_a_connection_the_server_closed_as_readable() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        stream = _Stream(SocketOnly(ours))
        assert stream.get_extra_info("is_readable") is False
        theirs.close()
        assert stream.get_extra_info("is_readable") is True
        ours.close()  # and once our side is closed too (its descriptor number may be reused)
        assert stream.get_extra_info("is_readable") is True


def test_a_socket_closed_before_the_stream_was_made_counts_as_readable() -> None:
    sock = socket.socket()
    sock.close()
    assert _poller_of(sock) is None
    assert _Stream(SocketOnly(sock)).get_extra_info("is_readable") is True


def test_a_closed_socket_counts_as_readable() -> None:
    sock = socket.socket()
    sock.close()
    assert _is_readable(sock)


def test_the_transport_checks_its_pooled_connections_through_the_cheap_backend() -> None:
    transport = vro_transport(verify=True)
    assert isinstance(transport._pool._network_backend, _Backend)
    assert type(transport._pool) is _Pool


def test_on_an_httpcore_it_was_not_written_from_the_stock_pool_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(httpcore, "__version__", "2.0.0")
    transport = vro_transport(verify=True)
    assert type(transport._pool) is httpcore.AsyncConnectionPool
    assert isinstance(transport._pool._network_backend, _Backend)  # the cheap check still applies


class OneAnswerServer:
    """An HTTP/1.1 server that answers one request per connection with keep-alive, then hangs up
    (as a load balancer dropping idle connections does)."""

    def __init__(self) -> None:
        self.connections = 0
        self.hang_up = asyncio.Event()
        self.hung_up = asyncio.Event()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok")
        await writer.drain()
        await self.hang_up.wait()  # the client has put the connection back in its pool
        writer.close()
        await writer.wait_closed()
        self.hung_up.set()


@pytest.fixture
async def server() -> AsyncIterator[tuple[OneAnswerServer, int]]:
    handler = OneAnswerServer()
    listening = await asyncio.start_server(handler.handle, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    async with listening:
        yield handler, port


async def test_a_connection_the_server_closed_while_idle_is_replaced_not_reused(
    server: tuple[OneAnswerServer, int],
) -> None:
    handler, port = server
    async with httpx.AsyncClient(transport=vro_transport(verify=True)) as client:
        first = await client.get(f"http://127.0.0.1:{port}/api/v7/Plans")
        handler.hang_up.set()
        await handler.hung_up.wait()  # the server has hung up the idle kept-alive connection
        second = await client.get(f"http://127.0.0.1:{port}/api/v7/Plans")
    assert (first.text, second.text) == ("ok", "ok")
    assert handler.connections == 2


# --- the pool's bookkeeping: the same decisions as httpcore's own pool ------------------------

POOLS = [httpcore.AsyncConnectionPool, _Pool]


class KeepAliveServer:
    """An HTTP/1.1 server that keeps connections alive; each answer waits for ``release``."""

    def __init__(self) -> None:
        self.connections = 0
        self.closed = 0
        self.waiting = 0
        self.release = asyncio.Event()
        self.release.set()
        self.changed = asyncio.Event()
        self.port = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                self.waiting += 1
                self.changed.set()
                await self.release.wait()
                self.waiting -= 1
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            self.closed += 1
            self.changed.set()
        writer.close()

    async def until(self, done: Callable[[], bool]) -> None:
        """Returns once ``done()`` holds (checked whenever a request or a hang-up arrives).

        The deadline only turns a pool that never gets there into a failure instead of a hang."""
        async with asyncio.timeout(30):
            while not done():
                self.changed.clear()
                await self.changed.wait()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v7/Plans"


@pytest.fixture
async def servers() -> AsyncIterator[tuple[KeepAliveServer, KeepAliveServer]]:
    first, second = KeepAliveServer(), KeepAliveServer()
    async with (
        await asyncio.start_server(first.handle, "127.0.0.1", 0) as one,
        await asyncio.start_server(second.handle, "127.0.0.1", 0) as two,
    ):
        first.port = one.sockets[0].getsockname()[1]
        second.port = two.sockets[0].getsockname()[1]
        yield first, second


async def get_all(
    pool: httpcore.AsyncConnectionPool, urls: list[str], server: KeepAliveServer, *, at_once: int
) -> list[bytes]:
    """The bodies of concurrent GETs of ``urls``; none is answered before ``at_once`` of them
    have reached the server (the others wait in the pool)."""
    server.release.clear()
    pending = [asyncio.create_task(pool.request("GET", url)) for url in urls]
    await server.until(lambda: server.waiting == at_once)
    server.release.set()
    async with asyncio.timeout(30):  # a request the pool never serves fails instead of hanging
        return [response.content for response in await asyncio.gather(*pending)]


@pytest.mark.parametrize("pool_class", POOLS)
async def test_concurrent_requests_each_get_a_connection_and_the_next_ones_reuse_them(
    servers: tuple[KeepAliveServer, KeepAliveServer], pool_class: type[httpcore.AsyncConnectionPool]
) -> None:
    server, _ = servers
    async with pool_class(max_connections=10) as pool:
        assert await get_all(pool, [server.url] * 8, server, at_once=8) == [b"ok"] * 8
        assert await get_all(pool, [server.url] * 8, server, at_once=8) == [b"ok"] * 8
        idle = [c for c in pool.connections if c.is_idle()]
    assert (server.connections, len(idle)) == (8, 8)


@pytest.mark.parametrize("pool_class", POOLS)
async def test_requests_beyond_the_connection_limit_wait_for_a_connection_to_come_free(
    servers: tuple[KeepAliveServer, KeepAliveServer], pool_class: type[httpcore.AsyncConnectionPool]
) -> None:
    server, _ = servers
    async with pool_class(max_connections=2) as pool:
        assert await get_all(pool, [server.url] * 5, server, at_once=2) == [b"ok"] * 5
        assert len(pool.connections) == 2
    assert server.connections == 2


@pytest.mark.parametrize("pool_class", POOLS)
async def test_idle_connections_beyond_the_keepalive_limit_are_closed(
    servers: tuple[KeepAliveServer, KeepAliveServer], pool_class: type[httpcore.AsyncConnectionPool]
) -> None:
    server, _ = servers
    async with pool_class(max_connections=10, max_keepalive_connections=1) as pool:
        assert await get_all(pool, [server.url] * 3, server, at_once=3) == [b"ok"] * 3
        kept = len(pool.connections)
        await server.until(lambda: server.closed == 2)  # the pool hung up the two surplus ones
    assert (server.connections, kept, server.closed) == (3, 1, 2)


@pytest.mark.parametrize("pool_class", POOLS)
async def test_a_full_pool_closes_an_idle_connection_to_make_room_for_another_server(
    servers: tuple[KeepAliveServer, KeepAliveServer], pool_class: type[httpcore.AsyncConnectionPool]
) -> None:
    first, second = servers
    async with pool_class(max_connections=1) as pool, asyncio.timeout(30):
        assert (await pool.request("GET", first.url)).content == b"ok"
        assert (await pool.request("GET", second.url)).content == b"ok"
        origins = [c._origin.port for c in pool.connections]  # type: ignore[attr-defined]
        await first.until(lambda: first.closed == 1)  # the pool hung up on the first server
    assert (first.connections, first.closed, second.connections, origins) == (1, 1, 1, [second.port])
