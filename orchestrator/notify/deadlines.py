"""Deadline warnings, per document and per channel, sent once each to the responsible offices; the weekly digest.

Levels for a document that is not yet public everywhere it must be (in review, sent back, or active with a channel
whose publication is not done):

- ``before``: the due date is at most ``ORCH_DEADLINE_WARN_WORKING_DAYS`` working days away (working-day calendar);
- ``due``: the due date is today;
- ``overdue``: the due date has passed;
- ``escalated``: overdue by more than ``ORCH_DEADLINE_ESCALATE_DAYS`` days: the leader is told as well.

Channels count separately: a document published on the site but not yet on the notice board is late for the board.
Each (document, channel — "" for the document as a whole —, level, due date) is warned once: ``deadline_warnings``
keeps what was sent. "Now" comes from :func:`orchestrator.notify.now` (``ORCH_CLOCK_OFFSET_SECONDS``) or the caller.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from orchestrator.calendar import CalendarError, default_calendar
from orchestrator.catalog.channel_map import load_channel_map
from orchestrator.models import OWED_PUBLISH_SQL, CatalogEntryRow, Delivery, Document, DocumentStatus, User
from orchestrator.notify import LEADER, notify_office, notify_users
from orchestrator.notify import now as clock_now
from orchestrator.notify.models import DeadlineWarning, Notification
from orchestrator.settings import get_settings

log = logging.getLogger(__name__)
TZ = ZoneInfo("Asia/Shanghai")
LEVELS = ("before", "due", "overdue", "escalated")
LEVEL_LABELS = {"before": "即将到期", "due": "今日到期", "overdue": "已逾期", "escalated": "逾期升级"}
NOT_OWED = ("delivered", "verified", "cancelled", "removed")
NOT_PUBLIC = (DocumentStatus.pending_review, DocumentStatus.rejected)


@dataclass
class DueItem:
    document_id: int
    title: str
    index_no: str
    due_date: dt.date
    provisional: bool
    status: str
    entry_path: str
    offices: list[str]
    level: str
    days: int  # working days left (before), 0 (due), calendar days overdue (overdue, escalated)
    channels: list[str] = field(default_factory=list)  # channels still owing the publication

    @property
    def level_label(self) -> str:
        return LEVEL_LABELS[self.level]

    @property
    def days_text(self) -> str:
        if self.level == "before":
            return f"还有 {self.days} 个工作日"
        if self.level == "due":
            return "今天到期"
        return f"已逾期 {self.days} 天"


def today_of(now: dt.datetime | None = None) -> dt.date:
    return (now or clock_now()).astimezone(TZ).date()


def channel_names(codes: list[str]) -> str:
    try:
        labels = load_channel_map().labels
    except Exception:  # a broken mapping file must not stop the warnings; the codes still say which channel
        labels = {}
    return "、".join(labels.get(c, c) for c in codes)


def _horizon(today: dt.date, n: int) -> dt.date:
    try:
        return default_calendar().add_working_days(today, n)
    except CalendarError:  # a year without a table: calendar days, generously, rather than no warning
        return today + dt.timedelta(days=n + n // 5 * 2 + 2)


def level_of(today: dt.date, due: dt.date) -> tuple[str, int] | None:
    s = get_settings()
    if today > due:
        late = (today - due).days
        return ("escalated" if late > s.deadline_escalate_days else "overdue"), late
    if today == due:
        return "due", 0
    try:
        left = default_calendar().working_days_between(today, due)
    except CalendarError:
        left = (due - today).days
    return ("before", left) if left <= s.deadline_warn_working_days else None


def due_query(today: dt.date, *where: Any) -> Select:
    """Documents not yet public everywhere with a due date within the warning horizon (or past)."""
    horizon = _horizon(today, get_settings().deadline_warn_working_days)
    # The documents still owing a publication, read from the small partial index over owed deliveries (its predicate,
    # word for word), not one EXISTS probe per document of the whole history.
    owed = Document.id.in_(select(Delivery.document_id).where(text(OWED_PUBLISH_SQL)))
    return (select(Document.id, Document.title, Document.index_no, Document.due_date, Document.due_date_provisional,
                   Document.status, Document.entry_id)
            .where(Document.due_date.is_not(None), Document.due_date <= horizon,
                   Document.status.in_(NOT_PUBLIC) | ((Document.status == DocumentStatus.active) & owed), *where))


def due_items(session: Session, today: dt.date, *, entry_ids: list[int] | None = None, limit: int | None = None,
              document_ids: list[int] | None = None) -> list[DueItem]:
    """Documents (and their channels) at a warning level today, by due date."""
    where = []
    if entry_ids is not None:
        where.append(Document.entry_id.in_(entry_ids or [-1]))
    if document_ids is not None:
        where.append(Document.id.in_(document_ids or [-1]))
    q = due_query(today, *where).order_by(Document.due_date, Document.id)
    if limit:
        q = q.limit(limit)
    docs = session.execute(q).all()
    if not docs:
        return []
    entries = {e.id: e for e in session.execute(select(CatalogEntryRow.id, CatalogEntryRow.path_text,
                                                       CatalogEntryRow.offices, CatalogEntryRow.channels)
                                                .where(CatalogEntryRow.id.in_({d.entry_id for d in docs})))}
    owed_channels: dict[int, list[str]] = {}
    for doc_id, channel in session.execute(
            select(Delivery.document_id, Delivery.channel).distinct()
            .where(Delivery.document_id.in_([d.id for d in docs]), Delivery.action == "publish",
                   Delivery.status.not_in(NOT_OWED)).order_by(Delivery.document_id, Delivery.channel)):
        owed_channels.setdefault(doc_id, []).append(channel)
    out = []
    for d in docs:
        lv = level_of(today, d.due_date)
        if lv is None:
            continue
        e = entries[d.entry_id]
        channels = list(e.channels or []) if d.status in NOT_PUBLIC else owed_channels.get(d.id, [])
        out.append(DueItem(d.id, d.title, d.index_no, d.due_date, d.due_date_provisional, d.status, e.path_text,
                           list(e.offices or []), lv[0], lv[1], channels))
    return out


def _message(it: DueItem, level: str, channels: list[str]) -> tuple[str, str, str]:
    head = LEVEL_LABELS[level]
    title = f"【{head}】《{it.title}》公开期限 {it.due_date.isoformat()}"
    lines = [f"文件：{it.title}", f"索引号：{it.index_no}", f"目录事项：{it.entry_path}",
             f"公开期限：{it.due_date.isoformat()}{'（暂估）' if it.provisional else ''}，{it.days_text}",
             f"责任科室：{'、'.join(it.offices) or '（未指定）'}"]
    if it.status in NOT_PUBLIC:
        lines.append("状态：" + ("待审查，尚未发布" if it.status == DocumentStatus.pending_review else "已退回，尚未发布"))
    if channels:
        lines.append(f"尚未完成发布的渠道：{channel_names(channels)}")
    if level == "escalated":
        lines.append(f"该文件逾期已超过 {get_settings().deadline_escalate_days} 天，特此报告。")
    return title, "\n".join(lines), f"/documents/{it.document_id}"


def office_users(session: Session, office: str) -> list[int]:
    return list(session.scalars(select(User.id).where(User.office == office, User.active.is_(True),
                                                      User.role == "clerk")))


def check(session: Session, now: dt.datetime | None = None) -> dict[str, int]:
    """Write and send the warnings not sent yet; returns counts per level of the (document, channel) rows written."""
    today = today_of(now)
    counts = dict.fromkeys(LEVELS, 0)
    for it in due_items(session, today):
        fire = [it.level] + (["overdue"] if it.level == "escalated" else [])
        have = {(w.channel, w.level) for w in session.scalars(select(DeadlineWarning).where(
            DeadlineWarning.document_id == it.document_id, DeadlineWarning.due_date == it.due_date))}
        new = [(lvl, ch) for lvl in fire for ch in ["", *it.channels] if (ch, lvl) not in have]
        if not new:
            continue
        try:
            with session.begin_nested():  # two checkers at once: the second finds the rows and sends nothing
                for lvl, ch in new:
                    session.add(DeadlineWarning(document_id=it.document_id, channel=ch, level=lvl, due_date=it.due_date))
                session.flush()
        except IntegrityError:
            continue
        for lvl in fire:
            rows = [ch for level, ch in new if level == lvl]
            if not rows:
                continue
            counts[lvl] += len(rows)
            title, body, link = _message(it, lvl, [c for c in rows if c])
            if lvl == "escalated":
                notify_office(session, LEADER, "deadline", title, body, link)
                continue
            for office in it.offices:
                notify_office(session, office, "deadline", title, body, link)
                notify_users(session, office_users(session, office), "deadline", title, body, link)
    return counts


def digest(session: Session, now: dt.datetime | None = None) -> dict[str, int]:
    """The weekly digest: per office, everything at a warning level, by due date. At most once per office and week."""
    today = today_of(now)
    year, week, _ = today.isocalendar()
    per_office: dict[str, list[DueItem]] = {}
    for it in due_items(session, today):
        for office in it.offices:
            per_office.setdefault(office, []).append(it)
    sent: dict[str, int] = {}
    for office, items in sorted(per_office.items()):
        title = f"公开期限每周汇总：{office}（{year} 年第 {week} 周）"
        lines = [f"截至 {today.isoformat()}，{office}有 {len(items)} 件文件需要关注：",
                 f"已逾期 {sum(1 for i in items if i.level in ('overdue', 'escalated'))} 件，"
                 f"今日到期 {sum(1 for i in items if i.level == 'due')} 件，"
                 f"即将到期 {sum(1 for i in items if i.level == 'before')} 件。", ""]
        for n, it in enumerate(items, 1):
            chans = f"；未完成渠道：{channel_names(it.channels)}" if it.channels else ""
            lines.append(f"{n}. 【{it.level_label}】{it.title}（{it.index_no}）公开期限 {it.due_date.isoformat()}，"
                         f"{it.days_text}{chans}")
        body = "\n".join(lines)
        ids = notify_office(session, office, "digest", title, body, "/todo", dedup_key=f"digest:{year}-W{week:02d}:{office}")
        users = office_users(session, office)
        already = set(session.scalars(select(Notification.user_id).where(
            Notification.kind == "digest", Notification.title == title, Notification.user_id.in_(users or [-1]))))
        notify_users(session, [u for u in users if u not in already], "digest", title, body, "/todo")
        sent[office] = len(ids)
    return sent
