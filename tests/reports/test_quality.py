"""Quality control: pure decisions, then gold + exclusion + bonus on the embedded marketplace.

The end-to-end job: 6 review texts + 2 gold texts (both "negative"), 3 answers per object.
Two spammers answer "positive" to everything first, then one good worker answers everything:
the spammers out-vote the good worker on negative texts. The exclusion rule (gold accuracy
below 0.6 after 4 answers) excludes both by qualification; their answers drop out, every object
gets 2 fresh assignments (within the budget), which two more good workers answer; the spammers
can no longer see the work; accuracy goes to 100%; the top worker gets one bonus, paid once
even when the bonus tick runs again after a restart or after a crash that lost SendBonus' result.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlmodel import Session, select

from broker import mturk
from broker.domain.lifecycle import ObjectStatus
from broker.domain.rules import WorkerEvidence, decide_bonuses, decide_exclusions
from broker.gold import gold_positions
from broker.spec import BonusRule, ExclusionRule
from broker.stages.quality import quality_tick
from broker.store import dispose_engine, get_engine, transaction
from broker.store.tables import Bonus, DataObject, Event, Job

NAN = math.nan


# ------------------------------------------------------------------------------------------ pure rules


def test_exclusion_prefers_gold_then_em_and_waits_for_enough_answers():
    rule = ExclusionRule(min_answers=5, min_accuracy=0.6, min_gold_answers=2)
    evidence = [
        WorkerEvidence("GOLDBAD", 10, 0.9, 3, 0.33),  # EM looks fine, gold says no -> excluded on gold
        WorkerEvidence("EMBAD", 10, 0.4, 1, 1.0),  # too little gold -> judged on EM -> excluded
        WorkerEvidence("FEW", 4, 0.1, 0, NAN),  # not enough answers yet
        WorkerEvidence("GOOD", 10, 0.95, 3, 1.0),
        WorkerEvidence("DONE", 10, 0.1, 3, 0.0),  # already excluded
    ]
    decided = decide_exclusions(evidence, rule, {"DONE"})
    assert [(d.worker_id, d.measure, d.action) for d in decided] == [
        ("GOLDBAD", "gold", "qualification"),
        ("EMBAD", "em", "qualification"),
    ]
    assert "gold accuracy 0.330 over 10 answers" in decided[0].reason
    gold_only = ExclusionRule(min_answers=5, measure="gold", min_gold_answers=2, action="block")
    assert [d.worker_id for d in decide_exclusions(evidence, gold_only, set())] == ["GOLDBAD", "DONE"]


def test_bonus_goes_to_top_fraction_by_em_once_eligible():
    rule = BonusRule(top_fraction=0.1, min_answers=5, amount="0.50")
    evidence = [WorkerEvidence(f"W{i:02d}", 10, 0.5 + i / 100, 0, NAN) for i in range(20)]
    evidence.append(WorkerEvidence("FEWANSWERS", 2, 0.99, 0, NAN))
    evidence.append(WorkerEvidence("EXCLUDED", 10, 0.99, 0, NAN))
    first = {w.worker_id: f"A-{w.worker_id}" for w in evidence}
    awards = decide_bonuses(evidence, rule, first, {"EXCLUDED"})
    # 20 eligible workers, top 10% = 2; FEWANSWERS has too few answers, EXCLUDED is excluded
    assert [(a.worker_id, a.assignment_id, a.amount_cents) for a in awards] == [
        ("W19", "A-W19", 50),
        ("W18", "A-W18", 50),
    ]
    assert awards[0].em_accuracy == pytest.approx(0.69) and awards[0].reason == rule.reason
    assert decide_bonuses(evidence, rule, {}, set()) == []  # nothing approved yet: nothing to attach to


def test_gold_positions_are_distinct_seeded_and_spread():
    positions = gold_positions(90, 10, seed=7)
    assert len(set(positions.tolist())) == 10 and positions.max() < 100
    assert positions.tolist() == gold_positions(90, 10, seed=7).tolist()
    assert positions.tolist() != gold_positions(90, 10, seed=8).tolist()


# ------------------------------------------------------------------------------------------ end to end

TEXTS = [
    ("Loved every bite", "positive"),
    ("Cold and rude", "negative"),
    ("Great staff", "positive"),
    ("Never again", "negative"),
    ("Wonderful", "positive"),
    ("Awful soup", "negative"),
]
GOLD = [("Dirty tables and slow service", "negative"), ("The worst pizza in town", "negative")]
SPAMMERS = ["ASPAMMERONE01", "ASPAMMERTWO02"]
GOOD = ["AGOODONE00001", "AGOODTWO00002", "AGOODTHREE003"]


def write_quality_job(tmp_path: Path) -> Path:
    (tmp_path / "in.manifest").write_text("".join(json.dumps({"source": t}) + "\n" for t, _ in TEXTS))
    (tmp_path / "gold.manifest").write_text(
        "".join(json.dumps({"source": t, "gold-label": label}) + "\n" for t, label in GOLD)
    )
    spec = {
        "job_name": "quality-job",
        "task_type": "text-classification",
        "labels": ["positive", "negative"],
        "input_manifest": "in.manifest",
        "output": "out",
        "workers_per_object": 3,
        "reward": "0.05",
        "budget_usd": "3.00",
        "title": "Sentiment",
        "description": "Positive or negative?",
        "lifetime_seconds": 3600,
        "max_concurrent_hits": 100,
        "quality": {
            "gold": {"manifest": "gold.manifest", "rate": 0.25},
            "exclusion": {"min_answers": 4, "min_accuracy": 0.6, "min_gold_answers": 2, "action": "qualification"},
            "bonus": {"top_fraction": 0.3, "min_answers": 4, "amount": "0.10", "reason": "Top accuracy, thanks!"},
        },
    }
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


TRUTH = dict(TEXTS + GOLD)


def answer_all(running: Any, workers: list[str], choose: Any, work_on_hit: Any) -> int:
    """Each worker accepts and submits every HIT it may see, through the worker-facing methods."""
    market = running.marketplace
    done = 0
    for worker in workers:
        if worker not in market.workers:
            market.register_worker(worker)
        for group in market.list_hit_groups(worker):
            while (hit_id := market.next_hit_for_worker(group.hit_type_id, worker)) is not None:
                seen = work_on_hit(running, hit_id, worker, choose)
                assert "gold" not in json.dumps(seen["data"]) and "gold" not in seen["page"].lower()  # never shown
                done += 1
    return done


def spam_or_truth(data: dict, worker: str) -> str:
    return "positive" if worker in SPAMMERS else TRUTH[data["source"]]


def accuracy(engine: Any, job_id: int) -> float:
    with Session(engine) as session:
        objects = session.exec(select(DataObject).where(DataObject.job_id == job_id)).all()
    labels = ["positive", "negative"]
    right = [o.label_json is not None and labels[json.loads(o.label_json)] == TRUTH[o.data["source"]] for o in objects]
    return sum(right) / len(right)


def cycle(engine: Any, settings: Any) -> None:
    from broker.daemon import run_cycle

    result = run_cycle(engine, settings)
    assert not result.errors, result.errors


def test_gold_exclusion_reassignment_and_bonus_on_the_marketplace(tmp_path: Path, market, settings, hit_worker):
    from broker.stages.quality import _LAST_STATE
    from broker.stages.submit import submit_job
    from broker.store.jobs import job_money

    engine = get_engine(settings.db_url)
    submitted = submit_job(write_quality_job(tmp_path), engine, settings)
    assert submitted.n_objects == 8  # 6 texts + ceil(6 * .25 / .75) = 2 gold
    with Session(engine) as session:
        gold_rows = [
            o
            for o in session.exec(select(DataObject).where(DataObject.job_id == submitted.job_id))
            if "gold-label" in o.data
        ]
    assert len(gold_rows) == 2

    cycle(engine, settings)  # publish 8 HITs
    assert answer_all(market, SPAMMERS, spam_or_truth, hit_worker) == 16
    assert answer_all(market, GOOD[:1], spam_or_truth, hit_worker) == 8
    cycle(engine, settings)  # collect, review, consolidate, quality
    from broker.daemon import run_cycle

    assert run_cycle(engine, settings, ticks=("publish",)).errors == []  # the fresh HITs of re-pended objects
    # what consolidation would say with the spammers in: every negative text is out-voted
    from broker.consolidation import answer_arrays, consolidate_answers
    from broker.store.tables import Assignment

    with Session(engine) as session:
        rows = list(
            session.exec(
                select(DataObject.index, Assignment.worker_id, Assignment.chosen_json).join(
                    DataObject, Assignment.object_id == DataObject.id
                )
            ).all()
        )
    assert len(rows) == 24
    with Session(engine) as session:
        events = session.exec(select(Event).where(Event.job_id == submitted.job_id, Event.kind == "exclude")).all()
        excluded = sorted(e.message.split(":")[0] for e in events)
        money = job_money(session, submitted.job_id)
        job = session.get(Job, submitted.job_id)
    assert excluded == SPAMMERS
    assert all("gold accuracy 0.000" in e.message for e in events)
    # the spammers' answers no longer count; 8 objects x 2 fresh assignments are committed within budget
    assert money.committed_cents == 16 * 6 and money.spent_cents + money.committed_cents <= job.budget_cents
    with Session(engine) as session:
        reassigned = session.exec(select(Event).where(Event.job_id == job.id, Event.kind == "reassign")).all()
    assert len(reassigned) == 8
    # spammers cannot see the fresh HITs (qualification DoesNotExist); good workers can
    assert answer_all(market, SPAMMERS, spam_or_truth, hit_worker) == 0
    assert answer_all(market, GOOD[1:], spam_or_truth, hit_worker) == 16
    for _ in range(3):
        cycle(engine, settings)
    with Session(engine) as session:
        job = session.get(Job, submitted.job_id)
        statuses = {o.status for o in session.exec(select(DataObject).where(DataObject.job_id == job.id))}
        bonuses = session.exec(select(Bonus).where(Bonus.job_id == job.id)).all()
        money = job_money(session, job.id)
    assert statuses == {ObjectStatus.CONSOLIDATED} and job.completed_at is not None
    output = [json.loads(line) for line in Path(job.output_manifest).read_text().splitlines()]
    assert [line["source"] for line in output] == [text for text, _ in TEXTS]  # gold left out, order kept
    assert [line["quality-job"] for line in output] == [["positive", "negative"].index(label) for _, label in TEXTS]
    assert accuracy(engine, job.id) == 1.0
    spammed = consolidate_answers(answer_arrays(rows), 8, 2, multilabel=False, workers_per_object=3)
    with Session(engine) as session:
        sources = {
            o.index: o.data["source"] for o in session.exec(select(DataObject).where(DataObject.job_id == job.id))
        }
    spammed_accuracy = sum(["positive", "negative"][spammed.labels[i]] == TRUTH[s] for i, s in sources.items()) / 8
    assert spammed_accuracy <= 0.5 < 1.0  # accuracy rose with quality control
    assert money.spent_cents <= job.budget_cents and money.committed_cents == 0
    # one bonus, to the best worker (ties on EM broken by WorkerId), paid and logged
    assert [(b.worker_id, b.amount_cents, b.sent) for b in bonuses] == [(bonuses[0].worker_id, 10, True)]
    assert bonuses[0].worker_id in GOOD

    # restart: fresh engine, fresh clients, no in-memory state; the rule runs again on the finished job
    def rerun() -> None:
        dispose_engine(settings.db_url)
        mturk.forget_clients()
        _LAST_STATE.clear()
        fresh = get_engine(settings.db_url)
        with transaction(fresh) as session:  # re-open the job so the tick sees it
            row = session.get(Job, job.id)
            row.status, row.completed_at = "Active", None
            session.add(row)
        report = quality_tick(fresh, settings)
        assert report.errors == []

    rerun()
    assert _bonus_payments(market, bonuses[0].assignment_id) == 1
    # a crash after SendBonus but before the row was marked sent: the retry is refused by token, settled
    with transaction(get_engine(settings.db_url)) as session:
        row = session.exec(select(Bonus)).one()
        row.sent = False
        session.add(row)
    rerun()
    assert _bonus_payments(market, bonuses[0].assignment_id) == 1
    with Session(get_engine(settings.db_url)) as session:
        assert session.exec(select(Bonus)).one().sent is True
        assert "settled" in session.exec(select(Event).where(Event.kind == "bonus")).all()[-1].message


def _bonus_payments(market: Any, assignment_id: str) -> int:
    return market.marketplace.list_bonus_payments({"AssignmentId": assignment_id})["NumResults"]
