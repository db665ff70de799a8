"""Admin: a year's holiday schedule (国务院办公厅 notice) entered in the web app, and which years lack one."""

from __future__ import annotations

import datetime as dt

from fastapi import Form, Request
from fastapi.responses import Response

from orchestrator import audit
from orchestrator.auth import Role
from orchestrator.calendar import SOURCE_LABELS, CalendarError, default_calendar, missing_schedule_years
from orchestrator.documents import deadlines
from orchestrator.web.core import TZ, client_ip, ctx_of, page, redirect, render


def schedule_notice(today: dt.date | None = None) -> str:
    """The dashboard line while this or next year's schedule is missing (next year's from 1 November)."""
    today = today or dt.datetime.now(TZ).date()
    try:
        years = missing_schedule_years(today)
    except CalendarError:
        return ""
    if not years:
        return ""
    ys = "、".join(str(y) for y in years)
    return f"{ys} 年节假日安排尚未录入，涉及该年的公开期限为暂估（标“暂估”）；安排公布后请管理员在“节假日安排”页面录入，系统会自动重新计算。"


def _years_overview(today: dt.date) -> list[dict]:
    cal = default_calendar()
    out = []
    for y in range(today.year - 1, today.year + 2):
        try:
            src = cal.year_source(y)
            out.append({"year": y, "source": SOURCE_LABELS[src], "provisional": src == "provisional"})
        except CalendarError as exc:
            out.append({"year": y, "source": str(exc), "provisional": True})
    return out


def _page(request: Request, status_code: int = 200, errors: list[str] | None = None, form: dict | None = None) -> Response:
    ctx = ctx_of(request)
    today = dt.datetime.now(TZ).date()
    return render(request, "holidays.html", ctx, status_code=status_code, title="节假日安排", errors=errors or [],
                  form=form or {"year": str(today.year + 1), "holidays": "", "workdays": "", "source": ""},
                  rows=deadlines.schedule_rows(), years=_years_overview(today), notice=schedule_notice(today))


@page("GET", "/holidays", (Role.admin,))
def holidays_page(request: Request, year: int | None = None) -> Response:
    form = None
    if year is not None:
        row = next((r for r in deadlines.schedule_rows() if r["year"] == year), None)
        if row:
            form = {"year": str(year), "holidays": "\n".join(row["holidays"]), "workdays": "\n".join(row["workdays"]),
                    "source": row["source"]}
    return _page(request, form=form)


@page("POST", "/holidays", (Role.admin,))
def save_holidays(request: Request, year: str = Form("", max_length=10), holidays: str = Form("", max_length=20_000),
                  workdays: str = Form("", max_length=5_000), source: str = Form("", max_length=500)) -> Response:
    ctx = ctx_of(request)
    form = {"year": year, "holidays": holidays, "workdays": workdays, "source": source}
    before = {r["year"]: r for r in deadlines.schedule_rows()}
    try:
        y, warnings, changes = deadlines.save_schedule(year, holidays, workdays, source, ctx.user.username)
    except deadlines.ScheduleErrors as exc:
        return _page(request, 422, exc.errors, form)
    after = next((r for r in deadlines.schedule_rows() if r["year"] == y), {})
    old = before.get(y, {})
    audit.record_now(ctx.user.username, "holidays.save", f"{y} 年节假日安排", {
        "before": {"放假": old.get("holidays", []), "调休上班": old.get("workdays", []), "依据": old.get("source", "")},
        "after": {"放假": after.get("holidays", []), "调休上班": after.get("workdays", []), "依据": after.get("source", "")},
        "重新计算的文件数": len(changes)}, client_ip(request))
    msg = f"已保存 {y} 年节假日安排；重新计算了 {len(changes)} 个文件的公开期限"
    if warnings:
        msg += "。请注意：" + "；".join(warnings)
    return redirect("/holidays", msg)
