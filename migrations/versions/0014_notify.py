"""Notifications (in-app, sends by e-mail/webhook), users' and offices' addresses, deadline warnings sent, event dates.

Revision ID: 0014_notify
Revises: 0013
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_notify"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("link", sa.String(500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_notifications_user_read", "notifications", ["user_id", "read_at"])
    op.create_table(
        "notify_preferences",
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), primary_key=True, autoincrement=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("webhook_url", sa.String(500), nullable=False),
        sa.Column("kinds", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "notify_office_addresses",
        sa.Column("office", sa.String(200), primary_key=True),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("webhook_url", sa.String(500), nullable=False),
        sa.Column("updated_by", sa.String(100), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "notify_sends",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("target", sa.String(220), nullable=False),
        sa.Column("way", sa.String(10), nullable=False),
        sa.Column("address", sa.String(500), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("link", sa.String(500), nullable=False),
        sa.Column("dedup_key", sa.String(300), nullable=True, unique=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_notify_sends_status_next", "notify_sends", ["status", "next_attempt_at"])
    op.create_table(
        "deadline_warnings",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("document_id", sa.Integer(), sa.ForeignKey("documents.id"), nullable=False),
        sa.Column("channel", sa.String(40), nullable=False),
        sa.Column("level", sa.String(20), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("document_id", "channel", "level", "due_date", name="uq_deadline_warnings_once"),
    )
    op.create_index("ix_deadline_warnings_document_id", "deadline_warnings", ["document_id"])
    op.create_table(
        "document_events",
        sa.Column("document_id", sa.Integer(), sa.ForeignKey("documents.id"), primary_key=True, autoincrement=False),
        sa.Column("event_name", sa.String(100), nullable=False),
        sa.Column("event_date", sa.Date(), nullable=True),
        sa.Column("entered_by", sa.String(100), nullable=False),
        sa.Column("entered_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_document_events_missing", "document_events", ["document_id"],
                    postgresql_where=sa.text("event_date IS NULL"), sqlite_where=sa.text("event_date IS NULL"))
    op.create_table(
        "todo_notified",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("key", sa.String(300), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("user_id", "key", name="uq_todo_notified_user_key"),
    )
    op.create_index("ix_documents_submitted_by", "documents", ["submitted_by"])
    op.create_index("ix_documents_rejected_entry", "documents", ["entry_id"],
                    postgresql_where=sa.text("status = 'rejected'"), sqlite_where=sa.text("status = 'rejected'"))


def downgrade() -> None:
    op.drop_index("ix_documents_rejected_entry", table_name="documents")
    op.drop_index("ix_documents_submitted_by", table_name="documents")
    op.drop_table("todo_notified")
    op.drop_index("ix_document_events_missing", table_name="document_events")
    op.drop_table("document_events")
    op.drop_index("ix_deadline_warnings_document_id", table_name="deadline_warnings")
    op.drop_table("deadline_warnings")
    op.drop_index("ix_notify_sends_status_next", table_name="notify_sends")
    op.drop_table("notify_sends")
    op.drop_table("notify_office_addresses")
    op.drop_table("notify_preferences")
    op.drop_index("ix_notifications_user_read", table_name="notifications")
    op.drop_table("notifications")
