"""Fan-out: hand deliveries to the broker, claim them, run the adapter, move each row along its states.

The database is the source of truth. A message only says "look at delivery N"; the task *claims* the row with a
conditional UPDATE (so a duplicate message does nothing), holds a lease while the adapter runs, records an attempt,
and writes the outcome only while it still holds the lease. The sweeper (beat) repairs everything a lost message,
a killed worker or a Redis restart leaves behind.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import random
import socket
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from channels.base import (
    Action,
    AttachmentInfo,
    Capability,
    ChannelError,
    DeliveryContext,
    DocumentPayload,
    NotConfigured,
    PermanentError,
    Receipt,
)
from channels.registry import ChannelRegistry
from orchestrator.attachments import blob_path
from orchestrator.db import session_scope
from orchestrator.models import (
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    DeliveryTransition,
    Document,
    DocumentVersion,
    utcnow,
)
from orchestrator.settings import Settings, get_settings

log = logging.getLogger(__name__)
S = DeliveryStatus
CLAIMABLE = (S.pending, S.queued, S.retrying)
POLL_INTERVAL = dt.timedelta(seconds=5)
MAX_AWAIT = dt.timedelta(hours=24)


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@lru_cache(maxsize=4)
def _registry_cached(path: str, mtime: float) -> ChannelRegistry:
    return ChannelRegistry.load(Path(path))


def registry(settings: Settings | None = None) -> ChannelRegistry:
    path = (settings or get_settings()).channels_path
    return _registry_cached(str(path), path.stat().st_mtime)


def _transition(session: Session, delivery_id: int, frm: str, to: str, reason: str = "", actor: str = "") -> None:
    session.add(DeliveryTransition(delivery_id=delivery_id, from_status=frm, to_status=to, reason=reason[:2000], actor=actor))


# --- hand-off to the broker ----------------------------------------------------------------------

def enqueue(ids: list[int], *, poll: bool = False) -> int:
    """Mark rows queued (after their commit) and send one message per row to its channel's queue."""
    from orchestrator.celery_app import queue_for
    from orchestrator.tasks import deliver, poll_delivery

    now = utcnow()
    with session_scope() as session:
        rows = session.execute(select(Delivery.id, Delivery.channel, Delivery.status).where(Delivery.id.in_(ids))).all()
        to_send = []
        for rid, channel, status in rows:
            if poll:
                if status == S.awaiting_channel:
                    to_send.append((rid, channel))
                continue
            if status not in CLAIMABLE:
                continue
            res = session.execute(
                update(Delivery).where(Delivery.id == rid, Delivery.status == status)
                .values(status=S.queued, queued_at=now, updated_at=now)
            )
            if res.rowcount:
                if status != S.queued:
                    _transition(session, rid, status, S.queued)
                to_send.append((rid, channel))
    task = poll_delivery if poll else deliver
    for rid, channel in to_send:
        task.apply_async(args=[rid], queue=queue_for(channel))
    return len(to_send)


# --- one delivery --------------------------------------------------------------------------------

@dataclass
class Claim:
    delivery_id: int
    attempt_id: int
    attempt_no: int
    owner: str


def claim(delivery_id: int, settings: Settings, owner: str) -> Claim | None:
    """Take the row if it is ours to send; a duplicate or stale message gets None and does nothing."""
    now = utcnow()
    with session_scope() as session:
        row = session.execute(
            select(Delivery.status, Delivery.attempts, Delivery.max_attempts, Delivery.next_attempt_at, Delivery.not_before)
            .where(Delivery.id == delivery_id)
        ).one_or_none()
        if row is None or row.status not in CLAIMABLE:
            return None
        if row.not_before and row.not_before > now:
            return None
        if row.status == S.retrying and row.next_attempt_at and row.next_attempt_at > now + dt.timedelta(seconds=1):
            return None
        res = session.execute(
            update(Delivery)
            .where(Delivery.id == delivery_id, Delivery.status == row.status, Delivery.attempts == row.attempts)
            .values(status=S.sending, attempts=row.attempts + 1, lease_owner=owner, updated_at=now,
                    lease_until=now + dt.timedelta(seconds=settings.lease_seconds))
        )
        if not res.rowcount:
            return None
        _transition(session, delivery_id, row.status, S.sending, f"第 {row.attempts + 1} 次尝试", owner)
        d = session.get(Delivery, delivery_id)
        attempt = DeliveryAttempt(delivery_id=delivery_id, number=row.attempts + 1, operation=d.action, worker=owner)
        session.add(attempt)
        session.flush()
        return Claim(delivery_id, attempt.id, row.attempts + 1, owner)


