"""Find the header of a catalog table and map every data row onto the header's fields.

Headers are found by their names, never by position. Rows as wide as the header are read by
position (a header cell spans every column up to the next header cell, so an office printed one
column too far right still lands in 责任科室). Rows of another width — a column the export
dropped, cells lost at the end, spaces or one-cell-per-line input where empty cells vanish — are
aligned by content: every run of equally wide rows gets the order-preserving cell→field mapping
that best fits what the cells look like (a sequence number, checkboxes, a tick, a time limit…).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from orchestrator.catalog.readers import RawRow, RawTable
from orchestrator.catalog.textnorm import compact

# Field → header labels. Matching is exact (after removing spaces, line breaks and parenthesised notes) or by the
# anchored patterns below: never by prefix, so 事项类别 is not an item column and 依据效力位阶 is not the basis.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "seq": ("序号", "编号", "序", "序列号"),
    "item": ("公开事项", "事项名称", "事项", "公开事项名称", "主动公开事项", "信息名称", "名称", "公开项目", "项目",
             "公开信息名称", "目录名称", "公开事项目录", "业务事项", "具体事项", "工作事项", "主要事项", "事项内容名称"),
    "level1": ("一级事项", "一级", "一级指标", "事项一级"),
    "level2": ("二级事项", "二级", "二级指标", "事项二级"),
    "level3": ("三级事项", "三级", "三级指标", "事项三级"),
    "dir1": ("一级目录", "一级类目", "一级分类", "一级栏目"),
    "dir2": ("二级目录", "二级类目", "二级分类", "二级栏目"),
    "dir3": ("三级目录", "三级类目", "三级分类", "三级栏目"),
    "content": ("公开内容", "内容", "公开内容要素", "要素", "具体内容", "主要内容", "公开的内容", "公开要素", "公开标准",
                "公开内容和标准", "公开内容及要素", "信息内容", "内容标准", "公开内容及标准", "内容要求", "公开内容要求"),
    "basis": ("公开依据", "依据", "政策依据", "法律依据", "法规依据", "公开依据及条款", "政策法规依据", "制度依据", "法律法规依据"),
    "time": ("公开时限", "时限", "公开时间", "公开时效", "时限要求", "公开时限要求", "更新时限", "公开期限"),
    "publisher": ("公开主体", "主体", "发布主体", "公开单位", "信息公开主体", "公开责任主体", "发布机构"),
    "channels": ("公开渠道和载体", "公开渠道", "公开载体", "渠道", "载体", "公开渠道及载体", "公开渠道与载体", "渠道和载体",
                 "公开途径", "公开形式", "公开平台", "公开渠道载体"),
    "audience": ("公开对象", "对象", "公开范围"),
    "audience_all": ("全社会", "社会公众", "全社会公开", "不特定对象"),
    "audience_group": ("特定群体", "特定群众", "特定对象", "特定群体公开", "特定人群"),
    "method": ("公开方式",),
    "method_active": ("主动", "主动公开"),
    "method_request": ("依申请", "依申请公开"),
    "level": ("公开层级", "层级"),
    "offices": ("责任科室", "责任单位", "责任部门", "责任股室", "承办科室", "科室", "责任处室", "责任股", "承办单位", "牵头科室",
                "责任机构", "承办部门", "承办股室", "责任科股室", "责任科(股)室", "责任股(室)"),
}
# Columns the product does not use: recognised so they are kept as extra fields and never taken for another field.
EXTRA_LABELS = ("条款内容", "依据效力位阶", "效力位阶", "事项类别", "对应职责", "过程", "事项类型", "备注", "公开时长", "五公开",
                "决策", "执行", "管理", "服务", "结果", "事项编码", "事项代码", "更新频率", "公开期限要求", "说明", "类别",
                "信息类别", "保存期限", "公开属性", "公开类别", "公开分类", "分类", "类型", "事项分类", "相应领域", "对应领域",
                "所属领域", "领域", "具体职责", "职责", "主要职责", "职责事项", "更新时限要求", "属性")
_EXTRA_SUB = {"决策", "执行", "管理", "服务", "结果"}
_LEVEL_COL = re.compile(r"^(?:[省市州盟区县旗乡镇村街道社区、/]{1,8})级$")
_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("time", re.compile(r"^(?:公开)?(?:时限|时间|时效)(?:要求)?$")),
    ("channels", re.compile(r"^(?:公开)?(?:渠道|载体|途径)(?:和|及|与|、|/)?(?:载体|渠道|途径)?$")),
    ("basis", re.compile(r"^(?:公开|政策|法律|法规|法律法规)?依据(?:文件|条款)?$")),
    ("content", re.compile(r"^(?:公开|具体|主要)?内容(?:要素|和要素|及要素)?$")),
    ("offices", re.compile(r"^(?:责任|承办|牵头)(?:科室|股室|部门|单位|处室|科|股|机构)(?:及人员)?$")),
)
PARENT = {"level0": "item", "level1": "item", "level2": "item", "level3": "item", "audience_all": "audience",
          "audience_group": "audience", "method_active": "method", "method_request": "method"}
_CORE = {"seq", "item", "level1", "level2", "level3", "dir1", "dir2", "dir3", "content", "basis", "time", "publisher",
         "channels", "audience", "audience_all", "audience_group", "method", "method_active", "method_request", "level", "offices"}
FIELD_LABELS = {
    "seq": "序号", "level0": "一级目录", "level1": "一级事项", "level2": "二级事项", "level3": "三级事项", "item": "公开事项",
    "content": "公开内容", "basis": "公开依据", "time": "公开时限", "publisher": "公开主体", "channels": "公开渠道和载体",
    "audience": "公开对象", "audience_all": "公开对象/全社会", "audience_group": "公开对象/特定群体", "method": "公开方式",
    "method_active": "公开方式/主动", "method_request": "公开方式/依申请",
    "level": "公开层级", "offices": "责任科室", "remarks": "备注", "wild": "（列名不全）",
}
_LOOKUP = {w: f for f, words in SYNONYMS.items() for w in words}
_PARENS = re.compile(r"[(（\[【][^)）\]】]*[)）\]】]")
_NOTE_TAIL = re.compile(r"[:：,，;；].*$")
LEVELS = ("level0", "level1", "level2", "level3")


def label_of(name: str) -> str:
    if name.startswith(("x:", "lvl:", "ch:")):
        return name.split(":", 1)[1]
    return FIELD_LABELS.get(name, name)


def classify_header(cell: str) -> str | None:
    """The field a header label names: a key of SYNONYMS, ``x:<label>`` for a column kept as an extra field,
    ``lvl:<label>`` for a level column (县级, 乡级…), ``wild`` for a label cut to 公开, or None."""
    raw = compact(cell).replace("\u00a0", "")
    if not raw or len(raw) > 60:
        return None
    for key in dict.fromkeys((raw, _PARENS.sub("", raw), _NOTE_TAIL.sub("", _PARENS.sub("", raw)))):
        key = key.strip("*＊:：")
        if not key:
            continue
        half = len(key) // 2
        if len(key) % 2 == 0 and half >= 2 and key[:half] == key[half:]:  # a label printed twice
            key = key[:half]
        if key in _LOOKUP:
            return _LOOKUP[key]
        if key in EXTRA_LABELS:
            return f"x:{key}"
        if _LEVEL_COL.match(key):
            return f"lvl:{key}"
        if len(key) > 12:
            continue
        for name, rx in _PATTERNS:
            if rx.match(key):
                return name
        if key == "公开":
            return "wild"
    return None


def is_sub(name: str) -> bool:
    return name in PARENT or name.startswith("lvl:") or (name.startswith("x:") and name[2:] in _EXTRA_SUB)


def parent_of(name: str) -> str:
    if name in PARENT:
        return PARENT[name]
    if name.startswith("lvl:"):
        return "level"
    return "x:五公开"


@dataclass
class Column:
    name: str
    start: int
    end: int  # exclusive


@dataclass
class Header:
    columns: list[Column]
    width: int
    header_rows: int  # rows consumed by the header (1 to 3)
    note: str = ""  # text of the header cells (a note may give the channel marks another meaning)
    positional: bool = True  # rows as wide as the header are read by position

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]


def _header_fields(row: RawRow) -> dict[int, str]:
    return {i: f for i, c in enumerate(row.cells) if c.strip() and (f := classify_header(c))}


def _qualifies(found: dict[int, str], filled: int) -> bool:
    kinds = {f for f in found.values() if f in _CORE}
    if len(kinds) < 3 or len(found) < 0.6 * filled:
        return False
    return bool(kinds & {"content", "item", "level1", "dir1", "dir2", "level2"})


def find_header(rows: list[RawRow], scan: int = 40, positional: bool = True) -> tuple[int, Header] | None:
    """(index of the header row, header) for the first row (or stack of 2–3 rows) that reads as a catalog header."""
    for idx, row in enumerate(rows[:scan]):
        found = _header_fields(row)
        if _qualifies(found, sum(1 for c in row.cells if c.strip())):
            header = _build_header(rows, idx, positional)
            # Labels split vertically over the next grid rows ("公开" / "时限", "一级" / "事项"): read the columns down.
            for k in (2, 3):
                block = rows[idx : idx + k]
                if len(block) < k or any(_looks_like_data(r) for r in block[1:]):
                    break
                stacked = _stacked_row(block)
                n_fields = len(set(_header_fields(stacked).values()))
                fragments = all(len(compact(c)) <= 6 for c in block[-1].cells)  # the row only completes labels
                if n_fields > len(header.names) + (1 if header.header_rows >= k else 0) or (
                    k > 2 and header.header_rows == k - 1 and n_fields >= len(header.names) and fragments
                ):
                    header = _build_header([*rows[:idx], stacked, *rows[idx + k :]], idx, positional, consumed=k)
            return idx, header
    # A label split vertically over 2–3 grid rows where no row reads as a header on its own.
    for idx in range(min(scan, len(rows))):
        for k in (2, 3):
            block = rows[idx : idx + k]
            if len(block) < k or any(sum(1 for c in r.cells if c.strip()) < 2 for r in block):
                continue
            stacked = _stacked_row(block)
            if _qualifies(_header_fields(stacked), sum(1 for c in stacked.cells if c.strip())):
                return idx, _build_header([*rows[:idx], stacked, *rows[idx + k :]], idx, positional, consumed=k)
    return None


def _looks_like_data(row: RawRow) -> bool:
    first = next((c for c in row.cells if c.strip()), "")
    return bool(_SEQ.match(compact(first))) or any(len(compact(c)) > 14 for c in row.cells)


def _stacked_row(block: list[RawRow]) -> RawRow:
    """One header row from 2–3 grid rows, column by column: a label broken over the rows is joined; a group label
    above a part (公开事项 / 一级事项, 公开对象 / 全社会) gives the part."""
    width = max(len(r.cells) for r in block)
    cells = []
    for c in range(width):
        parts = [r.cells[c].strip() if c < len(r.cells) else "" for r in block]
        whole = "".join(dict.fromkeys(p for p in parts if p))
        f = classify_header(whole) if whole else None
        if f and f != "wild":
            cells.append(whole)
            continue
        below = "".join(p for p in parts[1:] if p)
        fb = classify_header(below) if below else None
        if fb and (is_sub(fb) or not parts[0]):
            cells.append(below)
        elif parts[0] and classify_header(parts[0]):
            cells.append(parts[0])
        else:
            cells.append(whole)
    return RawRow(cells, block[0].line)


def _stack(rows: list[RawRow]) -> RawRow:
    width = max(len(r.cells) for r in rows)
    cells = []
    for c in range(width):
        parts = [r.cells[c].strip() for r in rows if c < len(r.cells) and r.cells[c].strip()]
        cells.append("".join(dict.fromkeys(parts)))
    return RawRow(cells, rows[0].line)


def _splice(top: list[str], subs: list[str]) -> list[str]:
    """Put the sub-header's labels in place of their parent, by name (the sub-row is not position-aligned)."""
    by_parent: dict[str, list[str]] = {}
    for s in subs:
        by_parent.setdefault(parent_of(s), []).append(s)
    out: list[str] = []
    for f in top:
        if f in by_parent:
            out.extend(by_parent.pop(f))
        elif f not in out:
            out.append(f)
    # Sub-labels whose parent the top row lacks: levels go first, the rest last.
    for parent, parts in by_parent.items():
        if parent == "item":
            at = 1 if out and out[0] == "seq" else 0
            out[at:at] = parts
        else:
            out.extend(parts)
    return out


