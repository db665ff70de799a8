"""The compliance views' fast paths (issue 15, migration 0016) give what the plain queries gave, on PostgreSQL and on
SQLite: the freshness of catalog entries, sites and accounts and the count of published documents (read from the
trigger-kept ``document_publications`` and a skip scan) after inserts, state changes, withdrawn documents, removed
deliveries, a document moved to another entry and deletes; and the 我的文件 search (the PostgreSQL bigram index) for
Chinese, Latin case, ``%``, ``_``, ``\\``, 文号 (current version only) and 索引号."""

from __future__ import annotations

import datetime as dt
import random
import threading
import uuid

import pytest
from sqlalchemy import create_engine, delete, func, select, update
from sqlalchemy.orm import Session

from orchestrator import freshness
from orchestrator.checks import history
from orchestrator.models import (
    CatalogEntryRow,
    Delivery,
    Document,
    DocumentPublication,
    DocumentVersion,
    Publisher,
)
from orchestrator.web import todo
from tests.conftest import run_migrations

CHANNELS = ["website", "wechat", "gazette"]
DESTINATIONS = ["site-a", "site-b", "wx-1"]
STATUSES = ["pending", "queued", "delivered", "verified", "removed", "failed", "cancelled", "awaiting_confirmation"]
PUBLISHED = ("delivered", "verified")
T0 = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


# --- the queries as they were before 0016 (the reference) ---------------------------------------------------------

def ref_last_by_entry(s: Session, channel: str | None) -> dict[int, dt.datetime]:
    q = (select(Document.entry_id, func.max(Delivery.delivered_at)).join(Document, Document.id == Delivery.document_id)
         .where(Delivery.action == "publish", Delivery.status.in_(PUBLISHED)))
    if channel:
        q = q.where(Delivery.channel == channel)
    return {e: freshness._aware(t) for e, t in s.execute(q.group_by(Document.entry_id)) if t is not None}


def ref_last_by_destination(s: Session, channel: str) -> dict[str, dt.datetime]:
    q = (select(Delivery.destination, func.max(Delivery.delivered_at))
         .where(Delivery.channel == channel, Delivery.action == "publish", Delivery.status.in_(PUBLISHED))
         .group_by(Delivery.destination))
    return {d: freshness._aware(t) for d, t in s.execute(q) if t is not None}


def ref_published_count(s: Session) -> int:
    return s.scalar(select(func.count()).select_from(history.published_documents(10**9, 0).subquery())) or 0


def assert_same(s: Session, step: str) -> None:
    s.expire_all()
    for channel in (None, "website"):
        assert freshness._last_by_entry(s, channel) == ref_last_by_entry(s, channel), (step, channel)
    for channel in CHANNELS:
        assert freshness._last_by_destination(s, channel) == ref_last_by_destination(s, channel), (step, channel)
    assert history.published_count(s) == ref_published_count(s), step


# --- a world of entries, documents and deliveries ------------------------------------------------------------------

def seed(s: Session, n_docs: int = 12) -> tuple[list[int], list[tuple[int, int]]]:
    tag = uuid.uuid4().hex[:8]
    pub = Publisher(name=f"性能测试局-{tag}", index_prefix=f"P15{tag}")
    s.add(pub)
    s.flush()
    entries = []
    for i in range(4):
        e = CatalogEntryRow(publisher_id=pub.id, code=f"P{i}", path=["栏目", f"栏目{i}"], path_text=f"栏目/栏目{i}",
                            content="", time_limit={}, channels=CHANNELS, offices=[], audience="", warnings=[],
                            options={})
        s.add(e)
        entries.append(e)
    s.flush()
    docs = []
    for i in range(n_docs):
        # The last entry gets no document: it never published.
        d = Document(publisher_id=pub.id, entry_id=entries[i % 3].id, index_no=f"P15/{tag}/{i}", title=f"文件{i}",
                     office="办公室", formed_on=dt.date(2026, 5, 1), submitted_by="test")
        s.add(d)
        s.flush()
        v = DocumentVersion(document_id=d.id, version=1, title=d.title, body_html="<p>正文</p>", content_hash="0" * 64,
                            created_by="test")
        s.add(v)
        s.flush()
        docs.append((d.id, v.id))
    return [e.id for e in entries], docs