def build_context(session: Session, d: Delivery, settings: Settings, owner: str) -> DeliveryContext:
    doc: Document = d.document
    version: DocumentVersion = session.get(DocumentVersion, d.version_id)
    entry = doc.entry
    attachments = tuple(
        AttachmentInfo(a.filename, a.content_type, a.size, a.sha256, blob_path(settings, a.sha256)) for a in version.attachments
    )
    related = []
    if doc.related_document_id:
        rel = session.get(Document, doc.related_document_id)
        if rel is not None:
            related.append({"document_id": rel.id, "title": rel.title, "index_no": rel.index_no,
                            "url": _site_url(session, rel.id), "relation": "explains"})
    for other in session.scalars(select(Document).where(Document.related_document_id == doc.id)):
        related.append({"document_id": other.id, "title": other.title, "index_no": other.index_no,
                        "url": _site_url(session, other.id), "relation": "explained_by"})
    # A correction (new version) keeps the document valid; only a withdrawal changes 有效性.
    validity = "已撤回" if doc.status == "withdrawn" else "有效"
    payload = DocumentPayload(
        document_id=doc.id, version=version.version, index_no=doc.index_no, title=version.title,
        body_html=version.body_html, doc_number=version.doc_number, formed_on=doc.formed_on,
        publisher=doc.publisher.name, entry_code=entry.code, entry_path=tuple(entry.path), offices=tuple(entry.offices),
        attachments=attachments, published_at=doc.publish_at or doc.created_at, updated_at=version.created_at,
        display_from=doc.display_from, display_until=doc.display_until, site_url=_site_url(session, doc.id),
        summary=version.summary, validity=validity, related=tuple(related),
        extra={"channel_options": dict((doc.channel_options or {}).get(d.channel, {})),
               "entry_options": dict(entry.options or {}), "withdraw_reason": doc.withdraw_reason,
               "change_note": version.change_note},
    )
    previous = None
    if d.follows_id:
        prev = session.get(Delivery, d.follows_id)
        previous = Receipt.from_dict(prev.receipt) if prev is not None else None

    def save_checkpoint(cp: dict) -> None:
        with session_scope() as s2:
            s2.execute(update(Delivery).where(Delivery.id == d.id, Delivery.lease_owner == owner,
                                              Delivery.status.in_([S.sending, S.awaiting_channel]))
                       .values(checkpoint=dict(cp), updated_at=utcnow()))

    return DeliveryContext(
        delivery_id=d.id, idempotency_key=d.idempotency_key, channel=d.channel, destination=d.destination,
        action=Action(d.action), document=payload, previous_receipt=previous, checkpoint=dict(d.checkpoint or {}),
        save_checkpoint=save_checkpoint, attempt=d.attempts,
    )


def _site_url(session: Session, document_id: int) -> str:
    rows = session.execute(
        select(Delivery.receipt).where(Delivery.document_id == document_id, Delivery.channel == "website",
                                       Delivery.status.in_([S.delivered, S.verified]), Delivery.action != "withdraw")
        .order_by(Delivery.id.desc())
    ).scalars()
    for receipt in rows:
        if receipt and receipt.get("url"):
            return str(receipt["url"])
    # Not delivered yet: the website destination may know the address in advance (the built-in column does).
    reg = registry()
    for dest in reg.destinations("website"):
        try:
            url = reg.adapter_for(dest).expected_url(document_id)
        except PermanentError:
            continue
        if url:
            return url
    return ""


