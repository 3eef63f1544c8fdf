"""The lifecycle table, walked on a real SQLite DB through broker.store.transitions.advance.

For every kind of status and every (source, target) pair: advance moves a row iff the table
allows the pair, and otherwise raises TransitionError with the transaction rolled back.
"""

from __future__ import annotations

import itertools
from collections import deque
from enum import StrEnum

import pytest
from sqlmodel import func, select

from broker.domain.clock import utcnow
from broker.domain.lifecycle import (
    ASSIGNMENTS_DECIDED,
    HITS_FINISHED,
    INITIAL,
    JOBS_FINISHED,
    OBJECTS_FINISHED,
    TRANSITIONS,
    HitStatus,
    JobStatus,
    ObjectStatus,
    ReviewStatus,
    TransitionError,
    may_move,
)
from broker.store import dispose_engine, get_engine, reading, transaction
from broker.store.tables import Assignment, DataObject, Event, Hit, Job
from broker.store.transitions import TRANSITION_EVENT, advance

KINDS: list[type[StrEnum]] = [JobStatus, ObjectStatus, HitStatus, ReviewStatus]
FINISHED = {
    JobStatus: JOBS_FINISHED,
    ObjectStatus: OBJECTS_FINISHED,
    HitStatus: HITS_FINISHED,
    ReviewStatus: ASSIGNMENTS_DECIDED,
}
PAIRS = [(kind, source, target) for kind in KINDS for source, target in itertools.product(kind, kind)]


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory):
    url = f"sqlite:///{tmp_path_factory.mktemp('lifecycle') / 'broker.db'}"
    yield get_engine(url)
    dispose_engine(url)


_counter = itertools.count()


def new_row(engine, kind: type[StrEnum], status: StrEnum) -> tuple[type, int]:
    """Insert a row of the table that holds `kind`, starting in `status` (with the parents it needs)."""
    n = next(_counter)
    with transaction(engine) as session:
        job = Job(
            name=f"job-{n}",
            task_type="image-classification",
            spec_json="{}",
            template_source="",
            labels_json="[]",
            output_uri="/tmp/out",
            reward_cents=5,
            workers_per_object=1,
            max_concurrent_hits=1,
            created_at=utcnow(),
            status=status if kind is JobStatus else JobStatus.ACTIVE,
        )
        session.add(job)
        session.flush()
        if kind is JobStatus:
            return Job, job.id
        obj = DataObject(
            job_id=job.id,
            index=0,
            line_number=1,
            data_json="{}",
            status=status if kind is ObjectStatus else ObjectStatus.PENDING,
        )
        session.add(obj)
        session.flush()
        if kind is ObjectStatus:
            return DataObject, obj.id
        hit = Hit(
            job_id=job.id,
            object_id=obj.id,
            token=f"token-{n}",
            max_assignments=1,
            reward_cents=5,
            assignment_cost_cents=6,
            created_at=utcnow(),
            status=status if kind is HitStatus else HitStatus.OPEN,
        )
        session.add(hit)
        session.flush()
        if kind is HitStatus:
            return Hit, hit.id
        assignment = Assignment(
            assignment_id=f"A{n}",
            hit_row_id=hit.id,
            job_id=job.id,
            object_id=obj.id,
            worker_id="W1",
            mturk_status="Submitted",
            answer_xml="<a/>",
            cost_cents=6,
            review_status=status,
        )
        session.add(assignment)
        session.flush()
        return Assignment, assignment.id


def status_of(engine, table: type, row_id: int) -> str:
    column = "review_status" if table is Assignment else "status"
    with reading(engine) as session:
        return str(getattr(session.get(table, row_id), column))


def event_count(engine) -> int:
    with reading(engine) as session:
        return session.exec(select(func.count()).select_from(Event).where(Event.kind == TRANSITION_EVENT)).one()


