"""Compliance views at 1,000,000 deliveries (issue 15): what each document has published, kept by triggers; an index
for the last publication per site / account; bigram indexes for the 我的文件 search (PostgreSQL).

``document_publications`` holds one row per document that had a delivered or verified delivery: how many of its
deliveries are delivered or verified (any action), the newest ``delivered_at`` of its delivered/verified publish
deliveries (any channel, and the website's), its catalog entry and whether it is withdrawn. Triggers on
``deliveries`` (a delivery entering or leaving delivered/verified, or changing its time, action, channel or document)
and on ``documents`` (status, entry) recompute the document's row from its own deliveries (a handful of rows) under a
lock on that row, so concurrent workers publishing the same document serialise on it and the last one reads what the
others committed (a new delivered or verified row only adds to the document's row, on PostgreSQL without reading
the other deliveries). Freshness then reads one index probe per catalog entry, and the content-check page counts the
published documents without reading the deliveries. PostgreSQL gets plpgsql, SQLite (the embedded default) the same
statements as SQL triggers.

The 我的文件 search (``ILIKE '%…%'`` on title, 索引号 and 文号) gets GIN indexes on the set of single characters and
character pairs of the lower-cased text (``orch_grams``, PostgreSQL only): a query of two characters or more is looked
up by its pairs (``通知`` is one pair — pg_trgm can extract no trigram from a two-character pattern and would scan the
whole index), one character by itself; the ``ILIKE`` still decides. SQLite keeps the plain scan.

Revision ID: 0016_perf15
Revises: 0015
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_perf15"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PUBLISHED = "('delivered', 'verified')"
PUBLISH_WHERE = f"action = 'publish' AND status IN {PUBLISHED}"


def refresh_sql(doc: str) -> list[str]:
    """Recompute the row of document ``doc`` (an SQL expression) from the document and its deliveries; both
    databases accept these statements (PostgreSQL locks the row between the two: see ``PG_REFRESH``)."""
    pub = f"x.document_id = {doc} AND x.status IN {PUBLISHED}"
    return [
        f"INSERT INTO document_publications (document_id, entry_id, withdrawn, published)"
        f" SELECT id, entry_id, false, 0 FROM documents WHERE id = {doc}"
        f" ON CONFLICT (document_id) DO NOTHING",
        f"UPDATE document_publications SET"
        f" entry_id = (SELECT entry_id FROM documents WHERE id = {doc}),"
        f" withdrawn = (SELECT status = 'withdrawn' FROM documents WHERE id = {doc}),"
        f" published = (SELECT count(*) FROM deliveries x WHERE {pub}),"
        f" last_publish_at = (SELECT max(x.delivered_at) FROM deliveries x WHERE {pub} AND x.action = 'publish'),"
        f" last_website_at = (SELECT max(x.delivered_at) FROM deliveries x WHERE {pub} AND x.action = 'publish'"
        f" AND x.channel = 'website')"
        f" WHERE document_id = {doc} AND EXISTS (SELECT 1 FROM documents WHERE id = {doc})",
    ]


_insert, _update = refresh_sql("doc")
PG_REFRESH = f"""
CREATE FUNCTION document_publication_refresh(doc integer) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    {_insert};
    -- Wait for any other transaction changing this document's publications; the next statement then reads (with a
    -- new snapshot) everything it committed.
    PERFORM 1 FROM document_publications WHERE document_id = doc FOR UPDATE;
    {_update};
END
$$
"""

PG_TRACK = """
CREATE FUNCTION document_publication_track() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'documents' THEN
        PERFORM document_publication_refresh(NEW.id);
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND OLD.status NOT IN ('delivered', 'verified')
                            AND NEW.document_id = OLD.document_id) THEN
        -- A delivery that is new as delivered/verified, or that has just become so (the worker's outcome: the hot
        -- path of every fan-out), only adds: count it and keep the newer time (greatest() skips NULLs,
        -- as max() does). Reads no other delivery, so a bulk load costs the same per row whatever the planner
        -- thought of the table when this session cached its plans. The conflict path waits for, then adds to, the
        -- row as another transaction committed it.
        INSERT INTO document_publications AS p (document_id, entry_id, withdrawn, published, last_publish_at,
                                                last_website_at)
        SELECT d.id, d.entry_id, d.status = 'withdrawn', 1,
               CASE WHEN NEW.action = 'publish' THEN NEW.delivered_at END,
               CASE WHEN NEW.action = 'publish' AND NEW.channel = 'website' THEN NEW.delivered_at END
        FROM documents d WHERE d.id = NEW.document_id
        ON CONFLICT (document_id) DO UPDATE SET published = p.published + 1,
            last_publish_at = greatest(p.last_publish_at, EXCLUDED.last_publish_at),
            last_website_at = greatest(p.last_website_at, EXCLUDED.last_website_at);
        RETURN NULL;
    END IF;
    PERFORM document_publication_refresh(OLD.document_id);
    IF TG_OP = 'UPDATE' AND NEW.document_id IS DISTINCT FROM OLD.document_id THEN
        PERFORM document_publication_refresh(NEW.document_id);
    END IF;
    RETURN NULL;
