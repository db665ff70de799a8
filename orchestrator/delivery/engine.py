"""The delivery engine: claim a row, run the adapter, record the outcome; poll and verify likewise.

The database is the source of truth. A message only says "look at delivery N"; the task *claims* the row with a
conditional UPDATE (so a duplicate message does nothing), holds a lease while the adapter runs, records an attempt,
and writes the outcome only while it still holds the lease. The store (:mod:`orchestrator.delivery.store`, chosen per
engine) does the database part, the rules (:mod:`orchestrator.delivery.rules`) decide the states, the sweeper
(:mod:`orchestrator.delivery.sweeper`) repairs what a lost message or a killed worker leaves behind.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket

from sqlalchemy import Connection, exists, or_, select, update

from channels import registry as channel_registry
from channels.base import Action, Capability, ChannelError, DeliveryContext, PermanentError, Receipt
from orchestrator.db import get_engine, session_scope
from orchestrator.delivery import rules
from orchestrator.delivery.dispatch import schedule_retry
from orchestrator.delivery.leases import LEASES
from orchestrator.delivery.rules import MAX_AWAIT, POLL_INTERVAL, Claim, S
from orchestrator.delivery.store import DeliveryStore, store_for
from orchestrator.delivery.store.context import build_context
from orchestrator.models import Delivery, DeliveryAttempt, DeliveryTransition, utcnow
from orchestrator.settings import Settings, get_settings

log = logging.getLogger(__name__)
_WORKER_ID: tuple[int, str] = (0, "")


def worker_id() -> str:
    global _WORKER_ID
    pid = os.getpid()
    if _WORKER_ID[0] != pid:  # computed once per process (after any fork)
        _WORKER_ID = (pid, f"{socket.gethostname()}:{pid}")
    return _WORKER_ID[1]


def _transition(session, delivery_id: int, frm: str, to: str, reason: str = "", actor: str = "") -> None:
    session.add(DeliveryTransition(delivery_id=delivery_id, from_status=frm, to_status=to, reason=reason[:2000], actor=actor))


# --- one delivery --------------------------------------------------------------------------------

def run_delivery(delivery_id: int, settings: Settings | None = None) -> str | None:
    """Claim, call the adapter, record the attempt and the outcome. Returns the new status (None if not claimed)."""
    settings = settings or get_settings()
    store = store_for(get_engine())
    return store.run_claimed(delivery_id, settings, worker_id(),
                             lambda conn, c, ctx: _attempt(store, conn, c, ctx, settings))


def _attempt(store: DeliveryStore, conn: Connection, c: Claim, ctx: DeliveryContext, settings: Settings) -> str:
    """Run the adapter for a claimed delivery and write the outcome."""
    reg = channel_registry.current(settings)
    delivery_id = c.delivery_id
    dest = reg.destination(ctx.channel, ctx.destination)
    receipt: Receipt | None = None
    error: BaseException | None = None
    adapter = None
    verified = None
    verify_note = ""
    LEASES.hold(delivery_id, c.owner)  # renewed while the adapter runs, however long the channel takes
    try:
        try:
            adapter = reg.adapter_for(dest)
            receipt = adapter.run(ctx)
        except ChannelError as exc:
            error = exc
        except Exception as exc:  # an adapter bug: retried like a transient error, capped, and visible in the log
            log.exception("adapter %s crashed on delivery %s", dest.adapter, delivery_id)
            error = exc
        if receipt is not None and not receipt.pending and not receipt.needs_person and adapter is not None \
                and Capability.verify in adapter.capabilities:
            verified, verify_note = check_live(adapter, ctx, receipt)
        return finish(store, conn, c, settings, channel=ctx.channel, receipt=receipt, error=error, verified=verified,
                      verify_note=verify_note, progressed=ctx.progressed)
    finally:
        LEASES.release(delivery_id)


def finish(store: DeliveryStore, conn: Connection, c: Claim, settings: Settings, *, channel: str,
           receipt: Receipt | None, error: BaseException | None, verified: bool | None = None, verify_note: str = "",
           progressed: bool = False) -> str:
    """Write the outcome, but only while we still hold the lease (one conditional UPDATE decides)."""
    now = utcnow()
    out = rules.outcome(c, settings, now, receipt=receipt, error=error, verified=verified, verify_note=verify_note,
                        progressed=progressed,
                        deferred_since=lambda: store.deferred_since(conn, c.delivery_id),
                        progress_attempts=lambda: store.progress_attempts(conn, c.delivery_id))
    won, to = store.finish(conn, c, now, out)
    if won and out.retry_at is not None:
        schedule_retry(c.delivery_id, channel, out.retry_at)
    if won and verified is False:
        store.log_verify_attempt(conn, c, now, verify_note)
    return to


def check_live(adapter, ctx: DeliveryContext, receipt: Receipt) -> tuple[bool, str]:
    """Run the adapter's ``verify``: (True, "") when live as sent, else (False, the reason in Chinese)."""
    try:
        if adapter.verify(ctx, receipt):
            return True, ""
    except ChannelError as exc:  # "cannot tell yet": checked again later
        log.info("verify of delivery %s could not tell: %s", ctx.delivery_id, exc.message)
        return False, exc.message
    except Exception as exc:  # a failed check never undoes a delivery
        log.warning("verify crashed for delivery %s", ctx.delivery_id, exc_info=True)
        return False, f"核验程序出错：{type(exc).__name__}: {exc}"
    where = f"（{receipt.url}）" if receipt.url else ""
    if ctx.action is Action.withdraw:
        return False, f"公开页面{where}仍可访问，撤回尚未生效"
    return False, f"公开页面{where}不存在或与所发内容不一致"


