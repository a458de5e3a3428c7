"""``vro-bot run`` refuses a bad configuration before it starts anything."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import httpx
import pytest

from bot.cli import main
from bot.clock import SystemClock
from bot.migrate import upgrade
from bot.sandbox.server import create_sandbox, serve_asgi, serve_sandbox
from bot.simulator.app import DEFAULT_PASSWORD, DEFAULT_USERNAME, create_simulator
from tests.cli.conftest import SetEnv


def run_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A complete configuration whose database cannot be opened and whose VRO does not listen:
    if ``run`` got as far as starting, it would fail on those instead of on what the test checks."""
    return {
        "SLACK_BOT_TOKEN": "xoxb-cli-run",
        "SLACK_SIGNING_SECRET": "cli-run-signing-secret",
        "SLACK_API_URL": "http://127.0.0.1:9/api/",
        "VRO_URL": "http://127.0.0.1:9",
        "VRO_USERNAME": "vro-bot",
        "VRO_PASSWORD": "cli-run-password",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'no-such-folder' / 'bot.db'}",
        "VRO_BOT_HTTP_HOST": "127.0.0.1",
        **extra,
    }


@pytest.mark.parametrize(
    ("policy", "problem"),
    [
        ("roles:\n  viewer: {users: ['*']}\nactoins: {}\n", "actoins: unknown key"),
        ("actions:\n  failovr: {approvals: 2}\n", "actions.failovr: unknown verb"),
        ("defaults: {approvals: -1}\n", "defaults.approvals: must be at least 0"),
        ("roles: [\n", "not valid YAML"),
        (None, "cannot read it"),
    ],
)
def test_run_with_an_invalid_policy_exits_2_naming_the_problem(
    cli_env: SetEnv, tmp_path: Path, capsys: pytest.CaptureFixture[str], policy: str | None, problem: str
) -> None:
    path = tmp_path / "policy.yml"
    if policy is not None:
        path.write_text(policy, encoding="utf-8")
    cli_env(run_env(tmp_path, VRO_BOT_POLICY=str(path)))

    assert main(["run"]) == 2

    captured = capsys.readouterr()
    assert captured.err.startswith(f"vro-bot: policy file {path}: ")
    assert problem in captured.err
    assert "Traceback" not in captured.err
    assert captured.out == ""  # no log line: nothing was started


