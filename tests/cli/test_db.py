"""``vro-bot db upgrade`` and ``vro-bot db current`` on a fresh SQLite file."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import main
from bot.migrate import database_revision, head_revision
from tests.cli.conftest import SetEnv


def test_upgrade_creates_the_schema_and_current_reports_head(
    cli_env: SetEnv, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = tmp_path / "fresh.db"
    url = f"sqlite:///{database}"
    cli_env({"DATABASE_URL": url})

    assert main(["db", "current"]) == 0
    assert "no schema yet" in capsys.readouterr().out

    assert main(["db", "upgrade"]) == 0
    assert capsys.readouterr().out.strip() == "Database is at the latest revision."
    assert database.exists()
    assert database_revision(url) == head_revision()

    assert main(["db", "current"]) == 0
    assert capsys.readouterr().out.strip() == f"Database is at the latest revision ({head_revision()})."


def test_upgrade_twice_is_harmless(
    cli_env: SetEnv, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cli_env({"DATABASE_URL": f"sqlite:///{tmp_path / 'twice.db'}"})
    assert main(["db", "upgrade"]) == 0
    assert main(["db", "upgrade"]) == 0
    assert main(["db", "current"]) == 0
    assert capsys.readouterr().out.strip().endswith(f"latest revision ({head_revision()}).")


def test_db_names_a_database_it_cannot_open(
    cli_env: SetEnv, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cli_env({"DATABASE_URL": f"sqlite:///{tmp_path / 'no-such-folder' / 'bot.db'}"})
    assert main(["db", "upgrade"]) == 2
    err = capsys.readouterr().err
    assert "DATABASE_URL" in err
    assert "Traceback" not in err