@pytest.mark.parametrize(
    ("kind", "source", "target"), PAIRS, ids=[f"{k.__name__}:{s.value}->{t.value}" for k, s, t in PAIRS]
)
def test_advance_moves_a_row_iff_the_table_allows_it(engine, kind, source, target) -> None:
    table, row_id = new_row(engine, kind, source)
    events = event_count(engine)
    allowed = source in TRANSITIONS[kind].get(target, frozenset())
    assert may_move(source, target) == allowed
    if allowed:
        with transaction(engine) as session:
            assert advance(session, [row_id], target, note="walk") == [row_id]
        assert status_of(engine, table, row_id) == target.value
        assert event_count(engine) == events + 1
    else:
        with pytest.raises(TransitionError):
            with transaction(engine) as session:
                advance(session, [row_id], target)
        assert status_of(engine, table, row_id) == source.value
        assert event_count(engine) == events


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.__name__)
def test_a_refused_row_rolls_back_the_whole_call(engine, kind) -> None:
    """Strict: one row that may not move refuses the call; the rows that could move stay put too."""
    for target, sources in TRANSITIONS[kind].items():
        stuck = next((s for s in kind if s not in sources), None)
        if stuck is None:
            continue
        source = sorted(sources)[0]
        movable = new_row(engine, kind, source)
        refused = new_row(engine, kind, stuck)
        events = event_count(engine)
        with pytest.raises(TransitionError, match=stuck.value):
            with transaction(engine) as session:
                advance(session, [movable[1], refused[1]], target)
        assert status_of(engine, *movable) == source.value
        assert status_of(engine, *refused) == stuck.value
        assert event_count(engine) == events


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.__name__)
def test_not_strict_returns_only_the_rows_that_moved(engine, kind) -> None:
    for target in TRANSITIONS[kind]:
        rows = {source: new_row(engine, kind, source) for source in kind}
        events = event_count(engine)
        with transaction(engine) as session:
            moved = advance(session, [row_id for _, row_id in rows.values()], target, strict=False)
        expected = {rows[s][1] for s in kind if may_move(s, target)}
        assert set(moved) == expected
        for source, (table, row_id) in rows.items():
            assert status_of(engine, table, row_id) == (target.value if row_id in expected else source.value)
        assert event_count(engine) == events + (1 if expected else 0)


def test_values_are_set_only_on_the_rows_that_move(engine) -> None:
    table, moving = new_row(engine, ObjectStatus, ObjectStatus.ANSWERED)
    _, staying = new_row(engine, ObjectStatus, ObjectStatus.HELD)
    with transaction(engine) as session:
        advance(session, [moving, staying], ObjectStatus.CONSOLIDATED, strict=False, values={"n_answers": 7})
    with reading(engine) as session:
        assert session.get(DataObject, moving).n_answers == 7
        assert session.get(DataObject, staying).n_answers == 0


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.__name__)
def test_every_status_is_reachable_from_an_initial_one(kind) -> None:
    seen = set(INITIAL[kind])
    queue = deque(seen)
    while queue:
        source = queue.popleft()
        for target, sources in TRANSITIONS[kind].items():
            if source in sources and target not in seen:
                seen.add(target)
                queue.append(target)
    assert seen == set(kind)


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.__name__)
def test_every_unfinished_status_has_a_way_to_a_finished_one(kind) -> None:
    finished = FINISHED[kind]
    for status in set(kind) - finished:
        seen, queue = {status}, deque([status])
        while queue:
            source = queue.popleft()
            for target, sources in TRANSITIONS[kind].items():
                if source in sources and target not in seen:
                    seen.add(target)
                    queue.append(target)
        assert seen & finished, f"{kind.__name__}.{status.name} has no way out to a finished status"


def test_an_object_reaching_an_outcome_makes_its_jobs_output_due(engine) -> None:
    """Failing or labeling objects bumps Job.outcomes_version once per call; other moves do not."""
    _, first = new_row(engine, ObjectStatus, ObjectStatus.PUBLISHED)
    _, second = new_row(engine, ObjectStatus, ObjectStatus.PUBLISHED)

    def outcomes(object_id: int) -> int:
        with reading(engine) as session:
            return session.get(Job, session.get(DataObject, object_id).job_id).outcomes_version

    with transaction(engine) as session:
        advance(session, [first, second], ObjectStatus.ANSWERED)
    assert (outcomes(first), outcomes(second)) == (0, 0)
    with transaction(engine) as session:
        advance(session, [first], ObjectStatus.FAILED)
    assert (outcomes(first), outcomes(second)) == (1, 0)
