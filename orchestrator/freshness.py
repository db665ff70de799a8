"""Column freshness (栏目更新情况, issue 15): when each catalog entry / site column, each site's homepage and each
new-media account last published, the rule it is held to, and the periodic "内容仍准确吗?" confirmation of entries
whose content must be kept current (机构职能, 领导信息, 办事指南 …).

The rules come from the national check rules (国办秘函〔2019〕19号, ``shared/reference/disclosure-rules.md``): a
homepage with no new item for two weeks fails, news columns are stale after two weeks, notice and policy columns
after six months, and a government new-media account idle for two weeks fails. A rule can be set per entry in the
catalog YAML (``freshness: {days: 30, warn_days: 5, keep_current: true, confirm_months: 3}``) and overridden by an
admin in the web app; the admin's value wins, then the file's, then the default by the entry's name.

Everything takes ``now`` (an aware datetime): the beat task, the pages and the tests control the clock.
``freshness_rows`` and ``stale_columns`` are the interface the self-inspection report uses.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from sqlalchemy import Boolean, Date, ForeignKey, Integer, String, Text, UniqueConstraint, func, select, text
from sqlalchemy.orm import Mapped, Session, mapped_column, selectinload

from orchestrator.models import Base, CatalogEntryRow, DeliveryStatus, DocumentPublication, UTCDateTime, utcnow
from orchestrator.settings import get_settings

TZ = ZoneInfo("Asia/Shanghai")

# --- defaults from the national check rules -------------------------------------------------------------------------

HOMEPAGE_DAYS = 14
NEWMEDIA_DAYS = 14
NEWS_DAYS = 14
NOTICE_DAYS = 183  # six months
OTHER_DAYS = 183

NEWS_WORDS = ("工作动态", "动态", "新闻", "要闻", "图片", "视频", "工作信息", "信息发布", "简报")
NOTICE_WORDS = ("通知", "公告", "公示", "政策", "文件", "解读", "法规", "规章", "规划", "计划", "总结", "报告", "标准")
# Entries whose content is a standing fact that must be kept current rather than a stream of items.
KEEP_CURRENT_WORDS = ("机构职能", "机构设置", "机构概况", "内设机构", "领导信息", "领导简介", "领导分工", "领导之窗",
                      "班子成员", "办事指南", "服务指南", "联系方式", "办公地址", "公开指南", "权责清单", "权力清单",
                      "责任清单", "职责")

KIND_LABELS = {"home": "网站首页", "entry": "目录栏目", "newmedia": "政务新媒体"}
STATE_LABELS = {"fresh": "正常", "warning": "即将超期", "stale": "已超期", "never": "从未发布"}
CONFIRM_STATUS = {"open": "待确认", "confirmed": "已确认内容准确", "updated": "已发布新内容", "closed": "已关闭"}
PUBLISHED = (DeliveryStatus.delivered.value, DeliveryStatus.verified.value)


# The clock every default "now" reads (the pages, the beat task, confirmations): tests replace it to move time.
clock = utcnow


def current_time() -> dt.datetime:
    return clock()


class FreshnessError(ValueError):
    """A rule or confirmation refused; the message is for a person (Chinese)."""


# --- models ---------------------------------------------------------------------------------------------------------

class EntryFreshness(Base):
    """An admin's freshness settings for one catalog entry (None: as the catalog file says, else the default)."""

    __tablename__ = "entry_freshness"

    entry_id: Mapped[int] = mapped_column(ForeignKey("catalog_entries.id", ondelete="CASCADE"), primary_key=True,
                                          autoincrement=False)
    days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    warn_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    keep_current: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    confirm_months: Mapped[int | None] = mapped_column(Integer, nullable=True)
    updated_by: Mapped[str] = mapped_column(String(100), default="")
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class FreshnessConfirmation(Base):
    """A "内容仍准确吗?" task for a keep-current entry: the responsible office confirms, or publishes new content."""

    __tablename__ = "freshness_confirmations"

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("catalog_entries.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    due_at: Mapped[dt.datetime] = mapped_column()
    status: Mapped[str] = mapped_column(String(20), default="open", index=True)  # open / confirmed / updated / closed
    resolved_by: Mapped[str] = mapped_column(String(100), default="")
    resolved_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")


class FreshnessAlert(Base):
    """A warning (about to go stale) or a stale notice, once per subject and episode (the date it goes stale): the
    durable record the beat task leaves for notifications to pick up."""

    __tablename__ = "freshness_alerts"
    __table_args__ = (UniqueConstraint("subject", "kind", "stale_on", name="uq_freshness_alert"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    subject: Mapped[str] = mapped_column(String(200))  # entry:<id> / home:<destination> / newmedia:<destination>
    label: Mapped[str] = mapped_column(String(500), default="")
    kind: Mapped[str] = mapped_column(String(10))  # warning / stale
    stale_on: Mapped[dt.date] = mapped_column(Date)
    offices: Mapped[list[str]] = mapped_column(default=list)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)


# --- rules ----------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Rule:
    days: int
    warn_days: int
    source: str  # what a person reads: 默认（动态类 2 周）/ 目录文件 / 管理员设置
    keep_current: bool
    confirm_months: int


def default_days(name: str) -> tuple[int, str]:
    if any(w in name for w in NEWS_WORDS):
        return NEWS_DAYS, "默认：动态类栏目 2 周"
    if any(w in name for w in NOTICE_WORDS):
        return NOTICE_DAYS, "默认：通知公告、政策文件类栏目 6 个月"
    return OTHER_DAYS, "默认：其他栏目 6 个月"


def keep_current_by_name(name: str) -> bool:
    return any(w in name for w in KEEP_CURRENT_WORDS)


def entry_rule(entry: CatalogEntryRow, admin: EntryFreshness | None) -> Rule:
    s = get_settings()
    name = entry.path_text or ""
    days, source = default_days(name)
    spec = (entry.options or {}).get("freshness") or {}
    if not isinstance(spec, dict):
        spec = {}
    warn = s.freshness_warn_days
    keep = keep_current_by_name(name)
    months = s.freshness_confirm_months
    if spec.get("days"):
        days, source = int(spec["days"]), "目录文件"
    if spec.get("warn_days") is not None:
        warn = int(spec["warn_days"])
    if spec.get("keep_current") is not None:
        keep = bool(spec["keep_current"])
    if spec.get("confirm_months"):
        months = int(spec["confirm_months"])
    if admin is not None:
        if admin.days:
            days, source = admin.days, "管理员设置"
        if admin.warn_days is not None:
            warn = admin.warn_days
        if admin.keep_current is not None:
            keep = admin.keep_current
        if admin.confirm_months:
            months = admin.confirm_months
    return Rule(days, warn, source, keep, months)


def add_months(when: dt.datetime, months: int) -> dt.datetime:
    y, m = divmod(when.month - 1 + months, 12)
    year, month = when.year + y, m + 1
    for day in (when.day, 30, 29, 28):
        try:
            return when.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    raise AssertionError("unreachable")


# --- rows -----------------------------------------------------------------------------------------------------------

@dataclass
class FreshnessRow:
    kind: str  # home / entry / newmedia
    subject: str
    label: str
    publisher: str
    offices: list[str]
    last_published: dt.datetime | None
    rule_days: int
    rule_source: str
    warn_days: int
    state: str = "fresh"
    stale_on: dt.date | None = None  # the first day the column counts as stale (last publication + rule days)
    days_left: int | None = None
    entry_id: int | None = None
    code: str = ""
    keep_current: bool = False
    confirmation: dict[str, Any] | None = None  # the open "内容仍准确吗?" task
    confirmation_overdue: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def state_label(self) -> str:
        if self.confirmation_overdue and self.state != "stale":
            return "内容确认逾期"
        return STATE_LABELS[self.state]

    @property
    def is_stale(self) -> bool:
        return self.state == "stale" or self.confirmation_overdue

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "kind_label": KIND_LABELS[self.kind], "subject": self.subject, "label": self.label,
                "publisher": self.publisher, "offices": list(self.offices),
                "last_published": self.last_published.isoformat() if self.last_published else None,
                "rule_days": self.rule_days, "rule_source": self.rule_source, "warn_days": self.warn_days,
                "state": self.state, "state_label": self.state_label,
                "stale_on": self.stale_on.isoformat() if self.stale_on else None, "days_left": self.days_left,
                "entry_id": self.entry_id, "code": self.code, "keep_current": self.keep_current,
                "confirmation_overdue": self.confirmation_overdue}


def _aware(v: dt.datetime | None) -> dt.datetime | None:
    if v is not None and v.tzinfo is None:
        return v.replace(tzinfo=dt.UTC)
    return v


def _judge(row: FreshnessRow, today: dt.date) -> FreshnessRow:
    if row.last_published is None:
        row.state = "never"
        return row
    last_day = row.last_published.astimezone(TZ).date()
    row.stale_on = last_day + dt.timedelta(days=row.rule_days)
    row.days_left = (row.stale_on - today).days
    if row.days_left <= 0:
        row.state = "stale"
    elif row.days_left <= row.warn_days:
        row.state = "warning"
    else:
        row.state = "fresh"
    return row


def _configured_destinations(channel: str) -> list[tuple[str, str]]:
    """(name, label) of the enabled destinations of a channel in channels.yaml (read without expanding secrets)."""
    path = Path(get_settings().channels_path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return []
    spec = (raw.get("channels") or {}).get(channel) if isinstance(raw, dict) else None
    if not isinstance(spec, dict):
        return []
    if "destinations" in spec:
        dests = spec.get("destinations") or []
    elif "adapter" in spec:
        dests = [{"name": channel, **spec}]
    else:
        dests = []
    out = []
    for d in dests:
        if isinstance(d, dict) and d.get("enabled", True) is not False:
            out.append((str(d.get("name", channel)), str(d.get("label") or d.get("name", channel))))
    return out


# The newest publication per destination of a channel: the distinct destinations are walked with one index probe
# each (ix_deliveries_published_destination, a skip scan), then the newest delivered_at of each is one backward probe:
# a few index probes however many deliveries there are. Same result as max(delivered_at) grouped by destination.
def _published(alias: str) -> str:
    return f"{alias}.channel = :channel AND {alias}.action = 'publish' AND {alias}.status IN ('delivered', 'verified')"


_LAST_BY_DESTINATION = text(f"""
WITH RECURSIVE dests(destination) AS (
    SELECT min(d.destination) FROM deliveries d WHERE {_published("d")}
    UNION ALL
    SELECT (SELECT min(x.destination) FROM deliveries x WHERE {_published("x")} AND x.destination > dests.destination)
    FROM dests WHERE dests.destination IS NOT NULL
)
SELECT destination, (SELECT max(x.delivered_at) FROM deliveries x WHERE {_published("x")}
                     AND x.destination = dests.destination) AS last
FROM dests WHERE destination IS NOT NULL
""").columns(destination=String, last=UTCDateTime)


def _last_by_destination(session: Session, channel: str) -> dict[str, dt.datetime]:
    return {d: _aware(t) for d, t in session.execute(_LAST_BY_DESTINATION, {"channel": channel}) if t is not None}


def _last_by_entry(session: Session, channel: str | None) -> dict[int, dt.datetime]:
    """The newest delivered/verified publish delivery per catalog entry (of any channel, or of the website), read from
    the trigger-kept ``document_publications``: one backward index probe per entry."""
    if channel not in (None, "website"):
        raise ValueError(f"no kept publication time for channel {channel!r}")
    col = DocumentPublication.last_website_at if channel == "website" else DocumentPublication.last_publish_at
    newest = select(func.max(col)).where(DocumentPublication.entry_id == CatalogEntryRow.id).scalar_subquery()
    return {e: _aware(t) for e, t in session.execute(select(CatalogEntryRow.id, newest)) if t is not None}


def _open_confirmations(session: Session) -> dict[int, FreshnessConfirmation]:
    rows = session.scalars(select(FreshnessConfirmation).where(FreshnessConfirmation.status == "open")
                           .order_by(FreshnessConfirmation.id))
    return {r.entry_id: r for r in rows}


def freshness_rows(session: Session, now: dt.datetime | None = None) -> list[FreshnessRow]:
    """The state of every column: each site's homepage, each new-media account, each active catalog entry."""
    now = now or current_time()
    today = now.astimezone(TZ).date()
    warn = get_settings().freshness_warn_days
    rows: list[FreshnessRow] = []
    for channel, kind, days, what in (("website", "home", HOMEPAGE_DAYS, "首页"),
                                       ("wechat", "newmedia", NEWMEDIA_DAYS, "公众号")):
        last = _last_by_destination(session, channel)
        dests = dict(_configured_destinations(channel))
        for name in sorted(set(dests) | set(last)):
            label = dests.get(name, name)
            rule = "默认：网站首页 2 周" if kind == "home" else "默认：政务新媒体 2 周"
            rows.append(_judge(FreshnessRow(kind, f"{kind}:{name}", f"{label}（{what}）", "", [], last.get(name),
                                            days, rule, warn, extra={"destination": name}), today))
    any_channel = _last_by_entry(session, None)
    website = _last_by_entry(session, "website")
    admin = {r.entry_id: r for r in session.scalars(select(EntryFreshness))}
    tasks = _open_confirmations(session)
    entries = session.scalars(select(CatalogEntryRow).where(CatalogEntryRow.active.is_(True))
                              .options(selectinload(CatalogEntryRow.publisher)).order_by(CatalogEntryRow.id))
    for e in entries:
        if not e.channels:
            continue  # nothing can be published for it (the catalog review lists it)
        rule = entry_rule(e, admin.get(e.id))
        last = website.get(e.id) if "website" in (e.channels or []) else any_channel.get(e.id)
        row = _judge(FreshnessRow("entry", f"entry:{e.id}", e.path_text, e.publisher.name, list(e.offices or []), last,
                                  rule.days, rule.source, rule.warn_days, entry_id=e.id, code=e.code,
                                  keep_current=rule.keep_current), today)
        task = tasks.get(e.id)
        if task is not None:
            due = _aware(task.due_at)
            row.confirmation = {"id": task.id, "created_at": _aware(task.created_at), "due_at": due}
            row.confirmation_overdue = due < now
        rows.append(row)
    return rows


def stale_columns(session: Session, now: dt.datetime | None = None, *, include_never: bool = False) -> list[FreshnessRow]:
    """Columns and accounts past their rule (or with an overdue content confirmation); ``include_never`` adds the
    ones that never published (the check rules count those separately)."""
    return [r for r in freshness_rows(session, now) if r.is_stale or (include_never and r.state == "never")]


def summary(rows: list[FreshnessRow]) -> dict[str, int]:
    out = {k: 0 for k in STATE_LABELS}
    for r in rows:
        out[r.state] += 1
    out["confirm_overdue"] = sum(1 for r in rows if r.confirmation_overdue)
    out["confirm_open"] = sum(1 for r in rows if r.confirmation is not None)
    return out


# --- the periodic check (beat) --------------------------------------------------------------------------------------

def run_checks(session: Session, now: dt.datetime | None = None,
               on_alert: Callable[[Session, FreshnessRow], None] | None = None) -> dict[str, int]:
    """Resolve confirmations that new content answered, open the confirmations that are due, and record a warning
    or stale alert once per column and episode. Idempotent: running it twice at the same ``now`` changes nothing.
    ``on_alert`` is told of each new alert (the beat task sends it to the responsible offices)."""
    now = now or current_time()
    s = get_settings()
    counts = {"resolved": 0, "created": 0, "warnings": 0, "stale": 0}
    any_channel = _last_by_entry(session, None)
    admin = {r.entry_id: r for r in session.scalars(select(EntryFreshness))}
    open_tasks = _open_confirmations(session)
    last_done = dict(session.execute(
        select(FreshnessConfirmation.entry_id, func.max(FreshnessConfirmation.resolved_at))
        .where(FreshnessConfirmation.status.in_(("confirmed", "updated"))).group_by(FreshnessConfirmation.entry_id)).all())
    for e in session.scalars(select(CatalogEntryRow).where(CatalogEntryRow.active.is_(True))):
        rule = entry_rule(e, admin.get(e.id))
        published = any_channel.get(e.id)
        task = open_tasks.get(e.id)
        if task is not None:
            if published is not None and published > _aware(task.created_at):
                task.status, task.resolved_at, task.resolved_by = "updated", now, "系统"
                task.note = "责任科室已发布新内容"
                counts["resolved"] += 1
            continue
        if not rule.keep_current:
            continue
        refs = [t for t in (published, _aware(last_done.get(e.id))) if t is not None]
        reference = max(refs) if refs else None
        if reference is None or add_months(reference, rule.confirm_months) <= now:
            session.add(FreshnessConfirmation(entry_id=e.id, created_at=now, status="open",
                                              due_at=now + dt.timedelta(days=s.freshness_confirm_due_days)))
            counts["created"] += 1
    session.flush()
    existing = {(a.subject, a.kind, a.stale_on) for a in session.scalars(
        select(FreshnessAlert).where(FreshnessAlert.created_at >= now - dt.timedelta(days=800)))}
    for row in freshness_rows(session, now):
        if row.state not in ("warning", "stale") or row.stale_on is None:
            continue
        key = (row.subject, row.state, row.stale_on)
        if key in existing:
            continue
        session.add(FreshnessAlert(subject=row.subject, label=row.label[:500], kind=row.state, stale_on=row.stale_on,
                                   offices=row.offices, created_at=now))
        counts["warnings" if row.state == "warning" else "stale"] += 1
        if on_alert is not None:
            on_alert(session, row)
    session.flush()
    return counts


def alerts(session: Session, since: dt.datetime | None = None) -> list[FreshnessAlert]:
    q = select(FreshnessAlert).order_by(FreshnessAlert.id)
    if since is not None:
        q = q.where(FreshnessAlert.created_at >= since)
    return list(session.scalars(q))


# --- confirmations and admin settings -------------------------------------------------------------------------------

def may_confirm(role_is_admin: bool, office: str, entry: CatalogEntryRow) -> bool:
    return role_is_admin or (bool(office) and office in (entry.offices or []))


def confirm(session: Session, task_id: int, who: str, *, is_admin: bool, office: str, note: str = "",
            now: dt.datetime | None = None) -> FreshnessConfirmation:
    """内容仍准确: the responsible office (or an admin) confirms the entry's content is still correct."""
    task = session.get(FreshnessConfirmation, task_id)
    if task is None:
        raise FreshnessError(f"确认任务 {task_id} 不存在")
    entry = session.get(CatalogEntryRow, task.entry_id)
    if entry is None or not may_confirm(is_admin, office, entry):
        offices = "、".join(entry.offices or []) if entry else ""
        raise FreshnessError(f"只有责任科室（{offices or '未指定'}）或管理员可以确认该事项")
    if task.status != "open":
        raise FreshnessError(f"该确认任务已处理（{CONFIRM_STATUS.get(task.status, task.status)}）")
    if len(note) > 1000:
        raise FreshnessError("备注不超过 1000 字")
    task.status, task.resolved_by, task.resolved_at, task.note = "confirmed", who[:100], now or current_time(), note.strip()
    return task


def open_confirmations_for(session: Session, *, is_admin: bool, office: str) -> list[tuple[FreshnessConfirmation,
                                                                                               CatalogEntryRow]]:
    """The open "内容仍准确吗?" tasks a person can act on (an admin: all; others: their office's)."""
    q = (select(FreshnessConfirmation, CatalogEntryRow).join(CatalogEntryRow, CatalogEntryRow.id == FreshnessConfirmation.entry_id)
         .where(FreshnessConfirmation.status == "open").order_by(FreshnessConfirmation.due_at))
    return [(t, e) for t, e in session.execute(q).all() if may_confirm(is_admin, office, e)]


LIMITS = {"days": (1, 3650), "warn_days": (0, 365), "confirm_months": (1, 60)}
FIELD_LABELS = {"days": "更新周期（天）", "warn_days": "提前提醒（天）", "confirm_months": "内容确认周期（月）",
                "keep_current": "需定期确认内容"}


def parse_settings(values: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The admin form's text → typed settings (blank: as the catalog file / default) and errors per field."""
    out: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for key, (lo, hi) in LIMITS.items():
        text = (values.get(key) or "").strip()
        if not text:
            out[key] = None
            continue
        if not (text.isascii() and text.isdigit()) or len(text) > 6 or not lo <= int(text) <= hi:
            errors[key] = f"{FIELD_LABELS[key]}应为 {lo} 到 {hi} 之间的整数（收到“{text[:20]}”）"
            continue
        n = int(text)
        out[key] = n
    keep = (values.get("keep_current") or "").strip()
    if keep not in ("", "yes", "no"):
        errors["keep_current"] = "“需定期确认内容”应为“按名称判断”“是”或“否”"
    out["keep_current"] = {"": None, "yes": True, "no": False}.get(keep)
    return out, errors


def save_settings(session: Session, entry_id: int, settings: dict[str, Any], who: str) -> tuple[dict[str, Any],
                                                                                                dict[str, Any]]:
    """Store an admin's settings for one entry; returns (before, after) for the audit log."""
    row = session.get(EntryFreshness, entry_id)
    before = {k: getattr(row, k) if row else None for k in FIELD_LABELS}
    if row is None:
        row = EntryFreshness(entry_id=entry_id)
        session.add(row)
    for k in FIELD_LABELS:
        setattr(row, k, settings.get(k))
    row.updated_by, row.updated_at = who[:100], utcnow()
    session.flush()
    return before, {k: settings.get(k) for k in FIELD_LABELS}