def _build_header(rows: list[RawRow], idx: int, positional: bool, consumed: int = 1) -> Header:
    top = rows[idx]
    width = len(top.cells)
    pos = _header_fields(top)
    header_rows = consumed
    note = " ".join(c for c in top.cells if c.strip())
    # Up to two more rows holding parts (一级/二级/三级事项, 全社会/特定群体, 主动/依申请, 县级/乡级…).
    sub_rows: list[dict[int, str]] = []
    for k in (1, 2):
        j = idx + k
        if j >= len(rows):
            break
        sub = _header_fields(rows[j])
        if positional or len(rows[j].cells) == width:
            # Channel names as sub-columns of 公开渠道和载体, ticked in the rows (政府网站 | 两微一端 | …).
            ch_start = next((i for i, f in pos.items() if f == "channels"), None)
            if ch_start is not None:
                ch_end = min((i for i in pos if i > ch_start), default=width)
                for i in range(ch_start, min(ch_end, len(rows[j].cells))):
                    text = compact(rows[j].cells[i])
                    if text and i not in sub and len(text) <= 20:
                        sub[i] = f"ch:{text}"
        others = [c for i, c in enumerate(rows[j].cells) if c.strip() and i not in sub]
        if not sub or others or not any(is_sub(f) or f.startswith("ch:") for f in sub.values()):
            break
        sub_rows.append(sub)
        note += " " + " ".join(c for c in rows[j].cells if c.strip())
        header_rows += 1
    aligned = positional
    if sub_rows and not positional:
        # Text: the sub-row is position-aligned only when every part sits inside its parent's span.
        starts = sorted(pos)
        aligned = all(len(rows[idx + 1 + k].cells) == width for k in range(len(sub_rows)))
        for sub in sub_rows:
            for i, f in sub.items():
                if not is_sub(f):
                    continue
                owner = max((s for s in starts if s <= i), default=None)
                if owner is None or not (pos[owner] == parent_of(f) or (owner == i and pos[owner] == f)):
                    aligned = False
    if sub_rows and aligned:
        for sub in sub_rows:
            for i, f in sub.items():
                if is_sub(f) or f.startswith("ch:") or i not in pos:
                    pos[i] = f
    by_position = True
    if sub_rows and not aligned:
        by_position = False
        order = [f for _, f in sorted(pos.items())]
        for sub in sub_rows:
            order = _splice(order, [f for _, f in sorted(sub.items())])
        pos = dict(enumerate(order))
        width = len(order)
    names = resolve_levels(list(pos.values()))
    pos = {i: n for i, n in zip(pos.keys(), names, strict=True) if n is not None}
    seen: set[str] = set()
    starts = []
    for i in sorted(pos):
        if pos[i] not in seen and pos[i] is not None:
            seen.add(pos[i])
            starts.append(i)
    columns = [Column(pos[s], s, starts[n + 1] if n + 1 < len(starts) else width) for n, s in enumerate(starts)]
    return Header(columns, width, header_rows, note, by_position)


