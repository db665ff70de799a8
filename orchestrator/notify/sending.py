"""Sending one ``notify_sends`` row through Apprise, with claims, retries and a record of the outcome.

A row is claimed (``sending``, attempts + 1) in its own committed transaction before the network call, and the outcome
is committed right after it, so a duplicate message for the same row finds nothing to claim. Failures retry with
exponential back-off up to ``ORCH_NOTIFY_MAX_ATTEMPTS``; then the row is ``failed`` with Apprise's reason.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import apprise
from sqlalchemy import or_, select, update

from channels.push.config import instantiate_route, mask_url
from orchestrator.db import session_scope
from orchestrator.models import utcnow
from orchestrator.notify import enqueue
from orchestrator.notify.addresses import apprise_url, resolves_public
from orchestrator.notify.models import NotifySend
from orchestrator.settings import get_settings

log = logging.getLogger(__name__)
CLAIM_SECONDS = 300  # a claim older than this without an outcome is taken for a crashed sender


def _claim(send_id: int) -> NotifySend | None:
    now = utcnow()
    with session_scope() as s:
        n = s.execute(update(NotifySend).where(
            NotifySend.id == send_id, or_(NotifySend.status.in_(("pending", "retrying")),
                                          (NotifySend.status == "sending") & (NotifySend.claimed_at < now - dt.timedelta(seconds=CLAIM_SECONDS))))
            .values(status="sending", attempts=NotifySend.attempts + 1, claimed_at=now)).rowcount
        if not n:
            return None
        row = s.get(NotifySend, send_id)
        s.expunge(row)
        return row


def _finish(send_id: int, **values: Any) -> None:
    with session_scope() as s:
        s.execute(update(NotifySend).where(NotifySend.id == send_id).values(**values))


def _message(row: NotifySend) -> str:
    base = get_settings().public_url.rstrip("/")
    link = row.link if row.link.startswith(("http://", "https://")) else (f"{base}{row.link}" if row.link else "")
    return row.body + (f"\n\n查看：{link}" if link else "")


def deliver(row: NotifySend) -> tuple[bool, str]:
    """One Apprise call for the row; (ok, reason when not)."""
    if row.way == "webhook" and not resolves_public(row.address):
        return False, "Webhook 地址解析到本机或内网地址，按安全策略不发送"
    url = apprise_url(row.way, row.address)
    plugin = instantiate_route(url)
    if plugin is None:
        return False, f"Apprise 无法解析地址 {mask_url(url)}"
    timeout = get_settings().notify_timeout_seconds
    for attr in ("socket_connect_timeout", "socket_read_timeout"):
        if isinstance(getattr(plugin, attr, None), (int, float)):
            setattr(plugin, attr, timeout)
    headers = getattr(plugin, "headers", None)
    if isinstance(headers, dict):
        headers["X-Notify-Id"] = f"notify-{row.id}"
        if row.way == "webhook":
            headers["Idempotency-Key"] = f"notify-{row.id}"
    extras = getattr(plugin, "payload_extras", None)
    if row.way == "webhook" and isinstance(extras, dict):
        extras.update({"kind": row.kind, "link": row.link, "notify_id": str(row.id)})
    with apprise.LogCapture(level=logging.WARNING, fmt="%(message)s") as logs:
        try:
            ok = bool(plugin.notify(body=_message(row), title=row.title, body_format=apprise.NotifyFormat.TEXT))
        except Exception as e:  # a plugin bug is a failed send, recorded
            log.exception("apprise plugin raised")
            return False, f"{type(e).__name__}: {e}"[:1000]
    return ok, "" if ok else (" ".join(logs.getvalue().split())[:1000] or "发送失败")


def run_send(send_id: int) -> str:
    """Send one row: "sent", "retry" (with the delay in seconds stored on the row), "failed" or "skipped"."""
    row = _claim(send_id)
    if row is None:
        return "skipped"
    ok, reason = deliver(row)
    s = get_settings()
    if ok:
        _finish(send_id, status="sent", sent_at=utcnow(), last_error="", next_attempt_at=None)
        return "sent"
    if row.attempts >= s.notify_max_attempts or reason.startswith("Webhook 地址解析"):
        _finish(send_id, status="failed", last_error=reason, next_attempt_at=None)
        return "failed"
    delay = min(3600.0, s.notify_retry_seconds * 2 ** (row.attempts - 1))
    _finish(send_id, status="retrying", last_error=reason, next_attempt_at=utcnow() + dt.timedelta(seconds=delay))
    return "retry"


def retry_delay(send_id: int) -> float:
    with session_scope() as s:
        at = s.scalar(select(NotifySend.next_attempt_at).where(NotifySend.id == send_id))
    return max(0.0, (at - utcnow()).total_seconds()) if at else 0.0


def sweep(limit: int = 200) -> int:
    """Re-queue sends whose message was lost: pending for a minute, retrying past their time, or claimed by a
    sender that died."""
    now = utcnow()
    with session_scope() as s:
        ids = list(s.scalars(select(NotifySend.id).where(or_(
            (NotifySend.status == "pending") & (NotifySend.created_at < now - dt.timedelta(seconds=60)),
            (NotifySend.status == "retrying") & (NotifySend.next_attempt_at < now - dt.timedelta(seconds=30)),
            (NotifySend.status == "sending") & (NotifySend.claimed_at < now - dt.timedelta(seconds=CLAIM_SECONDS)),
        )).order_by(NotifySend.id).limit(limit)))
    enqueue(ids)
    return len(ids)
