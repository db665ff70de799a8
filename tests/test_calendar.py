"""Working-day counting around the 2026 Spring Festival and National Day, overrides, and due dates."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from orchestrator.calendar import (
    CalendarError,
    Source,
    WorkingCalendar,
    add_months,
    due_date,
    missing_schedule_years,
    statutory_holidays,
)
from orchestrator.catalog.schema import TimeLimit

D = dt.date
ROOT = Path(__file__).resolve().parent.parent
# The package's data is used up to 2026 only, whatever version is installed: 2027 stays "no official table".
PACKAGE_UNTIL = 2026


@pytest.fixture
def cal(tmp_path):
    return WorkingCalendar(tmp_path / "holidays", package_until=PACKAGE_UNTIL)  # no overrides: package data alone


def rule(kind: str, **kw) -> TimeLimit:
    return TimeLimit.model_validate({"text": kw.pop("text", kind), "kind": kind, **kw})


@pytest.mark.parametrize("d", ["2026-01-04", "2026-02-14", "2026-02-28", "2026-05-09", "2026-09-20", "2026-10-10"])
def test_2026_make_up_workdays_are_working_days(cal, d):
    day = D.fromisoformat(d)
    assert day.weekday() >= 5 and cal.is_working_day(day)


@pytest.mark.parametrize("d", ["2026-02-16", "2026-02-23", "2026-10-01", "2026-10-07", "2026-09-25", "2026-01-02"])
def test_2026_holidays_are_not_working_days(cal, d):
    assert not cal.is_working_day(D.fromisoformat(d))


def test_spring_festival_counting(cal):
    # Friday 02-13 → Saturday 02-14 is a make-up workday, then 02-15..02-23 are off.
    assert cal.add_working_days(D(2026, 2, 13), 1) == D(2026, 2, 14)
    assert cal.add_working_days(D(2026, 2, 13), 2) == D(2026, 2, 24)
    assert cal.add_working_days(D(2026, 2, 13), 20) == D(2026, 3, 19)
    # Starting on a holiday: the start day never counts, the first working day after it is day 1
    # (chinese_calendar.find_workday would return 02-25 here: off by one).
    assert cal.add_working_days(D(2026, 2, 16), 1) == D(2026, 2, 24)
    assert cal.working_days_between(D(2026, 2, 13), D(2026, 2, 24)) == 2
    assert cal.working_days_between(D(2026, 2, 24), D(2026, 2, 13)) == -2


def test_national_day_counting(cal):
    assert cal.add_working_days(D(2026, 9, 30), 1) == D(2026, 10, 8)
    assert cal.add_working_days(D(2026, 9, 30), 3) == D(2026, 10, 10)  # Saturday make-up day counts
    assert cal.add_working_days(D(2026, 9, 19), 1) == D(2026, 9, 20)  # Sunday make-up day counts
    assert cal.add_working_days(D(2026, 9, 25), 20) == D(2026, 10, 29)
    assert cal.working_days_between(D(2026, 9, 30), D(2026, 10, 10)) == 3
    assert cal.add_working_days(D(2026, 10, 1), 0) == D(2026, 10, 1)


def test_due_dates_for_each_rule_kind(cal):
    assert due_date(rule("working_days", days=20, **{"from": "formed"}), D(2026, 2, 13), cal).date == D(2026, 3, 19)
    cd = due_date(rule("calendar_days", days=15), D(2026, 9, 16), cal)  # 10-01 → moved to 10-08
    assert cd.date == D(2026, 10, 8) and "顺延" in cd.explanation and not cd.needs_event
    assert due_date(rule("calendar_days", days=3), D(2026, 3, 2), cal).date == D(2026, 3, 5)
    # 01-31 + 1 month has no 02-31: month end 02-28, a make-up Saturday, so a working day and no move.
    assert due_date(rule("months", months=1), D(2026, 1, 31), cal).date == D(2026, 2, 28)
    assert due_date(rule("months", months=1), D(2026, 3, 7), cal).date == D(2026, 4, 7)
    assert due_date(rule("months", months=1), D(2026, 3, 4), cal).date == D(2026, 4, 7)  # 04-04..06 Qingming
    imm = due_date(rule("immediate"), D(2026, 9, 30), cal)
    assert imm.date == D(2026, 10, 8) and "即时" in imm.explanation
    rel = due_date(rule("with_related", **{"from": "related_document"}), D(2026, 10, 3), cal)
    assert rel.date == D(2026, 10, 3) and rel.needs_event
    grace = due_date(rule("with_related", grace_days=5, **{"from": "related_document"}), D(2026, 9, 30), cal)
    assert grace.date == D(2026, 10, 13)
    ev = due_date(rule("after_event", days=20, counting="calendar_days", **{"from": "approval"}), D(2026, 9, 11), cal)
    assert ev.date == D(2026, 10, 8) and ev.needs_event and "批复" in ev.explanation
    ev = due_date(rule("after_event", months=1, **{"from": "comment_period_end"}), D(2026, 1, 24), cal)
    assert ev.date == D(2026, 2, 24)  # 02-24 is the first working day after the festival
    ev = due_date(rule("after_event", **{"from": "review"}), D(2026, 2, 13), cal)
    assert ev.date == D(2026, 2, 14) and ev.needs_event
    unknown = due_date(rule("unknown", text="视情况"), D(2026, 2, 13), cal)
    assert unknown.date is None and "视情况" in unknown.explanation


def test_month_arithmetic():
    assert add_months(D(2026, 1, 31), 1) == D(2026, 2, 28)
    assert add_months(D(2024, 1, 31), 1) == D(2024, 2, 29)
    assert add_months(D(2026, 11, 30), 3) == D(2027, 2, 28)


def test_year_without_table_is_provisional_and_very_old_years_are_refused(cal):
    assert cal.year_source(2026) == Source.package and cal.year_source(2027) == Source.provisional
    assert cal.is_working_day(D(2027, 1, 4)) and not cal.is_working_day(D(2027, 1, 1))
    with pytest.raises(CalendarError, match="2004—2099"):
        cal.is_working_day(D(2003, 6, 2))
    for start in (D(9999, 12, 31), D(2099, 12, 31)):  # no OverflowError from date arithmetic: a Chinese message
        with pytest.raises(CalendarError, match="请核对所填日期"):
            due_date(rule("months", months=1), start, cal)


def test_provisional_statutory_holidays_of_2027():
    days = statutory_holidays(2027)
    # 春节 2027: 除夕 is 02-05 (Fri), 初一..初三 02-06..02-08; 初一/初二 fall on the weekend → 02-09, 02-10 in lieu.
    for d in ["2027-01-01", "2027-02-05", "2027-02-06", "2027-02-07", "2027-02-08", "2027-02-09", "2027-02-10",
              "2027-04-05", "2027-05-01", "2027-05-02", "2027-06-09", "2027-09-15", "2027-10-01", "2027-10-02",
              "2027-10-03"]:
        assert D.fromisoformat(d) in days, d
    names = set(days.values())
    assert {"元旦", "农历除夕", "春节", "清明节", "劳动节", "端午节", "中秋节", "国庆节"} <= names
    assert not any(n.startswith("休息日") for n in names)  # no 调休 guessed


@pytest.mark.parametrize("year", [2025, 2026])
def test_provisional_rules_reproduce_the_official_years(tmp_path, year):
    """The statutory days (2025 rules) are all official days off, and the year has the official number of working days:
    the provisional table only misplaces days within a holiday period (no 调休), it does not lose or gain any."""
    official = WorkingCalendar(tmp_path, package_until=PACKAGE_UNTIL)
    days = [D(year, 1, 1) + dt.timedelta(days=k) for k in range(366)]
    days = [d for d in days if d.year == year]
    statutory = statutory_holidays(year)
    assert all(not official.is_working_day(d) for d in statutory)
    provisional = sum(1 for d in days if d.weekday() < 5 and d not in statutory)
    assert provisional == sum(1 for d in days if official.is_working_day(d)) == 248


def test_provisional_due_date_in_2027(cal):
    r = rule("working_days", days=20, **{"from": "formed"})
    # Hand count from Mon 2027-01-25: 01-26..29 (4), 02-01..04 (8); 02-05 除夕 off, 02-06/07 weekend (初一, 初二),
    # 02-08 初三 off, 02-09/10 off in lieu of 初一/初二; 02-11, 12 (10), 02-15..19 (15), 02-22..26 (20) → Fri 02-26.
    due = due_date(r, D(2027, 1, 25), cal)
    assert due.date == D(2027, 2, 26) and due.provisional and "暂估" in due.explanation
    # Across the new year: 2026-12-16..18 (3), 21..25 (8), 28..31 (12), 2027-01-01 元旦 off, 01-04..08 (17),
    # 01-11..13 (20) → Wed 2027-01-13, provisional because 2027 was counted.
    due = due_date(r, D(2026, 12, 15), cal)
    assert due.date == D(2027, 1, 13) and due.provisional
    # Entirely inside 2026: official.
    due = due_date(r, D(2026, 11, 2), cal)
    assert due.date == D(2026, 11, 30) and not due.provisional and "暂估" not in due.explanation


def test_across_the_new_year_with_a_2027_table(tmp_path):
    d = tmp_path / "holidays"
    d.mkdir()
    cal = WorkingCalendar(d, package_until=PACKAGE_UNTIL)
    r = rule("working_days", days=20, **{"from": "formed"})
    assert due_date(r, D(2026, 12, 15), cal).date == D(2027, 1, 13)
    # Test data only (not a real notice): 元旦 plus 01-04/01-05 off, Saturday 01-09 a make-up workday.
    (d / "2027.yaml").write_text("year: 2027\nholidays: [2027-01-01, 2027-01-04, 2027-01-05]\nworkdays: [2027-01-09]\n",
                                 encoding="utf-8")
    cal.refresh()
    assert cal.year_source(2027) == Source.file
    # 2026-12-16..31 (12), 01-01/04/05 off, 01-06..08 (15), Sat 01-09 (16), 01-11..14 (20) → Thu 2027-01-14.
    due = due_date(r, D(2026, 12, 15), cal)
    assert due.date == D(2027, 1, 14) and not due.provisional
    # The file is the whole 2027 table: statutory days it does not list are working days (no estimate mixed in).
    assert cal.is_working_day(D(2027, 2, 8))


def test_missing_schedule_years(cal):
    assert missing_schedule_years(D(2026, 10, 31), cal) == []
    assert missing_schedule_years(D(2026, 11, 1), cal) == [2027]
    assert missing_schedule_years(D(2027, 3, 1), cal) == [2027]
    assert missing_schedule_years(D(2027, 11, 2), cal) == [2027, 2028]


def test_override_file_wins_and_covers_a_new_year(tmp_path):
    d = tmp_path / "holidays"
    d.mkdir()
    # Test data only (a made-up local arrangement), not a real holiday notice.
    (d / "2027.yaml").write_text("year: 2027\nholidays: [2027-01-01]\nworkdays: [2027-01-09]\n", encoding="utf-8")
    (d / "2026.yaml").write_text("year: 2026\nholidays: [2026-03-02]\nworkdays: [2026-03-07]\n", encoding="utf-8")
    cal = WorkingCalendar(d, package_until=PACKAGE_UNTIL)
    assert not cal.is_working_day(D(2027, 1, 1)) and cal.is_working_day(D(2027, 1, 9))
    assert cal.is_working_day(D(2027, 1, 4)) and not cal.is_working_day(D(2027, 1, 10))
    assert not cal.is_working_day(D(2026, 3, 2)) and cal.is_working_day(D(2026, 3, 7))
    assert cal.is_working_day(D(2026, 3, 3))  # other days still come from the package
    assert not cal.is_working_day(D(2026, 10, 1))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("holidays: [2027-01-01]\n", "缺少 year"),
        ("year: 2027\nholidays: [2027-13-01]\n", "无效日期"),
        ("year: 2027\nholidays: ['1 月 1 日']\n", "不是 YYYY-MM-DD"),
        ("year: 2027\nholidays: [2026-01-01]\n", "是 2027 年的"),
        ("year: 2027\nholidays: [2027-01-01]\nworkdays: [2027-01-01]\n", "既是假日又是调休上班日"),
        ("year: [\n", "不是有效的 YAML"),
    ],
)
def test_bad_override_files(tmp_path, text, message):
    (tmp_path / "x.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(CalendarError, match=message):
        WorkingCalendar(tmp_path).is_working_day(D(2027, 1, 4))


def test_shipped_holiday_dir_has_only_documentation():
    shipped = ROOT / "config" / "holidays"
    assert (shipped / "README.md").exists()
    assert list(shipped.glob("*.yaml")) == []  # no invented years; the example is *.yaml.sample
