"""Section 二 of the annual report (国办公开办函〔2021〕30号 template, 主动公开政府信息情况) from the product's records.

Four tables, every cell a number (0, never blank):

- 第二十条第（一）项: 规章 and 行政规范性文件 — 本年制发件数 (documents formed that year), 本年废止件数 (有效性 已废止 or 已失效
  with its date in that year), 现行有效件数 (formed by 31 December and in force on that day: 有效 or 已修订, or repealed
  only later);
- 第二十条第（五）项: 行政许可, 第二十条第（六）项: 行政处罚 and 行政强制 — 本年处理决定数量: the documents formed that year
  in catalog entries tagged as such, unless an admin entered the count by hand for the year (the product does not
  hold every decision);
- 第二十条第（八）项: 行政事业性收费 — 本年收费金额（单位：万元）, entered by hand (0 until then).

What counts as a 规章, a 规范性文件 … is the catalog entry's tag (``report_entry_tags``), else a guess from the entry's
name (shown as such). Only public documents count (status ``active``: published, not withdrawn). Every record-based
cell has a trace: :func:`trace_query` is the very condition the count used, so the list behind a number always adds
up to it.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Date, and_, cast, func, or_, select, text
from sqlalchemy.orm import Session

from orchestrator.calendar import CalendarError, working_days_between
from orchestrator.compliance.models import AnnualFigure, AnnualStatsCache, ReportEntryTag
from orchestrator.models import CatalogEntryRow, Delivery, DeliveryStatus, Document, DocumentStatus, utcnow

KINDS = {"rule": "规章", "normative": "行政规范性文件", "license": "行政许可", "penalty": "行政处罚",
         "coercion": "行政强制"}
NONE_KIND = "none"
KIND_CHOICES = {**KINDS, NONE_KIND: "不计入"}
# A guess from the entry's name when no admin tagged it (first match wins: 规范性文件 before 规章).
KEYWORDS = [("规范性文件", "normative"), ("规章", "rule"), ("行政许可", "license"), ("行政处罚", "penalty"),
            ("行政强制", "coercion")]
REPEALED = ("已废止", "已失效")
IN_FORCE = ("有效", "已修订")
HAND_ITEMS = {"license": "行政许可 本年处理决定数量", "penalty": "行政处罚 本年处理决定数量",
              "coercion": "行政强制 本年处理决定数量", "fee": "行政事业性收费 本年收费金额（万元）"}
MAX_COUNT = 10_000_000
MAX_FEE = Decimal("100000000")  # 万元: a trillion yuan is no fee
YEAR_MIN, YEAR_MAX = 2008, 2100
TZ_NAME = "Asia/Shanghai"


class AnnualError(ValueError):
    """Bad input on the annual report's forms; the message is Chinese and shown as it is."""


def check_year(raw: Any) -> int:
    try:
        year = int(str(raw).strip())
    except (TypeError, ValueError):
        raise AnnualError("年份应为四位数字，例如 2026") from None
    if not YEAR_MIN <= year <= YEAR_MAX:
        raise AnnualError(f"年份超出范围（{YEAR_MIN}—{YEAR_MAX}）")
    return year


# --- entry tags -----------------------------------------------------------------------------------

def guess_kind(path_text: str) -> str:
    for word, kind in KEYWORDS:
        if word in (path_text or ""):
            return kind
    return NONE_KIND


def entry_kinds(session: Session) -> dict[int, tuple[str, bool]]:
    """entry id → (kind, tagged by an admin) for every catalog entry (a guess from its name when untagged)."""
    tags = dict(session.execute(select(ReportEntryTag.entry_id, ReportEntryTag.kind)).all())
    out = {}
    for eid, path_text in session.execute(select(CatalogEntryRow.id, CatalogEntryRow.path_text)):
        out[eid] = (tags[eid], True) if eid in tags else (guess_kind(path_text), False)
    return out


def set_entry_kind(session: Session, entry_id: int, kind: str, user: str) -> None:
    if kind not in KIND_CHOICES and kind != "auto":
        raise AnnualError("类别不正确")
    if session.get(CatalogEntryRow, entry_id) is None:
        raise AnnualError(f"目录事项 {entry_id} 不存在")
    row = session.get(ReportEntryTag, entry_id)
    if kind == "auto":  # back to the guess from the entry's name
        if row is not None:
            session.delete(row)
        return
    if row is None:
        session.add(ReportEntryTag(entry_id=entry_id, kind=kind, updated_by=user, updated_at=utcnow()))
    else:
        row.kind, row.updated_by, row.updated_at = kind, user, utcnow()