# --- asynchronous channels (awaiting_channel) ----------------------------------------------------

def run_poll(delivery_id: int, settings: Settings | None = None) -> str | None:
    settings = settings or get_settings()
    owner = worker_id()
    now = utcnow()
    reg = channel_registry.current(settings)
    with session_scope() as session:
        res = session.execute(
            update(Delivery).where(Delivery.id == delivery_id, Delivery.status == S.awaiting_channel,
                                   or_(Delivery.lease_until.is_(None), Delivery.lease_until < now))
            .values(lease_owner=owner, lease_until=now + dt.timedelta(seconds=settings.lease_seconds))
        )
        if not res.rowcount:
            return None
        d = session.get(Delivery, delivery_id)
        ctx = build_context(session.connection(), d.id, settings, owner)
        dest = reg.destination(d.channel, d.destination)
        receipt = Receipt.from_dict(d.receipt) or Receipt()
        number = d.attempts
        attempt = DeliveryAttempt(delivery_id=d.id, number=number, operation="poll", worker=owner)
        session.add(attempt)
        session.flush()
        attempt_id = attempt.id
        waiting_since = d.updated_at or now
    final: Receipt | None = None
    error: BaseException | None = None
    verified, verify_note = False, ""
    LEASES.hold(delivery_id, owner)
    try:
        adapter = reg.adapter_for(dest)
        final = adapter.poll(ctx, receipt)
        if final is not None and not final.pending and not final.needs_person \
                and Capability.verify in adapter.capabilities:
            # The channel finished: check it is really live, as a synchronous delivery is checked (→ verified).
            verified, verify_note = check_live(adapter, ctx, final)
    except Exception as exc:
        error = exc
    finally:
        LEASES.release(delivery_id)
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
            if verified:
                _transition(session, d.id, S.delivered, S.verified, "已核验：渠道确认内容已上线", owner)
                d.status = S.verified
                d.verified_at = now
            elif verify_note:  # not live as sent yet: checked again by beat, then flagged (as after a send)
                d.verify_tries = 1
                if settings.verify_attempts > 1:
                    d.verify_due_at = now + dt.timedelta(seconds=settings.verify_interval_seconds)
                else:
                    d.verify_error = verify_note[:4000]
                    _transition(session, d.id, d.status, d.status, f"核验失败：{verify_note}", owner)
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


# --- verification after delivery ---------------------------------------------------------------------

VERIFIER = "核验"


def run_verify(delivery_id: int, settings: Settings | None = None) -> str | None:
    """Check again that a delivered item is live as sent (the first check, right after sending, failed).

    Success moves the row to ``verified``. After ``verify_attempts`` failed checks the row stays ``delivered`` but is
    flagged (``verify_error``), with a timeline entry and an attempt-log line carrying the reason, for ops to see.
    """
    settings = settings or get_settings()
    owner = worker_id()
    started = utcnow()
    reg = channel_registry.current(settings)
    with session_scope() as session:
        d = session.scalars(select(Delivery).where(
            Delivery.id == delivery_id, Delivery.status == S.delivered, Delivery.verify_due_at.is_not(None))
            .with_for_update()).first()
        if d is None:
            return None
        # A newer version or a withdrawal follows this delivery: its content is no longer what should be live.
        if session.scalar(select(exists().where(Delivery.follows_id == d.id))):
            d.verify_due_at = None
            return d.status
        d.verify_due_at = started + dt.timedelta(seconds=max(settings.verify_interval_seconds, settings.lease_seconds))
        ctx = build_context(session.connection(), d.id, settings, owner)
        receipt = Receipt.from_dict(d.receipt) or Receipt()
        dest = reg.destination(d.channel, d.destination)
    try:
        adapter = reg.adapter_for(dest)
    except PermanentError as exc:
        ok, note = False, exc.message
    else:
        ok, note = check_live(adapter, ctx, receipt)
    now = utcnow()
    with session_scope() as session:
        d = session.scalars(select(Delivery).where(Delivery.id == delivery_id).with_for_update()).one()
        if d.status != S.delivered or d.verify_due_at is None:
            return d.status
        d.verify_tries += 1
        session.add(DeliveryAttempt(delivery_id=d.id, number=d.attempts, operation="verify", worker=owner,
                                    started_at=started, ended_at=now, outcome="success" if ok else "verify_failed",
                                    message=note[:4000], response_excerpt=str(receipt.url or "")[:2000]))
        if ok:
            _transition(session, d.id, d.status, S.verified,
                        f"已核验：页面可访问且内容一致（第 {d.verify_tries} 次核验）", VERIFIER)
            d.status, d.verified_at, d.verify_due_at, d.verify_error = S.verified, now, None, ""
        elif d.verify_tries >= settings.verify_attempts:
            d.verify_due_at, d.verify_error = None, note[:4000]
            _transition(session, d.id, d.status, d.status, f"核验失败：{note}（已核验 {d.verify_tries} 次）", VERIFIER)
        else:
            d.verify_due_at = now + dt.timedelta(seconds=settings.verify_interval_seconds)
        d.updated_at = now
        return d.status
