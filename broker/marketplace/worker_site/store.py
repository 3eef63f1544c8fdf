"""The worker site's own state: accounts, sessions (with their CSRF tokens), accepted assignments.

Kept apart from the marketplace's DB (the site is a client of `Marketplace`, as MTurk's
website is of its back end). A file DB sits beside the marketplace's; ":memory:" stays in memory.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

SESSION_LIFETIME = timedelta(days=14)
ANONYMOUS_LIFETIME = timedelta(hours=12)
USERNAME_PATTERN = re.compile(r"^[A-Za-z0-9_.@+-]{3,64}$")
MIN_PASSWORD_LENGTH = 8

_SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    username TEXT PRIMARY KEY COLLATE NOCASE,
    password_hash TEXT NOT NULL,
    worker_id TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    token_hash TEXT PRIMARY KEY,
    worker_id TEXT,
    csrf_token TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS accepted_assignments (
    assignment_id TEXT PRIMARY KEY,
    worker_id TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class Account:
    username: str
    worker_id: str


@dataclass(frozen=True)
class Session:
    """A browser session; `worker_id` is None until the visitor signs in."""

    token: str
    worker_id: str | None
    csrf_token: str
    is_new: bool = False


def site_db_path(marketplace_db_path: str) -> str:
    """`market.sqlite` -> `market.worker-site.sqlite`; in-memory stays in memory."""
    if marketplace_db_path in ("", ":memory:") or marketplace_db_path.startswith("file::memory:"):
        return ":memory:"
    path = Path(marketplace_db_path)
    return str(path.with_name(f"{path.stem}.worker-site.sqlite"))


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


class AccountError(ValueError):
    """A sign-up or sign-in the site refuses; the message is shown to the visitor."""


class SiteStore:
    """Thread-safe SQLite store; sessions keep only a hash of their token."""

    def __init__(self, db_path: str) -> None:
        self._lock = threading.Lock()
        self._db = sqlite3.connect(db_path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA busy_timeout = 5000")
        if db_path != ":memory:":
            self._db.execute("PRAGMA journal_mode = WAL")
        self._db.executescript(_SCHEMA)

    # accounts -------------------------------------------------------------------------
    def create_account(self, username: str, password_hash: str, worker_id: str) -> Account:
        with self._lock:
            try:
                self._db.execute(
                    "INSERT INTO accounts VALUES (?, ?, ?, ?)",
                    (username, password_hash, worker_id, _now().isoformat()),
                )
            except sqlite3.IntegrityError as exc:
                raise AccountError(f"The username {username!r} is already taken.") from exc
        return Account(username, worker_id)

    def username_taken(self, username: str) -> bool:
        with self._lock:
            row = self._db.execute("SELECT 1 FROM accounts WHERE username = ?", (username,)).fetchone()
        return row is not None

    def find_account(self, username: str) -> tuple[Account, str] | None:
        """The account and its stored password hash."""
        with self._lock:
            row = self._db.execute(
                "SELECT username, worker_id, password_hash FROM accounts WHERE username = ?", (username,)
            ).fetchone()
        return None if row is None else (Account(row[0], row[1]), row[2])

    def username_for(self, worker_id: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT username FROM accounts WHERE worker_id = ?", (worker_id,)).fetchone()
        return None if row is None else row[0]

    # sessions -------------------------------------------------------------------------
    def new_session(self, worker_id: str | None) -> Session:
        """A fresh token and CSRF token (sign-in always gets a new one: no session fixation)."""
        token = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        lifetime = SESSION_LIFETIME if worker_id else ANONYMOUS_LIFETIME
        with self._lock:
            self._db.execute(
                "INSERT INTO sessions VALUES (?, ?, ?, ?)",
                (_token_hash(token), worker_id, csrf, (_now() + lifetime).isoformat()),
            )
        return Session(token, worker_id, csrf, is_new=True)

    def load_session(self, token: str | None) -> Session | None:
        if not token:
            return None
        with self._lock:
            row = self._db.execute(
                "SELECT worker_id, csrf_token, expires_at FROM sessions WHERE token_hash = ?", (_token_hash(token),)
            ).fetchone()
        if row is None or datetime.fromisoformat(row[2]) <= _now():
            return None
        return Session(token, row[0], row[1])

    def end_session(self, token: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM sessions WHERE token_hash = ?", (_token_hash(token),))

    def purge_expired_sessions(self) -> int:
        with self._lock:
            cursor = self._db.execute("DELETE FROM sessions WHERE expires_at <= ?", (_now().isoformat(),))
        return cursor.rowcount

    # assignments accepted through the site --------------------------------------------
    def record_acceptance(self, assignment_id: str, worker_id: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO accepted_assignments VALUES (?, ?)", (assignment_id, worker_id))

    def worker_of_assignment(self, assignment_id: str) -> str | None:
        with self._lock:
            row = self._db.execute(
                "SELECT worker_id FROM accepted_assignments WHERE assignment_id = ?", (assignment_id,)
            ).fetchone()
        return None if row is None else row[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()


def validate_new_account(username: str, password: str, confirm: str) -> None:
    """Raises AccountError naming the field that is wrong."""
    if not USERNAME_PATTERN.match(username):
        raise AccountError("Username: 3-64 characters, letters, digits and . _ @ + - only.")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"Password: at least {MIN_PASSWORD_LENGTH} characters.")
    if password != confirm:
        raise AccountError("Password confirmation does not match the password.")