# --- hand-entered figures -------------------------------------------------------------------------

def parse_figure(item: str, raw: str) -> Decimal | None:
    """A hand-entered value: "" → None (use the records / 0); else a non-negative integer count, or an amount in 万元
    with at most four decimals. Anything else raises :class:`AnnualError` with the reason in Chinese."""
    name = HAND_ITEMS[item]
    text = (raw or "").strip().replace(",", "").replace("，", "")
    if not text:
        return None
    if len(text) > 30:
        raise AnnualError(f"{name}：数值过长")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise AnnualError(f"{name}：请填写数字（“{text[:20]}”不是数字）") from None
    if not value.is_finite():
        raise AnnualError(f"{name}：请填写数字")
    if value < 0:
        raise AnnualError(f"{name}：不能为负数")
    if item == "fee":
        if value > MAX_FEE:
            raise AnnualError(f"{name}：数值过大（单位为万元，不超过 {MAX_FEE:,}）")
        if value != value.quantize(Decimal("0.0001")):
            raise AnnualError(f"{name}：最多保留四位小数（单位为万元）")
        return value.quantize(Decimal("0.0001"))
    if value != value.to_integral_value():
        raise AnnualError(f"{name}：件数应为整数")
    if value > MAX_COUNT:
        raise AnnualError(f"{name}：数值过大（不超过 {MAX_COUNT:,}）")
    return value


def save_figures(session: Session, year: int, raw: dict[str, str], user: str) -> None:
    """Validate every field first, then write: one bad field changes nothing."""
    parsed = {item: parse_figure(item, raw.get(item, "")) for item in HAND_ITEMS}
    for item, value in parsed.items():
        row = session.get(AnnualFigure, (year, item))
        if value is None:
            if row is not None:
                session.delete(row)
            continue
        if row is None:
            session.add(AnnualFigure(year=year, item=item, value=value, note="", updated_by=user, updated_at=utcnow()))
        else:
            row.value, row.updated_by, row.updated_at = value, user, utcnow()


def hand_figures(session: Session, year: int) -> dict[str, Decimal]:
    return {r.item: r.value for r in session.scalars(select(AnnualFigure).where(AnnualFigure.year == year))}


# --- the tables -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Cell:
    value: int | Decimal
    source: str  # "records" (traceable), "hand" (entered by an admin), "none" (no source: 0)
    trace: str = ""  # the item code for trace_query

    @property
    def text(self) -> str:
        if isinstance(self.value, Decimal):
            s = f"{self.value:.4f}".rstrip("0").rstrip(".")
            return s or "0"
        return str(self.value)


@dataclass
class SectionTwo:
    year: int
    rules: dict[str, dict[str, Cell]]  # rule / normative → made / repealed / valid
    decisions: dict[str, Cell]  # license / penalty / coercion
    fee: Cell
    untagged_guesses: int = 0
    undated_repeals: int = 0  # 已废止/已失效 without a date: cannot be placed in a year (listed on the trace page)
    publication: dict[str, Any] = field(default_factory=dict)


def _year_bounds(year: int) -> tuple[dt.date, dt.date]:
    return dt.date(year, 1, 1), dt.date(year, 12, 31)


def trace_condition(kind_entries: dict[str, list[int]], item: str, year: int) -> Any:
    """The WHERE clause behind one record-based cell (``rule.made``, ``normative.valid``, ``license.decisions`` …)."""
    kind, _, what = item.partition(".")
    if kind not in KINDS or what not in ("made", "repealed", "valid", "decisions", "undated"):
        raise AnnualError("统计项不正确")
    first, last = _year_bounds(year)
    base = and_(Document.entry_id.in_(kind_entries.get(kind) or [-1]), Document.status == DocumentStatus.active)
    if what in ("made", "decisions"):
        return and_(base, Document.formed_on >= first, Document.formed_on <= last)
    if what == "repealed":
        return and_(base, Document.validity.in_(REPEALED), Document.validity_date >= first, Document.validity_date <= last)
    if what == "undated":
        return and_(base, Document.validity.in_(REPEALED), Document.validity_date.is_(None))
    return and_(base, Document.formed_on <= last,
                or_(Document.validity.in_(IN_FORCE),
                    and_(Document.validity.in_(REPEALED), Document.validity_date > last)))


