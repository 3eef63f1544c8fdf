"""SQLite persistence of the marketplace: one row per record, JSON bodies, one transaction per call.

The state lives in memory (plain pydantic records, see records.py) and every state-changing
call writes the records it touched here in one transaction, so a restart loses nothing.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator

SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    kind TEXT NOT NULL,
    id   TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (kind, id)
);
"""


class Store:
    """A tiny kind/id -> JSON table; thread-safe through one lock (SQLite serialises writes anyway)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        if path != ":memory:":
            self._connection.execute("PRAGMA journal_mode=WAL")
            self._connection.execute("PRAGMA synchronous=NORMAL")
        self._connection.executescript(SCHEMA)

    def load(self, kind: str) -> Iterator[tuple[str, str]]:
        """(id, body) of every record of `kind`."""
        with self._lock:
            rows = self._connection.execute("SELECT id, body FROM records WHERE kind = ?", (kind,)).fetchall()
        yield from rows

    def load_one(self, kind: str, record_id: str) -> str | None:
        with self._lock:
            row = self._connection.execute(
                "SELECT body FROM records WHERE kind = ? AND id = ?", (kind, record_id)
            ).fetchone()
        return row[0] if row else None

    def write(self, changes: Iterable[tuple[str, str, str | None]]) -> None:
        """Apply (kind, id, body-or-None-to-delete) changes atomically."""
        changes = list(changes)
        if not changes:
            return
        with self._lock:
            cursor = self._connection.cursor()
            cursor.execute("BEGIN IMMEDIATE")
            try:
                for kind, record_id, body in changes:
                    if body is None:
                        cursor.execute("DELETE FROM records WHERE kind = ? AND id = ?", (kind, record_id))
                    else:
                        cursor.execute(
                            "INSERT OR REPLACE INTO records (kind, id, body) VALUES (?, ?, ?)",
                            (kind, record_id, body),
                        )
                cursor.execute("COMMIT")
            except BaseException:
                cursor.execute("ROLLBACK")
                raise

    def close(self) -> None:
        with self._lock:
            self._connection.close()
