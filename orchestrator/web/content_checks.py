"""内容检查词库 (admin: entries, import/export, the starter dictionary) and 历史内容检查 (scans of what is published)."""

from __future__ import annotations

from typing import Any

from fastapi import File, Form, Request, UploadFile
from fastapi.responses import Response
from sqlalchemy import func, or_, select

from orchestrator.auth import Role
from orchestrator.checks import dictionary as dic
from orchestrator.checks import history
from orchestrator.checks.matcher import CATEGORIES, SEVERITIES
from orchestrator.checks.models import ContentCheckHit, ContentCheckRun, ContentCheckTerm
from orchestrator.db import session_scope
from orchestrator.models import Document
from orchestrator.web.core import WebError, ctx_of, page, redirect, render

PAGE_SIZE = 100
HITS_PAGE_SIZE = 200
EMPTY_FORM = {"category": "typo", "term": "", "suggestion": "", "severity": "", "since": "", "note": "", "variants": ""}


def _rescan(trigger: str) -> None:
    history.start_run(trigger)


def _list(category: str, severity: str, q: str, page_no: int) -> tuple[list[ContentCheckTerm], int, dict[str, int], int]:
    with session_scope() as s:
        query = select(ContentCheckTerm)
        if category in CATEGORIES:
            query = query.where(ContentCheckTerm.category == category)
        if severity in SEVERITIES:
            query = query.where(ContentCheckTerm.severity == severity)
        if q:
            like = f"%{q.replace('%', '').replace('_', '')}%"
            query = query.where(or_(ContentCheckTerm.term.like(like), ContentCheckTerm.suggestion.like(like),
                                    ContentCheckTerm.note.like(like)))
        total = s.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = list(s.scalars(query.order_by(ContentCheckTerm.category, ContentCheckTerm.id)
                              .offset((page_no - 1) * PAGE_SIZE).limit(PAGE_SIZE)))
        by_cat = dict(s.execute(select(ContentCheckTerm.category, func.count()).group_by(ContentCheckTerm.category)).all())
        version = dic.current_version(s)
        s.expunge_all()
        return rows, total, by_cat, version


