"""Migrations: up, down, up again; the models agree with them; the start-up schema rule."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, pool, text
from sqlalchemy.exc import DBAPIError

from bot import cli
from bot.db import sync_url
from bot.migrate import (
    DatabaseUnavailableError,
    SchemaAheadError,
    SchemaBehindError,
    check_at_head,
    current,
    database_revision,
    downgrade,
    ensure_schema,
    head_revision,
    upgrade,
)
from bot.schema import metadata

APPROVAL_TABLES = {"action_requests", "decisions", "audit_log"}


def _tables(url: str) -> set[str]:
    engine = create_engine(sync_url(url), poolclass=pool.NullPool)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_migrations_go_up_down_and_up_again(database_url: str) -> None:
    upgrade(database_url)
    assert _tables(database_url) >= APPROVAL_TABLES
    assert database_revision(database_url) == head_revision()

    downgrade(database_url, "base")
    assert _tables(database_url) - {"alembic_version"} == set()
    assert database_revision(database_url) is None

    upgrade(database_url)
    assert _tables(database_url) >= APPROVAL_TABLES
    assert database_revision(database_url) == head_revision()


def test_autogenerate_finds_no_difference_between_models_and_migrations(migrated_database_url: str) -> None:
    engine = create_engine(sync_url(migrated_database_url), poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(context, metadata)
    finally:
        engine.dispose()
    assert diff == []


def test_first_migration_has_the_agreed_revision_id() -> None:
    from alembic.script import ScriptDirectory

    from bot.migrate import alembic_config

    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    base = script.get_base()
    assert base == "0001_approvals"


def test_audit_log_refuses_updates_and_deletes(migrated_database_url: str) -> None:
    """The audit log is append-only in the database itself, not only by convention."""
    engine = create_engine(sync_url(migrated_database_url), poolclass=pool.NullPool)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO audit_log (at, actor, event, detail, prev_hash, hash) "
                    "VALUES (:at, 'U1', 'requested', '{}', :prev, :hash)"
                ),
                {"at": datetime(2026, 1, 1, tzinfo=UTC), "prev": "0" * 64, "hash": "1" * 64},
            )
        for statement in ("UPDATE audit_log SET actor = 'U2'", "DELETE FROM audit_log"):
            with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
                conn.execute(text(statement))
        with engine.connect() as conn:
            assert conn.execute(text("SELECT actor FROM audit_log")).scalars().all() == ["U1"]
    finally:
        engine.dispose()


def test_check_at_head_names_the_upgrade_command_when_the_database_is_behind(database_url: str) -> None:
    with pytest.raises(SchemaBehindError, match="vro-bot db upgrade"):
        check_at_head(database_url)
    upgrade(database_url)
    check_at_head(database_url)  # at head: no error
    downgrade(database_url, "base")
    with pytest.raises(SchemaBehindError, match="vro-bot db upgrade"):
        check_at_head(database_url)


def test_current_reports_the_database_revision_against_head(database_url: str) -> None:
    head = head_revision()
    assert current(database_url) == (
        f"Database has no schema yet (latest revision is {head}). Run `vro-bot db upgrade`."
    )
    upgrade(database_url)
    assert current(database_url) == f"Database is at the latest revision ({head})."


def test_a_database_migrated_by_a_newer_bot_is_refused_even_with_auto_migrate(database_url: str) -> None:
    upgrade(database_url)
    engine = create_engine(sync_url(database_url), poolclass=pool.NullPool)
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))
    finally:
        engine.dispose()
    with pytest.raises(SchemaAheadError, match="Upgrade vro-bot"):
        ensure_schema(database_url, auto_migrate=True)
    assert "does not know" in current(database_url)


def test_start_up_refuses_a_behind_database_unless_auto_migrate_is_set(database_url: str) -> None:
    with pytest.raises(SchemaBehindError, match="vro-bot db upgrade"):
        ensure_schema(database_url, auto_migrate=False)
    assert database_revision(database_url) is None  # refused, not migrated

    ensure_schema(database_url, auto_migrate=True)
    assert database_revision(database_url) == head_revision()


def test_cli_db_upgrade_creates_the_schema_on_a_fresh_sqlite_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "nested" / "fresh.db"
    path.parent.mkdir()
    monkeypatch.chdir(tmp_path)  # no stray .env is read
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{path}")
    assert cli.main(["db", "upgrade"]) == 0
    assert "latest revision" in capsys.readouterr().out
    assert _tables(f"sqlite:///{path}") >= APPROVAL_TABLES
    assert cli.main(["db", "current"]) == 0
    assert capsys.readouterr().out.strip() == f"Database is at the latest revision ({head_revision()})."


@pytest.mark.postgres
def test_cli_db_upgrade_works_on_postgresql(
    postgres_database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", postgres_database_url)
    assert cli.main(["db", "upgrade"]) == 0
    assert "latest revision" in capsys.readouterr().out
    assert _tables(postgres_database_url) >= APPROVAL_TABLES


def test_an_unreachable_database_stops_the_cli_with_a_sentence_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'no-such-dir' / 'bot.db'}")
    assert cli.main(["db", "upgrade"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("vro-bot: Cannot open the database named by DATABASE_URL: ")
    assert "Traceback" not in err


def test_an_unreachable_postgresql_names_the_problem_but_not_the_password() -> None:
    url = "postgresql://vro:s3cret-pw@127.0.0.1:1/vro"
    with pytest.raises(DatabaseUnavailableError, match="Cannot open the database") as caught:
        check_at_head(url)
    assert "s3cret-pw" not in str(caught.value)
