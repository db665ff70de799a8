"""Documents: the kind of a document's relation (解读 = an interpretation of the related policy document, 相关 = related).

Every relation recorded before this revision was shown as an interpretation, so existing ones become "解读".

Revision ID: 0014_relation
Revises: 0013
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_relation"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("documents", sa.Column("related_kind", sa.String(length=10), nullable=False, server_default=""))
    op.execute("UPDATE documents SET related_kind = '解读' WHERE related_document_id IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table("documents") as batch:
        batch.drop_column("related_kind")
