"""Fixtures shared by every test area: the real crowd datasets, headless Chromium, a PostgreSQL server.

Area-specific fixtures live in tests/<area>/conftest.py.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATASETS = ROOT.parent / "shared" / "datasets"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    """../shared/datasets beside the checkout; tests using it skip in a user's clone."""
    if not (SHARED_DATASETS / "index.csv").exists():
        pytest.skip("../shared/datasets is not present (a user's clone)")
    return SHARED_DATASETS


def _chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    """Debian's Chromium, installed by scripts/install-chromium.sh when missing."""
    path = _chromium_path()
    if path is None:
        result = subprocess.run(
            ["bash", str(ROOT / "scripts" / "install-chromium.sh")],
            capture_output=True,
            text=True,
        )
        path = _chromium_path()
        if path is None:
            message = f"Chromium could not be installed: {result.stderr[-2000:]}"
            if os.environ.get("CI"):
                pytest.fail(message)
            pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def browser(chromium_executable: str):
    """A headless Chromium driven by Playwright, shared by the session's browser tests."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=chromium_executable, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture()
def page(browser):
    """A fresh browser context and page per test."""
    context = browser.new_context()
    page = context.new_page()
    yield page
    context.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class PostgresServer:
    """A PostgreSQL server in a temp dir that a test can stop and start again (pg_ctl)."""

    url: str
    command: list[str]  # pg_ctl -D <data>, run as the postgres user when we are root
    options: str
    log: Path

    def start(self) -> None:
        subprocess.run(
            [*self.command, "-o", self.options, "-l", str(self.log), "-w", "start"], check=True, capture_output=True
        )

    def stop(self, mode: str = "immediate") -> None:
        subprocess.run([*self.command, "-m", mode, "-w", "stop"], capture_output=True)


def start_postgres(root: Path) -> PostgresServer:
    """initdb + pg_ctl start in ``root`` (skips, or fails in CI, where PostgreSQL cannot be had).

    The server binaries are installed by scripts/install-postgres.sh when missing; without them
    (or without psycopg) the PostgreSQL tests skip, and fail in CI. initdb refuses to run as
    root, so as root the server runs as the "postgres" user.
    """
    if os.environ.get("CI"):
        import psycopg  # noqa: F401  (CI installs the [dev] extra: a missing driver is an error there)
    pytest.importorskip("psycopg", reason="psycopg (PostgreSQL driver) is not installed")
    bin_dir = _postgres_bin_dir()
    prefix: list[str] = []
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
        [*prefix, f"{bin_dir}/initdb", "-D", str(data), "-U", "broker", "--auth=trust", "-E", "UTF8"],
        check=True,
        capture_output=True,
    )
    server = PostgresServer(
        url=f"postgresql+psycopg://broker@127.0.0.1:{port}/postgres",
        command=[*prefix, f"{bin_dir}/pg_ctl", "-D", str(data)],
        options=f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off",
        log=root / "log",
    )
    server.start()
    return server


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A psycopg URL of a PostgreSQL server started for this session in a temp dir (see start_postgres)."""
    server = start_postgres(tmp_path_factory.mktemp("postgres"))
    try:
        yield server.url
    finally:
        server.stop()


def _postgres_bin_dir() -> str:
    """The folder of initdb, pg_ctl and postgres (scripts/install-postgres.sh installs them when missing)."""
    result = subprocess.run(["bash", str(ROOT / "scripts" / "install-postgres.sh")], capture_output=True, text=True)
    bin_dir = result.stdout.strip().splitlines()[-1] if result.returncode == 0 and result.stdout.strip() else ""
    if not bin_dir:
        message = f"PostgreSQL could not be installed: {result.stderr[-2000:]}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return bin_dir


@pytest.fixture()
def fresh_postgres_db(postgres_url: str) -> str:
    """A new, empty database on the session's PostgreSQL server (its URL)."""
    import psycopg

    name = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(postgres_url.replace("postgresql+psycopg", "postgresql"), autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}")
    return postgres_url.rsplit("/", 1)[0] + "/" + name
