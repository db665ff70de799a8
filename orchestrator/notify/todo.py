"""我的待办: what each person has to do, from pluggable sources, sorted by deadline; and the navigation bar's count.

A source is a :class:`TodoSource`: ``items(session, user, today)`` lists the person's items and ``count(session,
user)`` gives a scalar COUNT subquery (or None when the source does not apply to the person) that the navigation bar
adds up in one statement, or an int where the rule is applied in Python (the review chain's "who may act at this
step", the office's confirmations). Replace a source by registering another of the same name.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, ScalarSelect, func, select
from sqlalchemy.orm import Session

from orchestrator import access, freshness
from orchestrator.auth import Principal, Role
from orchestrator.models import Delivery, DeliveryStatus, Document, DocumentStatus, User
from orchestrator.notify import deadlines, notify_users
from orchestrator.notify.models import DocumentEvent, Notification, TodoNotified
from orchestrator.review import chains as review_chains

MAX_ITEMS = 200
FAILING = (DeliveryStatus.failed, DeliveryStatus.not_configured)


@dataclass
class TodoItem:
    kind: str
    kind_label: str
    title: str
    link: str
    due_date: dt.date | None
    document_id: int | None = None
    index_no: str = ""
    detail: str = ""
    level: str = ""  # a deadline level (before / due / overdue / escalated) for the row's colour


@dataclass
class TodoSource:
    name: str
    label: str
    items: Callable[[Session, Principal, dt.date], list[TodoItem]]
    # A COUNT subquery (or None: not for this person), or an int for sources filtered in Python; no count: listed only.
    count: Callable[[Session, Principal], ScalarSelect | int | None] | None = None


SOURCES: list[TodoSource] = []


def register(source: TodoSource) -> None:
    """Add a source, or replace the one of the same name (the integrator swaps in the review chain's)."""
    for i, s in enumerate(SOURCES):
        if s.name == source.name:
            SOURCES[i] = source
            return
    SOURCES.append(source)


def _visible(session: Session, user: Principal) -> ColumnElement[bool]:
    key = ("todo_filter", user.id)
    if key not in session.info:
        session.info[key] = access.document_filter(session, user)
    return session.info[key]


COUNT_CAP = 999  # the navigation bar shows at most this many per source: past it the number changes nothing


def _count(stmt) -> ScalarSelect:
    return select(func.count()).select_from(stmt.limit(COUNT_CAP).subquery()).scalar_subquery()


# --- the sources -----------------------------------------------------------------------------------

def _review_items(session: Session, user: Principal, today: dt.date) -> list[TodoItem]:
    """Documents waiting at a review step this person may act at (the chain's rule: role, office or named users)."""
    return [TodoItem("review", "待我审查", p.title, f"/documents/{p.document_id}/review", p.due_date, p.document_id,
                     p.index_no, f"{p.step_name}：核对各渠道预览和附件后通过、退回或不予通过")
            for p in review_chains.pending_for(session, user)[:MAX_ITEMS]]


def _returned_items(session: Session, user: Principal, today: dt.date) -> list[TodoItem]:
    """Documents of this clerk's office sent back by a reviewer: correct and resubmit as a new version."""
    return [TodoItem("returned", "退回修改", p.title, f"/documents/{p.document_id}", p.due_date, p.document_id,
                     p.index_no, f"{p.step_name}退回" + (f"：{p.comment}" if p.comment else "") + "；修改后重新提交")
            for p in review_chains.returned_for(session, user)[:MAX_ITEMS]]


def _rejected_items(session: Session, user: Principal, today: dt.date) -> list[TodoItem]:
    if not user.has_role(Role.clerk):
        return []
    rows = session.execute(select(Document.id, Document.title, Document.index_no, Document.due_date,
                                  Document.withdraw_reason)
                           .where(Document.status == DocumentStatus.rejected, _visible(session, user))
                           .order_by(Document.due_date.asc().nulls_last(), Document.id).limit(MAX_ITEMS))
    return [TodoItem("rejected", "被退回", r.title, f"/documents/{r.id}", r.due_date, r.id, r.index_no,
                     r.withdraw_reason or "审查未通过，请修改后重新提交") for r in rows]


def _rejected_count(session: Session, user: Principal) -> ScalarSelect | None:
    if not user.has_role(Role.clerk):
        return None
    return _count(select(Document.id).where(Document.status == DocumentStatus.rejected, _visible(session, user)))


def _manual_items(session: Session, user: Principal, today: dt.date) -> list[TodoItem]:
    if not user.has_role(Role.ops):
        return []
    rows = session.execute(select(Delivery.id, Delivery.channel, Delivery.action, Document.id.label("doc_id"),
                                  Document.title, Document.index_no, Document.due_date)
                           .join(Document, Document.id == Delivery.document_id)
                           .where(Delivery.status == DeliveryStatus.awaiting_confirmation)
                           .order_by(Document.due_date.asc().nulls_last(), Delivery.id).limit(MAX_ITEMS))
    verbs = {"publish": "发布", "update": "更正", "withdraw": "撤下"}
    return [TodoItem("manual_task", "人工渠道任务", r.title, f"/deliveries/{r.id}/task", r.due_date, r.doc_id, r.index_no,
                     f"在“{deadlines.channel_names([r.channel])}”渠道{verbs.get(r.action, r.action)}后确认") for r in rows]


def _manual_count(session: Session, user: Principal) -> ScalarSelect | None:
    if not user.has_role(Role.ops):
        return None
    return _count(select(Delivery.id).where(Delivery.status == DeliveryStatus.awaiting_confirmation))


def _failed_items(session: Session, user: Principal, today: dt.date) -> list[TodoItem]:
    rows = session.execute(select(Delivery.id, Delivery.channel, Delivery.last_error, Document.id.label("doc_id"),
                                  Document.title, Document.index_no, Document.due_date)
                           .join(Document, Document.id == Delivery.document_id)
                           .where(Delivery.status.in_(FAILING), Document.submitted_by == user.username)
                           .order_by(Document.due_date.asc().nulls_last(), Delivery.id).limit(MAX_ITEMS))
    return [TodoItem("delivery_failed", "投递失败", r.title, f"/documents/{r.doc_id}", r.due_date, r.doc_id, r.index_no,
                     f"{deadlines.channel_names([r.channel])}：{(r.last_error or '投递失败')[:200]}") for r in rows]


def _failed_count(session: Session, user: Principal) -> ScalarSelect | None:
    mine = select(Document.id).where(Document.submitted_by == user.username)  # ix_documents_submitted_by
    return _count(select(Delivery.id).where(Delivery.document_id.in_(mine), Delivery.status.in_(FAILING)))


def _event_items(session: Session, user: Principal, today: dt.date) -> list[TodoItem]:
    if not user.has_role(Role.clerk):
        return []
    rows = session.execute(select(Document.id, Document.title, Document.index_no, DocumentEvent.event_name)
                           .join(DocumentEvent, DocumentEvent.document_id == Document.id)
                           .where(DocumentEvent.event_date.is_(None), Document.status != DocumentStatus.withdrawn,
                                  _visible(session, user))
                           .order_by(Document.id).limit(MAX_ITEMS))
    return [TodoItem("event_date", "待填写事件日期", r.title, f"/documents/{r.id}#event-date", None, r.id, r.index_no,
                     f"公开期限从{r.event_name}之日起算：请填写{r.event_name}日期") for r in rows]


def _event_count(session: Session, user: Principal) -> ScalarSelect | None:
    if not user.has_role(Role.clerk):
        return None
    return _count(select(DocumentEvent.document_id).join(Document, Document.id == DocumentEvent.document_id)
                  .where(DocumentEvent.event_date.is_(None), Document.status != DocumentStatus.withdrawn,
                         _visible(session, user)))


def _deadline_items(session: Session, user: Principal, today: dt.date) -> list[TodoItem]:
    if not user.has_role(Role.clerk, Role.ops):
        return []
    ids = access.visible_entry_ids(session, user)
    out = []
    for it in deadlines.due_items(session, today, entry_ids=ids, limit=MAX_ITEMS):
        chans = f"；未完成渠道：{deadlines.channel_names(it.channels)}" if it.channels else ""
        out.append(TodoItem("deadline", f"期限预警：{it.level_label}", it.title, f"/documents/{it.document_id}",
                            it.due_date, it.document_id, it.index_no, f"{it.days_text}{chans}", it.level))
    return out


def _deadline_count(session: Session, user: Principal) -> ScalarSelect | None:
    if not user.has_role(Role.clerk, Role.ops):
        return None
    today = deadlines.today_of()
    return _count(deadlines.due_query(today, _visible(session, user)))


def _confirm_items(session: Session, user: Principal, today: dt.date) -> list[TodoItem]:
    """"内容仍准确吗?" tasks of the person's office (机构职能, 领导信息, 办事指南 … are confirmed periodically)."""
    if not user.office:
        return []
    rows = freshness.open_confirmations_for(session, is_admin=False, office=user.office)
    return [TodoItem("confirm", "内容确认", f"{e.path_text}：内容仍准确吗？", "/freshness",
                     t.due_at.astimezone(freshness.TZ).date() if t.due_at.tzinfo else t.due_at.date(),
                     detail="核对该栏目内容是否仍然准确，确认或发布更新") for t, e in rows[:MAX_ITEMS]]


# The review sources follow the chain's rules in Python (who may act at a step), so they count their items.
def _listed_count(items: Callable[[Session, Principal, dt.date], list[TodoItem]]) -> Callable[[Session, Principal], int]:
    return lambda session, user: len(items(session, user, deadlines.today_of()))


register(TodoSource("review", "待我审查", _review_items, _listed_count(_review_items)))
register(TodoSource("returned", "退回修改", _returned_items, _listed_count(_returned_items)))
register(TodoSource("rejected", "被退回", _rejected_items, _rejected_count))
register(TodoSource("event_date", "待填写事件日期", _event_items, _event_count))
register(TodoSource("manual_task", "人工渠道任务", _manual_items, _manual_count))
register(TodoSource("confirm", "内容确认", _confirm_items, _listed_count(_confirm_items)))
register(TodoSource("delivery_failed", "投递失败", _failed_items, _failed_count))
# Deadline warnings are listed, not counted in the navigation bar: counting them means weighing every owed delivery
# of the platform's history on each page view (bench/todo_nav.py); the bar counts what waits for the person's action.
register(TodoSource("deadline", "期限预警", _deadline_items, None))


# --- reading -----------------------------------------------------------------------------------------

def items_for(session: Session, user: Principal, today: dt.date | None = None) -> list[TodoItem]:
    """Everything on the person's list, by due date (no date last), then by kind."""
    today = today or deadlines.today_of()
    order = {s.name: i for i, s in enumerate(SOURCES)}
    items = [it for src in SOURCES for it in src.items(session, user, today)]
    far = dt.date.max
    return sorted(items, key=lambda it: (it.due_date or far, order.get(it.kind, 99), it.document_id or 0))


def counts_for(session: Session, user: Principal) -> tuple[int, int]:
    """(to-do items, unread notifications): one statement of COUNT subqueries."""
    counts = [c for src in SOURCES if src.count is not None and (c := src.count(session, user)) is not None]
    exprs = [c for c in counts if not isinstance(c, int)]
    counted = sum(c for c in counts if isinstance(c, int))  # sources whose rule is applied in Python
    unread = _count(select(Notification.id).where(Notification.user_id == user.id, Notification.read_at.is_(None)))
    row = session.execute(select(unread, *exprs)).one()
    return sum(row[1:]) + counted, row[0]


# --- telling people when something lands on their list ---------------------------------------------

WATCHED = {"review": "有文件等待您审查", "returned": "文件被退回修改", "rejected": "文件被退回", "manual_task": "有人工渠道任务",
           "delivery_failed": "您登记的文件投递失败"}


def _key(it: TodoItem) -> str:
    return f"{it.kind}:{it.link}:{it.detail[:80]}"[:300]


def watch(session: Session, *, baseline: bool = False) -> int:
    """Tell each active person, in the ways they chose, about to-do items they have not been told about yet (review,
    send-back, manual task, failed delivery). A person's first run only records what is already there (no flood
    when the service is switched on); ``baseline`` does that for everyone. Returns the number of items told."""
    today = deadlines.today_of()
    told = 0
    for u in list(session.scalars(select(User).where(User.active.is_(True)).order_by(User.id))):
        p = Principal(u.id, u.username, u.display_name, Role(u.role), u.office)
        items = [it for src in SOURCES if src.name in WATCHED for it in src.items(session, p, today)]
        seen = set(session.scalars(select(TodoNotified.key).where(TodoNotified.user_id == u.id)))
        first = baseline or not seen
        if not seen:
            session.add(TodoNotified(user_id=u.id, key="(baseline)"))
        for it in items:
            key = _key(it)
            if key in seen:
                continue
            seen.add(key)
            session.add(TodoNotified(user_id=u.id, key=key))
            if first:
                continue
            notify_users(session, [u.id], it.kind, f"{WATCHED[it.kind]}：《{it.title}》", it.detail, it.link)
            told += 1
    return told
