"""Worker and job statistics against values computed by hand from the fixed job (see conftest)."""

from __future__ import annotations

import csv
from datetime import UTC, datetime

import pytest
from sqlmodel import Session

from broker.reports import job_report, worker_report
from broker.reports.workers import sort_rows
from broker.store.tables import Job


@pytest.fixture()
def report(fixed_job):
    with Session(fixed_job.engine) as session:
        return worker_report(session, [session.get(Job, fixed_job.job_id)])


def rows_by_id(report):
    return {row.worker_id: row for row in report.rows}


def test_counts_and_review_outcomes(report):
    rows = rows_by_id(report)
    assert [(r.assignments, r.approved, r.rejected, r.pending) for r in rows.values()] == [
        (4, 4, 0, 0),
        (4, 4, 0, 0),
        (4, 3, 1, 0),
    ]


def test_work_time_median_p90_and_hourly_wage(report):
    rows = rows_by_id(report)
    one, two, spam = rows["AGOODWORKER1"], rows["AGOODWORKER2"], rows["ASPAMMER0003"]
    assert (one.median_seconds, one.p90_seconds) == (45.0, pytest.approx(57.0))
    assert (two.median_seconds, two.p90_seconds) == (25.0, pytest.approx(37.0))
    assert (spam.median_seconds, spam.p90_seconds) == (5.0, 5.0)
    # earned (approved rewards + bonuses) per hour of all work: 40c / 180 s, 65c / 100 s, 30c / 20 s
    assert (one.hourly_wage_cents, two.hourly_wage_cents, spam.hourly_wage_cents) == (800, 2340, 5400)


def test_money_with_fees_and_bonus(report):
    rows = rows_by_id(report)
    assert [(r.earned_cents, r.cost_cents, r.bonus_cents) for r in rows.values()] == [
        (40, 48, 0),
        (65, 4 * 12 + 25 + 5, 25),
        (30, 36, 0),
    ]


def test_quality_figures(report):
    rows = rows_by_id(report)
    one, spam = rows["AGOODWORKER1"], rows["ASPAMMER0003"]
    assert (one.gold_accuracy, one.gold_answers) == (1.0, 1)
    assert (spam.gold_accuracy, spam.gold_answers) == (0.0, 1)  # its one usable gold answer is wrong
    assert one.agreement == 1.0 and spam.agreement == 0.0  # 0 of its 3 usable answers agree
    # 3-4 answers each: the two who agree throughout score high, the worker who contradicts them on
    # every item (and on gold) scores below guessing: informative the wrong way round, not random
    assert one.em_accuracy > 0.8 > 0.6 > 0.5 > spam.em_accuracy
    assert one.em_accuracy - spam.em_accuracy > 0.3
    assert spam.accuracy_high < one.accuracy_low  # the intervals do not overlap
    assert spam.chance == one.chance == 0.5
    # the spammer score (rows alike = answers unrelated to the truth) is low for both: neither answers at random
    assert one.spammer_score < 0.5 and spam.spammer_score < 0.5


def test_first_last_seen_daily_activity_and_status(report):
    one, spam = rows_by_id(report)["AGOODWORKER1"], rows_by_id(report)["ASPAMMER0003"]
    assert one.first_seen == datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    assert one.last_seen == datetime(2026, 11, 21, 9, 1, tzinfo=UTC)
    assert one.daily == {"2026-11-20": 3, "2026-11-21": 1}
    assert one.status == "active"
    assert spam.status == "excluded" and "gold accuracy 0.00" in spam.status_reason


def test_confusions(report):
    # rows: consolidated (gold for object 3) class; columns: answer, all labelled answers
    assert report.class_confusion.tolist() == [[4, 2], [1, 5]]
    assert report.confusions["AGOODWORKER1"].shape == (2, 2)
    assert report.confusions["AGOODWORKER1"][0, 0] > 0.8
    assert report.confusions["ASPAMMER0003"][0, 0] < 0.5


