"""On PostgreSQL collect and consolidate run on their own threads: an object answered while
consolidation is fitting waits for the next pass; it never fails "for want of answers"."""

from __future__ import annotations

from sqlmodel import Session, select

from broker.stages import consolidate
from broker.stages.collect import collect_tick
from broker.stages.consolidate import consolidate_tick
from broker.stages.publish import publish_tick
from broker.stages.submit import submit_job
from broker.store.tables import DataObject
from tests.engine.conftest import WORKERS_DEFAULT, answer_open_hits, truthful, write_job


def _statuses(engine) -> list[str]:
    with Session(engine) as session:
        return sorted(obj.status for obj in session.exec(select(DataObject)))


def test_an_object_answered_during_the_fit_is_consolidated_next_time(
    tmp_path, market, settings, engine, monkeypatch
) -> None:
    files = write_job(tmp_path / "job", "text-classification", 2, workers_per_object=1)
    submit_job(files.spec_path, engine, settings)
    publish_tick(engine, settings)
    chooser = truthful(files.truth)
    assert answer_open_hits(market, chooser, WORKERS_DEFAULT[:1], limit=1) == 1
    collect_tick(engine, settings)
    assert _statuses(engine) == ["answered", "published"]
    real_fit = consolidate.fit_job

    def fit_while_collect_stores_more(*args, **kwargs):
        fitted = real_fit(*args, **kwargs)
        assert answer_open_hits(market, chooser, WORKERS_DEFAULT[:1]) == 1  # the other object's answer
        collect_tick(engine, settings)  # ... stored and the object moved on while the fit ran
        return fitted

    monkeypatch.setattr(consolidate, "fit_job", fit_while_collect_stores_more)
    consolidate_tick(engine, settings)
    assert _statuses(engine) == ["answered", "consolidated"]
    monkeypatch.setattr(consolidate, "fit_job", real_fit)
    consolidate_tick(engine, settings)
    assert _statuses(engine) == ["consolidated", "consolidated"]
