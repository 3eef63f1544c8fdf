"""Stage leases: which daemon works one stage of one job, until when.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07

- stage_lease: (job_id, stage) -> owner ("host:pid:token") and expires_at. Empty at first:
  a lease is taken by the first daemon that runs the stage for the job.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stage_lease",
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("stage", sa.String(), nullable=False),
        sa.Column("owner", sa.String(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("job_id", "stage"),
        sa.ForeignKeyConstraint(["job_id"], ["job.id"]),
    )


def downgrade() -> None:
    op.drop_table("stage_lease")