def test_sort_rows(report):
    assert [r.worker_id for r in sort_rows(report.rows, "em_accuracy")][-1] == "ASPAMMER0003"
    assert [r.worker_id for r in sort_rows(report.rows, "median_seconds")][0] == "ASPAMMER0003"
    assert [r.worker_id for r in sort_rows(report.rows, "hourly_wage_cents", descending=False)][0] == "AGOODWORKER1"
    with pytest.raises(ValueError, match="unknown column"):
        sort_rows(report.rows, "nonsense")


def test_workers_csv(report, tmp_path):
    from broker.reports.tables import write_workers_csv

    path = tmp_path / "workers.csv"
    write_workers_csv(report.rows, path)
    rows = list(csv.DictReader(path.open()))
    assert [r["worker_id"] for r in rows] == ["AGOODWORKER1", "AGOODWORKER2", "ASPAMMER0003"]
    assert rows[1]["cost_cents"] == "78" and rows[1]["hourly_wage_cents"] == "2340"
    assert rows[0]["daily"] == "2026-11-20=3;2026-11-21=1"
    assert rows[0]["first_seen"] == "2026-11-20T10:00:00+00:00"
    assert rows[2]["status"] == "excluded"


def test_job_report(fixed_job):
    with Session(fixed_job.engine) as session:
        report = job_report(session, session.get(Job, fixed_job.job_id))
    assert (report.objects, report.gold_objects, report.consolidated) == (4, 1, 3)
    assert (report.assignments, report.approved, report.rejected, report.workers) == (12, 11, 1, 3)
    assert (report.reward_cents, report.fee_cents, report.bonus_cents, report.bonus_fee_cents) == (110, 22, 25, 5)
    assert (report.spent_cents, report.committed_cents) == (162, 0)
    assert report.cost_per_label_cents == 54.0  # 162 cents / 3 real labels
    assert report.estimated_accuracy == pytest.approx((0.9 + 0.95 + 0.9 + 0.8) / 4)
    assert (report.measured_accuracy, report.gold_measured) == (1.0, 1)
    assert report.hours == pytest.approx(23 + 1 / 60)  # 10:00 -> next day 09:01
    assert report.assignments_per_hour == pytest.approx(12 / (23 + 1 / 60))
    assert report.progress_assignments[-1] == 12 and len(report.progress_times) == 12
    assert report.completion_objects == [1, 2, 3, 4]
    assert [kind for _, _, kind, _ in report.events] == ["exclude"]


def test_job_csv(fixed_job, tmp_path):
    from broker.reports.tables import write_job_csv

    with Session(fixed_job.engine) as session:
        report = job_report(session, session.get(Job, fixed_job.job_id))
    path = tmp_path / "job.csv"
    write_job_csv(report, path)
    figures = {row["figure"]: row["value"] for row in csv.DictReader(path.open())}
    assert figures["spent_cents"] == "162"
    assert figures["cost_per_label_cents"] == "54.0"
    assert figures["measured_accuracy"] == "1.0"
    assert figures["budget_cents"] == ""


def test_multilabel_job_reports_counts_time_and_money_without_em(fixed_job):
    """Multi-label answers have no single-class EM model: those figures are empty, the rest is kept."""
    from broker.reports.html import worker_report_html
    from broker.store import transaction

    with transaction(fixed_job.engine) as session:
        job = session.get(Job, fixed_job.job_id)
        job.task_type = "image-classification-multilabel"
        session.add(job)
    with Session(fixed_job.engine) as session:
        report = worker_report(session, [session.get(Job, fixed_job.job_id)])
    one = rows_by_id(report)["AGOODWORKER1"]
    assert (one.assignments, one.median_seconds, one.hourly_wage_cents, one.cost_cents) == (4, 45.0, 800, 48)
    assert one.em_accuracy is None and one.agreement is None and report.class_confusion is None
    assert 'id="plot-work-time"' in worker_report_html(report)