def _kind_entries(session: Session) -> tuple[dict[str, list[int]], int]:
    by_kind: dict[str, list[int]] = defaultdict(list)
    guesses = 0
    for eid, (kind, tagged) in entry_kinds(session).items():
        if kind in KINDS:
            by_kind[kind].append(eid)
            guesses += 0 if tagged else 1
    return by_kind, guesses


def _count(session: Session, where: Any) -> int:
    return session.scalar(select(func.count()).select_from(Document).where(where)) or 0


def cached_publication(session: Session, year: int, *, refresh: bool = False) -> dict[str, Any]:
    """:func:`publication_stats` as last stored for the year (computed now when there is none, or on ``refresh``),
    with ``computed_at`` (ISO) and ``seconds`` added: the page shows when the figures were counted."""
    row = session.get(AnnualStatsCache, year)
    if row is None or refresh:
        t = time.perf_counter()
        data = publication_stats(session, year)
        took = round(time.perf_counter() - t, 3)
        if row is None:
            row = AnnualStatsCache(year=year)
            session.add(row)
        row.data, row.computed_at, row.seconds = data, utcnow(), Decimal(str(took))
        session.flush()
    return {**row.data, "computed_at": row.computed_at.isoformat(), "seconds": float(row.seconds)}


def section_two(session: Session, year: int, *, publication: bool = True) -> SectionTwo:
    kind_entries, guesses = _kind_entries(session)
    hand = hand_figures(session, year)
    rules = {}
    for kind in ("rule", "normative"):
        rules[kind] = {what: Cell(_count(session, trace_condition(kind_entries, f"{kind}.{what}", year)), "records",
                                  f"{kind}.{what}") for what in ("made", "repealed", "valid")}
    decisions = {}
    for kind in ("license", "penalty", "coercion"):
        if kind in hand:
            decisions[kind] = Cell(int(hand[kind]), "hand")
        else:
            item = f"{kind}.decisions"
            decisions[kind] = Cell(_count(session, trace_condition(kind_entries, item, year)), "records", item)
    fee = Cell(hand["fee"], "hand") if "fee" in hand else Cell(Decimal(0), "none")
    undated = sum(_count(session, trace_condition(kind_entries, f"{k}.undated", year)) for k in ("rule", "normative"))
    out = SectionTwo(year, rules, decisions, fee, untagged_guesses=guesses, undated_repeals=undated)
    if publication:
        out.publication = cached_publication(session, year)
    return out


def trace_query(session: Session, year: int, item: str, limit: int = 500) -> tuple[int, list[Any]]:
    """(count, first ``limit`` documents) behind one record-based cell."""
    kind_entries, _ = _kind_entries(session)
    where = trace_condition(kind_entries, item, year)
    rows = list(session.execute(
        select(Document.id, Document.index_no, Document.title, Document.formed_on, Document.validity,
               Document.validity_date, CatalogEntryRow.path_text)
        .join(CatalogEntryRow, CatalogEntryRow.id == Document.entry_id)
        .where(where).order_by(Document.formed_on, Document.id).limit(limit)))
    return _count(session, where), rows


def item_label(item: str) -> str:
    kind, _, what = item.partition(".")
    words = {"made": "本年制发件数", "repealed": "本年废止件数", "valid": "现行有效件数", "decisions": "本年处理决定数量",
             "undated": "已废止或已失效但未填写日期"}
    return f"{KINDS.get(kind, kind)} {words.get(what, what)}"


# --- publication per channel, timeliness ----------------------------------------------------------

