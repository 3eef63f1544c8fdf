"""Engines and transactions: the one place that opens the broker DB.

SQLite (a file, the embedded default) and PostgreSQL both work; a SQLite connection gets
WAL and a busy timeout so the CLI can read while the daemon writes. The first engine made
for a URL brings its schema to the newest migration (broker.store.migrate): a new DB is
created at the head, an older one (release 0.1.0's included) is upgraded in place.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlmodel import Session, create_engine

from broker.store.migrate import ensure_schema


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    """WAL + a busy timeout so the CLI can read while the daemon writes."""
    module = type(dbapi_connection).__module__
    if "sqlite" not in module:
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


_ENGINES: dict[str, Engine] = {}


def get_engine(db_url: str) -> Engine:
    """One engine per URL, its schema migrated to the head on first use; a SQLite file's folder is created."""
    engine = _ENGINES.get(db_url)
    if engine is None:
        path = sqlite_file(db_url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        # a server restarted under a pooled connection: the next checkout tests it and opens a new one
        engine = create_engine(db_url, pool_pre_ping=path is None and not db_url.startswith("sqlite"))
        ensure_schema(engine)
        _ENGINES[db_url] = engine
    return engine


def database_unreachable(error: BaseException) -> bool:
    """The DB server cannot be reached (down, restarting, network): the tick is worth trying again later."""
    return isinstance(error, OperationalError) or (isinstance(error, DBAPIError) and error.connection_invalidated)


def sqlite_file(db_url: str) -> Path | None:
    """The file of a SQLite URL (None for other databases and in-memory SQLite)."""
    if not db_url.startswith("sqlite:///") or db_url == "sqlite:///:memory:":
        return None
    return Path(db_url.removeprefix("sqlite:///")).expanduser()


def database_exists(db_url: str) -> bool:
    """False only for a SQLite file that is not there yet (a server database is assumed to exist)."""
    path = sqlite_file(db_url)
    return path is None or path.is_file()


def dispose_engine(db_url: str) -> None:
    """Close a cached engine (tests and the demo use throwaway DB files)."""
    engine = _ENGINES.pop(db_url, None)
    if engine is not None:
        engine.dispose()


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any exception."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


@contextmanager
def reading(engine: Engine) -> Iterator[Session]:
    """A read-only unit of work (nothing is committed)."""
    with Session(engine, expire_on_commit=False) as session:
        yield session
