"""Fan-out hot path: indexes that let the per-delivery statements stay index probes as the table grows.

- The claim reads the newest website receipt of the delivery's document. With only ``(document_id)`` and
  ``(channel, …)`` indexes the planner may pick the channel one (their estimates tie on a young table) and then
  filters every website delivery ever made, per claim: ``(document_id, channel, id)`` answers it with one probe and
  already ordered (it also serves everything the single-column ``document_id`` index served, which it replaces).
- ``(status, verify_tries)`` indexed every delivery for a query about the few rows with a re-check due; it is
  replaced by a partial index on ``verify_due_at`` (only rows with a re-check scheduled), so a status change no longer
  writes to it, and the worker's outcome UPDATE (by id) is no longer offered a status-leading index to scan.
- ``(channel)`` alone is the prefix of ``(channel, status, created_at)``, and ``(status, channel)`` is answered by
  that index (both equalities) or by the status-leading ones: both dropped, two index writes less per state change.
- The delivery counts (0012), PostgreSQL: a submission's deliveries are counted by one statement-level trigger
  (one INSERT … GROUP BY over the statement's new rows) instead of one trigger call per row, and a state change
  writes its -1 and +1 in one two-row INSERT instead of two statements. Same rows in ``delivery_counts``, fewer
  trigger calls and statements on the fan-out hot path. SQLite keeps its triggers.

Revision ID: 0017_hot_path
Revises: 0016_perf15
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017_hot_path"
down_revision: str | Sequence[str] | None = "0016_perf15"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

VERIFY_DUE = sa.text("verify_due_at IS NOT NULL")
FAILING = "('failed', 'not_configured')"


def _key(row: str) -> str:
    """The counted key of one deliveries row, as in 0012."""
    return (f"{row}.channel, {row}.status,"
            f" CASE WHEN {row}.status IN {FAILING} THEN {row}.error_class ELSE '' END,"
            f" CASE WHEN {row}.status IN {FAILING} THEN substr({row}.last_error, 1, 120) ELSE '' END")


INSERT = "INSERT INTO delivery_counts (channel, status, error_class, error_key, n)"

# Row level, for changes and deletes: one statement whatever the operation.
PG_TRACK = f"""
CREATE OR REPLACE FUNCTION delivery_counts_track() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        {INSERT} VALUES ({_key("OLD")}, -1), ({_key("NEW")}, 1);
    ELSIF TG_OP = 'DELETE' THEN
        {INSERT} VALUES ({_key("OLD")}, -1);
    ELSE
        {INSERT} VALUES ({_key("NEW")}, 1);
    END IF;
    RETURN NULL;
END
$$
"""
# Statement level, for inserts: a submission's four deliveries are one trigger call and one statement.
PG_INSERTED = f"""
CREATE FUNCTION delivery_counts_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    {INSERT} SELECT {_key("r")}, count(*) FROM inserted_rows r GROUP BY 1, 2, 3, 4;
    RETURN NULL;
END
$$
"""


def upgrade() -> None:
    op.create_index("ix_deliveries_document_channel", "deliveries", ["document_id", "channel", "id"], unique=False)
    op.drop_index("ix_deliveries_document_id", table_name="deliveries")
    op.create_index("ix_deliveries_verify_due", "deliveries", ["verify_due_at"], unique=False,
                    postgresql_where=VERIFY_DUE, sqlite_where=VERIFY_DUE)
    op.drop_index("ix_deliveries_verify", table_name="deliveries")
    op.drop_index("ix_deliveries_channel", table_name="deliveries")
    op.drop_index("ix_deliveries_status_channel", table_name="deliveries")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_TRACK)
        op.execute(PG_INSERTED)
        op.execute("DROP TRIGGER deliveries_counts_row ON deliveries")
        op.execute("CREATE TRIGGER deliveries_counts_delete AFTER DELETE ON deliveries"
                   " FOR EACH ROW EXECUTE FUNCTION delivery_counts_track()")
        op.execute("CREATE TRIGGER deliveries_counts_insert AFTER INSERT ON deliveries"
                   " REFERENCING NEW TABLE AS inserted_rows FOR EACH STATEMENT EXECUTE FUNCTION delivery_counts_inserted()")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER deliveries_counts_insert ON deliveries")
        op.execute("DROP TRIGGER deliveries_counts_delete ON deliveries")
        op.execute("DROP FUNCTION delivery_counts_inserted()")
        # delivery_counts_track keeps its one-statement body: it writes the same rows as 0012's for every operation.
        op.execute("CREATE TRIGGER deliveries_counts_row AFTER INSERT OR DELETE ON deliveries"
                   " FOR EACH ROW EXECUTE FUNCTION delivery_counts_track()")
    op.create_index("ix_deliveries_status_channel", "deliveries", ["status", "channel"], unique=False)
    op.create_index("ix_deliveries_channel", "deliveries", ["channel"], unique=False)
    op.create_index("ix_deliveries_verify", "deliveries", ["status", "verify_tries"], unique=False)
    op.drop_index("ix_deliveries_verify_due", table_name="deliveries")
    op.create_index("ix_deliveries_document_id", "deliveries", ["document_id"], unique=False)
    op.drop_index("ix_deliveries_document_channel", table_name="deliveries")
