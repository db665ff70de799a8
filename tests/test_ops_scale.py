"""The ops views at scale keep their meaning: the dashboard's numbers (now from trigger-maintained counts, index probes
and split queries) equal the straightforward GROUP BY queries they replaced; the delivery log's total is exact up to a
cap, then an estimate labelled 约 (unfiltered) or a floor (filtered), with paging that no longer needs the exact total."""

from __future__ import annotations

import datetime as dt
import re
import shutil

import pytest
from sqlalchemy import and_, exists, func, or_, select

from tests.api_helpers import PDF, PUBLISHER, ROOT
from tests.api_helpers import migrated_pg as migrated_pg  # noqa: F401  (a private database for this module)
from tests.web_support import WebEnv, csrf_of, setup_web

TOTAL = re.compile(r'<span id="log-total">(.*?)</span>')


@pytest.fixture
def web(orch_env, redis_server, tmp_path, monkeypatch) -> WebEnv:
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    monkeypatch.setenv("ORCH_CONFIG_DIR", str(config))
    return setup_web(monkeypatch, tmp_path, redis_server.url, {
        "website": [{"name": "push", "adapter": "http_push", "url": "http://127.0.0.1:9/never", "timeout": 1}],
        "reading_room": [{"name": "reading_room", "adapter": "manual"}],
    })


def _submit(clerk, title: str) -> int:
    data = {"csrf_token": csrf_of(clerk.get("/submit").text), "entry": "03", "publisher": PUBLISHER, "title": title,
            "body": "正文内容", "formed_on": "2026-11-02"}
    return clerk.post("/submit", data=data, files=[("files", ("通知.pdf", PDF, "application/pdf"))],
                      headers={"Accept": "application/json"}).json()["document_id"]


def _reference(s) -> dict:
    """The dashboard's numbers as the straightforward queries it used before (one GROUP BY / count over all rows)."""
    from orchestrator.models import Delivery, Document, DocumentStatus
    from orchestrator.web.core import fmt_time
    from orchestrator.web.ops import NOT_DONE, WAITING, _near_limit

    today = dt.datetime.now(dt.UTC).astimezone(dt.timezone(dt.timedelta(hours=8))).date()
    counts: dict = {}
    for ch, st, n in s.execute(select(Delivery.channel, Delivery.status, func.count()).group_by(Delivery.channel,
                                                                                                 Delivery.status)):
        counts.setdefault(ch, {})[st] = n
    oldest = {ch: (fmt_time(first), n) for ch, first, n in s.execute(
        select(Delivery.channel, func.min(Delivery.created_at), func.count()).where(Delivery.status.in_(WAITING))
        .group_by(Delivery.channel))}
    key = func.substr(Delivery.last_error, 1, 120)
    failures = sorted((ch, st, ec, err, n, fmt_time(latest)) for ch, st, ec, err, n, latest in s.execute(
        select(Delivery.channel, Delivery.status, Delivery.error_class, key, func.count(), func.max(Delivery.updated_at))
        .where(Delivery.status.in_(["failed", "not_configured"]))
        .group_by(Delivery.channel, Delivery.status, Delivery.error_class, key)))
    owed = exists().where(Delivery.document_id == Document.id, Delivery.action == "publish",
                          Delivery.status.not_in(NOT_DONE))
    due = and_(Document.due_date.is_not(None), Document.due_date <= _near_limit(today),
               or_(Document.status == DocumentStatus.pending_review, and_(Document.status == DocumentStatus.active, owed)))
    rows = list(s.scalars(select(Document.id).where(due).order_by(Document.due_date, Document.id).limit(50)))
    past = s.scalar(select(func.count()).select_from(Document).where(due, Document.due_date < today))
    near = s.scalar(select(func.count()).select_from(Document).where(due, Document.due_date >= today))
    verify_failed = s.scalar(select(func.count()).select_from(Delivery).where(
        Delivery.status == "delivered", Delivery.verify_tries > 0, Delivery.verify_error != ""))
    return {"counts": counts, "oldest": oldest, "failures": failures, "deadlines": rows, "past": past, "near": near,
            "verify_failed": verify_failed}


