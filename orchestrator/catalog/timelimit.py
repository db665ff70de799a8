"""Free-text time limits (公开时限) → typed rules.

The original text is always kept; a rule is only set when the wording says it unambiguously.
Anything else becomes ``kind: unknown`` with a warning, so a person decides instead of the importer.
"""

from __future__ import annotations

import re

from orchestrator.catalog.schema import TimeLimit, TimeLimitKind
from orchestrator.catalog.textnorm import cn_number, compact

_CN_NUM = re.compile(r"[零〇一二两三四五六七八九十]+(?=个?(?:工作日|自然日|日|天|月|周))")
_KEEP = re.compile(r"[,，;；。、]?(?:并)?(?:保持|长期保持)?(?:长期|永久)(?:公开|保留|公示)(?:不少于\d+年)?")
# The second half of a two-part limit: how long the item stays posted ("公示期不少于7个工作日", "公示5天").
_POSTING = re.compile(
    r"[,，;；。、]?(?:并)?(?:在[^,，;；。]{0,12})?(?:公示|张贴|公布|公开|公告)(?:期|时间|期限)?(?:应)?(?:不少于|不得少于|不低于|为|)"
    r"(\d+)个?(工作日|自然日|日|天)(?![内后之起])(?:以上)?"
)
# "分配结果确定后20个工作日内": a count from an event the fixed list does not know; the event words are kept.
_ANY_EVENT = re.compile(r"(?:自|在|于)?(?P<ev>[\u4e00-\u9fff]{2,14}?)(?:之日起|之日后|后|起)(?=\d+个?(?:工作日|自然日|日|天|个月))")
_FORMED_WORDS = re.compile(r"形成|变更|产生|制作|获取|制定|生成|更新|发生|信息|印发|签发|出台")
# A count before an event ("采购活动开始前30日") is no publication deadline the calendar can compute.
_BEFORE = re.compile(r"前\d+个?(?:工作日|自然日|日|天)|\d+个?(?:工作日|自然日|日|天)(?:以)?前")
_POSTING_ALONE = re.compile(r"^(?:公示|张贴|公告|公布)(?:期|时间|期限)?(?:不少于|不得少于|不低于|为)?\d+个?(?:工作日|自然日|日|天)(?:以上)?$")
_CONDITIONAL = re.compile(r"其他|其余|其中|属于|对于|涉及|分别")
_RELATED = re.compile(r"同步(?:发布|公开)|同时(?:发布|公开)")
_EVENTS = (
    ("approval", re.compile(r"(?:批复|批准|审批|核准)(?:通过)?(?:后|之日起)")),
    ("comment_period_end", re.compile(r"(?:公告期|公示期|征求意见期|意见征集期|征集期)(?:满|结束|届满)?(?:后|之日起)")),
    ("review", re.compile(r"(?:审核|审查|审定|审议)(?:通过)?(?:后|之日起)")),
)
_IMMEDIATE = re.compile(r"即时|实时|及时|立即|随时")
_WORKING = re.compile(r"(\d+)个?工作日")
_CALENDAR = re.compile(r"(?<![月\d])(\d+)个?(?:自然)?(?:日|天)")
_MONTHS = re.compile(r"(\d+)个月|满(\d+)月")
# Fixed dates and periodic schedules ("每年1月31日前", "每季度") are not a count from an event: left to a person.
_SCHEDULE = re.compile(r"\d+月\d+日|每年|每半年|每两年|每季|每月|每周|每旬|季度|半年|年度终了|年底|年初|按年|按季|按月|定期")

SAME_AS_ABOVE = ("同上", "同上。")


def _digits(text: str) -> str:
    return _CN_NUM.sub(lambda m: str(cn_number(m.group(0)) or m.group(0)), text)


def _month_count(m: re.Match[str]) -> int:
    return int(m.group(1) or m.group(2))


