"""screens: what each screen (公示栏/电子屏) shows

Revision ID: 0004
Revises: 0001
Create Date: 2026-11-27 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "screen_boards",
        sa.Column("screen_id", sa.String(length=64), nullable=False),
        sa.Column("next_slot", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("screen_id"),
    )
    op.create_table(
        "screen_notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("screen_id", sa.String(length=64), nullable=False),
        sa.Column("document_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("index_no", sa.String(length=100), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("doc_number", sa.String(length=200), nullable=False),
        sa.Column("publisher", sa.String(length=200), nullable=False),
        sa.Column("entry_code", sa.String(length=64), nullable=False),
        sa.Column("entry_path", sa.String(length=400), nullable=False),
        sa.Column("formed_on", sa.Date(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("excerpt", sa.Text(), nullable=False),
        sa.Column("site_url", sa.String(length=1000), nullable=False),
        sa.Column("display_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("display_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivery_key", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("screen_id", "document_id"),
        sa.UniqueConstraint("screen_id", "slot"),
    )
    with op.batch_alter_table("screen_notices") as batch:
        batch.create_index("ix_screen_notices_screen_id", ["screen_id"])
        batch.create_index("ix_screen_notices_document_id", ["document_id"])
        batch.create_index("ix_screen_notices_status", ["status"])
        batch.create_index("ix_screen_notices_display_from", ["display_from"])
        batch.create_index("ix_screen_notices_display_until", ["display_until"])


def downgrade() -> None:
    op.drop_table("screen_notices")
    op.drop_table("screen_boards")