def housekeeping(settings: Settings | None = None) -> list[str]:
    """Run every configured adapter's time-driven upkeep once. Returns the destinations that failed."""
    reg = registry(settings)
    failed = []
    for channel, dests in reg.channels.items():
        for dest in dests:
            if not dest.enabled:
                continue
            try:
                reg.adapter_for(dest).housekeeping()
            except Exception:  # one broken destination must not stop the others' upkeep
                log.exception("housekeeping failed for %s/%s", channel, dest.name)
                failed.append(f"{channel}/{dest.name}")
    return failed


def backoff_seconds(attempt: int, settings: Settings) -> float:
    """Exponential backoff with jitter (half fixed, half random), capped."""
    base = min(settings.backoff_cap_seconds, settings.backoff_base_seconds * (2 ** max(0, attempt - 1)))
    return base / 2 + random.uniform(0, base / 2)


def run_delivery(delivery_id: int, settings: Settings | None = None) -> str | None:
    """Claim, call the adapter, record the attempt and the outcome. Returns the new status (None if not claimed)."""
    settings = settings or get_settings()
    owner = worker_id()
    c = claim(delivery_id, settings, owner)
    if c is None:
        return None
    reg = registry(settings)
    with session_scope() as session:
        d = session.get(Delivery, delivery_id)
        ctx = build_context(session, d, settings, owner)
        dest = reg.destination(d.channel, d.destination)
    receipt: Receipt | None = None
    error: BaseException | None = None
    adapter = None
    try:
        adapter = reg.adapter_for(dest)
        receipt = adapter.run(ctx)
    except ChannelError as exc:
        error = exc
    except Exception as exc:  # an adapter bug: retried like a transient error, capped, and visible in the log
        log.exception("adapter %s crashed on delivery %s", dest.adapter, delivery_id)
        error = exc
    verified = None
    if receipt is not None and not receipt.pending and not receipt.needs_person and adapter is not None \
            and Capability.verify in adapter.capabilities:
        try:
            verified = adapter.verify(ctx, receipt)
        except Exception as exc:  # a failed check never undoes a delivery
            log.warning("verify failed for delivery %s: %s", delivery_id, exc)
            verified = False
    return finish(c, settings, receipt=receipt, error=error, verified=verified)


def finish(c: Claim, settings: Settings, *, receipt: Receipt | None, error: BaseException | None,
           verified: bool | None = None) -> str:
    now = utcnow()
    with session_scope() as session:
        d = session.scalars(select(Delivery).where(Delivery.id == c.delivery_id).with_for_update()).one()
        attempt = session.get(DeliveryAttempt, c.attempt_id)
        attempt.ended_at = now
        if d.status != S.sending or d.lease_owner != c.owner:
            # Lost the lease (the sweeper gave the row to someone else): record what we saw, change nothing.
            attempt.outcome = "stale"
            attempt.message = "租约已过期，结果未采用"
            return d.status
        d.lease_until = None
        if receipt is not None:
            d.receipt = receipt.to_dict()
            d.last_error = ""
            d.error_class = ""
            attempt.outcome = "success"
            attempt.response_excerpt = str(receipt.url or receipt.external_id or "")[:2000]
            if receipt.needs_person:
                to, why = S.awaiting_confirmation, receipt.data.get("task", "等待人工处理并确认")
                attempt.outcome = "manual"
            elif receipt.pending:
                to, why = S.awaiting_channel, "渠道已受理，等待渠道处理结果"
                d.next_attempt_at = now + POLL_INTERVAL
                attempt.outcome = "pending"
            else:
                to, why = S.delivered, "已送达"
                d.delivered_at = now
                if verified:
                    _transition(session, d.id, S.sending, S.delivered, why, c.owner)
                    d.status = S.delivered
                    to, why = S.verified, "已核验：页面可访问且内容一致"
                    d.verified_at = now
        else:
            assert error is not None
            msg = getattr(error, "message", None) or f"程序错误：{type(error).__name__}: {error}"
            d.last_error = msg[:4000]
            d.error_class = type(error).__name__
            attempt.error_class = type(error).__name__
            attempt.message = msg[:4000]
            attempt.response_excerpt = getattr(error, "detail", "")[:2000]
            if isinstance(error, NotConfigured):
                to, why = S.not_configured, msg
                attempt.outcome = "permanent"
            elif isinstance(error, PermanentError):
                to, why = S.failed, msg
                attempt.outcome = "permanent"
            else:
                attempt.outcome = "transient"
                if d.attempts >= d.max_attempts:
                    to, why = S.failed, f"已尝试 {d.attempts} 次仍未成功：{msg}"
                    d.last_error = why[:4000]
                else:
                    retry_after = getattr(error, "retry_after", None)
                    delay = retry_after if retry_after is not None else backoff_seconds(d.attempts, settings)
                    d.next_attempt_at = now + dt.timedelta(seconds=delay)
                    to, why = S.retrying, f"{msg}（{delay:.0f} 秒后重试）"
        _transition(session, d.id, d.status, to, why, c.owner)
        d.status = to
        d.updated_at = now
        retry_at = d.next_attempt_at if to == S.retrying else None
        channel = d.channel
    if retry_at is not None:
        _schedule_retry(c.delivery_id, channel, retry_at)
    return to