def resolve_levels(names: list[str]) -> list[str | None]:
    """Decide what the item columns are: 一级/二级/三级事项, 一级目录… (levels, or a category above the 事项 levels).
    Same length as ``names``; None marks a group label whose parts are columns of their own."""
    present = set(names)
    has_items = bool(present & {"level1", "level2", "level3"})
    out: list[str | None] = []
    for f in names:
        if f in ("dir1", "dir2", "dir3"):
            # 一级目录 above the 事项 levels is a category column, kept as an extra field (not a path level).
            out.append(f"x:{label_of_dir(f)}" if has_items else "level" + f[-1])
        else:
            out.append(f)
    # 信息类别 right after a single item column is the item's second level (业务事项 / 信息类别).
    for k, f in enumerate(out):
        if f == "x:信息类别" and k > 0 and out[k - 1] in ("item", "level1") and "level2" not in out:
            out[k] = "level2"
            if out[k - 1] == "item":
                out[k - 1] = "level1"
    present = set(out)
    drop = set()
    if present & set(LEVELS):
        drop.add("item")  # the group label of its level columns
    if present & {"audience_all", "audience_group"}:
        drop.add("audience")
    if present & {"method_active", "method_request"}:
        drop.add("method")
    if any(f and f.startswith("lvl:") for f in present):
        drop.add("level")
    if any(f and f.startswith("ch:") for f in present):
        drop.add("channels")
    if any(f and f.startswith("x:") and f[2:] in _EXTRA_SUB for f in present):
        drop.add("x:五公开")
    return [None if f in drop else ("level1" if f == "item" else f) for f in out]