def _page(request: Request, status_code: int = 200, *, errors: list[str] | None = None, form: dict | None = None,
          import_errors: list[str] | None = None, category: str = "", severity: str = "", q: str = "",
          page_no: int = 1) -> Response:
    ctx = ctx_of(request)
    rows, total, by_cat, version = _list(category, severity, q, page_no)
    return render(request, "content_checks.html", ctx, status_code=status_code, title="内容检查词库", rows=rows,
                  total=total, by_cat=by_cat, version=version, categories=CATEGORIES, severities=SEVERITIES,
                  errors=errors or [], import_errors=import_errors or [], form=form or dict(EMPTY_FORM),
                  category=category, severity=severity, q=q, page_no=page_no,
                  pages=max(1, (total + PAGE_SIZE - 1) // PAGE_SIZE), max_mb=dic.MAX_IMPORT_BYTES // (1024 * 1024))


@page("GET", "/content-checks", (Role.admin,))
def dictionary_page(request: Request, category: str = "", severity: str = "", q: str = "", page_no: int = 1) -> Response:
    return _page(request, category=category, severity=severity, q=q.strip()[:100], page_no=max(1, min(page_no, 10_000)))


def _form(category: str, term: str, suggestion: str, severity: str, since: str, note: str, variants: str) -> dict[str, Any]:
    return {"category": category, "term": term, "suggestion": suggestion, "severity": severity, "since": since,
            "note": note, "variants": variants}


def _raw(form: dict[str, Any]) -> dict[str, Any]:
    raw = {k: v for k, v in form.items() if k != "variants" and v}
    variants = [v.strip() for v in form["variants"].replace("，", "、").replace(",", "、").split("、") if v.strip()]
    if variants:
        raw["variants"] = variants
    return raw


@page("POST", "/content-checks", (Role.admin,))
def add_entry(request: Request, category: str = Form("", max_length=20), term: str = Form("", max_length=400),
              suggestion: str = Form("", max_length=800), severity: str = Form("", max_length=10),
              since: str = Form("", max_length=20), note: str = Form("", max_length=2000),
              variants: str = Form("", max_length=4000)) -> Response:
    ctx = ctx_of(request)
    form = _form(category, term, suggestion, severity, since, note, variants)
    try:
        row = dic.save_entry(_raw(form), ctx.user.username)
    except dic.DictionaryError as exc:
        return _page(request, 422, errors=exc.problems, form=form)
    _rescan(f"{ctx.user.username} 新增词条“{row.term}”")
    return redirect("/content-checks", f"已新增{CATEGORIES[row.category]}“{row.term}”；已开始扫描已发布的内容")


@page("POST", "/content-checks/import", (Role.admin,))
async def import_file(request: Request, file: UploadFile | None = File(None), mode: str = Form("merge", max_length=10),
                      category: str = Form("", max_length=20), severity: str = Form("", max_length=10)) -> Response:
    ctx = ctx_of(request)
    if file is None or not file.filename:
        return _page(request, 422, import_errors=["请选择要导入的文件（.yaml、.csv 或 .txt）"])
    data = await file.read(dic.MAX_IMPORT_BYTES + 1)
    try:
        entries = dic.parse_file(file.filename, data, category=category, severity=severity)
        res = dic.import_entries(entries, ctx.user.username, replace=(mode == "replace"))
    except dic.DictionaryError as exc:
        return _page(request, 422, import_errors=[f"未导入任何词条（{file.filename[:100]}）", *exc.problems[:dic.MAX_ERRORS_SHOWN]]
                     + ([f"另有 {len(exc.problems) - dic.MAX_ERRORS_SHOWN} 处错误未列出"]
                        if len(exc.problems) > dic.MAX_ERRORS_SHOWN else []))
    _rescan(f"{ctx.user.username} 导入 {file.filename[:100]}（新增 {res.added}，更新 {res.updated}）")
    msg = f"已导入 {file.filename[:100]}：新增 {res.added} 条，更新 {res.updated} 条"
    if res.removed:
        msg += f"（替换前原有 {res.removed} 条已清除）"
    return redirect("/content-checks", msg + "；已开始扫描已发布的内容")


@page("POST", "/content-checks/starter", (Role.admin,))
def load_starter(request: Request) -> Response:
    ctx = ctx_of(request)
    try:
        res = dic.import_entries(dic.load_starter(), ctx.user.username)
    except dic.DictionaryError as exc:
        return _page(request, 422, import_errors=exc.problems)
    _rescan(f"{ctx.user.username} 载入内置词库")
    return redirect("/content-checks", f"已载入内置词库：新增 {res.added} 条，更新 {res.updated} 条；已开始扫描已发布的内容")


def _all_entries() -> list[ContentCheckTerm]:
    with session_scope() as s:
        rows = list(s.scalars(select(ContentCheckTerm).order_by(ContentCheckTerm.category, ContentCheckTerm.id)))
        s.expunge_all()
        return rows


@page("GET", "/content-checks/export.yaml", (Role.admin,))
def export_yaml(request: Request) -> Response:
    return Response(dic.export_yaml(_all_entries()), media_type="application/x-yaml; charset=utf-8",
                    headers={"Content-Disposition": "attachment; filename=content-checks.yaml"})


@page("GET", "/content-checks/export.csv", (Role.admin,))
def export_csv(request: Request) -> Response:
    return Response(dic.export_csv(_all_entries()), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": "attachment; filename=content-checks.csv"})


# --- 历史内容检查 ------------------------------------------------------------------------------------

@page("GET", "/content-checks/history", (Role.reviewer,))
def history_page(request: Request, run: int | None = None, severity: str = "", page_no: int = 1) -> Response:
    ctx = ctx_of(request)
    page_no = max(1, min(page_no, 10_000))
    with session_scope() as s:
        runs = list(s.scalars(select(ContentCheckRun).order_by(ContentCheckRun.id.desc()).limit(20)))
        current = None
        if run is not None:
            current = s.get(ContentCheckRun, run)
            if current is None:
                raise WebError(404, f"扫描 {run} 不存在")
        else:
            current = next((r for r in runs if r.status == "done"), runs[0] if runs else None)
        hits: list[dict[str, Any]] = []
        total = 0
        if current is not None:
            q = select(ContentCheckHit, Document.title).join(Document, Document.id == ContentCheckHit.document_id) \
                .where(ContentCheckHit.run_id == current.id)
            if severity in SEVERITIES:
                q = q.where(ContentCheckHit.severity == severity)
            total = s.scalar(select(func.count()).select_from(q.subquery())) or 0
            for h, title in s.execute(q.order_by(ContentCheckHit.document_id, ContentCheckHit.field.desc(),
                                                 ContentCheckHit.position)
                                      .offset((page_no - 1) * HITS_PAGE_SIZE).limit(HITS_PAGE_SIZE)):
                hits.append({"h": h, "title": title})
        stale = {r.id for r in runs if history.is_stale(r)}
        published = history.published_count(s)
        s.expunge_all()
    return render(request, "content_check_history.html", ctx, title="历史内容检查", runs=runs, current=current,
                  hits=hits, total=total, severity=severity, page_no=page_no,
                  pages=max(1, (total + HITS_PAGE_SIZE - 1) // HITS_PAGE_SIZE), stale=stale, published=published,
                  categories=CATEGORIES, severities=SEVERITIES, run_labels=history.STATUS_LABELS)


@page("POST", "/content-checks/history/scan", (Role.admin,))
def scan_now(request: Request) -> Response:
    ctx = ctx_of(request)
    run_id = history.start_run(f"{ctx.user.username} 手动发起")
    return redirect(f"/content-checks/history?run={run_id}", "已开始扫描已发布的内容，完成后刷新本页查看结果")


@page("POST", "/content-checks/history/{run_id}/resume", (Role.admin,))
def resume_run(request: Request, run_id: int) -> Response:
    if not history.resume(run_id):
        return redirect(f"/content-checks/history?run={run_id}", "该扫描已结束或无法连接任务队列", "err")
    return redirect(f"/content-checks/history?run={run_id}", "已重新发送，扫描将从上次完成的位置继续")


# --- one entry (after the fixed paths above: /content-checks/import is not an entry id) -----------------

@page("GET", "/content-checks/{entry_id}/edit", (Role.admin,))
def edit_page(request: Request, entry_id: int) -> Response:
    return _edit(request, entry_id)


def _edit(request: Request, entry_id: int, errors: list[str] | None = None, form: dict | None = None,
          status_code: int = 200) -> Response:
    ctx = ctx_of(request)
    with session_scope() as s:
        row = s.get(ContentCheckTerm, entry_id)
        if row is None:
            raise WebError(404, f"词条 {entry_id} 不存在")
        current = _form(row.category, row.term, row.suggestion, row.severity,
                        row.since.isoformat() if row.since else "", row.note, "、".join(row.variants or []))
    return render(request, "content_check_edit.html", ctx, status_code=status_code, title="修改词条", entry_id=entry_id,
                  form=form or current, errors=errors or [], categories=CATEGORIES, severities=SEVERITIES)


@page("POST", "/content-checks/{entry_id}", (Role.admin,))
def update_entry(request: Request, entry_id: int, category: str = Form("", max_length=20),
                 term: str = Form("", max_length=400), suggestion: str = Form("", max_length=800),
                 severity: str = Form("", max_length=10), since: str = Form("", max_length=20),
                 note: str = Form("", max_length=2000), variants: str = Form("", max_length=4000)) -> Response:
    ctx = ctx_of(request)
    form = _form(category, term, suggestion, severity, since, note, variants)
    try:
        row = dic.save_entry(_raw(form), ctx.user.username, entry_id)
    except dic.DictionaryError as exc:
        return _edit(request, entry_id, exc.problems, form, 422)
    _rescan(f"{ctx.user.username} 修改词条“{row.term}”")
    return redirect("/content-checks", f"已保存“{row.term}”；已开始扫描已发布的内容")


@page("POST", "/content-checks/{entry_id}/delete", (Role.admin,))
def delete_entry(request: Request, entry_id: int) -> Response:
    ctx = ctx_of(request)
    try:
        term = dic.delete_entry(entry_id, ctx.user.username)
    except dic.DictionaryError as exc:
        raise WebError(404, str(exc)) from exc
    _rescan(f"{ctx.user.username} 删除词条“{term}”")
    return redirect("/content-checks", f"已删除“{term}”")