def _local_date(session: Session, col: Any) -> Any:
    """A timestamp's Beijing calendar date, in SQL."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.timezone(TZ_NAME, col), Date)
    return func.date(col, "+8 hours")


def _as_date(v: Any) -> dt.date:
    return v if isinstance(v, dt.date) else dt.date.fromisoformat(str(v)[:10])


def _working_days(a: dt.date, b: dt.date) -> int:
    try:
        return working_days_between(a, b)
    except CalendarError:  # a year without any holiday table: calendar days rather than nothing
        return (b - a).days


def _median_max(hist: dict[int, int]) -> tuple[float | None, int | None]:
    if not hist:
        return None, None
    values = sorted(hist.items())
    total = sum(hist.values())
    # The median of a histogram without expanding it.
    def nth(k: int) -> int:
        seen = 0
        for v, n in values:
            seen += n
            if seen > k:
                return v
        return values[-1][0]
    med = nth(total // 2) if total % 2 else (nth(total // 2 - 1) + nth(total // 2)) / 2
    return float(med), values[-1][0]


def publication_stats(session: Session, year: int) -> dict[str, Any]:
    """Publications of the year per channel (publish deliveries done that Beijing year), on time vs late against the
    document's due date (how late in working days: median and max), and the median days from 生成日期 to the first
    public copy. Aggregated in SQL into histograms; the working-day arithmetic runs once per (due, published) pair."""
    first, last = _year_bounds(year)
    if session.get_bind().dialect.name == "postgresql":
        # Two aggregates over every publication of the year (hundreds of thousands of rows at platform scale): enough
        # memory to hash them instead of sorting on disk, and no JIT (its compile time exceeds what it saves here).
        session.execute(text("SET LOCAL work_mem = '64MB'"))
        session.execute(text("SET LOCAL jit = off"))
    pub_day = _local_date(session, Delivery.delivered_at)
    done = and_(Delivery.action == "publish", Delivery.status.in_([DeliveryStatus.delivered, DeliveryStatus.verified]),
                Delivery.delivered_at.is_not(None))
    # The year's bounds as instants (Beijing midnights): a plain range the planner estimates well (it then hashes the
    # groups), where a condition on the converted date made it guess a few rows and sort hundreds of thousands.
    zone = ZoneInfo(TZ_NAME)
    start = dt.datetime(year, 1, 1, tzinfo=zone)
    end = dt.datetime(year + 1, 1, 1, tzinfo=zone)
    in_year = and_(Delivery.delivered_at >= start, Delivery.delivered_at < end)
    per: dict[str, dict[str, Any]] = {}
    late_pairs: dict[str, dict[tuple[dt.date, dt.date], int]] = defaultdict(dict)
    rows = session.execute(
        select(Delivery.channel, Document.due_date, pub_day.label("day"), func.count())
        .join(Document, Document.id == Delivery.document_id)
        .where(done, in_year).group_by(Delivery.channel, Document.due_date, pub_day))
    for channel, due, day, n in rows:
        c = per.setdefault(channel, {"published": 0, "on_time": 0, "late": 0, "no_due": 0})
        c["published"] += n
        if due is None:
            c["no_due"] += n
            continue
        day = _as_date(day)
        if day > due:
            c["late"] += n
            late_pairs[channel][(due, day)] = late_pairs[channel].get((due, day), 0) + n
        else:
            c["on_time"] += n
    memo: dict[tuple[dt.date, dt.date], int] = {}
    overall: dict[int, int] = defaultdict(int)
    for channel, pairs in late_pairs.items():
        hist: dict[int, int] = defaultdict(int)
        for pair, n in pairs.items():
            if pair not in memo:
                memo[pair] = max(1, _working_days(*pair))
            hist[memo[pair]] += n
            overall[memo[pair]] += n
        per[channel]["late_median"], per[channel]["late_max"] = _median_max(hist)
    for c in per.values():
        c.setdefault("late_median", None)
        c.setdefault("late_max", None)
    # Days from 生成日期 to the first public copy, per document first published this year.
    first_pub = (select(Document.formed_on.label("formed"), func.min(pub_day).label("day"))
                 .join(Delivery, Delivery.document_id == Document.id).where(done)
                 .group_by(Document.id, Document.formed_on).subquery())
    lag: dict[int, int] = defaultdict(int)
    for formed, day, n in session.execute(
            select(first_pub.c.formed, first_pub.c.day, func.count())
            .where(first_pub.c.day >= first, first_pub.c.day <= last).group_by(first_pub.c.formed, first_pub.c.day)):
        lag[max(0, (_as_date(day) - _as_date(formed)).days)] += n
    lag_median, lag_max = _median_max(lag)
    late_median, late_max = _median_max(overall)
    totals = {k: sum(c[k] for c in per.values()) for k in ("published", "on_time", "late", "no_due")}
    return {"channels": dict(sorted(per.items(), key=lambda kv: -kv[1]["published"])), "totals": totals,
            "late_median": late_median, "late_max": late_max, "documents": sum(lag.values()),
            "lag_median": lag_median, "lag_max": lag_max}