def label_of_dir(f: str) -> str:
    return {"dir1": "一级目录", "dir2": "二级目录", "dir3": "三级目录"}[f]


# ---------------------------------------------------------------- alignment by content

NOTE_ROW = re.compile(r"^(注|说明|备注|填表说明)[:：]")
_SEQ = re.compile(r"^(\d{1,4}|[一二三四五六七八九十]{1,3})[.、．]?$")
_TIME = re.compile(
    r"工作日|\d+\s*个?\s*(日|天|月)|[一二两三四五六七八九十]个?月|即时|实时|及时|立即|同步|长期公开|永久公开|审核后|批复后|公告期|^同上"
    r"|^按(年|季|月|季度)|^每(年|季|月)|^定期|^常态"
)
_TICK = re.compile(r"^[√✓✔■☑●是]$")
_BOX = re.compile(r"[■□☑☐√✓✔þý¨]|<input\b", re.IGNORECASE)
_PUBLISHER = re.compile(r"(局|委员会|委|政府|院|厅|中心|公司|镇|乡|街道|办事处|部|会)$")
_OFFICE = re.compile(r"(室|科|股|办|中心|队|所|站|部|处|组)$")
_METHOD = re.compile(r"^(主动|依申请)")
_LEVEL = re.compile(r"(省|市|县|区|乡|镇|村)级")
_AUDIENCE = re.compile(r"^(全社会|特定群体|社会公众|公众)")


