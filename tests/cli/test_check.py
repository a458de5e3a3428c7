"""``vro-bot check``: a verdict per dependency, naming what is wrong and what to do."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.cli import main
from bot.clock import SystemClock
from bot.migrate import upgrade
from bot.sandbox.server import create_sandbox, serve_asgi, serve_sandbox
from bot.simulator.app import DEFAULT_PASSWORD, DEFAULT_USERNAME, create_simulator
from tests.cli.conftest import SetEnv

BOT_TOKEN = "xoxb-cli-check"
APP_TOKEN = "xapp-cli-check"
WRONG_PASSWORD = "not-the-vro-password-7f3a"


@dataclass(frozen=True)
class Served:
    """VRO (the simulator) and Slack (the sandbox) on loopback, and a migrated database."""

    vro_url: str
    slack_api_url: str
    database_url: str

    def env(self, **overrides: str) -> dict[str, str]:
        values = {
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": "cli-check-signing-secret",
            "SLACK_API_URL": self.slack_api_url,
            "VRO_URL": self.vro_url,
            "VRO_USERNAME": DEFAULT_USERNAME,
            "VRO_PASSWORD": DEFAULT_PASSWORD,
            "DATABASE_URL": self.database_url,
        }
        values.update(overrides)
        return {k: v for k, v in values.items() if v}


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    database_url = f"sqlite:///{tmp_path / 'bot.db'}"
    upgrade(database_url)
    sim = create_simulator(clock=SystemClock())
    sandbox = create_sandbox(tokens=frozenset({BOT_TOKEN}), app_tokens=frozenset({APP_TOKEN}))
    with serve_asgi(sim) as vro_url, serve_sandbox(sandbox) as running:
        yield Served(vro_url=vro_url, slack_api_url=running.api_url, database_url=database_url)


def test_check_passes_when_every_dependency_answers(
    cli_env: SetEnv, served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    cli_env(served.env())
    assert main(["check"]) == 0
    out = capsys.readouterr().out
    assert "All 5 checks passed" in out
    assert "credentials accepted" in out
    assert "REST API v13.2 (VRO 13.2), negotiated (VRO_API_VERSION=auto)" in out


def test_check_names_the_missing_variable(
    cli_env: SetEnv, served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    cli_env(served.env(VRO_URL=""))
    assert main(["check"]) == 1
    out = capsys.readouterr().out
    assert "missing VRO_URL\n" in out  # that one, and only that one
    assert "not checked, because configuration did not pass" in out


def test_check_says_vro_refused_the_credentials_without_showing_them(
    cli_env: SetEnv, served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    cli_env(served.env(VRO_PASSWORD=WRONG_PASSWORD))
    assert main(["check"]) == 1
    out = capsys.readouterr().out
    assert "VRO refused the credentials" in out
    assert "VRO_PASSWORD" in out  # what to fix
    assert WRONG_PASSWORD not in out
    assert "1 of 5 checks did not pass" in out  # Slack, the database and the rest are fine


def test_check_says_slack_refused_the_token(
    cli_env: SetEnv, served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    cli_env(served.env(SLACK_BOT_TOKEN="xoxb-revoked-token"))
    assert main(["check"]) == 1
    out = capsys.readouterr().out
    assert "Slack refused the bot token (invalid_auth)" in out
    assert "xoxb-revoked-token" not in out


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_check_with_an_app_token_opens_a_socket_mode_connection(
    cli_env: SetEnv, served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    cli_env(served.env(SLACK_APP_TOKEN=APP_TOKEN, SLACK_SIGNING_SECRET=""))
    assert main(["check"]) == 0
    out = capsys.readouterr().out
    assert "socket mode" in out
    assert "websocket to 127.0.0.1 open" in out
    assert "All 6 checks passed" in out


def test_check_says_slack_refused_the_app_token_and_how_to_get_a_new_one(
    cli_env: SetEnv, served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    cli_env(served.env(SLACK_APP_TOKEN="xapp-revoked-app-token", SLACK_SIGNING_SECRET=""))
    assert main(["check"]) == 1
    out = capsys.readouterr().out
    assert "Slack refused the app token (invalid_auth)" in out
    assert "App-Level Tokens" in out
    assert "xapp-revoked-app-token" not in out
    assert "1 of 6 checks did not pass" in out  # the bot token itself is fine


def test_a_bot_token_given_as_the_app_token_is_named_as_such(
    cli_env: SetEnv, served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    cli_env(served.env(SLACK_APP_TOKEN=BOT_TOKEN, SLACK_SIGNING_SECRET=""))
    assert main(["check"]) == 2
    err = capsys.readouterr().err
    assert "SLACK_APP_TOKEN: holds a bot token (xoxb-…)" in err
    assert "app-level token (xapp-…" in err
    assert BOT_TOKEN not in err


def test_an_unreachable_slack_is_a_network_problem_not_a_refusal(
    cli_env: SetEnv, served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    port = closed_port()
    cli_env(
        served.env(
            SLACK_API_URL=f"http://127.0.0.1:{port}/api/", SLACK_APP_TOKEN=APP_TOKEN, SLACK_SIGNING_SECRET=""
        )
    )
    assert main(["check"]) == 1
    out = capsys.readouterr().out
    assert f"Slack not reached: cannot connect to 127.0.0.1:{port} (nothing is listening there)" in out
    assert "firewall" in out
    assert "refused" not in out
    assert "2 of 6 checks did not pass" in out  # the bot token and Socket Mode, both for the network


def test_a_proxy_that_does_not_answer_is_named(
    cli_env: SetEnv, served: Served, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    port = closed_port()
    monkeypatch.setenv("HTTPS_PROXY", f"http://user:proxy-password@127.0.0.1:{port}")
    cli_env(served.env())
    assert main(["check"]) == 1
    out = capsys.readouterr().out
    assert f"could not connect to the proxy http://127.0.0.1:{port}" in out
    assert "HTTPS_PROXY" in out
    assert "proxy-password" not in out
    assert "refused" not in out


def test_check_does_not_create_a_sqlite_file(
    cli_env: SetEnv, served: Served, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    missing = tmp_path / "never-created.db"
    cli_env(served.env(DATABASE_URL=f"sqlite:///{missing}"))
    assert main(["check"]) == 1
    out = capsys.readouterr().out
    assert "no schema yet" in out
    assert "vro-bot db upgrade" in out
    assert not missing.exists()
