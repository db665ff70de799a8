"""Ops views at platform scale: delivery counts maintained by triggers, indexes for the failure groups and 核验失败.

``delivery_counts`` holds signed deltas (+1/-1) appended by triggers on ``deliveries`` (insert, delete, and updates
that change the channel, the status or a failure's error), keyed by channel × status and, for failed and
not-configured deliveries, the error class and the first 120 characters of the error (the dashboard's failure
groups). Appending instead of updating one counter row per key means concurrent workers never wait on, or deadlock
over, a shared counter row; the dashboard folds the deltas into one row per key now and then
(``orchestrator.web.opscounts``). PostgreSQL gets a plpgsql trigger function, SQLite (the embedded default) the same
logic as SQL triggers, so both agree.

Revision ID: 0012_scale
Revises: 0011
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_scale"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FAILING = "('failed', 'not_configured')"


def _key(row: str) -> str:
    """The counted key of one deliveries row (``NEW`` or ``OLD``), as SQL that both databases accept."""
    return (f"{row}.channel, {row}.status,"
            f" CASE WHEN {row}.status IN {FAILING} THEN {row}.error_class ELSE '' END,"
            f" CASE WHEN {row}.status IN {FAILING} THEN substr({row}.last_error, 1, 120) ELSE '' END")


INSERT = "INSERT INTO delivery_counts (channel, status, error_class, error_key, n) VALUES"
CHANGED = ("OLD.channel IS DISTINCT FROM NEW.channel OR OLD.status IS DISTINCT FROM NEW.status"
           " OR OLD.error_class IS DISTINCT FROM NEW.error_class OR OLD.last_error IS DISTINCT FROM NEW.last_error")

PG_FUNCTION = f"""
CREATE FUNCTION delivery_counts_track() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        {INSERT} ({_key("OLD")}, -1);
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        {INSERT} ({_key("NEW")}, 1);
    END IF;
    RETURN NULL;
END
$$
"""

SQLITE_TRIGGERS = [
    f"CREATE TRIGGER deliveries_counts_insert AFTER INSERT ON deliveries BEGIN {INSERT} ({_key('NEW')}, 1); END",
    f"CREATE TRIGGER deliveries_counts_delete AFTER DELETE ON deliveries BEGIN {INSERT} ({_key('OLD')}, -1); END",
    f"CREATE TRIGGER deliveries_counts_update AFTER UPDATE ON deliveries WHEN {CHANGED.replace('IS DISTINCT FROM', 'IS NOT')}"
    f" BEGIN {INSERT} ({_key('OLD')}, -1); {INSERT} ({_key('NEW')}, 1); END",
]


def upgrade() -> None:
    op.create_table(
        "delivery_counts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("channel", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=30), nullable=False),
        sa.Column("error_class", sa.String(length=40), nullable=False),
        sa.Column("error_key", sa.Text(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    # The dashboard's failure groups: newest change per group without reading the group's rows.
    op.create_index(
        "ix_deliveries_failure_groups", "deliveries",
        ["channel", "status", "error_class", sa.text("substr(last_error, 1, 120)"), "updated_at"],
        unique=False, postgresql_where=sa.text(f"status IN {FAILING}"), sqlite_where=sa.text(f"status IN {FAILING}"),
    )
    # 核验失败: delivered, re-checks used up, last check failed.
    op.create_index(
        "ix_deliveries_verify_failed", "deliveries", ["id"], unique=False,
        postgresql_where=sa.text("status = 'delivered' AND verify_error <> ''"),
        sqlite_where=sa.text("status = 'delivered' AND verify_error <> ''"),
    )
    # Documents that still owe a publication (the deadline list and cards).
    owed = "action = 'publish' AND status NOT IN ('delivered', 'verified', 'cancelled', 'removed')"
    op.create_index("ix_deliveries_owed_publish", "deliveries", ["document_id"], unique=False,
                    postgresql_where=sa.text(owed), sqlite_where=sa.text(owed))
    # Documents in review by due date (the deadline list), and the delivery log's list of offices (one probe each).
    review = sa.text("status = 'pending_review'")
    op.create_index("ix_documents_review_due", "documents", ["due_date"], unique=False, postgresql_where=review,
                    sqlite_where=review)
    op.create_index("ix_documents_office", "documents", ["office"], unique=False)
    op.execute(f"INSERT INTO delivery_counts (channel, status, error_class, error_key, n)"
               f" SELECT {_key('deliveries')}, count(*) FROM deliveries GROUP BY 1, 2, 3, 4")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_FUNCTION)
        op.execute("CREATE TRIGGER deliveries_counts_row AFTER INSERT OR DELETE ON deliveries"
                   " FOR EACH ROW EXECUTE FUNCTION delivery_counts_track()")
        op.execute("CREATE TRIGGER deliveries_counts_change AFTER UPDATE ON deliveries"
                   f" FOR EACH ROW WHEN ({CHANGED}) EXECUTE FUNCTION delivery_counts_track()")
    else:
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER deliveries_counts_change ON deliveries")
        op.execute("DROP TRIGGER deliveries_counts_row ON deliveries")
        op.execute("DROP FUNCTION delivery_counts_track()")
    else:
        for name in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER deliveries_counts_{name}")
    op.drop_index("ix_documents_office", table_name="documents")
    op.drop_index("ix_documents_review_due", table_name="documents")
    op.drop_index("ix_deliveries_owed_publish", table_name="deliveries")
    op.drop_index("ix_deliveries_verify_failed", table_name="deliveries")
    op.drop_index("ix_deliveries_failure_groups", table_name="deliveries")
    op.drop_table("delivery_counts")
