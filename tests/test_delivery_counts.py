"""The trigger-maintained delivery counts (migration 0012) equal a fresh GROUP BY, on PostgreSQL and on SQLite.

A mix of inserts, single-row and bulk updates (status, error, channel), deletes and folds, checked after every step.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections import Counter

import pytest
import sqlalchemy as sa
from sqlalchemy import create_engine, delete, func, select, update
from sqlalchemy.orm import Session

from orchestrator.models import (
    ERROR_KEY_CHARS,
    CatalogEntryRow,
    Delivery,
    DeliveryCount,
    Document,
    DocumentVersion,
    Publisher,
)
from orchestrator.web import opscounts
from tests.conftest import run_migrations

CHANNELS = ["website", "gazette", "wechat", "reading_room"]
STATUSES = ["pending", "queued", "sending", "retrying", "delivered", "verified", "failed", "not_configured", "cancelled"]
ERRORS = ["", "接收端服务器错误（502）", "无法连接接收端", "长" * 200 + "甲", "长" * 200 + "乙"]  # the last two share a key
FAILING = {"failed", "not_configured"}


def fresh_group_by(session: Session) -> Counter:
    """What the dashboard would count by reading every row."""
    rows = session.execute(select(Delivery.channel, Delivery.status, Delivery.error_class, Delivery.last_error))
    out: Counter = Counter()
    for ch, st, ec, err in rows:
        key = (ch, st, ec, err[:ERROR_KEY_CHARS]) if st in FAILING else (ch, st, "", "")
        out[key] += 1
    return out


def maintained(session: Session) -> Counter:
    return Counter({(r.channel, r.status, r.error_class, r.error_key): r.n for r in opscounts.delivery_counts(session)})


def seed_document(session: Session) -> tuple[int, int]:
    tag = uuid.uuid4().hex[:8]
    pub = Publisher(name=f"计数测试局-{tag}", index_prefix=f"CNT{tag}")
    session.add(pub)
    session.flush()
    entry = CatalogEntryRow(publisher_id=pub.id, code="01", path=["计数"], path_text="计数", content="", time_limit={},
                            channels=CHANNELS, offices=[], audience="", warnings=[], options={})
    session.add(entry)
    session.flush()
    doc = Document(publisher_id=pub.id, entry_id=entry.id, index_no=f"CNT/{tag}", title="计数测试", office="办公室",
                   formed_on=dt.date(2026, 12, 1), submitted_by="test")
    session.add(doc)
    session.flush()
    ver = DocumentVersion(document_id=doc.id, version=1, title="计数测试", body_html="<p>正文</p>", content_hash="0" * 64,
                          created_by="test")
    session.add(ver)
    session.flush()
    return doc.id, ver.id


def _insert_as_of_now(conn, model, **values) -> int:
    """Insert a row into the table as the database has it now (an older revision), with the model's Python-side
    defaults for the columns that exist there; returns the new id."""
    table = sa.Table(model.__tablename__, sa.MetaData(), autoload_with=conn)
    row = dict(values)
    for col in table.columns:
        orm_col = model.__table__.c.get(col.name)
        default = orm_col.default if orm_col is not None else None
        if col.name in row or col.primary_key or default is None:
            continue
        row[col.name] = default.arg(None) if default.is_callable else default.arg
    return conn.execute(table.insert().values(**row)).inserted_primary_key[0]


def exercise(url: str, monkeypatch) -> None:
    engine = create_engine(url)
    rnd = random.Random(15)
    try:
        with Session(engine) as s:
            doc_id, ver_id = seed_document(s)
            s.commit()
            assert maintained(s) == fresh_group_by(s)

            def new(i: int) -> Delivery:
                st = rnd.choice(STATUSES)
                err = rnd.choice(ERRORS) if st in FAILING | {"retrying"} else ""
                return Delivery(document_id=doc_id, version_id=ver_id, version=1, channel=rnd.choice(CHANNELS),
                                destination="d", action="publish", idempotency_key=f"cnt-{uuid.uuid4().hex}-{i}",
                                status=st, last_error=err, error_class="PermanentError" if err else "")

            s.add_all([new(i) for i in range(120)])
            s.commit()
            assert maintained(s) == fresh_group_by(s)
            mine = select(Delivery.id).where(Delivery.document_id == doc_id)
            ids = list(s.scalars(mine.order_by(Delivery.id)))

            # Single-row state changes through the ORM, as the fan-out does them.
            for did in rnd.sample(ids, 60):
                d = s.get(Delivery, did)
                d.status = rnd.choice(STATUSES)
                if rnd.random() < 0.5:
                    d.last_error = rnd.choice(ERRORS)
                    d.error_class = "TransientError" if d.last_error else ""
                if rnd.random() < 0.1:
                    d.channel = rnd.choice(CHANNELS)
                if rnd.random() < 0.3:
                    d.attempts += 1  # a change that does not move the key
            s.commit()
            assert maintained(s) == fresh_group_by(s)

            # Bulk statements: a retry of a failure group, an error rewrite, a no-op update.
            s.execute(update(Delivery).where(Delivery.id.in_(mine), Delivery.status == "failed")
                      .values(status="queued", last_error="", error_class=""))
            s.execute(update(Delivery).where(Delivery.id.in_(mine), Delivery.status == "not_configured")
                      .values(last_error=ERRORS[3]))
            s.execute(update(Delivery).where(Delivery.id.in_(mine)).values(status=Delivery.status))
            s.commit()
            assert maintained(s) == fresh_group_by(s)

            # Folding keeps every number; a rolled-back change leaves no trace.
            monkeypatch.setattr(opscounts, "FOLD_AT", 0)
            before = fresh_group_by(s)
            assert maintained(s) == before
            s.commit()
            assert s.scalar(select(func.count()).select_from(DeliveryCount)) == len(+before)
            s.execute(update(Delivery).where(Delivery.id.in_(mine)).values(status="cancelled"))
            s.rollback()
            assert maintained(s) == before == fresh_group_by(s)
            monkeypatch.setattr(opscounts, "FOLD_AT", 2000)

            # Deletes (a third of them), then more inserts and changes after the fold.
            s.execute(delete(Delivery).where(Delivery.id.in_(ids[::3])))
            s.add_all([new(i) for i in range(200, 240)])
            s.commit()
            s.execute(update(Delivery).where(Delivery.id.in_(mine), Delivery.status == "queued").values(status="sending"))
            s.commit()
            assert maintained(s) == fresh_group_by(s)

            # Everything gone: the document's keys disappear from the counts.
            s.execute(delete(Delivery).where(Delivery.id.in_(mine)))
            s.commit()
            assert maintained(s) == fresh_group_by(s)
    finally:
        engine.dispose()


def test_maintained_counts_equal_group_by_on_postgresql(migrated_pg, monkeypatch):
    exercise(migrated_pg, monkeypatch)


def test_maintained_counts_equal_group_by_on_sqlite(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'counts.db'}"
    run_migrations(url)
    exercise(url, monkeypatch)


@pytest.mark.parametrize("rows", [0, 3])
def test_migration_counts_existing_deliveries(tmp_path, rows):
    """Upgrading a database that already has deliveries starts the counts from them."""
    from alembic import command
    from alembic.config import Config

    from tests.conftest import ROOT

    url = f"sqlite:///{tmp_path / 'up.db'}"
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.attributes["url"] = url
    # Every revision but the counts (0012_scale): the ORM below writes the columns the other heads added.
    command.upgrade(cfg, "0012_docin")
    engine = create_engine(url)
    try:
        # The schema is the one of 0012_docin, not today's models: rows go in through tables reflected from it.
        with engine.begin() as conn:
            tag = uuid.uuid4().hex[:8]
            pub = _insert_as_of_now(conn, Publisher, name=f"计数测试局-{tag}", index_prefix=f"CNT{tag}")
            entry = _insert_as_of_now(conn, CatalogEntryRow, publisher_id=pub, code="01", path=["计数"], path_text="计数",
                                      content="", time_limit={}, channels=CHANNELS, offices=[], audience="",
                                      warnings=[], options={})
            doc_id = _insert_as_of_now(conn, Document, publisher_id=pub, entry_id=entry, index_no=f"CNT/{tag}",
                                       title="计数测试", office="办公室", formed_on=dt.date(2026, 12, 1), submitted_by="test")
            ver_id = _insert_as_of_now(conn, DocumentVersion, document_id=doc_id, version=1, title="计数测试",
                                       body_html="<p>正文</p>", content_hash="0" * 64, created_by="test")
            for i in range(rows):
                _insert_as_of_now(conn, Delivery, document_id=doc_id, version_id=ver_id, version=1, channel="website",
                                  destination="d", action="publish", idempotency_key=f"up-{i}",
                                  status="failed" if i else "delivered", last_error="无法连接接收端" if i else "",
                                  error_class="TransientError" if i else "")
        command.upgrade(cfg, "heads")
        with Session(engine) as s:
            assert maintained(s) == fresh_group_by(s)
            assert sum(maintained(s).values()) == rows
    finally:
        engine.dispose()
