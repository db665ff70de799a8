"""Compliance pages: 链接检查 (link and attachment health), 年度报告 (section 二 of the annual report) and 自查报告."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote

from fastapi import Form, Request
from fastapi.responses import Response
from sqlalchemy import select

from orchestrator.auth import Role
from orchestrator.compliance import annual, export, inspection, linkcheck
from orchestrator.compliance.models import LinkCheckRun, LinkProblem, SelfInspection
from orchestrator.db import session_scope
from orchestrator.delivery.celery_app import DEFAULT_QUEUE
from orchestrator.delivery.celery_app import app as celery
from orchestrator.documents.profile import cached_profile
from orchestrator.models import CatalogEntryRow, utcnow
from orchestrator.web.core import TZ, WebError, channel_label, ctx_of, fmt_time, page, redirect, render
from orchestrator.web.ops import interactive

PROBLEMS_PAGE = 100
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def _download(data: bytes, media: str, name: str) -> Response:
    return Response(data, media_type=media, headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}"})


def link_summary(session: Any) -> dict[str, Any]:
    """The link-health figures the dashboards show (a GROUP BY over the open problems' partial index)."""
    return linkcheck.summary(session)


# --- 链接检查 --------------------------------------------------------------------------------------

@page("GET", "/compliance/links", (Role.ops,))
def links_page(request: Request, kind: str = "", page_no: int = 1) -> Response:
    kind = kind if kind in linkcheck.KIND_LABELS else ""
    page_no = max(1, min(page_no, 100_000))
    with session_scope() as s:
        interactive(s)
        summ = link_summary(s)
        q = select(LinkProblem).where(LinkProblem.resolved_at.is_(None))
        if kind:
            q = q.where(LinkProblem.kind == kind)
        problems = list(s.scalars(q.order_by(LinkProblem.first_seen.desc(), LinkProblem.id.desc())
                                  .limit(PROBLEMS_PAGE + 1).offset((page_no - 1) * PROBLEMS_PAGE)))
        fixed = list(s.scalars(select(LinkProblem).where(LinkProblem.resolved_at.is_not(None))
                               .order_by(LinkProblem.resolved_at.desc()).limit(20)))
        runs = list(s.scalars(select(LinkCheckRun).order_by(LinkCheckRun.id.desc()).limit(10)))
        s.expunge_all()
    return render(request, "compliance_links.html", ctx_of(request), title="链接检查", summary=summ,
                  kinds=linkcheck.KIND_LABELS, kind=kind, problems=problems[:PROBLEMS_PAGE], fixed=fixed, runs=runs,
                  page_no=page_no, has_next=len(problems) > PROBLEMS_PAGE, roots=linkcheck.discover_roots())


@page("POST", "/compliance/links/run", (Role.ops,))
def links_run(request: Request) -> Response:
    with session_scope() as s:
        running = linkcheck.running_run(s)
    if running is not None:
        return redirect("/compliance/links", f"上一次检查（第 {running.id} 次）仍在进行，请稍后刷新查看", "err")
    try:
        celery.send_task("orchestrator.linkcheck", kwargs={"trigger": "manual"}, queue=DEFAULT_QUEUE)
    except Exception as exc:  # broker down: say so rather than pretend
        raise WebError(503, f"无法安排检查（消息队列不可用：{type(exc).__name__}），请稍后重试") from None
    return redirect("/compliance/links", "已安排重新检查全部公开页面，完成后刷新本页查看结果")


@page("POST", "/compliance/links/{problem_id}/recheck", (Role.ops,))
def links_recheck_one(request: Request, problem_id: int) -> Response:
    outcome = linkcheck.recheck_problem(problem_id)
    if outcome is None:
        raise WebError(404, f"问题 {problem_id} 不存在或已关闭")
    return redirect("/compliance/links", "复查：问题仍然存在" if outcome else "复查：问题已修复，已关闭",
                    "err" if outcome else "ok")


# --- 年度报告 --------------------------------------------------------------------------------------

def _year_of(raw: str | None) -> int:
    if raw in (None, ""):
        return utcnow().astimezone(TZ).year - (1 if utcnow().astimezone(TZ).month == 1 else 0)
    try:
        return annual.check_year(raw)
    except annual.AnnualError as exc:
        raise WebError(422, str(exc)) from None


def _report(year: int, publication: bool = True) -> annual.SectionTwo:
    with session_scope() as s:  # the counts are small index look-ups; publication_stats sets its own plan settings
        return annual.section_two(s, year, publication=publication)


@page("GET", "/compliance/annual", (Role.ops,))
def annual_page(request: Request, year: str = "") -> Response:
    y = _year_of(year)
    report = _report(y)
    with session_scope() as s:
        hand = annual.hand_figures(s, y)
    tables = export.section_tables(report)
    computed = dt.datetime.fromisoformat(report.publication["computed_at"])
    cells = {"rule": report.rules["rule"], "normative": report.rules["normative"], **report.decisions}
    return render(request, "compliance_annual.html", ctx_of(request), title="年度报告", year=y, report=report,
                  computed=fmt_time(computed),
                  tables=tables, cells=cells, hand={k: (f"{v:f}".rstrip("0").rstrip(".") if "." in f"{v:f}" else f"{v:f}")
                                                    for k, v in hand.items()},
                  hand_items=annual.HAND_ITEMS, kinds=annual.KINDS, channel_label=channel_label,
                  years=list(range(utcnow().astimezone(TZ).year, utcnow().astimezone(TZ).year - 6, -1)))


@page("POST", "/compliance/annual/figures", (Role.admin,))
def annual_figures(request: Request, year: str = Form(..., max_length=100), license: str = Form("", max_length=100),
                   penalty: str = Form("", max_length=100), coercion: str = Form("", max_length=100),
                   fee: str = Form("", max_length=100)) -> Response:
    try:
        y = annual.check_year(year)
        with session_scope() as s:
            annual.save_figures(s, y, {"license": license, "penalty": penalty, "coercion": coercion, "fee": fee},
                                ctx_of(request).user.username)
    except annual.AnnualError as exc:
        raise WebError(422, f"未保存：{exc}") from None
    return redirect(f"/compliance/annual?year={y}", f"已保存 {y} 年的人工填报数据")


@page("POST", "/compliance/annual/refresh", (Role.ops,))
def annual_refresh(request: Request, year: str = Form(..., max_length=100)) -> Response:
    try:
        y = annual.check_year(year)
    except annual.AnnualError as exc:
        raise WebError(422, str(exc)) from None
    try:
        celery.send_task("orchestrator.annual_stats", kwargs={"year": y}, queue=DEFAULT_QUEUE)
    except Exception as exc:  # broker down: say so rather than pretend
        raise WebError(503, f"无法安排重新统计（消息队列不可用：{type(exc).__name__}），请稍后重试") from None
    return redirect(f"/compliance/annual?year={y}", "已安排重新统计各渠道发布及时性，完成后刷新本页查看")


@page("GET", "/compliance/annual/trace", (Role.ops,))
def annual_trace(request: Request, year: str = "", item: str = "") -> Response:
    y = _year_of(year)
    try:
        with session_scope() as s:
            total, rows = annual.trace_query(s, y, item[:40])
    except annual.AnnualError as exc:
        raise WebError(422, str(exc)) from None
    return render(request, "compliance_trace.html", ctx_of(request), title="年度报告数据来源", year=y, item=item,
                  label=annual.item_label(item), total=total, rows=rows)


@page("GET", "/compliance/annual.docx", (Role.ops,))
def annual_docx(request: Request, year: str = "") -> Response:
    y = _year_of(year)
    data = export.annual_docx(_report(y, publication=False), cached_profile().name or "")
    return _download(data, DOCX, f"{y}年政府信息公开工作年度报告-主动公开情况.docx")


@page("GET", "/compliance/annual.xlsx", (Role.ops,))
def annual_xlsx(request: Request, year: str = "") -> Response:
    y = _year_of(year)
    data = export.annual_xlsx(_report(y), cached_profile().name or "")
    return _download(data, XLSX, f"{y}年政府信息公开工作年度报告-主动公开情况.xlsx")


@page("GET", "/compliance/annual/tags", (Role.admin,))
def annual_tags(request: Request) -> Response:
    with session_scope() as s:
        kinds = annual.entry_kinds(s)
        entries = [(e.id, e.code, e.path_text, *kinds.get(e.id, (annual.NONE_KIND, False)))
                   for e in s.scalars(select(CatalogEntryRow).order_by(CatalogEntryRow.code))]
    return render(request, "compliance_tags.html", ctx_of(request), title="年度报告统计口径", entries=entries,
                  choices=annual.KIND_CHOICES)


@page("POST", "/compliance/annual/tags", (Role.admin,))
def annual_tags_save(request: Request, entry_id: int = Form(..., ge=1, le=2_147_483_647),
                     kind: str = Form(..., max_length=20)) -> Response:
    try:
        with session_scope() as s:
            annual.set_entry_kind(s, entry_id, kind, ctx_of(request).user.username)
    except annual.AnnualError as exc:
        raise WebError(422, str(exc)) from None
    return redirect("/compliance/annual/tags", "已保存统计口径")


# --- 自查报告 --------------------------------------------------------------------------------------

@page("GET", "/compliance/inspection", (Role.ops,))
def inspection_page(request: Request, report_id: int = 0) -> Response:
    with session_scope() as s:
        reports = list(s.execute(select(SelfInspection.id, SelfInspection.created_at, SelfInspection.trigger,
                                        SelfInspection.created_by).order_by(SelfInspection.id.desc()).limit(24)))
        row = s.get(SelfInspection, report_id) if report_id else (
            s.scalars(select(SelfInspection).order_by(SelfInspection.id.desc()).limit(1)).first())
        if report_id and row is None:
            raise WebError(404, f"自查报告 {report_id} 不存在")
        current = {"id": row.id, "created_at": fmt_time(row.created_at), "results": row.results} if row else None
    return render(request, "compliance_inspection.html", ctx_of(request), title="自查报告", reports=reports,
                  current=current)


@page("POST", "/compliance/inspection/run", (Role.ops,))
def inspection_run(request: Request) -> Response:
    rid = inspection.run(trigger="manual", user=ctx_of(request).user.username)
    return redirect(f"/compliance/inspection?report_id={rid}", "自查完成")


def _inspection(report_id: int) -> tuple[list[dict[str, Any]], str]:
    with session_scope() as s:
        row = s.get(SelfInspection, report_id)
        if row is None:
            raise WebError(404, f"自查报告 {report_id} 不存在")
        return row.results, fmt_time(row.created_at)


@page("GET", "/compliance/inspection/{report_id}.xlsx", (Role.ops,))
def inspection_xlsx(request: Request, report_id: int) -> Response:
    results, created = _inspection(report_id)
    return _download(export.inspection_xlsx(results, created), XLSX, f"自查报告-{report_id}.xlsx")


@page("GET", "/compliance/inspection/{report_id}.docx", (Role.ops,))
def inspection_docx(request: Request, report_id: int) -> Response:
    results, created = _inspection(report_id)
    return _download(export.inspection_docx(results, created), DOCX, f"自查报告-{report_id}.docx")
