"""Merge the parallel 0010 changes (calendar, workflow, WeChat re-check, reliability, security) into one line.

Revision ID: 0011
Revises: 0010_calendar, 0010_delivery_rechecked_at, 0010_reliability, 0010_security, 0010_workflow
Create Date: 2026-12-01
"""

from collections.abc import Sequence

revision: str = "0011"
down_revision: str | Sequence[str] | None = (
    "0010_calendar",
    "0010_delivery_rechecked_at",
    "0010_reliability",
    "0010_security",
    "0010_workflow",
)
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