def _schedule_retry(delivery_id: int, channel: str, when: dt.datetime) -> None:
    """Short waits become an ETA message (fast path); long ones are left to the sweeper (no long ETAs in Redis)."""
    from orchestrator.celery_app import queue_for
    from orchestrator.tasks import deliver

    delay = (when - utcnow()).total_seconds()
    if delay > 300:
        return
    try:
        deliver.apply_async(args=[delivery_id], queue=queue_for(channel), countdown=max(0.0, delay))
    except Exception:  # broker down: the row says retrying with next_attempt_at; the sweeper will send it
        log.warning("could not schedule retry of %s; sweeper will", delivery_id, exc_info=True)


# --- asynchronous channels (awaiting_channel) ----------------------------------------------------

def run_poll(delivery_id: int, settings: Settings | None = None) -> str | None:
    settings = settings or get_settings()
    owner = worker_id()
    now = utcnow()
    with session_scope() as session:
        res = session.execute(
            update(Delivery).where(Delivery.id == delivery_id, Delivery.status == S.awaiting_channel,
                                   or_(Delivery.lease_until.is_(None), Delivery.lease_until < now))
            .values(lease_owner=owner, lease_until=now + dt.timedelta(seconds=settings.lease_seconds))
        )
        if not res.rowcount:
            return None
        d = session.get(Delivery, delivery_id)
        ctx = build_context(session, d, settings, owner)
        dest = registry(settings).destination(d.channel, d.destination)
        receipt = Receipt.from_dict(d.receipt) or Receipt()
        number = d.attempts
        attempt = DeliveryAttempt(delivery_id=d.id, number=number, operation="poll", worker=owner)
        session.add(attempt)
        session.flush()
        attempt_id = attempt.id
        waiting_since = d.updated_at or now
    final: Receipt | None = None
    error: BaseException | None = None
    try:
        final = registry(settings).adapter_for(dest).poll(ctx, receipt)
    except Exception as exc:
        error = exc
    now = utcnow()
    with session_scope() as session:
        d = session.scalars(select(Delivery).where(Delivery.id == delivery_id).with_for_update()).one()
        attempt = session.get(DeliveryAttempt, attempt_id)
        attempt.ended_at = now
        if d.status != S.awaiting_channel or d.lease_owner != owner:
            attempt.outcome = "stale"
            return d.status
        d.lease_until = None
        if error is None and final is not None:
            d.receipt = final.to_dict()
            d.delivered_at = now
            attempt.outcome = "success"
            attempt.response_excerpt = str(final.url or "")[:2000]
            _transition(session, d.id, d.status, S.delivered, "渠道处理完成", owner)
            d.status = S.delivered
        elif isinstance(error, PermanentError):
            msg = error.message
            d.last_error, d.error_class = msg, type(error).__name__
            attempt.outcome, attempt.message, attempt.error_class = "permanent", msg, type(error).__name__
            _transition(session, d.id, d.status, S.failed, msg, owner)
            d.status = S.failed
        else:
            if error is not None:
                attempt.outcome, attempt.error_class = "transient", type(error).__name__
                attempt.message = (getattr(error, "message", None) or str(error))[:4000]
            else:
                attempt.outcome = "pending"
            if now - waiting_since > MAX_AWAIT:
                _transition(session, d.id, d.status, S.failed, "渠道超过 24 小时未返回处理结果", owner)
                d.status = S.failed
                d.last_error = "渠道超过 24 小时未返回处理结果"
            else:
                d.next_attempt_at = now + POLL_INTERVAL
        return d.status


