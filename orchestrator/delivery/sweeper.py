"""The sweeper and the housekeeping beat: repair what the broker or a crash lost, and re-check delivered items.

Safe to run concurrently with workers and with itself (rows are locked, and skipped when another sweeper holds them
on a database that can).
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.orm import aliased

from channels import registry as channel_registry
from channels.base import Action, Channel, PermanentError, Receipt
from orchestrator.db import session_scope
from orchestrator.delivery import rules
from orchestrator.delivery.dispatch import empty_queues, enqueue, send_verifications
from orchestrator.delivery.rules import POLL_INTERVAL, REQUEUE_AFTER, S
from orchestrator.delivery.store import store_for
from orchestrator.models import Delivery, DeliveryAttempt, DeliveryTransition, utcnow
from orchestrator.settings import Settings, get_settings

log = logging.getLogger(__name__)


def _transition(session, delivery_id: int, frm: str, to: str, reason: str = "", actor: str = "") -> None:
    session.add(DeliveryTransition(delivery_id=delivery_id, from_status=frm, to_status=to, reason=reason[:2000], actor=actor))


def sweep(settings: Settings | None = None) -> dict[str, int]:
    """Repair what the broker or a crash lost. Safe to run concurrently with workers and with itself."""
    settings = settings or get_settings()
    now = utcnow()
    stuck = now - dt.timedelta(seconds=settings.stuck_pending_seconds)
    counts = {"released": 0, "recovered": 0, "enqueued": 0, "polled": 0, "verifying": 0}
    released: list[int] = []
    with session_scope() as session:
        store = store_for(session.get_bind())

        def locked(q):
            return q.with_for_update(skip_locked=True) if store.skip_locked else q

        # 1. Embargoed documents whose time has come.
        for d in session.scalars(locked(select(Delivery).where(Delivery.status == S.scheduled, Delivery.not_before <= now))):
            _transition(session, d.id, d.status, S.pending, "定时发布时间已到", "sweeper")
            d.status = S.pending
            d.updated_at = now
            released.append(d.id)
            counts["released"] += 1
        # 2. Leases that expired: the worker died (kill -9, OOM, time limit). Count the attempt as crashed.
        for d in session.scalars(locked(select(Delivery).where(Delivery.status == S.sending, Delivery.lease_until < now))):
            for a in session.scalars(select(DeliveryAttempt).where(DeliveryAttempt.delivery_id == d.id,
                                                                   DeliveryAttempt.ended_at.is_(None))):
                a.ended_at, a.outcome, a.message = now, "crashed", "工作进程中断（租约过期）"
            to, why = rules.crashed_outcome(d.attempts, d.max_attempts,
                                            lambda d=d: store.progress_attempts(session.connection(), d.id))
            if to == S.failed:
                d.last_error, d.deferred_since = why, None
            else:
                d.next_attempt_at = now
            _transition(session, d.id, d.status, to, why, "sweeper")
            d.status, d.lease_until, d.updated_at = to, None, now
            counts["recovered"] += 1
        session.flush()
        due = list(session.scalars(select(Delivery.id).where(or_(
            and_(Delivery.status == S.pending, Delivery.updated_at < stuck),
            and_(Delivery.status == S.queued, Delivery.queued_at < now - REQUEUE_AFTER),
            and_(Delivery.status == S.retrying, or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= now)),
        )).limit(5000)).all())
        # A queued row whose channel queue is empty has lost its message (Redis restarted without persistence, or
        # the hand-off after commit failed). A non-empty queue is a backlog: resending would only duplicate it.
        waiting = session.execute(select(Delivery.id, Delivery.channel).where(
            Delivery.status == S.queued, Delivery.queued_at < stuck, Delivery.queued_at >= now - REQUEUE_AFTER)
            .limit(5000)).all()
        if waiting:
            empty = empty_queues({ch for _, ch in waiting})
            due += [i for i, ch in waiting if ch in empty]
        polls = session.scalars(select(Delivery.id).where(
            Delivery.status == S.awaiting_channel, Delivery.next_attempt_at <= now,
            or_(Delivery.lease_until.is_(None), Delivery.lease_until < now))).all()
        if polls:
            session.execute(update(Delivery).where(Delivery.id.in_(polls)).values(next_attempt_at=now + POLL_INTERVAL))
        # 3. Delivered rows whose first check failed: check again (the page may not have been live yet).
        checks = session.execute(select(Delivery.id, Delivery.channel).where(
            Delivery.status == S.delivered, Delivery.verify_tries > 0, Delivery.verify_due_at <= now).limit(1000)).all()
        if checks:
            session.execute(update(Delivery).where(Delivery.id.in_([i for i, _ in checks])).values(
                verify_due_at=now + dt.timedelta(seconds=max(settings.verify_interval_seconds, settings.lease_seconds))))
    ids = sorted(set(due) | set(released))  # freshly released rows go out now, not after the stuck threshold
    if ids:
        counts["enqueued"] = enqueue(ids)
    if polls:
        counts["polled"] = enqueue(list(polls), poll=True)
    if checks:
        counts["verifying"] = send_verifications(checks)
    return counts


def housekeeping(settings: Settings | None = None) -> list[str]:
    """Run every configured adapter's time-driven upkeep once. Returns the destinations that failed."""
    reg = channel_registry.current(settings)
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
    try:
        recheck_removed(settings)
    except Exception:
        log.exception("re-checking delivered items failed")
        failed.append("recheck")
    return failed