END
$$
"""

# A change that can alter a document's row: a delivery entering or leaving delivered/verified, or a delivered one
# changing what is read from it.
# (delivered → verified, the re-check, changes nothing read here and fires nothing.)
DELIVERY_CHANGED = (f"(OLD.status IN {PUBLISHED}) IS DISTINCT FROM (NEW.status IN {PUBLISHED})"
                    f" OR (OLD.status IN {PUBLISHED} AND (OLD.delivered_at IS DISTINCT FROM NEW.delivered_at"
                    " OR OLD.action IS DISTINCT FROM NEW.action OR OLD.channel IS DISTINCT FROM NEW.channel"
                    " OR OLD.document_id IS DISTINCT FROM NEW.document_id))")
DOCUMENT_CHANGED = "OLD.status IS DISTINCT FROM NEW.status OR OLD.entry_id IS DISTINCT FROM NEW.entry_id"

PG_TRIGGERS = [
    f"CREATE TRIGGER deliveries_publication_insert AFTER INSERT ON deliveries FOR EACH ROW"
    f" WHEN (NEW.status IN {PUBLISHED}) EXECUTE FUNCTION document_publication_track()",
    f"CREATE TRIGGER deliveries_publication_delete AFTER DELETE ON deliveries FOR EACH ROW"
    f" WHEN (OLD.status IN {PUBLISHED}) EXECUTE FUNCTION document_publication_track()",
    f"CREATE TRIGGER deliveries_publication_update AFTER UPDATE ON deliveries FOR EACH ROW"
    f" WHEN ({DELIVERY_CHANGED}) EXECUTE FUNCTION document_publication_track()",
    f"CREATE TRIGGER documents_publication_update AFTER UPDATE ON documents FOR EACH ROW"
    f" WHEN ({DOCUMENT_CHANGED}) EXECUTE FUNCTION document_publication_track()",
]


def _sqlite_refresh(doc: str) -> str:
    return " ".join(s.replace("ON CONFLICT (document_id) DO NOTHING", "").replace("INSERT INTO", "INSERT OR IGNORE INTO")
                    + ";" for s in refresh_sql(doc))


def _sqlite(expr: str) -> str:
    return expr.replace("IS DISTINCT FROM", "IS NOT")


SQLITE_TRIGGERS = [
    f"CREATE TRIGGER deliveries_publication_insert AFTER INSERT ON deliveries WHEN NEW.status IN {PUBLISHED}"
    f" BEGIN {_sqlite_refresh('NEW.document_id')} END",
    f"CREATE TRIGGER deliveries_publication_delete AFTER DELETE ON deliveries WHEN OLD.status IN {PUBLISHED}"
    f" BEGIN {_sqlite_refresh('OLD.document_id')} END",
    f"CREATE TRIGGER deliveries_publication_update AFTER UPDATE ON deliveries WHEN {_sqlite(DELIVERY_CHANGED)}"
    f" BEGIN {_sqlite_refresh('OLD.document_id')} {_sqlite_refresh('NEW.document_id')} END",
    f"CREATE TRIGGER documents_publication_update AFTER UPDATE ON documents WHEN {_sqlite(DOCUMENT_CHANGED)}"
    f" BEGIN {_sqlite_refresh('NEW.id')} END",
]

# Single characters and character pairs of the lower-cased text: a superset filter for ILIKE '%q%' (ILIKE compares
# lower(text) with lower(pattern) in a multibyte database, so every pair of lower(q) is a pair of lower(text)). One
# SQL expression of built-in functions (inlined by the planner, a few microseconds a row): the characters, the pairs
# starting at odd positions and those starting at even positions, split on U+001F (mapped to U+001E beforehand on
# both sides, so the mapping keeps every substring a substring); empty strings and a trailing single character in the
# array are harmless extras.
_LOW = "translate(lower(t), E'\\x1f', E'\\x1e')"
PG_GRAMS = f"""
CREATE FUNCTION orch_grams(t text) RETURNS text[] LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT string_to_array({_LOW}, NULL)
        || string_to_array(regexp_replace({_LOW}, '(..)', E'\\\\1\\x1f', 'g'), E'\\x1f')
        || string_to_array(regexp_replace(substr({_LOW}, 2), '(..)', E'\\\\1\\x1f', 'g'), E'\\x1f')
