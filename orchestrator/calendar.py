"""The Chinese working-day calendar, and due dates for catalog time-limit rules.

Sources, consulted in this order for a date in year Y (the first that has a table for Y wins):
1. A table an admin entered in the web app (``holiday_years``, page 节假日安排): holidays and make-up workdays
   from the State Council's notice.
2. ``config/holidays/Y.yaml`` (or any ``*.yaml`` there with ``year: Y``), the same data as a file.
   For 1 and 2 the days listed win; for a year the package does not cover, the table is the whole year
   (every other day follows the weekend rule).
3. ``chinese_calendar`` (PyPI ``chinesecalendar``; 1.11 covers 2004–2026). ``ORCH_CALENDAR_PACKAGE_UNTIL`` can hide
   its later years (tests use it so a newer package cannot change what they expect).
4. No official schedule yet (a year after the package's last one): a **provisional** (暂估) table from the statutory
   holidays of 《全国年节及纪念日放假办法》 (2024 revision, in force 2025), computed for any year by the ``holidays``
   package: 元旦 1 day; 春节 4 days (农历除夕 to 正月初三); 清明 1 (the solar term); 劳动节 2 (5-1, 5-2); 端午 1 (五月初五);
   中秋 1 (八月十五); 国庆 3 (10-1..10-3); a statutory day on a Saturday or Sunday gives the next free weekday off
   (补假, Art. 6 of the same rules). No make-up workdays (调休) are guessed: the notice decides them. On 2025 and 2026
   this gives exactly chinesecalendar's number of working days per year (tests/test_calendar.py checks it). A due date
   counted through such a year is marked provisional and recomputed when the official schedule arrives
   (``orchestrator.documents.deadlines``).

Counting (《民法典》 Art. 201/203, see docs): the start day does not count; make-up workdays count;
a calendar-day or month deadline that lands on a non-working day moves to the next working day.
``chinese_calendar.find_workday`` is deliberately not used: it is off by one when the start is a holiday.
"""

from __future__ import annotations

import calendar as _stdcal
import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from pathlib import Path

import chinese_calendar
import holidays
import yaml
from sqlalchemy import select

from orchestrator.catalog.schema import TimeLimit, TimeLimitKind
from orchestrator.db import session_scope
from orchestrator.models import HolidayYear
from orchestrator.settings import get_settings

log = logging.getLogger(__name__)

# Longest run of consecutive non-working days we accept before assuming a broken table (Spring Festival is ~9).
_MAX_GAP = 40


class CalendarError(Exception):
    """A date the calendar cannot answer for; the message is for the user (Chinese)."""


@dataclass(frozen=True)
class YearTable:
    year: int
    holidays: frozenset[dt.date]
    workdays: frozenset[dt.date]
    source: str


class Source(StrEnum):
    admin = "admin"  # entered in the web app
    file = "file"  # config/holidays/*.yaml
    package = "package"  # chinesecalendar
    provisional = "provisional"  # statutory holidays only, no make-up days


SOURCE_LABELS = {Source.admin: "管理员录入", Source.file: "节假日文件 config/holidays",
                 Source.package: "chinesecalendar 包数据", Source.provisional: "暂估（仅法定节假日，未计调休）"}
# Years before the package's first one are in the past for any document this system registers: no estimate there.
FIRST_YEAR = 2004
LAST_YEAR = 2099  # the lunar computations are reliable to here


def _parse_dates(raw, year: int, key: str, path: Path) -> frozenset[dt.date]:
    out = set()
    for item in raw or []:
        try:
            d = item if isinstance(item, dt.date) else dt.date.fromisoformat(str(item))
        except ValueError:
            raise CalendarError(f"节假日文件 {path} 的 {key} 中“{item}”不是 YYYY-MM-DD 格式的日期") from None
        if d.year != year:
            raise CalendarError(f"节假日文件 {path} 是 {year} 年的，但 {key} 中有 {d.isoformat()}")
        out.add(d)
    return frozenset(out)


