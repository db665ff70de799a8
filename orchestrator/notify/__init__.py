"""The notifications service: in-app messages, and e-mail or webhook sends through Apprise (the push channel's
machinery), each user choosing per kind how to be told (我的通知设置), offices reached at the addresses an admin keeps.

API for the rest of the product (call inside the transaction that made the news; sends start after it commits)::

    notify_users(session, [user_id, ...], "review", "待审查：《…》", "正文", "/documents/12")
    notify_office(session, "办公室", "deadline", "…", "…", "/documents/12")

E-mail and webhook messages become ``notify_sends`` rows; a Celery task (``orchestrator.notify_send``) sends each one
with retries and records the outcome; a beat sweep re-sends rows whose message was lost.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Iterable

from sqlalchemy import event, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, SessionTransaction

from orchestrator.delivery.celery_app import DEFAULT_QUEUE, app
from orchestrator.models import User, utcnow
from orchestrator.notify.models import Notification, NotifyOfficeAddress, NotifyPreference, NotifySend
from orchestrator.settings import get_settings

log = logging.getLogger(__name__)

NOTIFY_SEND = "orchestrator.notify_send"
LEADER = "__leader__"  # the office-address row that holds the leader's address (escalations)
LEADER_LABEL = "分管领导（逾期升级）"

# Kinds a user may choose ways for, in the order the settings page lists them.
KINDS: dict[str, str] = {
    "review": "有文件等待我审查",
    "returned": "我科室的文件被退回修改",
    "rejected": "我科室的文件未通过审核",
    "delivery_failed": "我的文件投递失败",
    "manual_task": "人工渠道任务",
    "deadline": "公开期限预警",
    "digest": "每周期限汇总",
    "freshness": "栏目更新提醒",
}
WAYS: dict[str, str] = {"in_app": "站内通知", "email": "电子邮件", "webhook": "Webhook"}
DEFAULT_WAYS = ("in_app",)
MAX_TITLE = 300
MAX_BODY = 20_000


def now() -> dt.datetime:
    """The product's clock for deadlines and to-do lists: real time shifted by ``ORCH_CLOCK_OFFSET_SECONDS``."""
    return utcnow() + dt.timedelta(seconds=get_settings().clock_offset_seconds)


def ways_for(pref: NotifyPreference | None, kind: str) -> set[str]:
    if pref is None or kind not in (pref.kinds or {}):
        return set(DEFAULT_WAYS)
    return {w for w in (pref.kinds or {}).get(kind) or [] if w in WAYS}


def _clip(title: str, body: str, link: str) -> tuple[str, str, str]:
    return title[:MAX_TITLE], body[:MAX_BODY], link[:500]


def notify_users(session: Session, user_ids: Iterable[int], kind: str, title: str, body: str = "", link: str = "") -> list[int]:
    """Tell each (active) user in the ways they chose for ``kind``; returns the ids of the sends queued."""
    title, body, link = _clip(title, body, link)
    ids = sorted(set(user_ids))
    if not ids:
        return []
    users = {u.id: u for u in session.scalars(select(User).where(User.id.in_(ids), User.active.is_(True)))}
    prefs = {p.user_id: p for p in session.scalars(select(NotifyPreference).where(NotifyPreference.user_id.in_(ids)))}
    sends: list[NotifySend] = []
    for uid in ids:
        if uid not in users:
            continue
        pref = prefs.get(uid)
        ways = ways_for(pref, kind)
        if "in_app" in ways:
            session.add(Notification(user_id=uid, kind=kind, title=title, body=body, link=link))
        if "email" in ways and pref is not None and pref.email:
            sends.append(NotifySend(target=f"user:{uid}", way="email", address=pref.email, kind=kind, title=title,
                                    body=body, link=link))
        if "webhook" in ways and pref is not None and pref.webhook_url:
            sends.append(NotifySend(target=f"user:{uid}", way="webhook", address=pref.webhook_url, kind=kind,
                                    title=title, body=body, link=link))
    return _queue(session, sends)


