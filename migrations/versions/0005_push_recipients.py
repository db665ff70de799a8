"""targeted push: per-recipient ledger and unsubscriptions

Revision ID: 0005
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "push_recipient_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=False),
        sa.Column("publisher", sa.String(length=200), nullable=False),
        sa.Column("group", sa.String(length=100), nullable=False),
        sa.Column("member", sa.String(length=100), nullable=False),
        sa.Column("member_name", sa.String(length=200), nullable=False),
        sa.Column("route_hash", sa.String(length=64), nullable=False),
        sa.Column("route_display", sa.String(length=500), nullable=False),
        sa.Column("route_kind", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["delivery_id"], ["deliveries.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("delivery_id", "member", "route_hash", name="uq_push_recipient_route"),
    )
    with op.batch_alter_table("push_recipient_deliveries", schema=None) as batch_op:
        batch_op.create_index("ix_push_recipient_deliveries_delivery_id", ["delivery_id"], unique=False)
        batch_op.create_index("ix_push_recipient_deliveries_status", ["status"], unique=False)
        batch_op.create_index("ix_push_recipient_publisher_member", ["publisher", "member"], unique=False)

    op.create_table(
        "push_unsubscriptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("publisher", sa.String(length=200), nullable=False),
        sa.Column("member", sa.String(length=100), nullable=False),
        sa.Column("route_hash", sa.String(length=64), nullable=False),
        sa.Column("method", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("publisher", "member", name="uq_push_unsubscription"),
    )


def downgrade() -> None:
    op.drop_table("push_unsubscriptions")
    with op.batch_alter_table("push_recipient_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_push_recipient_publisher_member")
        batch_op.drop_index("ix_push_recipient_deliveries_status")
        batch_op.drop_index("ix_push_recipient_deliveries_delivery_id")
    op.drop_table("push_recipient_deliveries")
