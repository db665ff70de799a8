"""The PostgreSQL hot path runs the claim and the outcome on psycopg's own cursor (``DriverStatement``).

It must read exactly what SQLAlchemy's own execution reads (names, values, types: timezone-aware UTC timestamps,
JSON, dates, booleans), raise driver errors as SQLAlchemy's ``DBAPIError``, and leave the recovery from a connection
the server dropped as it was: the pool is invalidated and the claim runs again on a fresh connection.
"""

from __future__ import annotations

import datetime as dt
import io
import logging

import pytest
from sqlalchemy import bindparam, text
from sqlalchemy.exc import DBAPIError

from tests.api_helpers import PDF, configure, migrated_pg  # noqa: F401  (migrated_pg: a fresh database per module)
from tests.receiver import Receiver


@pytest.fixture
def submitted(orch_env, redis_server, tmp_path, monkeypatch):
    from orchestrator.documents import inputs, submission

    receiver = Receiver().__enter__()
    try:
        configure(monkeypatch, tmp_path, redis_server.url, {
            "website": [{"name": "push", "adapter": "http_push", "url": receiver.url, "secret": receiver.secret}],
            "reading_room": [{"name": "r", "adapter": "manual"}],
        })
        res = submission.submit(
            {"entry": "03", "title": "驱动层语句", "body": "<p>正文</p>", "formed_on": "2026-11-02",
             "doc_number": "测试〔2026〕1号", "submitted_by": "张三",
             "publish_at": (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)).isoformat()},
            [inputs.Upload("附件.pdf", io.BytesIO(PDF))], enqueue=False)
        yield res
    finally:
        receiver.__exit__(None, None, None)


def test_rows_equal_sqlalchemys_execution(submitted):
    from orchestrator.db import get_autocommit_engine
    from orchestrator.delivery.store.context import DELIVERIES, D, context_select
    from orchestrator.delivery.store.postgres import DriverStatement

    statement = context_select(DELIVERIES, D.receipt, D.created_at.label("delivery_created_at"),
                               D.lease_until).where(D.document_id == bindparam("b_doc")).order_by(D.id)
    driver = DriverStatement(statement)
    with get_autocommit_engine().connect() as conn:
        expected = conn.execute(statement, {"b_doc": submitted.document_id}).all()
        got = driver.rows(conn, {"b_doc": submitted.document_id})
    assert len(got) == len(expected) == 2
    for mine, theirs in zip(got, expected, strict=True):
        assert mine._fields == tuple(theirs._fields)
        assert tuple(mine) == tuple(theirs)
        assert [type(v) for v in mine] == [type(v) for v in theirs]
    row = got[0]
    assert row.created_at.tzinfo is not None and row.created_at.utcoffset() == dt.timedelta(0)
    assert row.publish_at.tzinfo is not None and row.lease_until is None
    assert row.entry_path and isinstance(row.entry_path, list) and row.has_attachments is True
    assert row.formed_on == dt.date(2026, 11, 2) and row.doc_number == "测试〔2026〕1号"


def test_a_driver_error_is_a_dbapi_error_and_the_connection_stays_usable(submitted):
    from orchestrator.db import get_autocommit_engine
    from orchestrator.delivery.store.postgres import DriverStatement

    bad = DriverStatement(text("SELECT 1 / :n AS x").columns())  # division by zero on the server
    with get_autocommit_engine().connect() as conn:
        with pytest.raises(DBAPIError) as err:
            bad.rows(conn, {"n": 0})
        assert not err.value.connection_invalidated
        assert "division by zero" in str(err.value.orig)
        assert conn.execute(text("SELECT 2")).scalar() == 2  # autocommit: nothing left aborted


def test_a_connection_the_server_dropped_is_replaced_and_the_delivery_completes(submitted, caplog):
    from sqlalchemy import select

    from orchestrator.db import get_autocommit_engine, get_engine, session_scope
    from orchestrator.delivery import engine
    from orchestrator.models import Delivery

    with session_scope() as s:
        website = s.scalar(select(Delivery.id).where(Delivery.document_id == submitted.document_id,
                                                     Delivery.channel == "website"))
    hot = get_autocommit_engine()
    with hot.connect() as one, hot.connect() as two:  # two pooled connections, both dropped (as on a server restart)
        pids = {c.execute(text("SELECT pg_backend_pid()")).scalar() for c in (one, two)}
    with get_engine().connect() as other:
        for pid in pids:
            assert other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar() is True
    with caplog.at_level(logging.WARNING, logger="orchestrator.delivery.store.postgres"):
        status = engine.run_delivery(website)
    assert status in ("delivered", "verified")
    assert any("database connection lost" in r.getMessage() for r in caplog.records)
    with hot.connect() as conn:
        assert conn.execute(text("SELECT pg_backend_pid()")).scalar() not in pids
    with session_scope() as s:
        d = s.get(Delivery, website)
        assert d.status == status and d.attempts == 1  # claimed once: the dropped connection ran nothing
