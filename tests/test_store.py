"""The delivery store: one set of rules, two implementations (portable on SQLite, single statements on PostgreSQL).

The same operations run on a fresh PostgreSQL database and on a fresh SQLite file must leave the same rows: documents
and index numbers, versions, deliveries (keys, states, embargo), transition rows, attempt rows, attachments.
"""

from __future__ import annotations

import datetime as dt
import io
import re

from tests.api_helpers import PDF, configure, migrated_pg  # noqa: F401  (migrated_pg: a fresh database per module)
from tests.receiver import Receiver


def _operations_and_snapshot(tmp_path, redis_url, monkeypatch, receiver) -> dict:
    from sqlalchemy import select

    from channels.base import PermanentError, Receipt
    from orchestrator.db import get_engine, session_scope
    from orchestrator.delivery import engine, rules
    from orchestrator.delivery.store import store_for
    from orchestrator.documents import inputs, submission, versions
    from orchestrator.models import (
        Attachment,
        Delivery,
        DeliveryAttempt,
        DeliveryTransition,
        Document,
        DocumentVersion,
    )
    from orchestrator.settings import get_settings

    tmp_path.mkdir()
    configure(monkeypatch, tmp_path, redis_url, {
        "website": [{"name": "push", "adapter": "http_push", "url": receiver.url, "secret": receiver.secret},
                    {"name": "mirror", "adapter": "http_push", "url": receiver.url, "secret": receiver.secret}],
        "reading_room": [{"name": "r", "adapter": "manual"}],
    })
    settings = get_settings()
    first = submission.submit(
        {"entry": "03", "title": "存储规则", "body": "<p>正文</p>", "formed_on": "2026-11-02", "submitted_by": "张三"},
        [inputs.Upload("附件.pdf", io.BytesIO(PDF))], enqueue=False)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=3)
    embargoed = submission.submit({"entry": "03", "title": "定时发布", "body": "<p>正文</p>", "formed_on": "2026-11-02",
                                   "publish_at": later.isoformat()}, enqueue=False)
    store = store_for(get_engine())
    assert store is store_for(get_engine())  # chosen once per engine

    # The worker's side, through the store: a success and a permanent failure.
    with session_scope() as s:
        rows = {(d.channel, d.destination): d.id for d in s.scalars(
            select(Delivery).where(Delivery.document_id == first.document_id))}
    owner = "test-worker:1"
    for key, receipt, error in ((("website", "push"), Receipt(url="https://example.org/a"), None),
                                (("reading_room", "r"), None, PermanentError("人工渠道拒收"))):
        def work(conn, c, ctx, key=key, receipt=receipt, error=error):
            assert ctx.idempotency_key == rules.idempotency_key(first.document_id, 1, *key, "publish")
            return engine.finish(store, conn, c, settings, channel=ctx.channel, receipt=receipt, error=error)

        assert store.run_claimed(rows[key], settings, owner, work) in ("delivered", "failed")
        assert store.run_claimed(rows[key], settings, owner, work) is None  # a duplicate message changes nothing
    corrected = versions.new_version(first.document_id, {"title": "存储规则（更正）", "change_note": "改标题"})
    withdrawn = versions.withdraw(embargoed.document_id, "不再发布", "李四")

    docs = {first.document_id: "A", embargoed.document_id: "B"}
    with session_scope() as s:
        deliveries = list(s.scalars(select(Delivery).where(Delivery.document_id.in_(docs)).order_by(Delivery.id)))
        seen: dict[str, int] = {}
        names = {}
        for d in deliveries:  # A0, A1 … and B0, B1 … in the order each document's rows were written
            doc = docs[d.document_id]
            names[d.id] = f"{doc}{seen.setdefault(doc, 0)}"
            seen[doc] += 1

        def key(k: str) -> str:
            return re.sub(r"^doc(\d+)", lambda m: "doc" + docs[int(m.group(1))], k)

        snap = {
            "documents": [(docs[d.id], re.sub(r"\d{5}$", "#", d.index_no), d.status, d.current_version, d.title,
                           d.withdraw_reason, d.publish_at is not None, d.due_date, d.submitted_by)
                          for d in s.scalars(select(Document).where(Document.id.in_(docs)).order_by(Document.id))],
            "index_numbers": [int(d.index_no[-5:]) for d in s.scalars(
                select(Document).where(Document.id.in_(docs)).order_by(Document.id))],
            "versions": [(docs[v.document_id], v.version, v.title, v.body_html, v.content_hash, v.change_note,
                          v.created_by)
                         for v in s.scalars(select(DocumentVersion).where(DocumentVersion.document_id.in_(docs))
                                            .order_by(DocumentVersion.id))],
            "attachments": [(a.position, a.filename, a.content_type, a.size) for a in s.scalars(
                select(Attachment).join(DocumentVersion).where(DocumentVersion.document_id.in_(docs))
                .order_by(Attachment.id))],
            "deliveries": [(names[d.id], d.version, d.channel, d.destination, d.action, key(d.idempotency_key),
                            d.status, d.attempts, d.max_attempts, d.not_before is not None,
                            names.get(d.follows_id), d.last_error, d.error_class, d.lease_until is None,
                            (d.receipt or {}).get("url"), d.delivered_at is not None)
                           for d in deliveries],
            "transitions": [(names[t.delivery_id], t.from_status, t.to_status, t.reason, t.actor)
                            for t in s.scalars(select(DeliveryTransition).where(
                                DeliveryTransition.delivery_id.in_(names)).order_by(DeliveryTransition.id))],
            "attempts": [(names[a.delivery_id], a.number, a.operation, a.worker, a.outcome, a.error_class, a.message,
                          a.response_excerpt, a.ended_at is not None)
                         for a in s.scalars(select(DeliveryAttempt).where(
                             DeliveryAttempt.delivery_id.in_(names)).order_by(DeliveryAttempt.id))],
            "results": (sorted(names[i] for i in corrected.delivery_ids), sorted(names[i] for i in withdrawn.delivery_ids)),
            "store": type(store).__name__,
        }
    return snap