def recheck_removed(settings: Settings | None = None, *, limit: int | None = None) -> dict[str, int]:
    """Find delivered items the channel itself has taken down since (WeChat: deleted by the account, banned by the
    platform) and mark them ``removed``, with the reason and a transition row.

    Only destinations whose adapter overrides :meth:`Channel.removal_reason` are checked; per destination a bounded
    batch of its delivered/verified rows (not withdrawals, and only the newest delivery of each chain: one that a
    correction or a withdrawal followed is that one's business), least recently checked first, each at most once per
    ``recheck_interval_seconds``. Runs from the housekeeping beat task.
    """
    settings = settings or get_settings()
    reg = channel_registry.current(settings)
    batch = settings.recheck_batch if limit is None else limit
    counts = {"checked": 0, "removed": 0, "errors": 0}
    later = aliased(Delivery)
    for channel, dests in reg.channels.items():
        for dest in dests:
            if not dest.enabled:
                continue
            try:
                adapter = reg.adapter_for(dest)
            except PermanentError:
                continue
            if type(adapter).removal_reason is Channel.removal_reason:
                continue
            now = utcnow()
            due = now - dt.timedelta(seconds=settings.recheck_interval_seconds)
            with session_scope() as session:
                rows = session.execute(
                    select(Delivery.id, Delivery.receipt)
                    .where(Delivery.channel == channel, Delivery.destination == dest.name,
                           Delivery.status.in_([S.delivered, S.verified]), Delivery.action != Action.withdraw.value,
                           or_(Delivery.rechecked_at.is_(None), Delivery.rechecked_at <= due),
                           ~exists().where(later.follows_id == Delivery.id))
                    .order_by(Delivery.rechecked_at.asc().nulls_first(), Delivery.delivered_at, Delivery.id)
                    .limit(batch)
                ).all()
            for rid, receipt_data in rows:
                receipt = Receipt.from_dict(receipt_data)
                reason = None
                if receipt is not None:
                    try:
                        reason = adapter.removal_reason(receipt)
                    except Exception as exc:  # unknown this time: checked again next interval
                        log.warning("re-check of delivery %s failed: %s", rid, exc)
                        counts["errors"] += 1
                counts["checked"] += 1
                with session_scope() as session:
                    d = session.scalars(select(Delivery).where(Delivery.id == rid).with_for_update()).one()
                    d.rechecked_at = utcnow()
                    if reason and d.status in (S.delivered, S.verified):
                        why = f"渠道已删除该内容：{reason}"
                        _transition(session, d.id, d.status, S.removed, why, "recheck")
                        d.status, d.last_error, d.updated_at = S.removed, why, utcnow()
                        counts["removed"] += 1
    return counts