@dataclass(frozen=True, slots=True)
class Features:
    """What a cell looks like, computed once per distinct text."""

    t: str
    seq: bool
    channel: bool
    tick: bool
    timeish: bool


def features(text: str, is_channels: Callable[[str], bool]) -> Features:
    t = compact(text)
    return Features(t, bool(_SEQ.match(t)), is_channels(text), bool(_TICK.match(t)), bool(_TIME.search(t)) and len(t) <= 60)


_CATEGORY_FIELDS = {f"x:{w}" for w in ("公开类别", "公开分类", "事项类别", "事项类型", "事项分类", "类别", "分类", "类型",
                                          "信息类别", "一级目录", "相应领域", "对应领域", "所属领域", "领域")}
_LIST_NO = re.compile(r"^(?:\d{1,2}[.、．]|[(（]\d{1,2}[)）])")
_DOTTED = re.compile(r"^\d{1,2}[.．]\d{1,2}")
_TICK_FIELDS = ("audience_all", "audience_group", "method_active", "method_request")
_LEVEL_BONUS = {"level0": 0.3, "level1": 0.2, "level2": 0.1, "level3": 0.0}


def score(name: str, f: Features, has_seq: bool) -> float:
    """How well a non-empty cell fits a field; the alignment maximises the sum over a run of rows."""
    t = f.t
    if name == "seq":
        return 6.0 if f.seq else -6.0
    if name == "channels":
        return 6.0 if f.channel else -6.0
    if name in _TICK_FIELDS:
        return 5.0 if f.tick else -6.0
    if name.startswith("lvl:") or name.startswith("ch:"):
        return 5.0 if f.tick else (4.0 if name[0] == "l" and _LEVEL.search(t) and len(t) <= 12 else -6.0)
    if f.channel or f.tick:
        return 5.0 if name == "audience" and f.tick else -4.0
    if name in _LEVEL_BONUS:
        base = -3.0 if f.timeish or f.seq or t.startswith("《") else (2.0 if len(t) <= 20 else 1.0 if len(t) <= 32 else -2.0)
        if len(t) <= 1:
            base -= 1.5  # a one-character piece is a word the export broke, rarely a name of its own
        # Ties between levels go to the shallower one; a top-level name sits next to a sequence number.
        bonus = _LEVEL_BONUS[name]
        if _DOTTED.match(t):
            base += 1.0  # "1.1 开放时间": numbered like an item hierarchy
        return base + (bonus if has_seq or name != "level1" else -0.5)
    if name == "content":
        return (2.0 if t.startswith("《") else 2.5) + (1.0 if len(t) > 12 else 0.0) - (1.5 if len(t) <= 1 else 0.0)
    if name == "time":
        return 4.0 if f.timeish else -2.0
    if name == "basis":
        bare = _LIST_NO.sub("", t)
        return 4.5 if bare.startswith("《") else (3.0 if "《" in t else 1.0)
    if name == "publisher":
        return 3.0 if _PUBLISHER.search(t) and len(t) <= 30 else 0.2
    if name == "offices":
        return -3.0 if f.timeish else (3.0 if _OFFICE.search(t) and len(t) <= 40 else 0.3)
    if name == "audience":
        return 5.0 if _AUDIENCE.match(t) else -2.0
    if name == "method":
        return 5.0 if _METHOD.match(t) else -3.0
    if name == "level":
        return 4.0 if _LEVEL.search(t) else -2.0
    if name in _CATEGORY_FIELDS:
        # A category column (公开类别, 事项类型…) before the item levels: a short name, slightly ahead of a level.
        return -3.0 if f.timeish or f.seq or len(t) > 20 else 2.05
    return 0.3  # columns kept as extra fields (条款内容, 备注…)


