"""Streaming jobs and notification-driven collection: queue cursors and handled messages.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07

- job_stream: per job, the bytes of a watched manifest already taken in, the last fallback poll
  of a notification-driven job, and why intake is paused.
- queue_mark: (job_id, kind, key) of messages and objects already handled (MTurk EventDocIds,
  streaming input deduplication ids, outputs sent), so a redelivered message does nothing twice.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job_stream",
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("input_offset", sa.Integer(), nullable=False),
        sa.Column("last_poll_at", sa.DateTime(), nullable=True),
        sa.Column("intake_note", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("job_id"),
        sa.ForeignKeyConstraint(["job_id"], ["job.id"]),
    )
    op.create_table(
        "queue_mark",
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("job_id", "kind", "key"),
        sa.ForeignKeyConstraint(["job_id"], ["job.id"]),
    )


def downgrade() -> None:
    op.drop_table("queue_mark")
    op.drop_table("job_stream")
