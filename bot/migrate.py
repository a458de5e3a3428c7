"""Database migrations (Alembic) and the start-up schema check.

The schema's source of truth is ``migrations/`` (Alembic). ``vro-bot db upgrade`` applies it;
``vro-bot db current`` says where a database stands.

Start-up rule (:func:`ensure_schema`): the bot refuses to run against a database whose schema is
behind the code's head, and says to run ``vro-bot db upgrade``, because a half-migrated store
could lose or double an approval. Setting ``VRO_BOT_AUTO_MIGRATE=true`` makes the bot upgrade at
start instead (convenient for a single replica or the demo; with several replicas, run the
upgrade once as a deployment step). A database *ahead* of the code (a newer vro-bot migrated
it) is refused either way: this code cannot know what the newer schema means.

Everything here is synchronous (Alembic is): call it before the event loop starts, or from a
thread.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, inspect, pool, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from bot.db import sync_url
from bot.errors import ConfigError

UPGRADE_HINT = "Run `vro-bot db upgrade` (or set VRO_BOT_AUTO_MIGRATE=true to upgrade at start)."


class SchemaError(ConfigError):
    """The database cannot be used as it is; the message says what to do.

    A :class:`~bot.errors.ConfigError`, so ``vro-bot`` stops with the message, not a traceback.
    """


class DatabaseUnavailableError(SchemaError):
    """The database named by DATABASE_URL cannot be reached or opened."""


class SchemaBehindError(SchemaError):
    """The database is behind the code's newest migration."""


class SchemaAheadError(SchemaError):
    """The database was migrated by a newer vro-bot than this one."""


def _script_location() -> Path:
    """Where the ``migrations`` folder is: next to the ``bot`` package, or installed beside it."""
    beside = Path(__file__).resolve().parent.parent / "migrations"
    if (beside / "env.py").is_file():
        return beside
    import importlib.util

    spec = importlib.util.find_spec("migrations")
    if spec is not None and spec.origin is not None:
        installed = Path(spec.origin).parent
        if (installed / "env.py").is_file():
            return installed
    raise SchemaError("cannot find the migrations folder; reinstall vro-bot")


def alembic_config(database_url: str) -> Config:
    """An Alembic configuration for ``database_url`` (a DATABASE_URL as users write it)."""
    config = Config()
    config.set_main_option("script_location", str(_script_location()))
    # Passed as an attribute, not an option: configparser would choke on '%' in passwords.
    config.attributes["database_url"] = database_url
    return config


@contextmanager
def _engine(database_url: str) -> Iterator[Engine]:
    engine = create_engine(sync_url(database_url), poolclass=pool.NullPool)
    try:
        yield engine
    finally:
        engine.dispose()


@contextmanager
def _reachable() -> Iterator[None]:
    """Turn "cannot connect" into a sentence (the driver's own first line; it holds no password)."""
    try:
        yield
    except OperationalError as exc:
        first = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else type(exc).__name__
        raise DatabaseUnavailableError(f"Cannot open the database named by DATABASE_URL: {first}") from None


def head_revision() -> str:
    """The newest migration this code knows."""
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    head = script.get_current_head()
    if head is None:
        raise SchemaError("no migrations found; reinstall vro-bot")
    return head


VERSION_TABLE = "alembic_version"


def database_revision(database_url: str) -> str | None:
    """The revision the database is at, or ``None`` when it has never been migrated.

    Read-only: a SQLite file that does not exist is not created (``vro-bot check`` and
    ``/readyz`` must not leave an empty database behind), and the version is read with one
    SELECT rather than through Alembic, whose INFO lines would otherwise follow every probe.
    """
    if _sqlite_file_missing(database_url):
        return None
    with _reachable(), _engine(database_url) as engine, engine.connect() as conn:
        if not inspect(conn).has_table(VERSION_TABLE):
            return None
        rows = conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()  # noqa: S608 - a constant
    if len(rows) > 1:
        raise SchemaError(f"the database has {len(rows)} Alembic revisions at once ({', '.join(rows)})")
    return str(rows[0]) if rows else None


def _sqlite_file_missing(database_url: str) -> bool:
    url = make_url(sync_url(database_url))
    if url.get_backend_name() != "sqlite":
        return False
    path = url.database or ""
    if path in ("", ":memory:") or path.startswith("file:"):
        return False
    return not Path(path).exists()


def upgrade(database_url: str) -> None:
    """Apply every migration up to head (creates the SQLite file if needed)."""
    with _reachable():
        command.upgrade(alembic_config(database_url), "head")


def downgrade(database_url: str, revision: str) -> None:
    """Migrate down to ``revision`` (``"base"`` removes every table). For tests and rollbacks."""
    with _reachable():
        command.downgrade(alembic_config(database_url), revision)


def current(database_url: str) -> str:
    """A sentence for humans: the database's revision against the code's head."""
    head = head_revision()
    revision = database_revision(database_url)
    if revision == head:
        return f"Database is at the latest revision ({head})."
    if revision is None:
        return f"Database has no schema yet (latest revision is {head}). Run `vro-bot db upgrade`."
    if _is_known(revision):
        return f"Database is at revision {revision}, behind the latest ({head}). Run `vro-bot db upgrade`."
    return (
        f"Database is at revision {revision}, which this vro-bot does not know (its latest is {head}); "
        "a newer vro-bot migrated it. Upgrade vro-bot."
    )


def check_at_head(database_url: str) -> None:
    """Raise :class:`SchemaBehindError` (or :class:`SchemaAheadError`) unless the database is at head."""
    head = head_revision()
    revision = database_revision(database_url)
    if revision == head:
        return
    if revision is None:
        raise SchemaBehindError(f"The database has no schema yet. {UPGRADE_HINT}")
    if _is_known(revision):
        raise SchemaBehindError(
            f"The database schema is at revision {revision}, behind this vro-bot's {head}. {UPGRADE_HINT}"
        )
    raise SchemaAheadError(
        f"The database schema is at revision {revision}, which this vro-bot does not know "
        f"(its latest is {head}): a newer vro-bot migrated it. Upgrade vro-bot."
    )


def ensure_schema(database_url: str, *, auto_migrate: bool) -> None:
    """The start-up rule: upgrade when ``auto_migrate`` (VRO_BOT_AUTO_MIGRATE), then require head."""
    if auto_migrate:
        revision = database_revision(database_url)
        if revision is None or _is_known(revision):
            upgrade(database_url)
    check_at_head(database_url)


def _is_known(revision: str) -> bool:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return any(rev.revision == revision for rev in script.walk_revisions())
