"""Self-inspection (自查报告): what the product can check itself against the national check rules.

A report is the result of a list of check functions (:data:`CHECKS`), each ``fn(session, today) -> Result``: overdue
documents, open link problems, entries never published, stale columns and accounts (``orchestrator.freshness``) and
content-check hits in what is published (the latest history scan, ``orchestrator.checks``). Add one with :func:`register`.
A check that fails is reported as such (检查未能完成) instead of losing the whole report.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, exists, func, select
from sqlalchemy.orm import Session

from orchestrator import freshness
from orchestrator.checks.models import ContentCheckHit, ContentCheckRun
from orchestrator.compliance.linkcheck import KIND_LABELS
from orchestrator.compliance.models import LinkProblem, SelfInspection
from orchestrator.db import session_scope
from orchestrator.models import CatalogEntryRow, Delivery, Document, DocumentStatus, utcnow

log = logging.getLogger(__name__)
MAX_ITEMS = 200  # items kept per check in a stored report (the count is exact up to COUNT_CAP)
COUNT_CAP = 10_000
TZ = ZoneInfo("Asia/Shanghai")
NOT_DONE = ["delivered", "verified", "cancelled", "removed"]


@dataclass
class Result:
    count: int = 0
    items: list[dict[str, str]] = field(default_factory=list)  # what, detail, link


@dataclass(frozen=True)
class Check:
    code: str
    title: str  # Chinese, as the report shows it
    rule: str  # which national rule it checks (Chinese)
    fn: Callable[[Session, dt.date], Result]


CHECKS: list[Check] = []


def register(code: str, title: str, rule: str) -> Callable[[Callable[[Session, dt.date], Result]], Callable]:
    def deco(fn: Callable[[Session, dt.date], Result]) -> Callable:
        CHECKS[:] = [c for c in CHECKS if c.code != code]
        CHECKS.append(Check(code, title, rule, fn))
        return fn

    return deco


def _capped_count(session: Session, q: Any) -> int:
    return session.scalar(select(func.count()).select_from(q.limit(COUNT_CAP + 1).subquery())) or 0


@register("overdue", "超期未公开的文件", "《政府信息公开条例》第二十六条：自形成或者变更之日起20个工作日内及时公开")
def overdue_documents(session: Session, today: dt.date) -> Result:
    owed = exists().where(Delivery.document_id == Document.id, Delivery.action == "publish",
                          Delivery.status.not_in(NOT_DONE))
    where = and_(Document.due_date.is_not(None), Document.due_date < today,
                 ((Document.status == DocumentStatus.active) & owed) | (Document.status == DocumentStatus.pending_review))
    q = select(Document.id, Document.index_no, Document.title, Document.due_date, Document.office, Document.status) \
        .where(where).order_by(Document.due_date, Document.id)
    items = [{"what": f"{r.title}（{r.index_no}）",
              "detail": f"应于 {r.due_date.isoformat()} 前公开，已超期 {(today - r.due_date).days} 天"
                        f"{'，仍在保密审查' if r.status == DocumentStatus.pending_review else '，仍有渠道未发布'}"
                        f"{'；责任科室：' + r.office if r.office else ''}",
              "link": f"/documents/{r.id}"} for r in session.execute(q.limit(MAX_ITEMS))]
    return Result(_capped_count(session, select(Document.id).where(where)), items)


@register("broken_links", "失效链接、暗链与附件问题", "政府网站检查指标：链接可用性、不得出现暗链，附件可下载且与原件一致")
def broken_links(session: Session, today: dt.date) -> Result:
    where = LinkProblem.resolved_at.is_(None)
    q = select(LinkProblem).where(where).order_by(LinkProblem.first_seen, LinkProblem.id).limit(MAX_ITEMS)
    items = [{"what": f"{KIND_LABELS.get(p.kind, p.kind)}：{p.link_url}",
              "detail": f"{p.problem}；所在页面 {p.page_url}；首次发现 {p.first_seen.date().isoformat()}",
              "link": "/compliance/links"} for p in session.scalars(q)]
    return Result(session.scalar(select(func.count()).select_from(LinkProblem).where(where)) or 0, items)


@register("never_published", "从未发布过信息的目录事项", "政务公开目录：每个事项应有对应的公开内容（或说明暂无）")
def never_published(session: Session, today: dt.date) -> Result:
    any_doc = exists().where(Document.entry_id == CatalogEntryRow.id, Document.status == DocumentStatus.active)
    q = select(CatalogEntryRow.id, CatalogEntryRow.code, CatalogEntryRow.path_text, CatalogEntryRow.offices) \
        .where(CatalogEntryRow.active.is_(True), ~any_doc).order_by(CatalogEntryRow.code)
    rows = list(session.execute(q))
    items = [{"what": f"{r.code} {r.path_text}",
              "detail": "尚无已公开的文件" + (f"；责任科室：{'、'.join(r.offices)}" if r.offices else ""),
              "link": "/catalog"} for r in rows[:MAX_ITEMS]]
    return Result(len(rows), items)


@register("stale_columns", "栏目、账号更新不及时", "政府网站与政务新媒体检查指标：动态类栏目2周、通知公告和政策文件类栏目6个月未更新"
          "，首页2周未更新，政务新媒体2周未更新；需常态化更新的栏目内容应定期确认")
def stale_columns(session: Session, today: dt.date) -> Result:
    # 12:00 Beijing time of the report's day, so a report for a past or future day judges that day
    noon = dt.datetime.combine(today, dt.time(12), TZ)
    rows = freshness.stale_columns(session, noon)
    items = [{"what": f"{r.label}（{r.publisher}）" if r.publisher else r.label,
              "detail": (f"{r.state_label}：最近一次发布 {r.last_published.astimezone(TZ).date().isoformat()}"
                         if r.last_published else r.state_label)
                        + f"，更新周期 {r.rule_days} 天" + (f"；责任科室：{'、'.join(r.offices)}" if r.offices else ""),
              "link": "/freshness"} for r in rows[:MAX_ITEMS]]
    return Result(len(rows), items)


@register("content_hits", "已公开内容中的错敏词、错别字", "政府网站与政务新媒体检查指标：不得出现严重错别字、"
          "错误表述；机构更名、领导职务变化后历史内容应及时更正")
def content_hits(session: Session, today: dt.date) -> Result:
    run = session.scalars(select(ContentCheckRun).where(ContentCheckRun.status == "done")
                          .order_by(ContentCheckRun.id.desc()).limit(1)).first()
    if run is None:
        return Result(0, [{"what": "尚未对已公开内容做过检查", "detail": "请在“历史内容检查”中立即扫描",
                           "link": "/content-checks/history"}])
    q = (select(ContentCheckHit.document_id, ContentCheckHit.term, ContentCheckHit.suggestion,
                ContentCheckHit.severity, ContentCheckHit.field, Document.title, Document.index_no)
         .join(Document, Document.id == ContentCheckHit.document_id)
         .where(ContentCheckHit.run_id == run.id, ContentCheckHit.severity.in_(["block", "warn"]))
         .order_by(ContentCheckHit.document_id, ContentCheckHit.position))
    count = _capped_count(session, q)
    items = [{"what": f"{r.title}（{r.index_no}）",
              "detail": f"{r.field}中“{r.term}”" + (f"，应为“{r.suggestion}”" if r.suggestion else "")
                        + f"（{'阻止' if r.severity == 'block' else '警告'}级）",
              "link": f"/documents/{r.document_id}"} for r in session.execute(q.limit(MAX_ITEMS))]
    return Result(count, items)


def all_checks() -> list[Check]:
    return list(CHECKS)


def inspect(session: Session, today: dt.date) -> list[dict[str, Any]]:
    out = []
    for check in all_checks():
        try:
            with session.begin_nested():
                r = check.fn(session, today)
            out.append({"code": check.code, "title": check.title, "rule": check.rule, "count": int(r.count),
                        "items": r.items[:MAX_ITEMS], "error": ""})
        except Exception as exc:
            log.warning("self-inspection check %s failed", check.code, exc_info=True)
            out.append({"code": check.code, "title": check.title, "rule": check.rule, "count": 0, "items": [],
                        "error": f"检查未能完成（{type(exc).__name__}）"})
    return out


def run(trigger: str = "manual", user: str = "", today: dt.date | None = None) -> int:
    """Run every check now and store the report; returns its id."""
    today = today or utcnow().astimezone(TZ).date()
    with session_scope() as s:
        results = inspect(s, today)
        row = SelfInspection(trigger=trigger[:20], created_by=user[:100], created_at=utcnow(), results=results)
        s.add(row)
        s.flush()
        return row.id