def parse_time_limit(text: str) -> tuple[TimeLimit, bool, list[str]]:
    """Return (rule, keep_public, warnings) for one 公开时限 cell. "同上" is resolved by the caller."""
    original = (text or "").strip()
    t = _digits(compact(original))
    keep_public = bool(_KEEP.search(t))
    rest = _KEEP.sub("", t).strip("，,。;； ")
    warnings: list[str] = []

    posting: re.Match[str] | None = None
    head = rest
    for m in _POSTING.finditer(rest):
        if m.start() > 0:  # a posting period only follows a publication deadline
            posting = m
            head = (rest[: m.start()] + rest[m.end() :]).strip("，,。;； ")
            break

    def rule(kind: TimeLimitKind, **kw) -> TimeLimit:  # noqa: F811 - adds the posting period to every rule
        if posting is not None and kind != TimeLimitKind.unknown:
            kw["posting_days"] = int(posting.group(1))
            kw["posting_counting"] = "working_days" if posting.group(2) == "工作日" else "calendar_days"
        return TimeLimit(text=original, kind=kind, **kw)

    rest = head
    if not rest:
        if keep_public:
            warnings.append(f"公开时限“{original}”只写了长期公开，没有写多久内公开，请人工确认")
        elif not original:
            warnings.append("公开时限为空，请人工确认")
        return rule(TimeLimitKind.unknown), keep_public, warnings

    if _BEFORE.search(rest):
        warnings.append(f"公开时限“{original}”是在某事件之前若干天，不能从信息形成日起算，已保留原文，请人工确认")
        return rule(TimeLimitKind.unknown), keep_public, warnings

    if _POSTING_ALONE.match(rest):
        warnings.append(f"公开时限“{original}”只写了公示多久，没有写多久内公开，已保留原文，请人工确认")
        return rule(TimeLimitKind.unknown), keep_public, warnings

    if _SCHEDULE.search(rest):
        warnings.append(f"公开时限“{original}”是固定日期或周期性安排，不能按天数计算，已保留原文，请人工确认")
        return rule(TimeLimitKind.unknown), keep_public, warnings

    if _RELATED.search(rest):
        grace = _WORKING.search(rest)
        return (
            rule(TimeLimitKind.with_related, from_="related_document", grace_days=int(grace.group(1)) if grace else None),
            keep_public,
            warnings,
        )

    for event, pattern in _EVENTS:
        m = pattern.search(rest)
        if not m:
            continue
        after = rest[m.start() :]
        if w := _WORKING.search(after):
            return rule(TimeLimitKind.after_event, from_=event, days=int(w.group(1)), counting="working_days"), keep_public, []
        if mo := _MONTHS.search(after):
            return rule(TimeLimitKind.after_event, from_=event, months=_month_count(mo)), keep_public, []
        if c := _CALENDAR.search(after):
            return rule(TimeLimitKind.after_event, from_=event, days=int(c.group(1)), counting="calendar_days"), keep_public, []
        return rule(TimeLimitKind.after_event, from_=event), keep_public, []

    counts = {m.group(0) for rx in (_WORKING, _MONTHS, _CALENDAR) for m in rx.finditer(rest)}
    if len(counts) >= 2 and _CONDITIONAL.search(rest):
        warnings.append(f"公开时限“{original}”按信息类别规定了不同时限，不能归为一条规则，已保留原文，请人工确认")
        return rule(TimeLimitKind.unknown), keep_public, warnings

    if (ev := _ANY_EVENT.search(rest)) and not _FORMED_WORDS.search(ev.group("ev")):
        event = ev.group("ev")
        after = rest[ev.end() :]
        if w := _WORKING.match(after):
            return rule(TimeLimitKind.after_event, from_=event, days=int(w.group(1)), counting="working_days"), keep_public, []
        if mo := _MONTHS.match(after):
            return rule(TimeLimitKind.after_event, from_=event, months=_month_count(mo)), keep_public, []
        if c := _CALENDAR.match(after):
            return rule(TimeLimitKind.after_event, from_=event, days=int(c.group(1)), counting="calendar_days"), keep_public, []

    # A count wins over 及时/即时 in the same sentence ("…20个工作日内及时公开" is 20 working days).
    if w := _WORKING.search(rest):
        return rule(TimeLimitKind.working_days, from_="formed", days=int(w.group(1))), keep_public, []
    if mo := _MONTHS.search(rest):
        return rule(TimeLimitKind.months, from_="formed", months=_month_count(mo)), keep_public, []
    if c := _CALENDAR.search(rest):
        return rule(TimeLimitKind.calendar_days, from_="formed", days=int(c.group(1))), keep_public, []
    if _IMMEDIATE.search(rest):
        return rule(TimeLimitKind.immediate, from_="formed"), keep_public, []

    warnings.append(f"公开时限“{original}”无法识别为计算规则，已保留原文，请人工确认")
    return rule(TimeLimitKind.unknown), keep_public, warnings
