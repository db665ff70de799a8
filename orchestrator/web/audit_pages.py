"""审计日志 (admins only): the administrative actions, filtered by action, actor and date, paged, exported."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import Response

from orchestrator import audit
from orchestrator.auth import Role
from orchestrator.db import session_scope
from orchestrator.documents import inputs
from orchestrator.web.core import TZ, WebError, ctx_of, fmt_time, page, render

PER_PAGE = 50
EXPORT_LIMIT = 100_000


def _filters(request: Request) -> tuple[dict[str, Any], list[str]]:
    p = request.query_params
    f: dict[str, Any] = {k: (p.get(k) or "").strip()[:100] for k in ("action", "actor", "date_from", "date_to")}
    errors: list[str] = []
    if f["action"] and f["action"] not in audit.ACTIONS:
        errors.append("操作类型不正确")
        f["action"] = ""
    dates: dict[str, dt.date | None] = {"date_from": None, "date_to": None}
    for key, name in (("date_from", "起始日期"), ("date_to", "截止日期")):
        if f[key]:
            try:
                d = dt.date.fromisoformat(f[key])
                if not inputs.date_in_range(d):
                    raise ValueError
                dates[key] = d
            except ValueError:
                errors.append(f"{name}格式不正确或超出范围（应为 YYYY-MM-DD）")
                f[key] = ""
    if dates["date_from"] and dates["date_to"] and dates["date_to"] < dates["date_from"]:
        errors.append("截止日期不能早于起始日期")
    f["since"] = _day_start(dates["date_from"]) if dates["date_from"] else None
    f["until"] = _day_start(dates["date_to"] + dt.timedelta(days=1)) if dates["date_to"] else None
    return f, errors


def _day_start(d: dt.date) -> dt.datetime:
    """Midnight in Beijing (the dates a person types are local dates)."""
    return dt.datetime.combine(d, dt.time(), TZ).astimezone(dt.UTC)


def _criteria(f: dict[str, Any]) -> dict[str, Any]:
    return {"action": f["action"], "actor": f["actor"], "since": f["since"], "until": f["until"]}


def _query(f: dict[str, Any]) -> str:
    return urlencode({k: f[k] for k in ("action", "actor", "date_from", "date_to") if f[k]})


@page("GET", "/audit", (Role.admin,))
def audit_page(request: Request, page_no: int = 1) -> Response:
    f, errors = _filters(request)
    page_no = max(1, min(page_no, 1_000_000))
    with session_scope() as s:
        rows, total = audit.search(s, **_criteria(f), page=page_no, per_page=PER_PAGE)
        items = [{"at": r.at, "actor": r.actor, "action": r.action, "label": audit.ACTIONS.get(r.action, r.action),
                  "target": r.target, "detail": r.detail, "ip": r.ip} for r in rows]
        actors = audit.actors(s)
    pages = max(1, -(-total // PER_PAGE))
    return render(request, "audit.html", ctx_of(request), title="审计日志", rows=items, total=total, page_no=page_no,
                  pages=pages, f=f, errors=errors, query=_query(f), actions=audit.ACTIONS, actors=actors,
                  value=audit.display_value)


def _export(request: Request) -> tuple[list[list[str]], str]:
    f, errors = _filters(request)
    if errors:
        raise WebError(422, "；".join(errors))
    with session_scope() as s:
        rows = list(audit.export_rows(audit.iter_rows(s, **_criteria(f), limit=EXPORT_LIMIT), fmt_time))
    return rows, dt.datetime.now(TZ).strftime("%Y%m%d-%H%M")


@page("GET", "/audit.csv", (Role.admin,))
def audit_csv(request: Request) -> Response:
    rows, stamp = _export(request)
    return Response(audit.to_csv(rows), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="audit-log-{stamp}.csv"',
                             "X-Content-Type-Options": "nosniff"})


@page("GET", "/audit.xlsx", (Role.admin,))
def audit_xlsx(request: Request) -> Response:
    rows, stamp = _export(request)
    return Response(audit.to_xlsx(rows), media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f'attachment; filename="audit-log-{stamp}.xlsx"',
                             "X-Content-Type-Options": "nosniff"})
