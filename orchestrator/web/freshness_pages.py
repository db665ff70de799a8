"""栏目更新情况: every column's last publication, rule and state; the "内容仍准确吗?" confirmations; an admin's
per-entry rule."""

from __future__ import annotations

from fastapi import Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import selectinload

from orchestrator import audit, freshness
from orchestrator.auth import Role
from orchestrator.db import session_scope
from orchestrator.models import CatalogEntryRow
from orchestrator.web.core import ALL_ROLES, WebError, client_ip, ctx_of, page, redirect, render

STATE_FILTERS = {"": "全部", "attention": "需要关注（即将超期、已超期、从未发布、确认逾期）", **freshness.STATE_LABELS}


@page("GET", "/freshness", ALL_ROLES)
def freshness_page(request: Request, state: str = "", kind: str = "") -> Response:
    ctx = ctx_of(request)
    state = state if state in STATE_FILTERS else ""
    kind = kind if kind in freshness.KIND_LABELS else ""
    now = freshness.current_time()
    with session_scope() as s:
        rows = freshness.freshness_rows(s, now)
        counts = freshness.summary(rows)
        tasks = [{"id": t.id, "entry": e.path_text, "code": e.code, "offices": "、".join(e.offices or []),
                  "created_at": t.created_at, "due_at": t.due_at, "overdue": freshness._aware(t.due_at) < now}
                 for t, e in freshness.open_confirmations_for(s, is_admin=ctx.user.role == Role.admin,
                                                              office=ctx.user.office)]
    if kind:
        rows = [r for r in rows if r.kind == kind]
    if state == "attention":
        rows = [r for r in rows if r.state != "fresh" or r.confirmation_overdue]
    elif state:
        rows = [r for r in rows if r.state == state]
    order = {"stale": 0, "warning": 1, "never": 2, "fresh": 3}
    rows.sort(key=lambda r: (0 if r.confirmation_overdue else 1, order[r.state],
                             r.days_left if r.days_left is not None else 0, r.kind != "home", r.label))
    return render(request, "freshness.html", ctx, title="栏目更新情况", rows=rows, counts=counts, tasks=tasks,
                  state=state, kind=kind, state_filters=STATE_FILTERS, kind_labels=freshness.KIND_LABELS,
                  state_labels=freshness.STATE_LABELS, today=now)


@page("POST", "/freshness/confirm/{task_id}", ALL_ROLES)
def confirm_task(request: Request, task_id: int, note: str = Form("", max_length=1000)) -> Response:
    ctx = ctx_of(request)
    with session_scope() as s:
        try:
            task = freshness.confirm(s, task_id, ctx.user.username, is_admin=ctx.user.role == Role.admin,
                                     office=ctx.user.office, note=note)
        except freshness.FreshnessError as exc:
            raise WebError(403 if "只有" in str(exc) else 409, str(exc)) from exc
        entry = s.get(CatalogEntryRow, task.entry_id)
        label = entry.path_text if entry else str(task.entry_id)
    return redirect("/freshness", f"已确认“{label}”的内容仍然准确；下次确认将在规定周期后自动提醒")


def _entry(s, entry_id: int) -> CatalogEntryRow:
    e = s.get(CatalogEntryRow, entry_id, options=[selectinload(CatalogEntryRow.publisher)])
    if e is None:
        raise WebError(404, f"目录事项 {entry_id} 不存在")
    return e


def _form(request: Request, entry_id: int, values: dict[str, str] | None = None, errors: dict[str, str] | None = None,
          status_code: int = 200) -> Response:
    with session_scope() as s:
        e = _entry(s, entry_id)
        admin = s.get(freshness.EntryFreshness, entry_id)
        rule = freshness.entry_rule(e, admin)
        default_days, default_source = freshness.default_days(e.path_text)
        if values is None:
            values = {"days": str(admin.days) if admin and admin.days else "",
                      "warn_days": str(admin.warn_days) if admin and admin.warn_days is not None else "",
                      "confirm_months": str(admin.confirm_months) if admin and admin.confirm_months else "",
                      "keep_current": "" if not admin or admin.keep_current is None else ("yes" if admin.keep_current else "no")}
        info = {"id": e.id, "code": e.code, "path": e.path_text, "publisher": e.publisher.name,
                "offices": "、".join(e.offices or []), "file": (e.options or {}).get("freshness") or {},
                "by_name": freshness.keep_current_by_name(e.path_text)}
    return render(request, "freshness_entry.html", ctx_of(request), status_code=status_code, title="栏目更新规则",
                  e=info, rule=rule, values=values, errors=errors or {}, labels=freshness.FIELD_LABELS,
                  default_days=default_days, default_source=default_source, limits=freshness.LIMITS)


@page("GET", "/freshness/entries/{entry_id}", (Role.admin,))
def entry_form(request: Request, entry_id: int) -> Response:
    return _form(request, entry_id)


@page("POST", "/freshness/entries/{entry_id}", (Role.admin,))
def entry_save(request: Request, entry_id: int, days: str = Form("", max_length=1000),
               warn_days: str = Form("", max_length=1000), confirm_months: str = Form("", max_length=1000),
               keep_current: str = Form("", max_length=1000)) -> Response:
    ctx = ctx_of(request)
    typed = {"days": days, "warn_days": warn_days, "confirm_months": confirm_months, "keep_current": keep_current}
    parsed, errors = freshness.parse_settings(typed)
    if errors:
        return _form(request, entry_id, typed, errors, 422)
    with session_scope() as s:
        e = _entry(s, entry_id)
        before, after = freshness.save_settings(s, entry_id, parsed, ctx.user.username)
        labels = freshness.FIELD_LABELS
        change = audit.changes({labels[k]: v for k, v in before.items()}, {labels[k]: v for k, v in after.items()})
        audit.record(s, ctx.user.username, "catalog.freshness", f"{e.publisher.name} {e.code} {e.path_text}", change,
                     ip=client_ip(request))
        label = e.path_text
    return redirect("/freshness", f"已保存“{label}”的更新规则")