@lru_cache(maxsize=8)
def _load_overrides(directory: Path, _signature: tuple = ()) -> dict[int, YearTable]:
    tables: dict[int, YearTable] = {}
    if not directory.is_dir():
        return tables
    for path in sorted(directory.glob("*.yaml")):
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise CalendarError(f"节假日文件 {path} 不是有效的 YAML：{exc}") from None
        except ValueError as exc:  # PyYAML builds dates itself and fails on e.g. 2027-13-01
            raise CalendarError(f"节假日文件 {path} 中有无效日期（应为 YYYY-MM-DD）：{exc}") from None
        if not isinstance(raw, dict) or not isinstance(raw.get("year"), int):
            raise CalendarError(f"节假日文件 {path} 缺少 year（年份，整数）")
        year = raw["year"]
        if year in tables:
            raise CalendarError(f"{year} 年有两个节假日文件：{tables[year].source} 和 {path}")
        holidays = _parse_dates(raw.get("holidays"), year, "holidays", path)
        workdays = _parse_dates(raw.get("workdays"), year, "workdays", path)
        if both := holidays & workdays:
            raise CalendarError(f"节假日文件 {path} 中 {min(both).isoformat()} 既是假日又是调休上班日")
        tables[year] = YearTable(year, holidays, workdays, str(path))
    return tables


