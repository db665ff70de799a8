"""Due dates after the fact: recompute provisional (暂估) ones once an official holiday schedule is there, and the
admin-entered schedules (holiday_years) with their validation.

``recompute_due_dates`` is idempotent: it only writes a document whose (date, provisional) changed, and records each
change as a ``due_date_changes`` row shown on the document page. It runs at start-up, from beat
(``orchestrator.recompute_due_dates``) and right after an admin saves a year's schedule.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass, field

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import selectinload

from orchestrator.calendar import (
    FIRST_YEAR,
    LAST_YEAR,
    SOURCE_LABELS,
    Source,
    default_calendar,
    statutory_holidays,
)
from orchestrator.db import session_scope
from orchestrator.delivery.store import store_for
from orchestrator.documents import events, submission
from orchestrator.models import Document, DocumentStatus, DueDateChange, HolidayYear, utcnow

log = logging.getLogger(__name__)


def _describe(d: dt.date | None, provisional: bool) -> str:
    if d is None:
        return "无法自动计算"
    return f"{'暂估 ' if provisional else ''}{d.isoformat()}"


def recompute_due_dates(years: set[int] | None = None) -> list[dict]:
    """Recompute provisional and missing due dates (and, for ``years``, every due date counted through them).

    Returns the changes made: ``[{"document_id", "old", "new", "provisional", "note"}]``.
    """
    cal = default_calendar()
    cal.refresh()
    changes: list[dict] = []
    with session_scope() as s:
        cond = or_(Document.due_date_provisional.is_(True), Document.due_date.is_(None))
        for y in sorted(years or ()):
            cond = or_(cond, and_(Document.due_date >= dt.date(y, 1, 1), Document.formed_on <= dt.date(y, 12, 31)))
        q = (select(Document).where(cond, Document.status != DocumentStatus.withdrawn)
             .options(selectinload(Document.entry)).order_by(Document.id))
        if store_for(s.get_bind()).skip_locked:
            q = q.with_for_update(of=Document, skip_locked=True)  # beat and start-up may overlap: one writes each row
        for doc in s.scalars(q):
            start = events.start_of(s, doc)
            if start is None:
                continue  # an event rule still waiting for its event date: nothing to count from yet
            info = submission.compute_due_info(doc.entry, start)
            if info.date is None and doc.due_date is None:
                continue  # a rule that cannot be computed stays so; nothing to record
            if (info.date, info.provisional) == (doc.due_date, doc.due_date_provisional):
                continue
            # The schedule that made the difference: the admin's year, else the latest official year counted through.
            span = range(doc.formed_on.year, max(doc.formed_on, info.date or doc.formed_on).year + 1)
            official = [y for y in span if cal.year_source(y) != Source.provisional]
            named = [y for y in official if y in (years or ())] or official[-1:]
            why = "；".join(f"{y} 年节假日安排，来源：{SOURCE_LABELS[cal.year_source(y)]}" for y in named)
            note = (f"截止日期由{_describe(doc.due_date, doc.due_date_provisional)} "
                    f"更新为 {_describe(info.date, info.provisional)}")
            if info.provisional:
                note += "（节假日安排有更新，仍为暂估）"
            else:
                note += f"（已发布 {why}）" if why else "（节假日安排已更新）"
            s.add(DueDateChange(document_id=doc.id, at=utcnow(), old_date=doc.due_date, new_date=info.date,
                                old_provisional=doc.due_date_provisional, new_provisional=info.provisional, note=note))
            changes.append({"document_id": doc.id, "old": doc.due_date, "new": info.date,
                            "provisional": info.provisional, "note": note})
            doc.due_date, doc.due_note, doc.due_date_provisional = info.date, info.note, info.provisional
    if changes:
        log.info("recomputed %d due dates", len(changes))
    return changes


# --- admin-entered schedules -------------------------------------------------------------------------

_DATE = r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?"
_RANGE = re.compile(rf"^{_DATE}(?:\s*(?:~|～|至|到|—|--)\s*(?:{_DATE}|(\d{{1,2}})[-/.月](\d{{1,2}})日?|(\d{{1,2}})日?))?$")
MAX_HOLIDAYS = 40  # weekday holidays in a year: statutory 13 plus in-lieu and 调休 days stay well below
MAX_RUN = 12  # the longest break a notice gives (Spring Festival 8–9 days, plus a weekend)
NEAR_DAYS = 14  # a make-up workday sits next to the break it pays for


@dataclass
class ScheduleErrors(Exception):
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return "；".join(self.errors)


def parse_dates(text: str, year: int, label: str, errors: list[str]) -> set[dt.date]:
    """Dates from one field: one per line (or separated by commas/spaces), ranges like 2027-02-05 至 2027-02-11."""
    out: set[dt.date] = set()
    for raw in re.split(r"[\n,，、;；]+", text or ""):
        item = raw.strip()
        if not item:
            continue
        m = _RANGE.match(item)
        if not m:
            errors.append(f"{label}中“{item}”不是日期（应为 YYYY-MM-DD，区间写作 2027-02-05 至 2027-02-11）")
            continue
        try:
            a = dt.date(int(m[1]), int(m[2]), int(m[3]))
            if m[4]:
                b = dt.date(int(m[4]), int(m[5]), int(m[6]))
            elif m[7]:
                b = dt.date(a.year, int(m[7]), int(m[8]))
            elif m[9]:
                b = dt.date(a.year, a.month, int(m[9]))
            else:
                b = a
        except ValueError:
            errors.append(f"{label}中“{item}”不是有效日期（月份或日期超出范围）")
            continue
        if b < a:
            errors.append(f"{label}中“{item}”的结束日期早于开始日期")
            continue
        if (b - a).days > 31:
            errors.append(f"{label}中“{item}”跨度超过一个月，请核对")
            continue
        for k in range((b - a).days + 1):
            d = a + dt.timedelta(days=k)
            if d.year != year:
                errors.append(f"{label}中的 {d.isoformat()} 不在 {year} 年内")
                break
            out.add(d)
    return out


def validate_schedule(year_text: str, holidays_text: str, workdays_text: str) -> tuple[int, set[dt.date], set[dt.date], list[str]]:
    """Check an admin's entry; raises ScheduleErrors (Chinese) or returns (year, holidays, workdays, warnings)."""
    errors: list[str] = []
    try:
        year = int(str(year_text).strip())
    except ValueError:
        raise ScheduleErrors([f"年份“{year_text}”不是数字，请填写四位年份，如 2027"]) from None
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise ScheduleErrors([f"年份应在 {FIRST_YEAR}—{LAST_YEAR} 之间，收到 {year}"])
    holidays = parse_dates(holidays_text, year, "放假日期", errors)
    workdays = parse_dates(workdays_text, year, "调休上班日期", errors)
    if not holidays and not errors:
        errors.append("请填写放假日期（国务院办公厅通知中的每一段放假安排）")
    for d in sorted(holidays & workdays):
        errors.append(f"{d.isoformat()} 同时出现在放假日期和调休上班日期中")
    for d in sorted(workdays):
        if d.weekday() < 5:
            errors.append(f"调休上班日 {d.isoformat()}（星期{'一二三四五六日'[d.weekday()]}）本来就是工作日；调休上班日应为星期六或星期日")
        elif holidays and min(abs((d - h).days) for h in holidays) > NEAR_DAYS:
            errors.append(f"调休上班日 {d.isoformat()} 前后 {NEAR_DAYS} 天内没有放假日，请核对是否填错")
    weekday_holidays = [d for d in holidays if d.weekday() < 5]
    if len(weekday_holidays) > MAX_HOLIDAYS:
        errors.append(f"放假日期中有 {len(weekday_holidays)} 个工作日，超过一年合理的上限（{MAX_HOLIDAYS}），请核对")
    run, longest = 0, (0, dt.date(year, 1, 1))
    for k in range(366):
        d = dt.date(year, 1, 1) + dt.timedelta(days=k)
        if d.year != year:
            break
        off = d not in workdays and (d in holidays or d.weekday() >= 5)
        run = run + 1 if off else 0
        if run > longest[0]:
            longest = (run, d)
    if longest[0] > MAX_RUN:
        end = longest[1]
        start = end - dt.timedelta(days=longest[0] - 1)
        errors.append(f"{start.isoformat()} 至 {end.isoformat()} 连续 {longest[0]} 天不上班，超过常见的最长假期（{MAX_RUN} 天），请核对")
    if errors:
        raise ScheduleErrors(errors)
    warnings = [f"法定节假日 {d.isoformat()}（{name}）是工作日，但未列入放假日期，请核对通知"
                for d, name in statutory_holidays(year).items()
                if d.weekday() < 5 and d not in holidays and "补假" not in name]
    return year, holidays, workdays, warnings


def save_schedule(year_text: str, holidays_text: str, workdays_text: str, source: str, user: str) -> tuple[int, list[str], list[dict]]:
    """Validate and store an admin's schedule, then recompute the due dates it affects.

    Returns (year, warnings, changes)."""
    year, holidays, workdays, warnings = validate_schedule(year_text, holidays_text, workdays_text)
    with session_scope() as s:
        row = s.get(HolidayYear, year) or HolidayYear(year=year)
        row.holidays = [d.isoformat() for d in sorted(holidays)]
        row.workdays = [d.isoformat() for d in sorted(workdays)]
        row.source = source.strip()[:500]
        row.updated_by = user
        row.updated_at = utcnow()
        s.add(row)
    changes = recompute_due_dates({year})
    return year, warnings, changes


def schedule_rows() -> list[dict]:
    with session_scope() as s:
        return [{"year": r.year, "holidays": list(r.holidays or []), "workdays": list(r.workdays or []),
                 "source": r.source, "updated_by": r.updated_by, "updated_at": r.updated_at}
                for r in s.scalars(select(HolidayYear).order_by(HolidayYear.year.desc()))]
