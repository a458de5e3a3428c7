"""``vro-bot check``: a verdict per dependency, naming what is wrong and what to do."""

from __future__ import annotations

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
    sandbox = create_sandbox(tokens=frozenset({BOT_TOKEN}))
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
