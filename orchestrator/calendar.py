"""The Chinese working-day calendar, and due dates for catalog time-limit rules.

Sources, consulted in this order for a date in year Y:
1. ``config/holidays/Y.yaml`` (or any ``*.yaml`` there with ``year: Y``): holidays and make-up workdays
   (调休上班) from the State Council's notice. Days it lists win; for a year the package does not cover,
   the file is the whole table (every other day follows the weekend rule).
2. ``chinese_calendar`` (PyPI ``chinesecalendar``; 1.11 covers 2004–2026).
A date in a year neither covers raises :class:`CalendarError` — a guess would silently move deadlines.

Counting (《民法典》 Art. 201/203, see docs): the start day does not count; make-up workdays count;
a calendar-day or month deadline that lands on a non-working day moves to the next working day.
``chinese_calendar.find_workday`` is deliberately not used: it is off by one when the start is a holiday.
"""

from __future__ import annotations

import calendar as _stdcal
import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from orchestrator.catalog.schema import TimeLimit, TimeLimitKind

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
def _load_overrides(directory: Path) -> dict[int, YearTable]:
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


class WorkingCalendar:
    def __init__(self, holidays_dir: Path | None = None):
        if holidays_dir is None:
            from orchestrator.settings import get_settings

            holidays_dir = get_settings().config_dir / "holidays"
        self.holidays_dir = Path(holidays_dir).resolve()

    @property
    def overrides(self) -> dict[int, YearTable]:
        return _load_overrides(self.holidays_dir)

    def is_working_day(self, d: dt.date) -> bool:
        table = self.overrides.get(d.year)
        if table is not None:
            if d in table.workdays:
                return True
            if d in table.holidays:
                return False
        try:
            import chinese_calendar

            return bool(chinese_calendar.is_workday(d))
        except NotImplementedError:
            if table is not None:  # the override file is this year's whole table
                return d.weekday() < 5
            raise CalendarError(
                f"没有 {d.year} 年的节假日安排：chinesecalendar 包只覆盖到其发布时已公布的年份，"
                f"config/holidays/ 中也没有 {d.year}.yaml。请升级 chinesecalendar，或按国务院办公厅公布的放假安排"
                f"添加 config/holidays/{d.year}.yaml（格式见该目录下的 README.md）"
            ) from None

    def next_working_day(self, d: dt.date, include_self: bool = True) -> dt.date:
        """``d`` itself when it is a working day (and include_self), else the first working day after it."""
        cur = d if include_self else d + dt.timedelta(days=1)
        for _ in range(_MAX_GAP):
            if self.is_working_day(cur):
                return cur
            cur += dt.timedelta(days=1)
        raise CalendarError(f"{d.isoformat()} 之后连续 {_MAX_GAP} 天都不是工作日，节假日表可能有误")

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


def due_date(rule: TimeLimit, start: dt.date, cal: WorkingCalendar | None = None) -> DueDate:
    """When a document under ``rule`` must be public, counting from ``start``.

    ``start`` is the formation/change date (生成日期) for rules counted from ``formed``, and the event date
    for ``after_event`` / ``with_related`` rules (``needs_event`` is then True).
    """
    cal = cal or default_calendar()
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


@lru_cache(maxsize=1)
def default_calendar() -> WorkingCalendar:
    return WorkingCalendar()


def is_working_day(d: dt.date) -> bool:
    return default_calendar().is_working_day(d)


def add_working_days(start: dt.date, n: int) -> dt.date:
    return default_calendar().add_working_days(start, n)


def working_days_between(a: dt.date, b: dt.date) -> int:
    return default_calendar().working_days_between(a, b)


def next_working_day(d: dt.date, include_self: bool = True) -> dt.date:
    return default_calendar().next_working_day(d, include_self)
