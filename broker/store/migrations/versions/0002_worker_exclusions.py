"""Worker exclusions as rows (were parsed from "exclude" events); Job.outcomes_version and output_version.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07

- workerexclusion: one row per (job, worker) a quality rule excluded. Filled from the
  "exclude" events that release 0.1.0 logged as "{worker_id}: {action}: {reason}
  ({min_accuracy:.3f})"; the first event of a (job, worker) wins, as it did when the
  events were parsed.
- job.outcomes_version: bumped whenever an object's outcome changes (consolidated label,
  failure, machine label); job.output_version: the outcomes_version the output tree was last
  written for. Both start at consolidated_version; an unfinished job's output is then written
  once more (output_version 0), a finished job's tree is current (0.1.0 wrote it with every
  consolidation).
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from alembic import context, op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

EXCLUDE_EVENT = "exclude"


def upgrade() -> None:
    op.create_table(
        "workerexclusion",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("worker_id", sa.String(), nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.ForeignKeyConstraint(["job_id"], ["job.id"]),
        sa.UniqueConstraint("job_id", "worker_id"),
    )
    op.create_index("ix_workerexclusion_job_id", "workerexclusion", ["job_id"])
    op.create_index("ix_workerexclusion_worker_id", "workerexclusion", ["worker_id"])

    with op.batch_alter_table("job") as batch:
        batch.add_column(sa.Column("outcomes_version", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("output_version", sa.Integer(), nullable=False, server_default="0"))

    job = sa.table(
        "job",
        sa.column("id", sa.Integer()),
        sa.column("status", sa.String()),
        sa.column("consolidated_version", sa.Integer()),
        sa.column("outcomes_version", sa.Integer()),
        sa.column("output_version", sa.Integer()),
        sa.column("completed_at", sa.DateTime()),
    )
    op.execute(job.update().values(outcomes_version=job.c.consolidated_version))
    op.execute(
        job.update()
        .where(sa.or_(job.c.status == "Completed", job.c.completed_at.is_not(None)))
        .values(output_version=job.c.consolidated_version)
    )

    if context.is_offline_mode():
        return  # an offline SQL script cannot read the events: upgrade online to copy the exclusions
    bind = op.get_bind()
    event = sa.table(
        "event",
        sa.column("id", sa.Integer()),
        sa.column("job_id", sa.Integer()),
        sa.column("at", sa.DateTime()),
        sa.column("kind", sa.String()),
        sa.column("message", sa.String()),
    )
    exclusion = sa.table(
        "workerexclusion",
        sa.column("job_id", sa.Integer()),
        sa.column("worker_id", sa.String()),
        sa.column("action", sa.String()),
        sa.column("reason", sa.String()),
        sa.column("at", sa.DateTime()),
    )
    events = bind.execute(
        sa.select(event.c.job_id, event.c.at, event.c.message)
        .where(event.c.kind == EXCLUDE_EVENT, event.c.job_id.in_(sa.select(job.c.id)))
        .order_by(event.c.id)
    ).all()
    rows: dict[tuple[int, str], dict] = {}
    for job_id, at, message in events:
        worker_id, action, reason = parse_exclude_message(message)
        rows.setdefault(
            (job_id, worker_id),
            {"job_id": job_id, "worker_id": worker_id, "action": action, "reason": reason, "at": at},
        )
    if rows:
        bind.execute(exclusion.insert(), list(rows.values()))


def parse_exclude_message(message: str) -> tuple[str, str, str]:
    """(worker_id, action, reason) of a 0.1.0 "exclude" event, the rule's threshold in brackets dropped
    (the event keeps it; the row holds the reason alone, as the quality stage writes it)."""
    worker_id, _, rest = message.partition(": ")
    action, _, reason = rest.partition(": ")
    if not reason:
        action, reason = "", action
    return worker_id, action, re.sub(r" \(\d+(\.\d+)?\)$", "", reason)


def downgrade() -> None:
    with op.batch_alter_table("job") as batch:
        batch.drop_column("output_version")
        batch.drop_column("outcomes_version")
    op.drop_index("ix_workerexclusion_worker_id", table_name="workerexclusion")
    op.drop_index("ix_workerexclusion_job_id", table_name="workerexclusion")
    op.drop_table("workerexclusion")
