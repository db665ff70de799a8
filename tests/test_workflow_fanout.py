"""The review loop through the real stack: a rejected document's new version goes back to review, and approving it
fans out through real Celery workers to a real HTTP receiver (and a manual channel), with the document state
following the deliveries (发布中 → 待人工处理 → 已发布)."""

from __future__ import annotations

import pytest

from tests.fanout_harness import FanoutStack
from tests.receiver import Receiver
from tests.web_support import REVIEW_CATALOG

DONE = {"delivered", "verified"}


@pytest.fixture
def receiver():
    with Receiver() as r:
        yield r


def _state(document_id: int) -> str:
    from orchestrator.db import session_scope
    from orchestrator.documents.state import document_states
    from orchestrator.models import Document

    with session_scope() as s:
        doc = s.get(Document, document_id)
        return document_states(s, [(doc.id, doc.status)])[doc.id].label


def test_rejected_then_corrected_document_is_reviewed_again_and_fans_out(orch_env, redis_server, receiver, tmp_path):
    from orchestrator.documents import deliveries, review, versions

    catalog = tmp_path / "review.yaml"
    catalog.write_text(REVIEW_CATALOG, encoding="utf-8")
    channels = {"website": [{"name": "push", "adapter": "http_push", "url": receiver.url, "secret": receiver.secret,
                             "timeout": 5}],
                "reading_room": [{"name": "reading_room", "adapter": "manual"}]}
    with FanoutStack(orch_env, tmp_path, channels=channels, catalogs=[catalog], redis=redis_server) as stack:
        res = stack.submit(entry="R-01", publisher="测试审核局", title="任免名单公示", body="<p>名单</p>")
        assert res.delivery_ids == [] and _state(res.document_id) == "待审查"
        review.reject(res.document_id, "审核人", "请删除身份证号")
        assert _state(res.document_id) == "审查未通过"

        again = versions.new_version(res.document_id, {"body": "<p>名单（已脱敏）</p>", "change_note": "脱敏"})
        assert again.delivery_ids == [] and any("已重新提交保密审查" in w for w in again.warnings)
        assert _state(res.document_id) == "待审查"

        ids = review.approve(res.document_id, "审核人")
        assert len(ids) == 2
        rows = stack.wait_until(res.document_id, lambda ds: len(ds) == 2 and
                                {d["channel"]: d["status"] for d in ds} ==
                                {"website": "delivered", "reading_room": "awaiting_confirmation"},
                                timeout=90, what="website delivered, reading room waiting for a person")
        assert {r["version"] for r in rows} == {2}
        (key,) = [r["idempotency_key"] for r in rows if r["channel"] == "website"]
        assert receiver.applied[key]["body_html"] == "<p>名单（已脱敏）</p>"  # the approved version went out
        assert _state(res.document_id) == "待人工处理"

        manual = next(r["id"] for r in rows if r["channel"] == "reading_room")
        deliveries.confirm_delivery(manual, "张三", "已放置")
        assert _state(res.document_id) == "已发布"
