"""Reports as rich tables for the terminal and as CSV files (one row per worker / per job figure)."""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.table import Table

from broker.autolabel.report import summary_rows
from broker.domain.money import cents_to_usd
from broker.reports.jobs import JobReport
from broker.reports.workers import COLUMNS, WorkerReport, WorkerRow, summarise_events

HEADERS = {
    "worker_id": "worker",
    "assignments": "answers",
    "approved": "approved",
    "rejected": "rejected",
    "em_accuracy": "EM acc (95%)",
    "gold_accuracy": "gold acc",
    "agreement": "agree",
    "spammer_score": "spammer",
    "median_seconds": "median s",
    "p90_seconds": "p90 s",
    "hourly_wage_cents": "$/hour",
    "earned_cents": "earned",
    "cost_cents": "cost+fees",
    "first_seen": "first seen",
    "last_seen": "last seen",
    "status": "status",
}
CSV_COLUMNS = (
    *COLUMNS,
    "accuracy_low",
    "accuracy_high",
    "pending",
    "gold_answers",
    "bonus_cents",
    "status_reason",
    "flags",
    "actions",
    "assignment_ids",
    "daily",
)


def row_cell(row: WorkerRow, column: str) -> str:
    """A worker's figure as the terminal shows it: EM accuracy with its interval, status with its flags."""
    if column == "em_accuracy" and row.em_accuracy is not None and row.accuracy_low is not None:
        return f"{row.em_accuracy:.2f} ({row.accuracy_low:.2f}-{row.accuracy_high:.2f})"
    if column == "status" and row.flags and row.status == "active":
        return "flagged"
    return cell(column, getattr(row, column))


def usd(cents: int | float | None) -> str:
    if cents is None:
        return "-"
    return "$" + cents_to_usd(int(round(cents)))


def cell(column: str, value: Any) -> str:
    """How a value reads in the terminal table."""
    if value is None:
        return "-"
    if column.endswith("_cents"):
        return usd(value)
    if isinstance(value, float):
        return f"{value:.1f}" if column.endswith("seconds") else f"{value:.2f}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return str(value)


COMPACT_COLUMNS = (
    "worker_id",
    "assignments",
    "em_accuracy",
    "gold_accuracy",
    "agreement",
    "median_seconds",
    "hourly_wage_cents",
    "status",
)
WIDE_TERMINAL = 170


def workers_table(
    report: WorkerReport, rows: list[WorkerRow] | None = None, *, title: str | None = None, width: int | None = None
) -> Table:
    """All columns on a wide terminal; the compact set below WIDE_TERMINAL characters (CSV has everything)."""
    columns = COLUMNS if width is None or width >= WIDE_TERMINAL else COMPACT_COLUMNS
    caption = None if columns is COLUMNS else "more columns in a wider terminal, --csv or --html"
    table = Table(title=title or f"workers of {', '.join(report.jobs) or 'no jobs'}", caption=caption)
    rows = rows if rows is not None else report.rows
    id_width = max([len(HEADERS["worker_id"]), *(len(r.worker_id) for r in rows)])
    for column in columns:
        table.add_column(
            HEADERS[column],
            justify="left" if column in ("worker_id", "status") else "right",
            no_wrap=True,
            min_width=id_width if column == "worker_id" else None,
        )
    for row in rows:
        table.add_row(
            *(row_cell(row, column) for column in columns),
            style="red" if row.status != "active" else ("yellow" if row.flags else None),
        )
    return table


def flagged_table(rows: list[WorkerRow]) -> Table | None:
    """Workers worth a look: why (each flag with its evidence), what to run, and their assignments."""
    flagged = [row for row in rows if row.flags]
    if not flagged:
        return None
    table = Table(title="flagged workers and suggested actions")
    for column in ("worker", "status", "why", "suggested action", "assignments"):
        table.add_column(column, no_wrap=column in ("worker", "status"), overflow="fold")
    for row in flagged:
        shown = ", ".join(row.assignment_ids[:3]) + (
            f" (+{len(row.assignment_ids) - 3})" if len(row.assignment_ids) > 3 else ""
        )
        table.add_row(row.worker_id, row.status, "\n".join(row.flags), "\n".join(row.actions) or "-", shown)
    return table


def write_workers_csv(rows: list[WorkerRow], path: Path) -> None:
    """Raw values (cents, seconds, ISO times) so a spreadsheet can compute with them."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for row in rows:
            values = []
            for column in CSV_COLUMNS:
                value = getattr(row, column)
                if isinstance(value, datetime):
                    value = value.isoformat()
                elif isinstance(value, dict):
                    value = ";".join(f"{day}={count}" for day, count in value.items())
                elif isinstance(value, list):
                    value = ";".join(value) if column == "assignment_ids" else " | ".join(value)
                elif value is None:
                    value = ""
                values.append(value)
            writer.writerow(values)


def job_rows(report: JobReport) -> list[tuple[str, str]]:
    """(figure, value) pairs shown in the table and written to CSV."""
    r = report

    def pct(value: float | None) -> str:
        return "-" if value is None else f"{value:.1%}"

    return [
        ("status", f"{r.status} ({r.task_type})"),
        ("objects", f"{r.objects}" + (f" ({r.gold_objects} gold)" if r.gold_objects else "")),
        ("consolidated labels", str(r.consolidated)),
        ("assignments", f"{r.assignments}: {r.approved} approved, {r.rejected} rejected"),
        ("workers", str(r.workers)),
        ("first accept", cell("t", r.first_accept)),
        ("last submit", cell("t", r.last_submit)),
        ("duration (hours)", "-" if r.hours is None else f"{r.hours:.2f}"),
        ("throughput (assignments/hour)", "-" if r.assignments_per_hour is None else f"{r.assignments_per_hour:.1f}"),
        ("rewards", usd(r.reward_cents)),
        ("MTurk fees", usd(r.fee_cents)),
        ("bonuses", usd(r.bonus_cents)),
        ("bonus fees", usd(r.bonus_fee_cents)),
        ("spent", usd(r.spent_cents)),
        ("committed", usd(r.committed_cents)),
        ("budget", usd(r.budget_cents)),
        (
            "cost per consolidated label",
            "-" if r.cost_per_label_cents is None else f"${r.cost_per_label_cents / 100:.4f}",
        ),
        ("estimated accuracy (mean confidence)", pct(r.estimated_accuracy)),
        (
            "measured accuracy on gold",
            pct(r.measured_accuracy) + (f" ({r.gold_measured} gold objects)" if r.gold_measured else ""),
        ),
    ] + (summary_rows(r.auto_label) if r.auto_label else [])


def job_table(report: JobReport) -> Table:
    table = Table(title=f"job {report.name}", show_header=False)
    for key, value in job_rows(report):
        table.add_row(key, value)
    return table


def events_table(events: list[tuple[datetime, str, str, str]]) -> Table:
    table = Table(title="quality actions")
    for column in ("at", "job", "action", "reason"):
        table.add_column(column)
    for at, job, kind, message in summarise_events(events):
        table.add_row(cell("t", at), job, kind, message)
    return table


def write_job_csv(report: JobReport, path: Path) -> None:
    """figure,value with raw numbers (cents, fractions)."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(("figure", "value"))
        for key, value in report.as_dict().items():
            if key == "events":
                continue
            writer.writerow(
                (key, value.isoformat() if isinstance(value, datetime) else ("" if value is None else value))
            )
