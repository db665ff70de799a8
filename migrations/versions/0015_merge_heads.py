"""Merge the parallel 0014 changes (accounts and audit, content checks, compliance, notifications, relations, review
chains) into one line.

Revision ID: 0015
Revises: 0014_accounts, 0014_checks, 0014_compliance, 0014_notify, 0014_relation, 0014_review
Create Date: 2026-12-02
"""

from collections.abc import Sequence

revision: str = "0015"
down_revision: str | Sequence[str] | None = (
    "0014_accounts", "0014_checks", "0014_compliance", "0014_notify", "0014_relation", "0014_review",
)
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
