"""Merge the channel and web branches into one line of history.

Revision ID: 0008
Revises: 0004, 0005, 0007
Create Date: 2026-11-27
"""

from collections.abc import Sequence

revision: str = "0008"
down_revision: str | Sequence[str] | None = ("0004", "0005", "0007")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