_NEG = float("-inf")


def align(rows: list[list[str]], fields: list[str], is_channels: Callable[[str], bool]) -> list[int | None] | None:
    """Best order-preserving map of cell index → field index for rows of equal width (None: an empty cell dropped).

    Returns None when no mapping can place every non-empty cell (more filled cells than fields).
    """
    k, n = len(rows[0]), len(fields)
    memo: dict[str, Features] = {}

    def feat(text: str) -> Features:
        if text not in memo:
            memo[text] = features(text, is_channels)
        return memo[text]

    has_seq = [bool(r and r[0].strip() and feat(r[0]).seq) for r in rows]
    empty_col = [all(not r[i].strip() for r in rows) for i in range(k)]
    s = [[0.0] * n for _ in range(k)]
    for r, hs in zip(rows, has_seq, strict=True):
        for i, text in enumerate(r):
            if text.strip():
                f = feat(text)
                row_scores = s[i]
                for j in range(n):
                    row_scores[j] += score(fields[j], f, hs)
    best = [[_NEG] * (n + 1) for _ in range(k + 1)]
    move: list[list[str]] = [[""] * (n + 1) for _ in range(k + 1)]
    for j in range(n + 1):
        best[0][j] = 0.0
    for i in range(1, k + 1):
        for j in range(n + 1):
            options = []
            if j > 0:
                options.append((best[i][j - 1], "skip_field"))
                options.append((best[i - 1][j - 1] + s[i - 1][j - 1], "take"))
            if empty_col[i - 1]:
                # A tiny cost: an all-empty column still maps to a field when one is free (clearer notes).
                options.append((best[i - 1][j] - 0.01, "drop_cell"))
            if options:
                best[i][j], move[i][j] = max(options, key=lambda o: o[0])
    if best[k][n] == _NEG:
        return None
    mapping: list[int | None] = [None] * k
    i, j = k, n
    while i > 0:
        m = move[i][j]
        if m == "take":
            mapping[i - 1] = j - 1
            i, j = i - 1, j - 1
        elif m == "skip_field":
            j -= 1
        else:
            i -= 1
    return mapping


@dataclass
class Record:
    """One data row mapped onto fields."""

    line: int
    values: dict[str, str] = field(default_factory=dict)
    lines: list[int] = field(default_factory=list)  # every source line/row the record was read from
    merged: set[str] = field(default_factory=set)  # fields filled by an explicit merge above
    realigned: bool = False  # read by content rather than by position
    ambiguous: set[str] = field(default_factory=set)  # fields whose column could not be told apart