def test_the_same_operations_leave_the_same_rows_on_both_stores(orch_env, redis_server, tmp_path, monkeypatch):
    from orchestrator import db, settings

    with Receiver() as receiver:
        pg = _operations_and_snapshot(tmp_path / "pg", redis_server.url, monkeypatch, receiver)
        url = f"sqlite:///{tmp_path / 'orchestrator.db'}"
        db.upgrade_database(url)
        monkeypatch.setenv("ORCH_DATABASE_URL", url)
        settings.get_settings.cache_clear()
        db.reset_caches()
        lite = _operations_and_snapshot(tmp_path / "lite", redis_server.url, monkeypatch, receiver)
    settings.get_settings.cache_clear()
    db.reset_caches()

    assert (pg.pop("store"), lite.pop("store")) == ("PostgresStore", "PortableStore")
    # Index numbers are gap-free per publisher and year on both (each database is fresh: its counter starts at 1).
    assert pg["index_numbers"] == [1, 2]
    for part in pg:
        assert pg[part] == lite[part], part
    # And the rows say what the rules say.
    deliveries = {d[0]: d for d in pg["deliveries"]}
    assert [d[2:7] for d in pg["deliveries"][:3]] == [
        ("website", "push", "publish", "docA-v1-website-push-publish", "delivered"),
        ("website", "mirror", "publish", "docA-v1-website-mirror-publish", "cancelled"),
        ("reading_room", "r", "publish", "docA-v1-reading_room-r-publish", "failed"),
    ]
    assert [d[6] for d in pg["deliveries"] if d[0].startswith("B") and d[4] == "publish"] == ["cancelled"] * 3
    assert all(d[9] for d in pg["deliveries"] if d[0].startswith("B") and d[4] == "publish")  # not_before: embargoed
    assert ("A0", "queued", "sending", "第 1 次尝试", "test-worker:1") in pg["transitions"]
    assert ("A2", "sending", "failed", "人工渠道拒收", "test-worker:1") in pg["transitions"]
    assert [t[1:4] for t in pg["transitions"] if t[0] == "A0"][0] == ("", "queued", "随文件登记创建")
    assert [a[4] for a in pg["attempts"]] == ["success", "permanent"]
    assert pg["attachments"] == [(0, "附件.pdf", "application/pdf", len(PDF))] * 2  # version 2 keeps it
    assert deliveries["A3"][4:7] == ("update", "docA-v2-website-push-update", "queued")
    assert deliveries["A3"][10] == "A0"  # the update follows the delivered publish
    assert pg["results"][1] == []  # nothing of the embargoed document had gone out: nothing to withdraw