@lru_cache(maxsize=256)
def _package_covers(year: int) -> bool:
    try:
        chinese_calendar.is_workday(dt.date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


@lru_cache(maxsize=256)
def statutory_holidays(year: int) -> dict[dt.date, str]:
    """The statutory days off of ``year`` with their in-lieu days (补假), by the national rules; no 调休 pairs."""
    cn = holidays.China(years=year, language="zh_CN")
    # For years it knows the notice of, the package adds the days moved by 调休 ("休息日（由 … 调休）"): not statutory.
    return {d: name for d, name in sorted(cn.items()) if d.year == year and not name.startswith("休息日")}


def _file_signature(directory: Path) -> tuple:
    if not directory.is_dir():
        return ()
    out = []
    for p in sorted(directory.glob("*.yaml")):
        try:
            st = p.stat()
        except OSError:
            continue
        out.append((p.name, st.st_mtime_ns, st.st_size))
    return tuple(out)


def _load_db_tables() -> dict[int, YearTable]:
    """Admin-entered tables from the database; none when the database (or the table) is not there yet."""
    settings = get_settings()
    if not settings.database_url and not (settings.var_dir / "orchestrator.db").exists():
        return {}  # e.g. `orchestrator due` on a fresh checkout: do not create an empty database file
    try:
        with session_scope() as s:
            return {r.year: YearTable(r.year, frozenset(dt.date.fromisoformat(x) for x in r.holidays or []),
                                      frozenset(dt.date.fromisoformat(x) for x in r.workdays or []),
                                      f"管理员录入（{r.source or '未注明来源'}）")
                    for r in s.scalars(select(HolidayYear))}
    except Exception as exc:  # the CLI without a database, or before migrations ran: files and package still work
        log.debug("holiday tables from the database unavailable: %s", exc)
        return {}


class WorkingCalendar:
    """Working days from the sources above. Tables are re-read when older than ``ttl`` seconds (or on ``refresh``)."""

    def __init__(self, holidays_dir: Path | None = None, *, db_tables: Callable[[], dict[int, YearTable]] | None = None,
                 package_until: int | None = None, ttl: float = 10.0):
        if holidays_dir is None or package_until is None:
            settings = get_settings()
            if holidays_dir is None:
                holidays_dir = Path(settings.holidays_dir) if settings.holidays_dir else settings.config_dir / "holidays"
            package_until = settings.calendar_package_until if package_until is None else package_until
        self.holidays_dir = Path(holidays_dir).resolve()
        self.package_until = package_until or None
        self._db_tables = db_tables or dict
        self.ttl = ttl
        self._lock = threading.Lock()
        self._loaded_at = -1e18
        self._admin: dict[int, YearTable] = {}
        self._files: dict[int, YearTable] = {}
        self._off: dict[int, frozenset[dt.date]] = {}  # non-working days per year, for the current tables
        self.version = 0  # changes whenever a table's content changes (memoised due dates key on it)

    def refresh(self) -> None:
        """Re-read the admin tables and the override files now."""
        admin = self._db_tables()
        try:
            files = _load_overrides(self.holidays_dir, _file_signature(self.holidays_dir))
        except CalendarError as exc:
            raise CalendarError(f"{exc}。请运维人员修正或移除该文件（也可由管理员在“节假日安排”页面录入该年安排）") from None
        with self._lock:
            if admin != self._admin or files != self._files:
                self._admin, self._files = admin, files
                self._off = {}
                self.version += 1
            self._loaded_at = time.monotonic()

    def _fresh(self) -> None:
        if time.monotonic() - self._loaded_at > self.ttl:
            self.refresh()

    @property
    def overrides(self) -> dict[int, YearTable]:
        """The official tables that override the package: admin-entered first, then files."""
        self._fresh()
        return {**self._files, **self._admin}

    def package_covers(self, year: int) -> bool:
        if self.package_until and year > self.package_until:
            return False
        return _package_covers(year)

    def year_source(self, year: int) -> Source:
        self._fresh()
        if year in self._admin:
            return Source.admin
        if year in self._files:
            return Source.file
        if self.package_covers(year):
            return Source.package
        if year < FIRST_YEAR or year > LAST_YEAR:
            raise CalendarError(
                f"无法计算 {year} 年的工作日：系统只能计算 {FIRST_YEAR}—{LAST_YEAR} 年的日期，请核对所填日期是否正确"
            )
        return Source.provisional

    def is_provisional(self, year: int) -> bool:
        return self.year_source(year) == Source.provisional

    def is_working_day(self, d: dt.date) -> bool:
        self._fresh()
        cache = self._off  # replaced (not cleared) on refresh: a count in flight never mixes two versions' days
        off = cache.get(d.year)
        if off is None:
            first = dt.date(d.year, 1, 1)
            days = [first + dt.timedelta(days=k) for k in range(366) if (first + dt.timedelta(days=k)).year == d.year]
            off = frozenset(x for x in days if not self._is_working_day(x))
            cache[d.year] = off
        return d not in off

    def _is_working_day(self, d: dt.date) -> bool:
        source = self.year_source(d.year)
        table = self._admin.get(d.year) or self._files.get(d.year)  # (a refresh in another thread may swap them)
        if source in (Source.admin, Source.file) and table is not None:
            if d in table.workdays:
                return True
            if d in table.holidays:
                return False
            if not self.package_covers(d.year):  # the table is this year's whole schedule
                return d.weekday() < 5
            source = Source.package
        if source == Source.package:
            return bool(chinese_calendar.is_workday(d))
        return d.weekday() < 5 and d not in statutory_holidays(d.year)

    def provisional_years(self, a: dt.date, b: dt.date) -> list[int]:
        """Years between ``a`` and ``b`` (inclusive) that are counted on the provisional table."""
        return [y for y in range(min(a, b).year, max(a, b).year + 1) if self.is_provisional(y)]

    def next_working_day(self, d: dt.date, include_self: bool = True) -> dt.date:
        """``d`` itself when it is a working day (and include_self), else the first working day after it."""
        cur = d if include_self else d + dt.timedelta(days=1)
        for _ in range(_MAX_GAP):
            if self.is_working_day(cur):
                return cur
            cur += dt.timedelta(days=1)
        raise CalendarError(f"{d.isoformat()} 之后连续 {_MAX_GAP} 天都不是工作日，节假日表可能有误，请管理员核对节假日安排")

    def add_working_days(self, start: dt.date, n: int) -> dt.date:
        """The n-th working day after ``start`` (start itself never counts); n=0 returns start."""
        if n < 0:
            raise ValueError("n must be >= 0")
        cur = start
        for _ in range(n):
            cur = self.next_working_day(cur, include_self=False)
        return cur

    def working_days_between(self, a: dt.date, b: dt.date) -> int:
        """Working days in (a, b]: how many working days after ``a`` have passed on ``b`` (negative if b < a)."""
        if b < a:
            return -self.working_days_between(b, a)
        return sum(1 for k in range(1, (b - a).days + 1) if self.is_working_day(a + dt.timedelta(days=k)))


@dataclass(frozen=True)
class DueDate:
    date: dt.date | None
    explanation: str  # how it was counted, in Chinese, for the person who has to meet it
    needs_event: bool  # the start must be an event date (approval, review, related document), not the formation date
    provisional: bool = False  # counted through a year without an official holiday schedule (暂估)


_EVENTS = {
    "approval": "批复（批准）",
    "comment_period_end": "公告期（征求意见期）结束",
    "review": "审核通过",
    "related_document": "相关政策文件发布",
    "formed": "信息形成或变更",
}
_WEEKDAYS = "一二三四五六日"


def _fmt(d: dt.date) -> str:
    return f"{d.isoformat()}（星期{_WEEKDAYS[d.weekday()]}）"


def add_months(d: dt.date, n: int) -> dt.date:
    """Same day n months later; the month's last day when it has no such day (《民法典》 Art. 202)."""
    m = d.month - 1 + n
    year, month = d.year + m // 12, m % 12 + 1
    return dt.date(year, month, min(d.day, _stdcal.monthrange(year, month)[1]))


def _shifted(cal: WorkingCalendar, raw: dt.date, what: str) -> tuple[dt.date, str]:
    due = cal.next_working_day(raw)
    if due == raw:
        return due, f"{what}为 {_fmt(raw)}，是工作日。"
    return due, f"{what}为 {_fmt(raw)}，不是工作日，顺延至下一个工作日 {_fmt(due)}。"


def provisional_note(years: list[int]) -> str:
    ys = "、".join(str(y) for y in years)
    return (f"（暂估：{ys} 年的节假日安排尚未公布，按法定节假日计算，未计调休上班日；"
            f"公布后系统会自动重新计算，届时截止日期可能变动。）")


def due_date(rule: TimeLimit, start: dt.date, cal: WorkingCalendar | None = None) -> DueDate:
    """When a document under ``rule`` must be public, counting from ``start``.

    ``start`` is the formation/change date (生成日期) for rules counted from ``formed``, and the event date
    for ``after_event`` / ``with_related`` rules (``needs_event`` is then True). ``provisional`` is set when the
    count ran through a year that has no official schedule yet.
    """
    cal = cal or default_calendar()
    cal.year_source(start.year)  # a start outside the computable years is refused here (in Chinese), not by date overflow
    due = _due_date(rule, start, cal)
    if due.date is None:
        return due
    years = cal.provisional_years(start, due.date)
    if not years:
        return due
    return DueDate(due.date, due.explanation + provisional_note(years), due.needs_event, True)


def _due_date(rule: TimeLimit, start: dt.date, cal: WorkingCalendar) -> DueDate:
    kind = rule.kind
    origin = _EVENTS.get(rule.from_ or "formed", rule.from_ or "起算事件")
    needs_event = kind in (TimeLimitKind.after_event, TimeLimitKind.with_related)
    head = f"按“{rule.text}”：" if rule.text else ""
    begin = f"{origin}之日 {_fmt(start)} 不计入，从次日起算"

    if kind == TimeLimitKind.working_days and rule.days is not None:
        due = cal.add_working_days(start, rule.days)
        return DueDate(due, f"{head}{begin}第 {rule.days} 个工作日（跳过周末和法定节假日，调休上班日计入）为 {_fmt(due)}。", False)

    if kind == TimeLimitKind.calendar_days and rule.days is not None:
        due, note = _shifted(cal, start + dt.timedelta(days=rule.days), f"{begin}第 {rule.days} 个自然日")
        return DueDate(due, head + note, False)

    if kind == TimeLimitKind.months and rule.months is not None:
        due, note = _shifted(cal, add_months(start, rule.months), f"{origin}之日 {_fmt(start)} 起满 {rule.months} 个月的对应日")
        return DueDate(due, head + note, False)

    if kind == TimeLimitKind.immediate:
        # 即时公开: "the same or the next working day"; the deadline is the later of the two.
        due = cal.add_working_days(start, 1)
        return DueDate(due, f"{head}即时公开，最迟为{origin}之日 {_fmt(start)} 后的下一个工作日 {_fmt(due)}（当日公开更好）。", False)

    if kind == TimeLimitKind.with_related:
        if rule.grace_days:
            due = cal.add_working_days(start, rule.grace_days)
            text = f"{head}与相关文件同步发布，相关文件发布之日为 {_fmt(start)}，最迟不超过其后第 {rule.grace_days} 个工作日 {_fmt(due)}。"
            return DueDate(due, text, True)
        return DueDate(start, f"{head}与相关文件同步发布：应与相关文件同日，即 {_fmt(start)}。", True)

    if kind == TimeLimitKind.after_event:
        if rule.days is not None and rule.counting == "working_days":
            due = cal.add_working_days(start, rule.days)
            return DueDate(due, f"{head}{begin}第 {rule.days} 个工作日为 {_fmt(due)}。", True)
        if rule.days is not None:  # "批复后20日内": no 工作 → calendar days
            due, note = _shifted(cal, start + dt.timedelta(days=rule.days), f"{begin}第 {rule.days} 个自然日")
            return DueDate(due, head + note, True)
        if rule.months is not None:
            due, note = _shifted(cal, add_months(start, rule.months), f"{origin}之日 {_fmt(start)} 起满 {rule.months} 个月的对应日")
            return DueDate(due, head + note, True)
        # "…审核后公开" names the event but no period: treated as 即时公开 after the event.
        due = cal.add_working_days(start, 1)
        return DueDate(due, f"{head}{origin}后公开，未规定天数，按即时公开计：最迟为 {_fmt(start)} 后的下一个工作日 {_fmt(due)}。", True)

    return DueDate(None, f"公开时限“{rule.text or '（空）'}”没有可计算的规则，无法自动计算截止日期，请人工确定。", needs_event)


def default_calendar() -> WorkingCalendar:
    """The process's calendar (admin tables, files, package, provisional), rebuilt when its settings change."""
    s = get_settings()
    return _default_calendar(s.holidays_dir or str(s.config_dir / "holidays"), s.calendar_package_until,
                             s.sqlalchemy_url)


@lru_cache(maxsize=4)
def _default_calendar(holidays_dir: str, package_until: int, _database: str) -> WorkingCalendar:
    return WorkingCalendar(Path(holidays_dir), db_tables=_load_db_tables, package_until=package_until)


def missing_schedule_years(today: dt.date, cal: WorkingCalendar | None = None) -> list[int]:
    """Years whose official schedule is still missing and matters now: this year, and from 1 November next year."""
    cal = cal or default_calendar()
    years = [today.year] + ([today.year + 1] if today.month >= 11 else [])
    return [y for y in years if FIRST_YEAR <= y <= LAST_YEAR and cal.is_provisional(y)]


def is_working_day(d: dt.date) -> bool:
    return default_calendar().is_working_day(d)


def add_working_days(start: dt.date, n: int) -> dt.date:
    return default_calendar().add_working_days(start, n)


def working_days_between(a: dt.date, b: dt.date) -> int:
    return default_calendar().working_days_between(a, b)


def next_working_day(d: dt.date, include_self: bool = True) -> dt.date:
    return default_calendar().next_working_day(d, include_self)
