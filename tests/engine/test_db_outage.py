"""PostgreSQL restarted under a running daemon: its ticks say so in one line, lose nothing, and carry on."""

from __future__ import annotations

import logging

from sqlmodel import select

from broker import daemon, mturk
from broker.settings import load_settings
from broker.stages.submit import submit_job
from broker.store import dispose_engine, get_engine, reading
from broker.store.tables import DataObject
from tests.conftest import start_postgres
from tests.engine.conftest import write_job


def test_ticks_while_postgresql_is_down_fail_in_one_line_and_the_restart_loses_nothing(tmp_path, market, caplog):
    (tmp_path / "pg").mkdir()
    server = start_postgres(tmp_path / "pg")
    mturk.forget_clients()
    settings = load_settings(db_url=server.url, local_endpoint_url=market.endpoint_url)
    try:
        engine = get_engine(server.url)
        files = write_job(tmp_path / "job", "text-classification", 4)
        submit_job(files.spec_path, engine, settings)
        assert daemon.run_tick("consolidate", engine, settings).errors == []  # the pool holds a connection now

        server.stop()
        with caplog.at_level(logging.WARNING, logger="broker.daemon"):
            down = daemon.run_tick("publish", engine, settings)
        assert len(down.errors) == 1 and "the broker DB cannot be reached" in down.errors[0]
        assert "\n" not in down.errors[0]
        assert all(record.exc_info is None for record in caplog.records)  # one line, no traceback
        assert market.marketplace.hits == {}  # nothing was sent to MTurk without the DB to record it

        server.start()
        up = daemon.run_tick("publish", engine, settings)  # the pool replaces its dead connection
        assert up.errors == [] and up.total("hits_created") == 4
        assert len(market.marketplace.hits) == 4
        assert daemon.run_tick("publish", engine, settings).total("hits_created") == 0  # one HIT per object
        with reading(engine) as session:
            assert len(session.exec(select(DataObject)).all()) == 4

        server.stop()  # a restart no tick saw: the pooled connections are dead, and tested before use
        server.start()
        assert daemon.run_tick("collect", engine, settings).errors == []
    finally:
        dispose_engine(server.url)
        mturk.forget_clients()
        server.stop()
