"""``vro-bot simulator`` as its own process: it serves as soon as it says where, and a signal
stops it with exit status 0 (a harness stopping it must not read a crash)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import httpx
import pytest

from tests.cli.test_run import free_port


@pytest.mark.slow
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_the_simulator_serves_once_it_prints_its_address_and_exits_0_on_a_signal(
    stop: signal.Signals,
) -> None:
    port = free_port()
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and fixed arguments
        [sys.executable, "-m", "bot.cli", "simulator", "--port", str(port)],
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        assert f"VRO simulator on http://127.0.0.1:{port}" in banner, banner
        answer = httpx.post(
            f"http://127.0.0.1:{port}/api/token",
            data={"grant_type": "password", "username": "nobody", "password": "wrong"},
            timeout=10,
        )
        assert answer.status_code in (400, 401)  # it answers: a refusal, not a refused connection
        process.send_signal(stop)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
