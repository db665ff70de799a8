"""Merge the parallel 0012 changes (documents in: validity and subject words; ops counts at scale) into one line.

Revision ID: 0013
Revises: 0012_docin, 0012_scale
Create Date: 2026-12-02
"""

from collections.abc import Sequence

revision: str = "0013"
down_revision: str | Sequence[str] | None = ("0012_docin", "0012_scale")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
