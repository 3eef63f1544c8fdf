"""Schema migrations: a DB written by release 0.1.0 upgrades in place and the current code reads it."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlmodel import SQLModel, select
from typer.testing import CliRunner

from broker.cli import app
from broker.store import engine as store_engine
from broker.store import migrate
from broker.store.jobs import find_job, job_money
from broker.store.tables import Job, WorkerExclusion

from .conftest import RELEASE_DB

RELEASE_TABLES = ["job", "worker", "event", "dataobject", "bonus", "autolabelrun", "hit", "hitobject", "assignment"]


def rows_of(path: Path) -> dict[str, list[tuple]]:
    """Every row of the release's tables, in the release's columns, ordered by rowid."""
    release = sqlite3.connect(RELEASE_DB)
    connection = sqlite3.connect(path)
    try:
        out: dict[str, list[tuple]] = {}
        for table in RELEASE_TABLES:
            columns = [row[1] for row in release.execute(f'PRAGMA table_info("{table}")')]
            names = ", ".join(f'"{c}"' for c in columns)
            out[table] = connection.execute(f'SELECT {names} FROM "{table}" ORDER BY rowid').fetchall()
        return out
    finally:
        connection.close()
        release.close()


def schema_differences(db_url: str) -> list:
    engine = create_engine(db_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return compare_metadata(context, SQLModel.metadata)
    finally:
        engine.dispose()


@pytest.fixture
def fresh_engines():
    """get_engine caches per URL: forget the test's engines afterwards."""
    urls: list[str] = []
    yield urls
    for url in urls:
        store_engine.dispose_engine(url)


def test_release_db_is_upgraded_in_place_and_read_by_the_current_code(release_db: Path, fresh_engines) -> None:
    before = rows_of(release_db)
    assert sum(map(len, before.values())) > 0 and len(before["assignment"]) == 36 and len(before["dataobject"]) == 12
    url = f"sqlite:///{release_db}"
    assert migrate.current_revision(url) is None  # 0.1.0 had no alembic_version

    fresh_engines.append(url)
    engine = store_engine.get_engine(url)

    assert migrate.current_revision(url) == migrate.head_revision() == "0005"
    with engine.connect() as connection:
        inspector = inspect(connection)
        assert "workerexclusion" in inspector.get_table_names()
        assert {"outcomes_version", "output_version"} <= {c["name"] for c in inspector.get_columns("job")}
    assert rows_of(release_db) == before  # every old row, with the same values

    with store_engine.reading(engine) as session:
        job = find_job(session, "digits")
        assert job.status == "Completed" and job.n_objects == 12
        assert job.output_version == job.outcomes_version == job.consolidated_version > 0  # its output tree is current
        money = job_money(session, job.id)
        assert money.committed_cents == 0
        assert money.spent_cents == sum(row[-2] for row in before["assignment"] if row[14] == "approved") > 0
        assert session.exec(select(WorkerExclusion)).all() == []
    assert schema_differences(url) == []


def test_exclude_events_become_exclusion_rows(release_db: Path, fresh_engines) -> None:
    connection = sqlite3.connect(release_db)
    with connection:
        job_id = connection.execute("SELECT id FROM job").fetchone()[0]
        connection.executemany(
            "INSERT INTO event (job_id, at, kind, message) VALUES (?, ?, 'exclude', ?)",
            [
                (
                    job_id,
                    "2026-12-01 10:00:00.000000",
                    "W1: block: em accuracy 0.400 over 20 answers is below the threshold (0.700)",
                ),
                (
                    job_id,
                    "2026-12-01 11:00:00.000000",
                    "W2: qualification: gold accuracy 0.500 over 8 answers is below the threshold (0.600)",
                ),
                (job_id, "2026-12-01 12:00:00.000000", "W1: qualification: a later one (0.900)"),
            ],
        )
    connection.close()
    url = f"sqlite:///{release_db}"
    fresh_engines.append(url)
    engine = store_engine.get_engine(url)
    with store_engine.reading(engine) as session:
        rows = {r.worker_id: r for r in session.exec(select(WorkerExclusion))}
    assert set(rows) == {"W1", "W2"}
    assert (rows["W1"].job_id, rows["W1"].action) == (job_id, "block")
    assert rows["W1"].reason == "em accuracy 0.400 over 20 answers is below the threshold"
    assert rows["W1"].at.isoformat() == "2026-12-01T10:00:00+00:00"
    assert rows["W2"].action == "qualification"


def test_a_new_db_is_created_at_head(tmp_path: Path, fresh_engines) -> None:
    url = f"sqlite:///{tmp_path / 'sub' / 'new.db'}"
    fresh_engines.append(url)
    store_engine.get_engine(url)
    assert migrate.current_revision(url) == migrate.head_revision()
    assert schema_differences(url) == []


def test_a_db_at_an_older_revision_is_upgraded_by_get_engine(tmp_path: Path, fresh_engines) -> None:
    from alembic import command

    url = f"sqlite:///{tmp_path / 'at-0001.db'}"
    engine = create_engine(url)
    with engine.begin() as connection:
        command.upgrade(migrate.alembic_config(connection), "0001")
    engine.dispose()
    assert migrate.current_revision(url) == "0001"
    fresh_engines.append(url)
    store_engine.get_engine(url)
    assert migrate.current_revision(url) == migrate.head_revision()
    assert schema_differences(url) == []


