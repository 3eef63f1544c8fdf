"""The shared MTurk rate limit and call counters.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07

- rate_limit: account -> next_slot, the token bucket (as GCRA) all daemons take their calls from.
- mturk_call_count: (job_id, operation) -> calls, throttled; job 0 holds calls made for no job.
- daemon: owner -> the digest and file of the settings a `broker run` started with, and when.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rate_limit",
        sa.Column("account", sa.String(), nullable=False),
        sa.Column("next_slot", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("account"),
    )
    op.create_table(
        "mturk_call_count",
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("operation", sa.String(), nullable=False),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.Column("throttled", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("job_id", "operation"),
    )

    op.create_table(
        "daemon",
        sa.Column("owner", sa.String(), nullable=False),
        sa.Column("settings_digest", sa.String(), nullable=False),
        sa.Column("settings_file", sa.String(), nullable=False),
        sa.Column("seen_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("owner"),
    )


def downgrade() -> None:
    op.drop_table("daemon")
    op.drop_table("mturk_call_count")
    op.drop_table("rate_limit")
