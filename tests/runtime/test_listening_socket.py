"""`vro-bot run` logs "listening on" only once a connection would wait in the backlog.

uvicorn's ``bind_socket`` binds without listening, and its server listens only once its task
has started: a probe that read the log line and connected at once was refused (seen in CI as a
flaky ``ConnectError`` on ``/readyz`` right after "listening on").
"""

from __future__ import annotations

import socket

import pytest
from starlette.applications import Starlette

from bot.observability.health import ListenError, health_server, listening_socket


def test_a_connection_made_before_the_server_runs_waits_in_the_backlog() -> None:
    server = health_server(Starlette(), host="127.0.0.1", port=0)
    sock = listening_socket(server)
    try:
        port = sock.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass  # accepted by the kernel into the backlog: no server task has run
    finally:
        sock.close()


def test_a_port_in_use_is_a_listen_error_naming_the_address_not_an_exit() -> None:
    """uvicorn exits the process (status 3) when it cannot bind; `run` needs to close what it
    started and say which listener failed."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = health_server(Starlette(), host="127.0.0.1", port=port)
        with pytest.raises(ListenError, match=f"cannot listen on 127.0.0.1:{port}: Address already in use"):
            listening_socket(server)
