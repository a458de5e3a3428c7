"""The schema check behind /readyz and `vro-bot check` is read-only and quiet."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot.migrate import SchemaBehindError, check_at_head, upgrade


def test_checking_a_migrated_database_logs_nothing_from_alembic(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    upgrade(url)
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        check_at_head(url)  # /readyz runs this on every probe
    assert [r for r in caplog.records if r.name.startswith("alembic")] == []


def test_checking_a_missing_sqlite_file_does_not_create_it(tmp_path: Path) -> None:
    missing = tmp_path / "not-there.db"
    with pytest.raises(SchemaBehindError, match="no schema yet"):
        check_at_head(f"sqlite:///{missing}")
    assert not missing.exists()