def test_the_rules_both_stores_take_their_values_from():
    """Keys, the first state and outcome → state, without a database (both stores write what these return)."""
    from channels.base import NotConfigured, PermanentError, Receipt, TransientError
    from orchestrator.delivery import rules
    from orchestrator.settings import Settings

    settings = Settings(max_defer_seconds=3600, verify_attempts=2, verify_interval_seconds=60)
    now = dt.datetime(2026, 11, 2, 8, tzinfo=dt.UTC)
    assert rules.idempotency_key(7, 2, "website", "push", "update") == "doc7-v2-website-push-update"
    assert rules.idempotency_key(7, 2, "website", "push", "update") == f"doc7{rules.key_suffix(2, 'website', 'push', 'update')}"
    later = now + dt.timedelta(hours=1)
    assert rules.first_state("publish", later, now) == ("scheduled", later)
    assert rules.first_state("publish", now - dt.timedelta(hours=1), now) == ("queued", None)
    assert rules.first_state("update", later, now) == ("queued", later)  # an update waits for the embargo, queued
    assert rules.claimable("retrying", None, now + dt.timedelta(seconds=0.5), now)
    assert not rules.claimable("retrying", None, now + dt.timedelta(seconds=5), now)
    assert not rules.claimable("queued", later, None, now) and not rules.claimable("sending", None, None, now)

    claim = rules.Claim(1, 10, attempt_no=2, max_attempts=3, owner="w")

    def decide(receipt=None, error=None, verified=None, progressed=False, since=None, progress=0):
        return rules.outcome(claim, settings, now, receipt=receipt, error=error, verified=verified, verify_note="未上线",
                             progressed=progressed, deferred_since=lambda: since, progress_attempts=lambda: progress)

    ok = decide(Receipt(url="https://x/1"), verified=True)
    assert (ok.to, ok.attempt["outcome"], [t[1] for t in ok.transitions]) == ("verified", "success", ["delivered", "verified"])
    unverified = decide(Receipt(url="https://x/1"), verified=False)
    assert unverified.to == "delivered" and unverified.values["verify_tries"] == 1 and "verify_due_at" in unverified.values
    assert decide(Receipt(pending=True)).to == "awaiting_channel"
    assert decide(Receipt(needs_person=True)).attempt["outcome"] == "manual"
    assert decide(error=NotConfigured("未配置")).to == "not_configured"
    assert decide(error=PermanentError("拒收")).values["last_error"] == "拒收"
    retry = decide(error=TransientError("超时"))
    assert retry.to == "retrying" and retry.retry_at is not None and retry.attempt["outcome"] == "transient"
    deferred = decide(error=TransientError("限流", retry_after=30))
    assert (deferred.to, deferred.values["max_attempts"], deferred.attempt["outcome"]) == ("retrying", 4, "deferred")
    too_long = decide(error=TransientError("限流", retry_after=30), since=now - dt.timedelta(seconds=3590))
    assert too_long.to == "failed" and too_long.values["deferred_since"] is None
    last = rules.Claim(1, 10, attempt_no=3, max_attempts=3, owner="w")
    capped = rules.outcome(last, settings, now, receipt=None, error=TransientError("超时"), verified=None, verify_note="",
                           progressed=False, deferred_since=lambda: None, progress_attempts=lambda: 0)
    assert capped.to == "failed" and capped.values["last_error"].startswith("已尝试 3 次仍未成功")
    progressed = rules.outcome(last, settings, now, receipt=None, error=TransientError("超时"), verified=None,
                               verify_note="", progressed=True, deferred_since=lambda: None, progress_attempts=lambda: 1)
    assert progressed.to == "retrying" and progressed.attempt["outcome"] == rules.PROGRESS
    assert rules.crashed_outcome(3, 3, lambda: 0)[0] == "failed"
    assert rules.crashed_outcome(3, 3, lambda: 1)[0] == "retrying"
