"""Documents: 有效性 (validity and its date) and 主题词 as the submit form and the API take them.

Revision ID: 0012_docin
Revises: 0011
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_docin"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("documents", sa.Column("validity", sa.String(length=10), nullable=False, server_default="有效"))
    op.add_column("documents", sa.Column("validity_date", sa.Date(), nullable=True))
    op.add_column("documents", sa.Column("subject_words", sa.String(length=200), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("documents") as batch:
        batch.drop_column("subject_words")
        batch.drop_column("validity_date")
        batch.drop_column("validity")
