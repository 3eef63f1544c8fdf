"""Schema migrations: every broker DB is brought to the newest Alembic revision on first use.

- A new, empty DB gets the tables of broker.store.tables in one ``create_all`` and is
  stamped at the head revision (much faster than replaying every revision; the test suite
  makes hundreds of DBs).
- A SQLite DB at an older revision is upgraded in place (one user, one file). A DB that has the
  tables but no alembic_version table was written by release 0.1.0: it is stamped at 0001 (the
  schema of that release), then upgraded.
- A PostgreSQL DB at an older revision is refused with OutdatedSchemaError: several daemons
  on several machines may share it, and an old daemon still running against a new schema (or
  the reverse) is worse than a clear stop. `broker db upgrade` upgrades it, deliberately.
- A DB already at the head costs one query (the head revision is read from the scripts once).
- On PostgreSQL, creating or upgrading holds an advisory lock, so daemons that start together
  on one DB migrate it once.

The migrations live in broker/store/migrations (env.py, versions/) and are configured here
in code, so no alembic.ini is needed at run time. `upgrade` backs ``broker db upgrade``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlmodel import SQLModel

from broker.store import tables  # noqa: F401  (registers every table on SQLModel.metadata)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
RELEASE_0_1_0 = "0001"  # the schema of the release before migrations existed
VERSION_TABLE = "alembic_version"
MIGRATION_LOCK = 0x62726F6B  # PostgreSQL advisory lock key held while a DB is created or upgraded


def alembic_config(connection: Connection | None = None, db_url: str | None = None) -> Config:
    """Alembic's configuration in code: the packaged scripts, and the connection to run on."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    if db_url is not None:
        config.set_main_option("sqlalchemy.url", db_url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@lru_cache(maxsize=1)
def script_directory() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


@lru_cache(maxsize=1)
def head_revision() -> str:
    return script_directory().get_current_head()


def revision_of(connection: Connection) -> str | None:
    """The DB's revision; None when it has no alembic_version (empty, or written by 0.1.0)."""
    return MigrationContext.configure(connection).get_current_revision()


class OutdatedSchemaError(RuntimeError):
    """A shared (PostgreSQL) broker DB is at an older schema than this broker's; the message says what to run."""


def ensure_schema(engine: Engine, upgrade_existing: bool | None = None) -> None:
    """Bring the DB behind `engine` to the head revision (see the module docstring).

    `upgrade_existing`: whether a DB with tables at an older revision is upgraded (None: on
    SQLite yes, on PostgreSQL no, OutdatedSchemaError instead).
    """
    head = head_revision()
    with engine.connect() as connection:
        current = revision_of(connection)
        if current == head:
            return
        has_tables = bool(set(inspect(connection).get_table_names()) & set(SQLModel.metadata.tables))
    if upgrade_existing is None:
        upgrade_existing = engine.dialect.name != "postgresql"
    if has_tables and not upgrade_existing:
        raise OutdatedSchemaError(
            f"the broker DB is at schema revision {current or '0.1.0 (unversioned)'} and this broker needs {head}: "
            "stop the daemons using it, then run `broker db upgrade`"
        )
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":  # daemons starting together migrate one at a time
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        names = set(inspect(connection).get_table_names())
        if VERSION_TABLE not in names and not names & set(SQLModel.metadata.tables):
            SQLModel.metadata.create_all(connection)
            MigrationContext.configure(connection).stamp(script_directory(), head)
            return
        if VERSION_TABLE not in names or revision_of(connection) is None:
            command.stamp(alembic_config(connection), RELEASE_0_1_0)
        command.upgrade(alembic_config(connection), "head")


class DatabaseUnreachableError(RuntimeError):
    """The DB URL is malformed or its server cannot be reached; the message says which and why."""


def _open(db_url: str) -> Engine:
    try:
        return create_engine(db_url)
    except (ArgumentError, ImportError) as error:
        raise DatabaseUnreachableError(f"db_url {db_url!r}: {error}") from error


def current_revision(db_url: str) -> str | None:
    """The revision of the DB at `db_url`, without changing it (None: no alembic_version table)."""
    engine = _open(db_url)
    try:
        with engine.connect() as connection:
            return revision_of(connection)
    except OperationalError as error:
        raise DatabaseUnreachableError(f"db_url {db_url!r}: {str(error.orig).strip().splitlines()[0]}") from error
    finally:
        engine.dispose()


def upgrade(db_url: str) -> tuple[str | None, str]:
    """Upgrade the DB at `db_url` to the head revision; (revision before, revision after).

    The revision before is None for a DB without alembic_version: a new one, or one written
    by release 0.1.0. Upgrading a DB at the head changes nothing.
    """
    engine = _open(db_url)
    try:
        with engine.connect() as connection:
            before = revision_of(connection)
        ensure_schema(engine, upgrade_existing=True)
        with engine.connect() as connection:
            after = revision_of(connection)
    except OperationalError as error:
        raise DatabaseUnreachableError(f"db_url {db_url!r}: {str(error.orig).strip().splitlines()[0]}") from error
    finally:
        engine.dispose()
    return before, after