def test_dashboard_numbers_equal_the_group_by_queries(web):
    from orchestrator.db import session_scope
    from orchestrator.models import Delivery, Document

    clerk = web.client("clerk")
    docs = [_submit(clerk, f"看板文件 {i}") for i in range(6)]
    today = dt.datetime.now(dt.UTC).astimezone(dt.timezone(dt.timedelta(hours=8))).date()
    long_error = "接收端返回了很长的错误说明" * 12  # two errors that differ after 120 characters: one failure group
    with session_scope() as s:
        for i, doc_id in enumerate(docs):
            doc = s.get(Document, doc_id)
            doc.due_date = today + dt.timedelta(days=(-3, -1, 0, 1, 1, -10)[i])
            if i == 4:
                doc.status = "pending_review"
            ds = {d.channel: d for d in s.scalars(select(Delivery).where(Delivery.document_id == doc_id))}
            web_d, room = ds["website"], ds["reading_room"]
            web_d.status, room.status = [("failed", "awaiting_confirmation"), ("failed", "delivered"),
                                         ("not_configured", "queued"), ("delivered", "cancelled"),
                                         ("retrying", "pending"), ("delivered", "verified")][i]
            if web_d.status in ("failed", "retrying"):
                web_d.last_error, web_d.error_class = long_error + ("甲" if i else "乙"), "PermanentError"
            if i == 3:
                web_d.verify_tries, web_d.verify_error = 3, "公开页面未找到该文件"
    ops = web.client("ops")
    data = ops.get("/ops/data.json").json()
    with session_scope() as s:
        ref = _reference(s)
    assert data["counts"] == ref["counts"]
    assert {r["channel"]: (r["since"], r["count"]) for r in data["oldest"]} == ref["oldest"]
    got = sorted((f["channel"], f["status"], f["error_class"], f["error"], f["count"], f["latest"]) for f in data["failures"])
    assert got == ref["failures"] and any(f[4] >= 2 and f[3] == long_error[:120] for f in got)
    assert [r["id"] for r in data["deadlines"]] == ref["deadlines"]
    shown = {r["id"] for r in data["deadlines"]}
    assert {docs[0], docs[1], docs[2], docs[4]} <= shown and not {docs[3], docs[5]} & shown
    cards = data["cards"]
    assert (cards["past_due"], cards["near_due"], cards["verify_failed"]) == (ref["past"], ref["near"], ref["verify_failed"])
    assert cards["past_due_text"] == str(ref["past"]) and ref["verify_failed"] >= 1
    totals: dict = {}
    for per in ref["counts"].values():
        for st, n in per.items():
            totals[st] = totals.get(st, 0) + n
    assert cards["failed"] == totals.get("failed", 0) + totals.get("not_configured", 0)
    assert cards["manual"] == totals.get("awaiting_confirmation", 0)


def test_log_total_exact_then_estimated_or_floored(web, monkeypatch):
    from orchestrator.db import session_scope
    from orchestrator.models import Delivery, DeliveryAttempt
    from orchestrator.web import ops as ops_module

    clerk = web.client("clerk")
    doc = _submit(clerk, "计数文件")
    with session_scope() as s:
        ds = {d.channel: d for d in s.scalars(select(Delivery).where(Delivery.document_id == doc))}
        for i in range(5):
            s.add(DeliveryAttempt(delivery_id=ds["website"].id, number=i + 1, outcome="transient", message=f"第 {i + 1} 次"))
        s.add(DeliveryAttempt(delivery_id=ds["reading_room"].id, number=1, outcome="pending", message="等待人工"))
    with session_scope() as s:
        everything = s.scalar(select(func.count()).select_from(DeliveryAttempt))
        transient = s.scalar(select(func.count()).select_from(DeliveryAttempt).where(DeliveryAttempt.outcome == "transient"))
    ops = web.client("ops")

    # Under the cap: exact, with the page count.
    r = ops.get("/log")
    assert TOTAL.search(r.text).group(1) == f"共 {everything:,} 条" and f"第 1/{(everything + 49) // 50} 页" in r.text

    monkeypatch.setattr(ops_module, "TOTAL_CAP", 3)
    # Over the cap, unfiltered: the table's estimate, rounded and labelled as one.
    shown = TOTAL.search(ops.get("/log").text).group(1)
    assert shown.startswith("约 ") and shown.endswith(" 条（估算）")
    assert int(shown.removeprefix("约 ").removesuffix(" 条（估算）").replace(",", "")) >= 3
    # Over the cap, filtered: a floor, no page count; still exact at or below it.
    r = ops.get("/log", params={"outcome": "transient"})
    assert transient >= 5 and TOTAL.search(r.text).group(1) == "超过 3 条" and "第 1 页" in r.text
    r = ops.get("/log", params={"outcome": "pending", "channel": "reading_room"})
    assert TOTAL.search(r.text).group(1) == "共 1 条" and "等待人工" in r.text

    # Paging without a total: "next" only while there is a next page, and it shows the rest.
    monkeypatch.setattr(ops_module, "LOG_PAGE", 2)
    first = ops.get("/log", params={"outcome": "transient", "channel": "website"}).text
    assert "下一页" in first and "第 5 次" in first and "第 4 次" in first and "第 3 次" not in first
    last = ops.get("/log", params={"outcome": "transient", "channel": "website", "page_no": 3}).text
    assert "第 1 次" in last and "下一页" not in last and "上一页" in last
