"""The delivery log's total at scale: exact up to a cap, then an estimate labelled 约 (unfiltered) or a floor (filtered),
with paging that no longer needs the exact total. The cap is lowered so a handful of rows crosses it."""

from __future__ import annotations

import re
import shutil

import pytest
from sqlalchemy import func, select

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


def test_log_total_exact_then_estimated_or_floored(web, monkeypatch):
    from orchestrator.db import session_scope
    from orchestrator.models import Delivery, DeliveryAttempt
    from orchestrator.web import ops as ops_module

    clerk = web.client("clerk")
    data = {"csrf_token": csrf_of(clerk.get("/submit").text), "entry": "03", "publisher": PUBLISHER, "title": "计数文件",
            "body": "正文内容", "formed_on": "2026-11-02"}
    doc = clerk.post("/submit", data=data, files=[("files", ("通知.pdf", PDF, "application/pdf"))],
                     headers={"Accept": "application/json"}).json()["document_id"]
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
