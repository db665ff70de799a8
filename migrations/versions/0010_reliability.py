"""Reliability: deferral window for "later" answers (Retry-After) and verification re-checks after delivery.

Revision ID: 0010_reliability
Revises: 0009
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_reliability"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("deferred_since", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("verify_due_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("verify_tries", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("verify_error", sa.Text(), nullable=False, server_default=""))
        batch_op.create_index("ix_deliveries_verify", ["status", "verify_tries"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_verify")
        batch_op.drop_column("verify_error")
        batch_op.drop_column("verify_tries")
        batch_op.drop_column("verify_due_at")
        batch_op.drop_column("deferred_since")
