"""The VRO client's transport: pooled connections a server closed are never reused."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import httpx
import pytest

from bot.vro.pool import _Backend, _is_readable, vro_transport


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


def test_a_closed_socket_counts_as_readable() -> None:
    sock = socket.socket()
    sock.close()
    assert _is_readable(sock)


def test_the_transport_checks_its_pooled_connections_through_the_cheap_backend() -> None:
    transport = vro_transport(verify=True)
    assert isinstance(transport._pool._network_backend, _Backend)


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
