"""The auto-label loop's rows: its saved state, the crowd's results so far, and one step's writes."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, func, select

from broker.autolabel.report import cost_summary
from broker.domain.lifecycle import OBJECTS_WITH_CROWD, ObjectStatus
from broker.store.events import record_event
from broker.store.tables import AutoLabelRun, DataObject, Job
from broker.store.transitions import advance

AUTOLABEL_EVENT = "auto-label"


def autolabel_runs(session: Session, job_ids: Iterable[int]) -> dict[int, AutoLabelRun]:
    return {run.job_id: run for run in session.exec(select(AutoLabelRun).where(AutoLabelRun.job_id.in_(list(job_ids))))}


def finished_crowd_objects(session: Session, job_id: int) -> list[tuple[int, str, str | None, str | None]]:
    """(index, status, label JSON, confidence JSON) of the job's consolidated and failed objects."""
    return [
        tuple(row)
        for row in session.exec(
            select(DataObject.index, DataObject.status, DataObject.label_json, DataObject.confidence_json).where(
                DataObject.job_id == job_id, DataObject.status.in_([ObjectStatus.CONSOLIDATED, ObjectStatus.FAILED])
            )
        ).all()
    ]


def objects_with_crowd_count(session: Session, job_id: int) -> int:
    """Objects released to the crowd and not finished (pending, published or answered)."""
    return int(
        session.exec(
            select(func.count())
            .select_from(DataObject)
            .where(DataObject.job_id == job_id, DataObject.status.in_([s.value for s in OBJECTS_WITH_CROWD]))
        ).one()
    )


def manifest_lines(session: Session, job_id: int) -> list[tuple[dict, int]]:
    """(manifest line, line number) of every object, in index order."""
    return [
        (json.loads(data), line)
        for data, line in session.exec(
            select(DataObject.data_json, DataObject.line_number)
            .where(DataObject.job_id == job_id)
            .order_by(DataObject.index)
        ).all()
    ]


def held_object_ids(session: Session, job_id: int) -> dict[int, int]:
    """Object index -> id of the job's held objects."""
    return dict(
        session.exec(
            select(DataObject.index, DataObject.id).where(
                DataObject.job_id == job_id, DataObject.status == ObjectStatus.HELD
            )
        ).all()
    )


def save_run_state(
    session: Session, job_id: int, state: dict[str, Any], now: datetime, model_uri: str | None = None
) -> None:
    run = session.get(AutoLabelRun, job_id) or AutoLabelRun(job_id=job_id, state_json="{}")
    run.state_json = json.dumps(state)
    run.model_uri = model_uri or run.model_uri
    run.updated_at = now
    session.add(run)


def run_state(session: Session, job_id: int) -> dict[str, Any]:
    run = session.get(AutoLabelRun, job_id)
    return json.loads(run.state_json) if run is not None else {}


def machine_label(session: Session, job_id: int, labels: dict[int, tuple[Any, float]], now: datetime) -> None:
    """Held objects (id -> (label, confidence)) labeled by the model."""
    if not labels:
        return
    session.execute(
        update(DataObject),
        [
            {"id": object_id, "label_json": json.dumps(label), "confidence_json": json.dumps(round(confidence, 6))}
            for object_id, (label, confidence) in labels.items()
        ],
    )
    advance(session, list(labels), ObjectStatus.MACHINE_LABELED, job_id=job_id, values={"consolidated_at": now})


def release_to_crowd(session: Session, job_id: int, answers: dict[int, int | None]) -> None:
    """Held objects (id -> answers to ask for, None: the job's workers_per_object) go to the crowd."""
    if not answers:
        return
    session.execute(update(DataObject), [{"id": object_id, "max_assignments": n} for object_id, n in answers.items()])
    advance(session, list(answers), ObjectStatus.PENDING, job_id=job_id)


def ask_again(session: Session, job_id: int, answers: dict[int, int]) -> None:
    """Consolidated objects (index -> more answers) go back to the crowd; publish makes their next HIT."""
    if not answers:
        return
    ids = dict(
        session.exec(
            select(DataObject.index, DataObject.id).where(
                DataObject.job_id == job_id,
                DataObject.index.in_(list(answers)),
                DataObject.status == ObjectStatus.CONSOLIDATED,
            )
        ).all()
    )
    if not ids:
        return
    session.execute(
        update(DataObject), [{"id": object_id, "max_assignments": answers[index]} for index, object_id in ids.items()]
    )
    advance(session, list(ids.values()), ObjectStatus.PENDING, job_id=job_id, values={"failure_reason": None})


def release_all_held(session: Session, job_id: int) -> None:
    advance(session, list(held_object_ids(session, job_id).values()), ObjectStatus.PENDING, job_id=job_id)


def fail_held(session: Session, job_id: int, reason: str) -> None:
    advance(
        session,
        list(held_object_ids(session, job_id).values()),
        ObjectStatus.FAILED,
        job_id=job_id,
        values={"failure_reason": reason},
    )


def autolabel_summary(session: Session, job: Job) -> dict[str, Any] | None:
    """Per-iteration figures and money saved, for `broker status` and the job report (None: no auto_label)."""
    run = session.get(AutoLabelRun, job.id)
    if run is None:
        return None
    state = json.loads(run.state_json)
    if "iterations" not in state:  # turned off before its first step
        return {"done": True, "reason": state.get("reason", ""), "error": state.get("error"), "iterations": []}
    config = state["config"]
    requested = set(state["requested"])
    validation = requested & set(state["validation_ids"])
    counts = dict(
        session.exec(
            select(DataObject.status, func.count()).where(DataObject.job_id == job.id).group_by(DataObject.status)
        ).all()
    )
    cost = cost_summary(
        job.n_objects,
        len(requested),
        len(state["machine"]),
        job.reward_cents,
        job.workers_per_object,
        job.masters,
        validation_objects=len(validation),
        validation_workers_per_object=config.get("validation_workers_per_object"),
        asked_again=len(state.get("asked_again", {})),
        answers_again=int(config.get("dispute_answers") or 0),
    )
    iterations = []
    for item in state["iterations"]:
        row = {key: value for key, value in item.items() if key != "machine_labels"}
        row["new_machine_labels"] = len(item["machine_labels"])
        iterations.append(row)
    return {
        "done": bool(state["done"]),
        "reason": state["reason"],
        "human_objects": len(requested),
        "validation_objects": len(validation),
        "machine_labeled": counts.get(ObjectStatus.MACHINE_LABELED, 0),
        "held": counts.get(ObjectStatus.HELD, 0),
        "iterations": iterations,
        "cost": cost.to_dict(),
        "model_uri": run.model_uri,
        "config": config,
    }


def record_autolabel_event(session: Session, job_id: int, message: str) -> None:
    record_event(session, job_id, AUTOLABEL_EVENT, message)