# --- the sweeper ---------------------------------------------------------------------------------

def sweep(settings: Settings | None = None) -> dict[str, int]:
    """Repair what the broker or a crash lost. Safe to run concurrently with workers and with itself."""
    settings = settings or get_settings()
    now = utcnow()
    stuck = now - dt.timedelta(seconds=settings.stuck_pending_seconds)
    counts = {"released": 0, "recovered": 0, "enqueued": 0, "polled": 0}
    released: list[int] = []
    with session_scope() as session:
        skip_locked = session.get_bind().dialect.name == "postgresql"

        def locked(q):
            return q.with_for_update(skip_locked=True) if skip_locked else q

        # 1. Embargoed documents whose time has come.
        for d in session.scalars(locked(select(Delivery).where(Delivery.status == S.scheduled, Delivery.not_before <= now))):
            _transition(session, d.id, d.status, S.pending, "定时发布时间已到")
            d.status = S.pending
            d.updated_at = now
            released.append(d.id)
            counts["released"] += 1
        # 2. Leases that expired: the worker died (kill -9, OOM, time limit). Count the attempt as crashed.
        for d in session.scalars(locked(select(Delivery).where(Delivery.status == S.sending, Delivery.lease_until < now))):
            for a in session.scalars(select(DeliveryAttempt).where(DeliveryAttempt.delivery_id == d.id,
                                                                   DeliveryAttempt.ended_at.is_(None))):
                a.ended_at, a.outcome, a.message = now, "crashed", "工作进程中断（租约过期）"
            if d.attempts >= d.max_attempts:
                to, why = S.failed, f"已尝试 {d.attempts} 次，工作进程多次中断"
                d.last_error = why
            else:
                to, why = S.retrying, "工作进程中断，租约过期后重新投递"
                d.next_attempt_at = now
            _transition(session, d.id, d.status, to, why, "sweeper")
            d.status, d.lease_until, d.updated_at = to, None, now
            counts["recovered"] += 1
        session.flush()
        due = session.scalars(select(Delivery.id).where(or_(
            and_(Delivery.status == S.pending, Delivery.updated_at < stuck),
            and_(Delivery.status == S.queued, Delivery.queued_at < stuck),
            and_(Delivery.status == S.retrying, or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= now)),
        )).limit(5000)).all()
        polls = session.scalars(select(Delivery.id).where(
            Delivery.status == S.awaiting_channel, Delivery.next_attempt_at <= now,
            or_(Delivery.lease_until.is_(None), Delivery.lease_until < now))).all()
        if polls:
            session.execute(update(Delivery).where(Delivery.id.in_(polls)).values(next_attempt_at=now + POLL_INTERVAL))
    ids = sorted(set(due) | set(released))  # freshly released rows go out now, not after the stuck threshold
    if ids:
        counts["enqueued"] = enqueue(ids)
    if polls:
        counts["polled"] = enqueue(list(polls), poll=True)
    return counts
