"""Provisional due dates (暂估), their recomputation log, and admin-entered holiday schedules.

Revision ID: 0010_calendar
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_calendar"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("documents") as batch:
        batch.add_column(sa.Column("due_date_provisional", sa.Boolean(), server_default="0", nullable=False))
    op.create_index("ix_documents_due_date_provisional", "documents", ["due_date_provisional"])
    op.create_table(
        "due_date_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("document_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("old_date", sa.Date(), nullable=True),
        sa.Column("new_date", sa.Date(), nullable=True),
        sa.Column("old_provisional", sa.Boolean(), nullable=False),
        sa.Column("new_provisional", sa.Boolean(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["document_id"], ["documents.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_due_date_changes_document_id", "due_date_changes", ["document_id"])
    op.create_table(
        "holiday_years",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("holidays", sa.JSON(), nullable=False),
        sa.Column("workdays", sa.JSON(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("updated_by", sa.String(length=100), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("year"),
    )


def downgrade() -> None:
    op.drop_table("holiday_years")
    op.drop_index("ix_due_date_changes_document_id", table_name="due_date_changes")
    op.drop_table("due_date_changes")
    op.drop_index("ix_documents_due_date_provisional", table_name="documents")
    with op.batch_alter_table("documents") as batch:
        batch.drop_column("due_date_provisional")