def test_upgrading_twice_is_a_no_op(release_db: Path) -> None:
    url = f"sqlite:///{release_db}"
    assert migrate.upgrade(url) == (None, "0005")
    after = rows_of(release_db)
    assert migrate.upgrade(url) == ("0005", "0005")
    assert rows_of(release_db) == after


def test_replaying_every_revision_gives_the_schema_of_the_tables(tmp_path: Path) -> None:
    """Every revision replayed from an empty DB equal create_all of broker.store.tables."""
    from alembic import command

    url = f"sqlite:///{tmp_path / 'replayed.db'}"
    engine = create_engine(url)
    with engine.begin() as connection:
        command.upgrade(migrate.alembic_config(connection), "head")
    engine.dispose()
    assert migrate.current_revision(url) == "0005"
    assert schema_differences(url) == []


def test_revision_0001_is_the_release_schema(tmp_path: Path) -> None:
    """Revision 0001 creates exactly the tables and indexes in the 0.1.0 DB's sqlite_master."""
    from alembic import command

    url = f"sqlite:///{tmp_path / 'r1.db'}"
    engine = create_engine(url)
    with engine.begin() as connection:
        command.upgrade(migrate.alembic_config(connection), "0001")
    engine.dispose()

    def master(path: Path) -> set[tuple]:
        connection = sqlite3.connect(path)
        try:
            return {
                (kind, name, " ".join(sql.split()))
                for kind, name, sql in connection.execute(
                    "SELECT type, name, sql FROM sqlite_master WHERE name != 'alembic_version' AND sql IS NOT NULL"
                )
            }
        finally:
            connection.close()

    assert master(tmp_path / "r1.db") == master(RELEASE_DB)


def test_postgresql_migrations(postgres_url: str, fresh_engines) -> None:
    """On PostgreSQL: a new DB at head equals the tables; 0001 -> head upgrades with data."""
    from alembic import command

    engine = create_engine(postgres_url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        command.upgrade(migrate.alembic_config(connection), "0001")
        connection.execute(
            text(
                "INSERT INTO job (name, task_type, status, spec_path, spec_json, template_source, labels_json, "
                "marketplace, output_uri, reward_cents, workers_per_object, max_concurrent_hits, masters, n_objects, "
                "answers_version, consolidated_version, iteration, created_at) VALUES ('pg', 'image_classification', "
                "'Completed', '', '{}', '', '[]', 'local', '/tmp/out', 5, 3, 10, false, 0, 4, 4, 1, now())"
            )
        )
        connection.execute(
            text("INSERT INTO event (job_id, at, kind, message) VALUES (1, now(), 'exclude', 'W9: block: bad (0.700)')")
        )
    engine.dispose()
    assert migrate.upgrade(postgres_url) == ("0001", "0005")
    assert schema_differences(postgres_url) == []
    fresh_engines.append(postgres_url)
    engine = store_engine.get_engine(postgres_url)
    with store_engine.reading(engine) as session:
        job = session.exec(select(Job)).one()
        assert job.output_version == job.outcomes_version == 4
        assert [(r.worker_id, r.action, r.reason) for r in session.exec(select(WorkerExclusion))] == [
            ("W9", "block", "bad")
        ]


def test_postgresql_at_an_older_revision_is_refused_until_broker_db_upgrade(
    postgres_url: str, fresh_engines, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A shared DB is not migrated behind other daemons' backs: get_engine and every command refuse it."""
    from alembic import command

    engine = create_engine(postgres_url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        command.upgrade(migrate.alembic_config(connection), "0001")
    engine.dispose()
    fresh_engines.append(postgres_url)
    with pytest.raises(migrate.OutdatedSchemaError, match=r"revision 0001 .* run `broker db upgrade`"):
        store_engine.get_engine(postgres_url)
    assert migrate.current_revision(postgres_url) == "0001"  # nothing was changed
    settings = tmp_path / "settings.yaml"
    settings.write_text(f"db_url: {postgres_url}\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "broker.cli", "--settings", str(settings), "status"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "error: the broker DB is at schema revision 0001 and this broker needs 0005: stop the daemons using it, "
        "then run `broker db upgrade`"
    ]
    assert migrate.upgrade(postgres_url) == ("0001", "0005")
    assert store_engine.get_engine(postgres_url) is not None


def test_broker_db_upgrade_command(release_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`broker db upgrade` migrates the settings' DB once and says so; an unreachable DB is one clear line."""
    monkeypatch.setenv("BROKER_DB_URL", f"sqlite:///{release_db}")
    runner = CliRunner()
    assert "revision none (newest: 0005)" in runner.invoke(app, ["db", "revision"]).output
    first = runner.invoke(app, ["db", "upgrade"])
    assert first.exit_code == 0 and "unversioned -> 0005" in first.output
    again = runner.invoke(app, ["db", "upgrade"])
    assert again.exit_code == 0 and "at revision 0005, nothing to do" in again.output
    monkeypatch.setenv("BROKER_DB_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    refused = runner.invoke(app, ["db", "upgrade"])
    assert refused.exit_code == 1
    assert refused.output.startswith("error: db_url 'postgresql+psycopg://nobody@127.0.0.1:1/none'")
    assert "Traceback" not in refused.output