def random_delivery(rnd: random.Random, docs: list[tuple[int, int]]) -> Delivery:
    doc_id, ver_id = rnd.choice(docs)
    status = rnd.choice(STATUSES)
    channel = rnd.choice(CHANNELS)
    when = T0 + dt.timedelta(hours=rnd.randrange(2000))
    delivered_at = when if status in PUBLISHED + ("removed",) and rnd.random() < 0.9 else None
    return Delivery(document_id=doc_id, version_id=ver_id, version=1, channel=channel,
                    destination=rnd.choice(DESTINATIONS), action=rnd.choice(["publish", "publish", "publish", "withdraw"]),
                    idempotency_key=f"p15-{uuid.uuid4().hex}", status=status, delivered_at=delivered_at)


def exercise(url: str) -> None:
    engine = create_engine(url)
    rnd = random.Random(1515)
    try:
        with Session(engine) as s:
            entries, docs = seed(s)
            s.commit()
            assert_same(s, "seeded")
            s.add_all([random_delivery(rnd, docs) for _ in range(150)])
            s.commit()
            assert_same(s, "inserted")
            assert s.scalar(select(func.count()).select_from(DocumentPublication)
                            .where(DocumentPublication.document_id.in_([d for d, _ in docs]))) > 0
            ids = list(s.scalars(select(Delivery.id).where(Delivery.document_id.in_([d for d, _ in docs]))))

            for did in rnd.sample(ids, 60):  # one delivery at a time, as workers do
                row = s.get(Delivery, did)
                change = rnd.choice(["status", "time", "channel", "destination", "action"])
                if change == "status":
                    row.status = rnd.choice(STATUSES)
                    if row.status in PUBLISHED and row.delivered_at is None:
                        row.delivered_at = T0 + dt.timedelta(hours=rnd.randrange(3000))
                elif change == "time":
                    row.delivered_at = T0 + dt.timedelta(hours=rnd.randrange(3000))
                elif change == "channel":
                    row.channel = rnd.choice(CHANNELS)
                elif change == "destination":
                    row.destination = rnd.choice(DESTINATIONS)
                else:
                    row.action = "withdraw" if row.action == "publish" else "publish"
                s.commit()
            assert_same(s, "single changes")

            # A channel takes down everything of one document; bulk updates; a delivery moved to another document.
            s.execute(update(Delivery).where(Delivery.document_id == docs[0][0]).values(status="removed"))
            s.execute(update(Delivery).where(Delivery.id.in_(ids[:30]), Delivery.status == "pending")
                      .values(status="delivered", delivered_at=T0 + dt.timedelta(days=200)))
            s.execute(update(Delivery).where(Delivery.id == ids[40]).values(document_id=docs[1][0], version_id=docs[1][1],
                                                                             status="verified", delivered_at=T0))
            s.commit()
            assert_same(s, "bulk")

            # A withdrawn document: still counts for freshness (it was published then), no longer as published.
            s.execute(update(Document).where(Document.id == docs[2][0]).values(status="withdrawn"))
            s.execute(update(Delivery).where(Delivery.document_id == docs[2][0])
                      .values(status="verified", delivered_at=T0 + dt.timedelta(days=300)))
            # A document moved to the entry that had none.
            s.execute(update(Document).where(Document.id == docs[3][0]).values(entry_id=entries[3]))
            s.commit()
            assert_same(s, "withdrawn and moved")
            assert freshness._last_by_entry(s, None).get(entries[3]) == ref_last_by_entry(s, None).get(entries[3])

            s.execute(update(Document).where(Document.id == docs[2][0]).values(status="active"))
            s.execute(delete(Delivery).where(Delivery.id.in_(rnd.sample(ids, 40))))
            s.commit()
            assert_same(s, "deleted")
    finally:
        engine.dispose()


def test_fast_paths_equal_the_plain_queries_on_postgresql(migrated_pg):
    exercise(migrated_pg)


def test_fast_paths_equal_the_plain_queries_on_sqlite(tmp_path):
    url = f"sqlite:///{tmp_path / 'p15.db'}"
    run_migrations(url)
    exercise(url)


