"""Reports a requester can act on: accuracy intervals, flags with their evidence, the exact commands
that act on them, assignment IDs, and workers whose work was rejected shown as such."""

from __future__ import annotations

from dataclasses import replace

from sqlmodel import Session
from typer.testing import CliRunner

from broker.cli import app
from broker.reports import worker_report
from broker.reports.workers import WorkerRow, suggested_actions, worker_flags
from broker.store.tables import Job

runner = CliRunner()


def _row(**values) -> WorkerRow:
    base = dict(
        worker_id="AWORKER",
        assignments=12,
        approved=8,
        rejected=0,
        pending=4,
        em_accuracy=0.31,
        gold_accuracy=None,
        gold_answers=0,
        agreement=0.3,
        spammer_score=0.9,
        median_seconds=2.0,
        p90_seconds=3.0,
        hourly_wage_cents=None,
        earned_cents=0,
        cost_cents=0,
        bonus_cents=0,
        first_seen=None,
        last_seen=None,
        status="active",
        accuracy_low=0.12,
        accuracy_high=0.55,
    )
    return WorkerRow(**(base | values))


def test_flags_say_why_with_the_evidence_and_the_interval():
    flags = worker_flags(_row(gold_answers=5, gold_accuracy=0.2), crowd_median_seconds=20.0)
    assert flags == [
        "likely spammer: spammer score 0.90, accuracy 0.31 (0.12-0.55) over 12 answers",
        "fails gold: 1 of 5 gold answers right",
        "too fast: median 2.0 s per answer, the crowd's 20.0 s",
    ]
    assert worker_flags(_row(spammer_score=0.2, median_seconds=18.0), 20.0) == []
    assert worker_flags(_row(assignments=2), 20.0) == []  # two answers: too few to judge


def test_a_worker_confidently_worse_than_guessing_is_flagged():
    """A contrarian's answers carry information the wrong way round, so the spammer score misses them;
    the flag reads the accuracy interval against guessing on the worker's jobs instead."""
    contrarian = _row(spammer_score=0.3, em_accuracy=0.17, accuracy_low=0.05, accuracy_high=0.4, chance=0.5)
    assert worker_flags(contrarian, 20.0)[0] == (
        "answers against the truth: accuracy 0.17 (0.05-0.40) over 12 answers, below guessing (0.50)"
    )
    assert suggested_actions(replace(contrarian, flags=worker_flags(contrarian, 20.0)), ["j"])[-1] == (
        'broker worker block AWORKER --reason "Answers against the truth on our tasks."'
    )
    # an interval that reaches guessing is not evidence enough; nor is a job without a known chance level
    assert not any("against" in f for f in worker_flags(replace(contrarian, accuracy_high=0.55), 20.0))
    assert not any("against" in f for f in worker_flags(replace(contrarian, chance=None), 20.0))


def test_suggested_actions_are_exact_commands():
    row = _row()
    row.flags = worker_flags(row, 20.0)
    assert suggested_actions(row, ["digits"]) == [
        'broker review digits --worker AWORKER --reject-all --reason "Rejected: likely spammer."',
        'broker worker block AWORKER --reason "Likely spammer on our tasks."',
    ]
    blocked = replace(row, status="blocked")
    assert suggested_actions(blocked, ["digits"]) == []
    nothing_pending = replace(row, pending=0)
    assert suggested_actions(nothing_pending, ["a", "b"]) == [
        'broker worker block AWORKER --reason "Likely spammer on our tasks."'
    ]


def test_a_worker_whose_answers_were_all_rejected_is_shown_as_such():
    row = _row(status="rejected", status_reason="Too many disagreed.", rejected=12, approved=0, pending=0)
    assert worker_flags(row, 20.0)[0] == "all 12 answers rejected: Too many disagreed."
    assert suggested_actions(replace(row, flags=worker_flags(row, 20.0)), ["j"]) == []


def test_report_rows_carry_the_interval_and_assignment_ids(fixed_job):
    with Session(fixed_job.engine) as session:
        report = worker_report(session, [session.get(Job, fixed_job.job_id)])
    for row in report.rows:
        assert row.accuracy_low < row.em_accuracy < row.accuracy_high
        assert len(row.assignment_ids) == row.assignments == 4
        name = session.get(Job, fixed_job.job_id).name
    shown = runner.invoke(app, ["report", "workers", name], env={"BROKER_DB_URL": fixed_job.db_url})
    assert shown.exit_code == 0 and "EM acc (95%)" in shown.output
    low = next(row for row in report.rows if row.worker_id == "AGOODWORKER1")
    assert f"{low.em_accuracy:.2f} ({low.accuracy_low:.2f}-{low.accuracy_high:.2f})" in shown.output