$$
"""
# What a search for q looks up: its character pairs, or the character itself.
PG_QUERY_GRAMS = f"""
CREATE FUNCTION orch_query_grams(t text) RETURNS text[] LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN char_length({_LOW}) = 1 THEN ARRAY[{_LOW}] ELSE coalesce((
        SELECT array_agg(DISTINCT substr({_LOW}, i, 2))
        FROM generate_series(1, char_length({_LOW}) - 1) AS i), '{{}}') END
$$
"""
GRAM_INDEXES = [("ix_documents_title_grams", "documents", "title"),
                ("ix_documents_index_no_grams", "documents", "index_no"),
                ("ix_document_versions_doc_number_grams", "document_versions", "doc_number")]


def upgrade() -> None:
    op.create_table(
        "document_publications",
        sa.Column("document_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("withdrawn", sa.Boolean(), nullable=False),
        sa.Column("published", sa.Integer(), nullable=False),
        sa.Column("last_publish_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_website_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("document_id"),
    )
    # Newest publication per catalog entry (any channel / the website): one backward index probe per entry.
    op.create_index("ix_document_publications_entry_publish", "document_publications", ["entry_id", "last_publish_at"])
    op.create_index("ix_document_publications_entry_website", "document_publications", ["entry_id", "last_website_at"])
    # Newest publication per site / account (freshness of homepages and new-media accounts): a skip scan.
    op.create_index("ix_deliveries_published_destination", "deliveries", ["channel", "destination", "delivered_at"],
                    postgresql_where=sa.text(PUBLISH_WHERE), sqlite_where=sa.text(PUBLISH_WHERE))
    op.execute(
        "INSERT INTO document_publications (document_id, entry_id, withdrawn, published, last_publish_at,"
        " last_website_at) SELECT d.id, d.entry_id, d.status = 'withdrawn', a.n, a.last_publish, a.last_website"
        " FROM documents d JOIN (SELECT document_id, count(*) AS n,"
        " max(CASE WHEN action = 'publish' THEN delivered_at END) AS last_publish,"
        " max(CASE WHEN action = 'publish' AND channel = 'website' THEN delivered_at END) AS last_website"
        f" FROM deliveries WHERE status IN {PUBLISHED} GROUP BY document_id) a ON a.document_id = d.id")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_REFRESH)
        op.execute(PG_TRACK)
        for statement in PG_TRIGGERS:
            op.execute(statement)
        op.execute(PG_GRAMS)
        op.execute(PG_QUERY_GRAMS)
        for name, table, column in GRAM_INDEXES:
            op.execute(f"CREATE INDEX {name} ON {table} USING gin (orch_grams({column}))")
    else:
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name, _table, _column in GRAM_INDEXES:
            op.execute(f"DROP INDEX {name}")
        op.execute("DROP FUNCTION orch_query_grams(text)")
        op.execute("DROP FUNCTION orch_grams(text)")
        op.execute("DROP TRIGGER documents_publication_update ON documents")
        for name in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER deliveries_publication_{name} ON deliveries")
        op.execute("DROP FUNCTION document_publication_track()")
        op.execute("DROP FUNCTION document_publication_refresh(integer)")
    else:
        op.execute("DROP TRIGGER documents_publication_update")
        for name in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER deliveries_publication_{name}")
    op.drop_index("ix_deliveries_published_destination", table_name="deliveries")
    op.drop_index("ix_document_publications_entry_website", table_name="document_publications")
    op.drop_index("ix_document_publications_entry_publish", table_name="document_publications")
    op.drop_table("document_publications")
