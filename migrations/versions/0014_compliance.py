"""Compliance watch: link-check runs and problems, annual report entry tags and hand-entered figures, self-inspections;
two indexes for the delivery log filtered by a rare state and an office.

Revision ID: 0014_compliance
Revises: 0013
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_compliance"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "linkcheck_runs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("trigger", sa.String(length=20), nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("finished_at", TS, nullable=True),
        sa.Column("pages", sa.Integer(), nullable=False),
        sa.Column("links", sa.Integer(), nullable=False),
        sa.Column("problems", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.Column("truncated", sa.Boolean(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
    )
    op.create_index("ix_linkcheck_runs_started_at", "linkcheck_runs", ["started_at"])
    op.create_table(
        "link_problems",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("key", sa.String(length=64), nullable=False, unique=True),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("page_url", sa.Text(), nullable=False),
        sa.Column("link_url", sa.Text(), nullable=False),
        sa.Column("link_text", sa.String(length=200), nullable=False),
        sa.Column("problem", sa.String(length=300), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("first_seen", TS, nullable=False),
        sa.Column("last_seen", TS, nullable=False),
        sa.Column("last_run_id", sa.Integer(), sa.ForeignKey("linkcheck_runs.id"), nullable=True),
        sa.Column("resolved_at", TS, nullable=True),
    )
    op.create_index("ix_link_problems_resolved_at", "link_problems", ["resolved_at"])
    op.create_index("ix_link_problems_open", "link_problems", ["kind"], postgresql_where=sa.text("resolved_at IS NULL"),
                    sqlite_where=sa.text("resolved_at IS NULL"))
    op.create_table(
        "report_entry_tags",
        sa.Column("entry_id", sa.Integer(), sa.ForeignKey("catalog_entries.id"), primary_key=True, autoincrement=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("updated_by", sa.String(length=100), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "annual_figures",
        sa.Column("year", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("item", sa.String(length=20), primary_key=True),
        sa.Column("value", sa.Numeric(16, 4), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("updated_by", sa.String(length=100), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "self_inspections",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("trigger", sa.String(length=20), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("results", sa.JSON(), nullable=False),
    )
    op.create_index("ix_self_inspections_created_at", "self_inspections", ["created_at"])
    op.create_table(
        "annual_stats_cache",
        sa.Column("year", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("computed_at", TS, nullable=False),
        sa.Column("seconds", sa.Numeric(10, 3), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
    )
    # The delivery log filtered by a rare state and an office (orchestrator.web.ops._narrowed): index-only look-ups.
    op.create_index("ix_deliveries_status_document", "deliveries", ["status", "document_id", "id"])
    op.create_index("ix_documents_office_id", "documents", ["office", "id"])


def downgrade() -> None:
    op.drop_index("ix_documents_office_id", table_name="documents")
    op.drop_index("ix_deliveries_status_document", table_name="deliveries")
    op.drop_table("annual_stats_cache")
    op.drop_index("ix_self_inspections_created_at", table_name="self_inspections")
    op.drop_table("self_inspections")
    op.drop_table("annual_figures")
    op.drop_table("report_entry_tags")
    op.drop_index("ix_link_problems_open", table_name="link_problems")
    op.drop_index("ix_link_problems_resolved_at", table_name="link_problems")
    op.drop_table("link_problems")
    op.drop_index("ix_linkcheck_runs_started_at", table_name="linkcheck_runs")
    op.drop_table("linkcheck_runs")
