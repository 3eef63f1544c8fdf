"""The console's plain views: labels in words, the block reason the worker report suggests."""

from __future__ import annotations

from broker.console.views import confidence_text, label_text, suggested_block_reason
from broker.reports.workers import WorkerRow, suggested_actions, worker_flags


def _row(**changes) -> WorkerRow:
    fields = dict.fromkeys(WorkerRow.__dataclass_fields__)
    fields.update(
        worker_id="AWORKER",
        assignments=8,
        approved=0,
        rejected=0,
        pending=8,
        gold_answers=0,
        earned_cents=0,
        cost_cents=0,
        bonus_cents=0,
        status="active",
        status_reason="",
        daily={},
        assignment_ids=[],
        flags=[],
        actions=[],
    )
    fields.update(changes)
    return WorkerRow(**fields)


def test_the_block_reason_is_the_one_the_worker_report_suggests():
    row = _row(spammer_score=0.9, em_accuracy=0.3, accuracy_low=0.1, accuracy_high=0.6)
    row.flags = worker_flags(row, crowd_median_seconds=None)
    row.actions = suggested_actions(row, ["job-a"])
    assert row.flags[0].startswith("likely spammer")
    assert suggested_block_reason(row) == "Likely spammer on our tasks."
    assert suggested_block_reason(_row()) == ""  # nothing flagged, nothing suggested
    rejected = _row(status="rejected", rejected=8, pending=0, status_reason="Wrong.")
    rejected.flags = worker_flags(rejected, None)
    rejected.actions = suggested_actions(rejected, ["job-a"])
    assert rejected.flags == ["all 8 answers rejected: Wrong."] and suggested_block_reason(rejected) == ""


def test_labels_and_confidence_in_words():
    labels = ["red", "green", "blue"]
    assert label_text("2", labels) == "blue"
    assert label_text("[0, 2]", labels) == "red, blue"
    assert label_text(None, labels) == "-"
    assert label_text('{"boxes": []}', labels) == '{"boxes": []}'  # other shapes as short JSON
    assert confidence_text("0.876") == "0.88"
    assert confidence_text('{"red": 0.5, "blue": 0.25}') == "red 0.50, blue 0.25"
    assert confidence_text(None) == "-"
