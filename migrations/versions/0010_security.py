"""Log-in and API-token throttling: failure counts and lock-outs per account and per client address.

Revision ID: 0010_security
Revises: 0009
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_security"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "auth_throttle",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("scope", "key", name="uq_auth_throttle_scope_key"),
    )
    op.create_index("ix_auth_throttle_locked_until", "auth_throttle", ["locked_until"])


def downgrade() -> None:
    op.drop_index("ix_auth_throttle_locked_until", table_name="auth_throttle")
    op.drop_table("auth_throttle")
