"""Nothing is delivered before the last step approves, through the real stack: real Celery workers and beat (its
sweeper re-sends anything queued) against PostgreSQL, a real HTTP receiver. A four-step chain with a send-back and a
resubmission publishes the approved version only; 定时发布 counts from the approval when its time has passed."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from tests.fanout_harness import FanoutStack
from tests.receiver import Receiver
from tests.review_support import CHAIN_PUBLISHER, OFFICE, SECRECY_OFFICE, setup_chains, write_catalog


@pytest.fixture
def receiver():
    with Receiver() as r:
        yield r


def _principal(role: str, office: str = "", name: str = ""):
    import uuid

    from orchestrator import auth

    return auth.create_user(name or f"{role}-{uuid.uuid4().hex[:8]}", role, office=office, display_name=name)


def _review_state(document_id: int) -> tuple[str, str, str]:
    from orchestrator.db import session_scope
    from orchestrator.models import Document
    from orchestrator.review.models import DocumentReview

    with session_scope() as s:
        r = s.get(DocumentReview, document_id)
        return s.get(Document, document_id).status, r.state, r.steps[r.current_step]["name"]


def test_no_delivery_before_the_final_approval_then_fan_out(orch_env, redis_server, receiver, tmp_path):
    from orchestrator.db import session_scope
    from orchestrator.documents import inputs, review, versions
    from orchestrator.models import Document
    from orchestrator.review import chains

    channels = {"website": [{"name": "push", "adapter": "http_push", "url": receiver.url, "secret": receiver.secret,
                             "timeout": 5}],
                "reading_room": [{"name": "reading_room", "adapter": "manual"}]}
    with FanoutStack(orch_env, tmp_path, channels=channels, catalogs=[write_catalog(tmp_path)],
                     redis=redis_server) as stack:
        clerk = _principal("clerk", OFFICE)
        first = _principal("reviewer", OFFICE)
        second = _principal("reviewer")
        secrecy = _principal("reviewer", SECRECY_OFFICE)
        leader = _principal("reviewer")
        setup_chains(leader.username)
        res = stack.submit(entry="GZ-01", publisher=CHAIN_PUBLISHER, title="规范性文件（四审）",
                           body="<p>初稿</p>", submitted_by=clerk.username)
        assert res.delivery_ids == [] and any("初审→复审→保密审查→终审" in w for w in res.warnings)

        def nothing_delivered(seconds: float = 2.5) -> None:
            # Workers and the beat sweeper (every second) run meanwhile: still no delivery row, nothing received.
            time.sleep(seconds)
            assert stack.deliveries(res.document_id) == [] and receiver.applied == {}

        assert review.approve(res.document_id, first.username, principal=first, step=0) == []
        nothing_delivered()
        assert review.approve(res.document_id, second.username, principal=second, step=1) == []
        with pytest.raises(inputs.ServiceError) as refused:  # the wrong office, through the operation itself
            review.approve(res.document_id, second.username, principal=second, step=2)
        assert refused.value.status == 403
        assert review.approve(res.document_id, secrecy.username, principal=secrecy, step=2) == []
        nothing_delivered(1)
        with session_scope() as s:
            doc = s.get(Document, res.document_id)
            chains.send_back(s, doc, leader, step=3, comment="请修改第二段", target="clerk")
        nothing_delivered(1)
        again = versions.new_version(res.document_id, {"body": "<p>修改稿</p>", "submitted_by": clerk.username})
        assert again.delivery_ids == [] and _review_state(res.document_id) == ("pending_review", "in_review", "初审")
        for who, step in ((first, 0), (second, 1), (secrecy, 2)):
            assert review.approve(res.document_id, who.username, principal=who, step=step) == []
        nothing_delivered(1)
        ids = review.approve(res.document_id, leader.username, principal=leader, step=3, comment="同意")
        assert len(ids) == 2
        rows = stack.wait_until(res.document_id, lambda ds: {d["channel"]: d["status"] for d in ds} ==
                                {"website": "delivered", "reading_room": "awaiting_confirmation"},
                                timeout=90, what="website delivered after the final approval")
        assert {r["version"] for r in rows} == {2}
        (key,) = [r["idempotency_key"] for r in rows if r["channel"] == "website"]
        assert receiver.applied[key]["body_html"] == "<p>修改稿</p>"  # only the approved version went out

        # 定时发布: a time that passed during review publishes at approval; a later one stays scheduled for it.
        soon = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2)
        late = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)
        passed = stack.submit(entry="GZ-02", publisher=CHAIN_PUBLISHER, title="机关动态（定时已过）", body="<p>动态</p>",
                              publish_at=soon.isoformat())
        later = stack.submit(entry="GZ-02", publisher=CHAIN_PUBLISHER, title="机关动态（定时未到）", body="<p>动态</p>",
                             publish_at=late.isoformat())
        time.sleep(max(0.0, (soon - dt.datetime.now(dt.UTC)).total_seconds()) + 0.5)
        assert stack.deliveries(passed.document_id) == []
        review.approve(passed.document_id, second.username, principal=second, step=0)
        stack.wait_until(passed.document_id, lambda ds: [d["status"] for d in ds] == ["delivered"], timeout=60,
                         what="a passed 定时发布 time publishes at approval")
        review.approve(later.document_id, second.username, principal=second, step=0)
        time.sleep(2)
        (row,) = stack.deliveries(later.document_id)
        assert row["status"] == "scheduled"