def test_the_migration_fills_the_table_from_existing_deliveries(tmp_path):
    """Deliveries written before 0016 are counted: upgrade to 0015, write, upgrade to the head."""
    from alembic import command
    from alembic.config import Config

    from tests.conftest import ROOT

    url = f"sqlite:///{tmp_path / 'old.db'}"
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.attributes["url"] = url
    command.upgrade(cfg, "0015")
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            conn.exec_driver_sql("INSERT INTO publishers (id, name, index_prefix, created_at) VALUES (1, '旧局', 'OLD', '2026-01-01')")
            conn.exec_driver_sql(
                "INSERT INTO catalog_entries (id, publisher_id, code, path, path_text, content, time_limit, keep_public,"
                " channels, offices, audience, warnings, options, active, synced_at) VALUES (1, 1, '01', '[]', '旧栏目', '',"
                " '{}', 0, '[\"website\"]', '[]', '', '[]', '{}', 1, '2026-01-01')")
        command.upgrade(cfg, "heads")
        with Session(engine) as s:
            _, docs = seed(s, 3)
            s.add(Delivery(document_id=docs[0][0], version_id=docs[0][1], version=1, channel="website",
                           destination="site-a", action="publish", idempotency_key="old-1", status="verified",
                           delivered_at=T0))
            s.commit()
        # As if written before the triggers: empty the table, then run the migration's fill again.
        command.downgrade(cfg, "0015")
        command.upgrade(cfg, "heads")
        with Session(engine) as s:
            assert_same(s, "after upgrade")
            row = s.get(DocumentPublication, docs[0][0])
            assert row is not None and row.published == 1 and freshness._aware(row.last_website_at) == T0
    finally:
        engine.dispose()


def test_concurrent_takedowns_of_one_document_leave_it_unpublished(migrated_pg):
    """Two workers take down the last two live deliveries of a document at the same time: each recomputes the
    document's row under its lock, so the second sees the first's change and the document stops counting."""
    engine = create_engine(migrated_pg, pool_size=3)
    try:
        with Session(engine) as s:
            _, docs = seed(s, 1)
            doc_id, ver_id = docs[0]
            pair = [Delivery(document_id=doc_id, version_id=ver_id, version=1, channel=ch, destination=ch,
                             action="publish", idempotency_key=f"p15c-{uuid.uuid4().hex}", status="delivered",
                             delivered_at=T0) for ch in ("website", "wechat")]
            s.add_all(pair)
            s.commit()
            ids = [d.id for d in pair]
            assert s.get(DocumentPublication, doc_id).published == 2
        first_updated = threading.Event()
        errors: list[BaseException] = []

        def take_down(did: int, wait: bool) -> None:
            try:
                with Session(engine) as s:
                    s.execute(update(Delivery).where(Delivery.id == did).values(status="removed"))
                    if wait:
                        first_updated.set()
                        threading.Event().wait(0.5)  # hold the lock while the other worker updates its delivery
                    s.commit()
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        a = threading.Thread(target=take_down, args=(ids[0], True))
        a.start()
        assert first_updated.wait(10)
        b = threading.Thread(target=take_down, args=(ids[1], False))
        b.start()
        a.join(20)
        b.join(20)
        assert not errors, errors
        with Session(engine) as s:
            row = s.get(DocumentPublication, doc_id)
            assert row.published == 0 and row.last_publish_at is None
            assert_same(s, "concurrent")
    finally:
        engine.dispose()


# --- 我的文件 search -------------------------------------------------------------------------------------------------

SEARCH_DOCS = [
    # title, index_no, doc_numbers (versions; the last is current)
    ("关于开展安全生产检查的通知", "SRCH/2026-0001", ["京司发〔2025〕1号", "京司发〔2026〕3号"]),
    ("100%完成年度目标的报告", "SRCH/2026-0002", [""]),
    ("Annual_Report 年度报告", "SRCH/2026_0003", [""]),
    ("路径 C:\\data\\通知 说明", "SRCH/2026-0004", ["京司函〔2026〕7号"]),
    ("ABC 大写字母", "SRCH/2026-0005", [""]),
    ("通", "SRCH/2026-0006", [""]),
]