def office_addresses(session: Session, office: str) -> tuple[str, str]:
    row = session.get(NotifyOfficeAddress, office)
    email, hook = (row.email, row.webhook_url) if row else ("", "")
    if office == LEADER:
        s = get_settings()
        email, hook = email or s.deadline_leader_email, hook or s.deadline_leader_webhook
    return email, hook


def notify_office(session: Session, office: str, kind: str, title: str, body: str = "", link: str = "", *,
                  dedup_key: str | None = None) -> list[int]:
    """Send to an office's e-mail and webhook (as an admin set them); ``dedup_key`` makes it at most once."""
    title, body, link = _clip(title, body, link)
    email, hook = office_addresses(session, office)
    target = "leader" if office == LEADER else f"office:{office}"
    sends = []
    for way, address in (("email", email), ("webhook", hook)):
        if address:
            sends.append(NotifySend(target=target[:220], way=way, address=address, kind=kind, title=title, body=body,
                                    link=link, dedup_key=f"{dedup_key}:{way}" if dedup_key else None))
    return _queue(session, sends)


def notify_freshness(session: Session, row) -> None:
    """A column or account is about to go stale, or has (``row``: an ``orchestrator.freshness.FreshnessRow``): the
    responsible offices hear of it by e-mail / webhook, once per column, state and date."""
    what = (f"将于 {row.stale_on.isoformat()} 超过更新周期（{row.rule_days} 天）" if row.state == "warning"
            else f"已超过更新周期（{row.rule_days} 天），自 {row.stale_on.isoformat()} 起未更新")
    for office in row.offices or []:
        key = hashlib.sha256(f"{row.subject}|{row.state}|{row.stale_on.isoformat()}|{office}".encode()).hexdigest()
        notify_office(session, office, "freshness", f"栏目更新提醒：{row.label}", f"{row.label}{what}，请及时更新。",
                      "/freshness", dedup_key=f"freshness:{key}")


def notify_leader(session: Session, kind: str, title: str, body: str = "", link: str = "") -> list[int]:
    return notify_office(session, LEADER, kind, title, body, link)


def _queue(session: Session, sends: list[NotifySend]) -> list[int]:
    ids: list[int] = []
    for row in sends:
        if row.dedup_key:
            try:
                with session.begin_nested():
                    session.add(row)
                    session.flush()
            except IntegrityError:
                continue  # already written once (a digest re-run): not again
        else:
            session.add(row)
            session.flush()
        ids.append(row.id)
    if ids:
        session.info.setdefault("notify_send_ids", []).extend(ids)
        if not session.info.get("notify_hooked"):
            event.listen(session, "after_commit", _after_commit)
            event.listen(session, "after_transaction_end", _after_end)
            session.info["notify_hooked"] = True
    return ids


def _after_commit(session: Session) -> None:
    session.info["notify_committed"] = True  # fires for a released SAVEPOINT too: decided in _after_end


def _after_end(session: Session, transaction: SessionTransaction) -> None:
    committed = session.info.pop("notify_committed", False)
    if transaction.nested or transaction.parent is not None:
        return  # a SAVEPOINT or a subtransaction ended: the rows are not committed yet
    ids = session.info.pop("notify_send_ids", [])
    if ids and committed:
        enqueue(ids)


def enqueue(ids: list[int]) -> None:
    """Hand sends to the worker; a broker outage leaves them pending for the beat sweep."""
    for send_id in ids:
        try:
            app.send_task(NOTIFY_SEND, args=[send_id], queue=DEFAULT_QUEUE)
        except Exception:  # the sweep re-sends pending rows; a broker blip must not fail the caller
            log.warning("could not queue notification send %s; the sweep will retry", send_id, exc_info=True)


def unread_count(session: Session, user_id: int) -> int:
    return session.scalar(select(func.count()).select_from(Notification)
                          .where(Notification.user_id == user_id, Notification.read_at.is_(None))) or 0