def test_run_names_every_missing_variable(
    cli_env: SetEnv, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = run_env(tmp_path)
    del env["VRO_URL"], env["SLACK_SIGNING_SECRET"]
    cli_env(env)
    assert main(["run"]) == 2
    err = capsys.readouterr().err
    assert "SLACK_SIGNING_SECRET" in err
    assert "VRO_URL" in err


# --- a real process: Socket Mode with an app token Slack refuses ------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LogWatcher:
    """Reads a process's output on a thread; ``wait_for(text)`` blocks until a line holds it."""

    def __init__(self, stream: IO[str]) -> None:
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()

    def wait_for(self, text: str, *, within_seconds: float = 60.0) -> str:
        with self._changed:
            found = self._changed.wait_for(
                lambda: any(text in line for line in self.lines), timeout=within_seconds
            )
        assert found, f"no log line with {text!r}:\n" + "".join(self.lines[-40:])
        return next(line for line in self.lines if text in line)

    def join(self) -> None:
        """Wait until the process's output has been read to its end."""
        self._thread.join(timeout=30)

    @property
    def text(self) -> str:
        with self._changed:
            return "".join(self.lines)


@contextlib.contextmanager
def bot_process(env: dict[str, str]) -> Iterator[tuple[subprocess.Popen[str], LogWatcher]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "run"],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    watcher = LogWatcher(process.stdout)
    try:
        yield process, watcher
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        watcher.join()
        process.stdout.close()


@pytest.fixture
def loopback(tmp_path: Path) -> Iterator[dict[str, str]]:
    """The simulator and a sandbox (which accepts no app token) on loopback, and a migrated database."""
    database_url = f"sqlite:///{tmp_path / 'bot.db'}"
    upgrade(database_url)
    sandbox = create_sandbox(tokens=frozenset({"xoxb-cli-run"}), app_tokens=frozenset({"xapp-the-right-one"}))
    with serve_asgi(create_simulator(clock=SystemClock())) as vro_url, serve_sandbox(sandbox) as running:
        yield {
            "SLACK_BOT_TOKEN": "xoxb-cli-run",
            "SLACK_API_URL": running.api_url,
            "VRO_URL": vro_url,
            "VRO_USERNAME": DEFAULT_USERNAME,
            "VRO_PASSWORD": DEFAULT_PASSWORD,
            "DATABASE_URL": database_url,
            "VRO_BOT_HTTP_HOST": "127.0.0.1",
            "VRO_BOT_HTTP_PORT": str(free_port()),
            "VRO_BOT_LOG_FORMAT": "json",
        }


@pytest.mark.slow
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_run_stops_on_a_signal_while_retrying_a_refused_app_token(
    loopback: dict[str, str], stop: signal.Signals
) -> None:
    env = {**loopback, "SLACK_APP_TOKEN": "xapp-revoked-app-token"}
    with bot_process(env) as (process, log):
        log.wait_for("Slack refused the app token (invalid_auth)")
        ready = httpx.get(f"http://127.0.0.1:{env['VRO_BOT_HTTP_PORT']}/readyz", timeout=10)
        assert ready.status_code == 503
        assert ready.json()["failed"] == ["slack"]
        assert "Slack refused the app token" in ready.json()["checks"]["slack"]["error"]

        process.send_signal(stop)
        code = process.wait(timeout=30)

    assert code == 0, log.text[-3000:]
    assert "Traceback" not in log.text
    assert "xapp-revoked-app-token" not in log.text


@pytest.mark.slow
def test_run_in_http_mode_stops_on_sigterm(loopback: dict[str, str]) -> None:
    env = {**loopback, "SLACK_SIGNING_SECRET": "cli-run-signing-secret"}
    with bot_process(env) as (process, log):
        log.wait_for("listening on 127.0.0.1")
        ready = httpx.get(f"http://127.0.0.1:{env['VRO_BOT_HTTP_PORT']}/readyz", timeout=10)
        assert ready.status_code == 200, ready.text

        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=30)

    assert code == 0, log.text[-3000:]
    assert "Traceback" not in log.text


@pytest.mark.slow
def test_run_stops_on_sigterm_while_starting_up_against_a_slack_that_never_answers(
    loopback: dict[str, str],
) -> None:
    """Start-up asks Slack who the bot is; a Slack that takes the connection and never answers
    must not hold a SIGTERM until its timeout."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        env = {
            **loopback,
            "SLACK_SIGNING_SECRET": "cli-run-signing-secret",
            "SLACK_API_URL": f"http://127.0.0.1:{silent.getsockname()[1]}/api/",
        }
        with bot_process(env) as (process, log):
            silent.settimeout(60)
            connection, _ = silent.accept()  # the bot is now waiting on Slack
            with connection:
                process.send_signal(signal.SIGTERM)
                code = process.wait(timeout=30)

    assert code == 0, log.text[-3000:]
    assert "stopping while starting up" in log.text


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="a named pipe holds the start-up")
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_run_exits_0_on_a_signal_before_its_event_loop_runs(
    loopback: dict[str, str], tmp_path: Path, stop: signal.Signals
) -> None:
    """A SIGTERM or SIGINT during start-up, before the event loop is there to take it, still stops the bot
    cleanly: here the policy file is a named pipe, so start-up waits while reading it."""
    policy = tmp_path / "policy.yml"
    os.mkfifo(policy)
    env = {**loopback, "SLACK_SIGNING_SECRET": "cli-run-signing-secret", "VRO_BOT_POLICY": str(policy)}
    writer: list[IO[str]] = []
    with bot_process(env) as (process, log):
        # Opening the pipe to write returns once the bot has opened it to read; it then waits
        # for the policy's text, which never comes.
        opening = threading.Thread(target=lambda: writer.append(open(policy, "w")))  # noqa: SIM115
        opening.start()
        opening.join(timeout=60)
        assert writer, log.text[-3000:]
        with writer[0]:
            process.send_signal(stop)
            code = process.wait(timeout=30)

    assert code == 0, log.text[-3000:]
    assert "listening on" not in log.text
    assert "Traceback" not in log.text