def search_world(s: Session) -> tuple[dict[str, int], str]:
    tag = uuid.uuid4().hex[:6]
    pub = Publisher(name=f"检索测试局-{tag}", index_prefix=f"S{tag}")
    s.add(pub)
    s.flush()
    e = CatalogEntryRow(publisher_id=pub.id, code="S1", path=["检索"], path_text="检索", content="", time_limit={},
                        channels=["website"], offices=[], audience="", warnings=[], options={})
    s.add(e)
    s.flush()
    out = {}
    for title, index_no, numbers in SEARCH_DOCS:
        d = Document(publisher_id=pub.id, entry_id=e.id, index_no=f"{index_no}-{tag}", title=title, office="办公室",
                     formed_on=dt.date(2026, 5, 1), submitted_by="test", current_version=len(numbers))
        s.add(d)
        s.flush()
        for n, number in enumerate(numbers, 1):
            s.add(DocumentVersion(document_id=d.id, version=n, title=title, body_html="", doc_number=number,
                                  content_hash="0" * 64, created_by="test"))
        out[title] = d.id
    s.flush()
    return out, tag


def python_match(q: str, title: str, index_no: str, number: str) -> bool:
    q = q.lower()
    return q in title.lower() or q in index_no.lower() or q in number.lower()


@pytest.mark.usefixtures("both_databases")
def test_search_finds_the_same_documents_as_a_plain_substring_test():
    from orchestrator.db import session_scope

    with session_scope() as s:
        ids, tag = search_world(s)
        dialect = s.get_bind().dialect.name
        mine = set(ids.values())
        queries = ["通知", "通", "知", "安全生产检查", "%", "100%", "_", "l_R", "Annual_", "\\", "C:\\data", "abc", "Abc",
                   "年度", "京司发〔2026〕3号", "京司发〔2025〕1号", "2026〕", "SRCH/2026_0003", "srch/2026-000", "-0004",
                   "不存在的词", "%通知", "检查的通知", " "]
        for q in queries:
            expected = {ids[t] for t, index_no, numbers in SEARCH_DOCS
                        if python_match(q, t, f"{index_no}-{tag}", numbers[-1])}
            for indexed in (True, False):
                got = set(s.scalars(select(Document.id).where(todo._text_match(s, q, indexed=indexed)))) & mine
                assert got == expected, (dialect, q, indexed, got, expected)
        # Spot checks of what the list means to a person.
        assert {ids["关于开展安全生产检查的通知"], ids["路径 C:\\data\\通知 说明"]} == set(
            s.scalars(select(Document.id).where(todo._text_match(s, "通知")))) & mine
        assert set(s.scalars(select(Document.id).where(todo._text_match(s, "京司发〔2025〕1号")))) & mine == set()  # old 文号
        assert set(s.scalars(select(Document.id).where(todo._text_match(s, "%")))) & mine == {ids["100%完成年度目标的报告"]}


def test_search_uses_the_bigram_index_on_postgresql(migrated_pg):
    """The plan of a two-character Chinese search reads the GIN indexes, not every document."""
    engine = create_engine(migrated_pg)
    try:
        with Session(engine) as s:
            s.execute(func.set_config("enable_seqscan", "off", True).select())
            sql = select(func.count()).select_from(Document).where(todo._text_match(s, "通知"))
            plan = "\n".join(r[0] for r in _explain(sql, engine, s))
            for index in ("ix_documents_title_grams", "ix_documents_index_no_grams",
                          "ix_document_versions_doc_number_grams"):
                assert index in plan, plan
            grams = s.scalar(select(func.orch_query_grams("通知")))
            assert grams == ["通知"]
            assert s.scalar(select(func.orch_query_grams("A"))) == ["a"]
            assert set(s.scalar(select(func.orch_grams("Ab通知")))) >= {"a", "b", "通", "知", "ab", "b通", "通知"}
    finally:
        engine.dispose()


def _explain(sql, engine, s: Session):
    from sqlalchemy import text

    compiled = sql.compile(engine, compile_kwargs={"literal_binds": True})
    return s.execute(text("EXPLAIN " + str(compiled).replace("%%", "%")))