@dataclass
class Note:
    """A run of rows whose width differs from the header's."""

    first_line: int
    last_line: int
    width: int
    fields: list[str] | None  # the fields the cells were aligned to; None when read by position


def map_rows(rows: list[RawRow], header: Header, is_channels: Callable[[str], bool]) -> tuple[list[Record], list[Note]]:
    # A missing 序号 header cell while the rows carry numbers: a number may always take the (optional) 序号 field.
    names = header.names if "seq" in header.names else ["seq", *header.names]
    out: list[Record] = []
    notes: list[Note] = []
    i = 0
    while i < len(rows):
        width = len(rows[i].cells)
        if header.positional and (width == header.width or (width > header.width and not any(c.strip() for c in rows[i].cells[header.width :]))):
            out.append(_positional(rows[i], header))
            i += 1
            continue
        j = i
        while j < len(rows) and len(rows[j].cells) == width and (header.positional or j - i < 1):
            j += 1
        run = rows[i:j]
        mapping = align([r.cells for r in run], names, is_channels)
        if mapping is None:  # more filled cells than fields: nothing better than reading by position
            out.extend(_positional(r, header) for r in run)
            notes.append(Note(run[0].line, run[-1].line, width, None))
            i = j
            continue
        mapped = {names[f] for f in mapping if f is not None}
        if header.positional:
            notes.append(Note(run[0].line, run[-1].line, width, sorted(mapped, key=names.index)))
        # A lone tick with only one of 全社会/特定群体 present as a cell: which column it was in is lost.
        tick_ambiguous = {"audience_all", "audience_group"} <= set(names) and len(mapped & {"audience_all", "audience_group"}) == 1
        for r in run:
            rec = Record(r.line, lines=[r.line], realigned=True, ambiguous={"audience"} if tick_ambiguous else set())
            for ci, fi in enumerate(mapping):
                if fi is not None and r.cells[ci].strip():
                    rec.values[names[fi]] = r.cells[ci]
                    if ci in r.merged:
                        rec.merged.add(names[fi])
            out.append(rec)
        i = j
    return out, notes


def _positional(row: RawRow, header: Header) -> Record:
    rec = Record(row.line, lines=[row.line])
    for col in header.columns:
        end = col.end if col is not header.columns[-1] else max(col.end, len(row.cells))
        parts = [row.cells[c] for c in range(col.start, min(end, len(row.cells))) if row.cells[c].strip()]
        if parts:
            rec.values[col.name] = " ".join(parts)
            if any(c in row.merged for c in range(col.start, end)):
                rec.merged.add(col.name)
    return rec


def join_spills(rows: list[RawRow], width: int) -> list[RawRow]:
    """Rejoin rows whose cell text contained a line break, which split one table row over several text lines."""
    out: list[RawRow] = []
    i = 0
    while i < len(rows):
        row = rows[i]
        n = len(row.cells)
        # A line without any separator right after a row is the tail of that row's last cell.
        if n == 1 and out and len(out[-1].cells) > 1 and not _SEQ.match(compact(row.cells[0])) and not NOTE_ROW.match(compact(row.cells[0])):
            prev = out[-1]
            last = max((c for c, v in enumerate(prev.cells) if v.strip()), default=len(prev.cells) - 1)
            prev.cells[last] = f"{prev.cells[last]}\n{row.cells[0]}"
            i += 1
            continue
        targets = {width} | ({len(out[-1].cells)} if out else set())
        if n < max(targets):
            cells, j = list(row.cells), i + 1
            while j < len(rows) and len(cells) < max(targets) and not _SEQ.match(compact(rows[j].cells[0])):
                cells = cells[:-1] + [f"{cells[-1]}\n{rows[j].cells[0]}"] + rows[j].cells[1:]
                j += 1
                if len(cells) in targets:
                    break
            if len(cells) in targets and j > i + 1:
                out.append(RawRow(cells, row.line, row.merged))
                i = j
                continue
        out.append(RawRow(list(row.cells), row.line, row.merged))
        i += 1
    return out


TEXT_GROUPS = ("tab", "pipe", "spaces", "lines")


def is_text(table: RawTable) -> bool:
    return table.group in TEXT_GROUPS
