"""`vro-bot run` logs "listening on" only once a connection would wait in the backlog.

uvicorn's ``bind_socket`` binds without listening, and its server listens only once its task
has started: a probe that read the log line and connected at once was refused (seen in CI as a
flaky ``ConnectError`` on ``/readyz`` right after "listening on").
"""

from __future__ import annotations

import socket

from starlette.applications import Starlette

from bot.observability.health import health_server
from bot.runtime.serve import listening_socket


def test_a_connection_made_before_the_server_runs_waits_in_the_backlog() -> None:
    server = health_server(Starlette(), host="127.0.0.1", port=0)
    sock = listening_socket(server)
    try:
        port = sock.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass  # accepted by the kernel into the backlog: no server task has run
    finally:
        sock.close()
