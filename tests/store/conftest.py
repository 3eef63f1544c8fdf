"""Fixtures of the store tests: the DB file written by release 0.1.0, and a throwaway PostgreSQL."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

RELEASE_DB = Path(__file__).resolve().parent / "data" / "release-0.1.0.db"


@pytest.fixture
def release_db(tmp_path: Path) -> Path:
    """A copy of the DB file written by release 0.1.0 (one completed job "digits")."""
    path = tmp_path / "release-0.1.0.db"
    shutil.copy(RELEASE_DB, path)
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A psycopg URL of a PostgreSQL server started for this session in a temp dir (initdb + pg_ctl).

    Skips when psycopg or the PostgreSQL binaries are missing. initdb refuses to run as root,
    so as root the server runs as the "postgres" user.
    """
    pytest.importorskip("psycopg", reason="psycopg (PostgreSQL driver) is not installed")
    if not all(shutil.which(tool) for tool in ("initdb", "pg_ctl", "postgres")):
        pytest.skip("PostgreSQL binaries (initdb, pg_ctl, postgres) are not on the PATH")
    prefix: list[str] = []
    root = tmp_path_factory.mktemp("postgres")
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            pytest.skip("running as root without runuser: initdb cannot run")
        prefix = ["runuser", "-u", "postgres", "--"]
        shutil.chown(root, "postgres")
        root.chmod(0o755)
        for parent in root.parents:  # the postgres user must reach its data dir
            if parent == Path(parent.anchor):
                break
            parent.chmod(parent.stat().st_mode | 0o711)
    data, port = root / "data", _free_port()
    subprocess.run(
        [*prefix, "initdb", "-D", str(data), "-U", "broker", "--auth=trust", "-E", "UTF8"],
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        [*prefix, "pg_ctl", "-D", str(data), "-o", options, "-l", str(root / "log"), "-w", "start"],
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql+psycopg://broker@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*prefix, "pg_ctl", "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
