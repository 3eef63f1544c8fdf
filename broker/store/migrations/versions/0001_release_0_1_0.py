"""The schema of release 0.1.0: jobs, data objects, HITs, assignments, workers, bonuses, events.

Revision ID: 0001
Revises:
Create Date: 2026-12-07

A DB written by release 0.1.0 has exactly these tables but no alembic_version table;
broker.store.migrate stamps it at this revision before upgrading it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("task_type", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("spec_path", sa.String(), nullable=False),
        sa.Column("spec_json", sa.String(), nullable=False),
        sa.Column("template_source", sa.String(), nullable=False),
        sa.Column("labels_json", sa.String(), nullable=False),
        sa.Column("marketplace", sa.String(), nullable=False),
        sa.Column("output_uri", sa.String(), nullable=False),
        sa.Column("reward_cents", sa.Integer(), nullable=False),
        sa.Column("workers_per_object", sa.Integer(), nullable=False),
        sa.Column("max_concurrent_hits", sa.Integer(), nullable=False),
        sa.Column("budget_cents", sa.Integer(), nullable=True),
        sa.Column("masters", sa.Boolean(), nullable=False),
        sa.Column("hit_type_id", sa.String(), nullable=True),
        sa.Column("n_objects", sa.Integer(), nullable=False),
        sa.Column("answers_version", sa.Integer(), nullable=False),
        sa.Column("consolidated_version", sa.Integer(), nullable=False),
        sa.Column("iteration", sa.Integer(), nullable=False),
        sa.Column("output_manifest", sa.String(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("completed_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_job_status", "job", ["status"])
    op.create_index("ix_job_name", "job", ["name"], unique=True)

    op.create_table(
        "worker",
        sa.Column("worker_id", sa.String(), nullable=False),
        sa.Column("blocked", sa.Boolean(), nullable=False),
        sa.Column("block_reason", sa.String(), nullable=True),
        sa.Column("em_accuracy", sa.Float(), nullable=True),
        sa.Column("n_answers", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("worker_id"),
    )

    op.create_table(
        "event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("message", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_event_job_id", "event", ["job_id"])

    op.create_table(
        "dataobject",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("line_number", sa.Integer(), nullable=False),
        sa.Column("data_json", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("failure_reason", sa.String(), nullable=True),
        sa.Column("label_json", sa.String(), nullable=True),
        sa.Column("confidence_json", sa.String(), nullable=True),
        sa.Column("n_answers", sa.Integer(), nullable=False),
        sa.Column("max_assignments", sa.Integer(), nullable=True),
        sa.Column("consolidated_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.ForeignKeyConstraint(["job_id"], ["job.id"]),
    )
    op.create_index("ix_dataobject_status", "dataobject", ["status"])
    op.create_index("ix_dataobject_job_id", "dataobject", ["job_id"])

    op.create_table(
        "bonus",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(), nullable=False),
        sa.Column("worker_id", sa.String(), nullable=False),
        sa.Column("assignment_id", sa.String(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("amount_cents", sa.Integer(), nullable=False),
        sa.Column("fee_cents", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("sent", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token"),
        sa.ForeignKeyConstraint(["job_id"], ["job.id"]),
    )
    op.create_index("ix_bonus_worker_id", "bonus", ["worker_id"])

    op.create_table(
        "autolabelrun",
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("state_json", sa.String(), nullable=False),
        sa.Column("model_uri", sa.String(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("job_id"),
        sa.ForeignKeyConstraint(["job_id"], ["job.id"]),
    )

    op.create_table(
        "hit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("object_id", sa.Integer(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(), nullable=False),
        sa.Column("hit_id", sa.String(), nullable=True),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("max_assignments", sa.Integer(), nullable=False),
        sa.Column("reward_cents", sa.Integer(), nullable=False),
        sa.Column("assignment_cost_cents", sa.Integer(), nullable=False),
        sa.Column("extensions", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.ForeignKeyConstraint(["job_id"], ["job.id"]),
        sa.ForeignKeyConstraint(["object_id"], ["dataobject.id"]),
        sa.UniqueConstraint("token"),
    )
    op.create_index("ix_hit_job_id", "hit", ["job_id"])
    op.create_index("ix_hit_object_id", "hit", ["object_id"])
    op.create_index("ix_hit_hit_id", "hit", ["hit_id"])
    op.create_index("ix_hit_status", "hit", ["status"])

    op.create_table(
        "hitobject",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("hit_row_id", sa.Integer(), nullable=False),
        sa.Column("object_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.ForeignKeyConstraint(["hit_row_id"], ["hit.id"]),
        sa.ForeignKeyConstraint(["object_id"], ["dataobject.id"]),
    )
    op.create_index("ix_hitobject_hit_row_id", "hitobject", ["hit_row_id"])
    op.create_index("ix_hitobject_object_id", "hitobject", ["object_id"])

    op.create_table(
        "assignment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("assignment_id", sa.String(), nullable=False),
        sa.Column("hit_row_id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("object_id", sa.Integer(), nullable=False),
        sa.Column("worker_id", sa.String(), nullable=False),
        sa.Column("mturk_status", sa.String(), nullable=False),
        sa.Column("accept_time", sa.DateTime(), nullable=True),
        sa.Column("submit_time", sa.DateTime(), nullable=True),
        sa.Column("auto_approval_time", sa.DateTime(), nullable=True),
        sa.Column("answer_xml", sa.String(), nullable=False),
        sa.Column("answer_json", sa.String(), nullable=True),
        sa.Column("answer_error", sa.String(), nullable=True),
        sa.Column("chosen_json", sa.String(), nullable=True),
        sa.Column("review_status", sa.String(), nullable=False),
        sa.Column("review_message", sa.String(), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(), nullable=True),
        sa.Column("cost_cents", sa.Integer(), nullable=False),
        sa.Column("written", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("assignment_id"),
        sa.ForeignKeyConstraint(["hit_row_id"], ["hit.id"]),
        sa.ForeignKeyConstraint(["job_id"], ["job.id"]),
        sa.ForeignKeyConstraint(["object_id"], ["dataobject.id"]),
    )
    op.create_index("ix_assignment_review_status", "assignment", ["review_status"])
    op.create_index("ix_assignment_object_id", "assignment", ["object_id"])
    op.create_index("ix_assignment_worker_id", "assignment", ["worker_id"])
    op.create_index("ix_assignment_job_id", "assignment", ["job_id"])
    op.create_index("ix_assignment_hit_row_id", "assignment", ["hit_row_id"])


def downgrade() -> None:
    for table in ("assignment", "hitobject", "hit", "autolabelrun", "bonus", "dataobject", "event", "worker", "job"):
        op.drop_table(table)
