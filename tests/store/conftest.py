"""Fixtures of the store tests: the DB file written by release 0.1.0 (PostgreSQL: tests/conftest.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

RELEASE_DB = Path(__file__).resolve().parent / "data" / "release-0.1.0.db"


@pytest.fixture
def release_db(tmp_path: Path) -> Path:
    """A copy of the DB file written by release 0.1.0 (one completed job "digits")."""
    path = tmp_path / "release-0.1.0.db"
    shutil.copy(RELEASE_DB, path)
    return path
