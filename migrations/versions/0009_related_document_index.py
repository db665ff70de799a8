"""Index documents.related_document_id: every delivery looks up the documents that explain this one (政策解读).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_documents_related_document_id", "documents", ["related_document_id"])


def downgrade() -> None:
    op.drop_index("ix_documents_related_document_id", table_name="documents")
