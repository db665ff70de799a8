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

# Field → header names (first match wins, so specific names come before generic ones).
HEADER_NAMES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("seq", ("序号", "编号")),
    ("level1", ("一级事项", "一级")),
    ("level2", ("二级事项", "二级")),
    ("level3", ("三级事项", "三级")),
    ("item", ("公开事项", "事项名称", "事项")),
    ("content", ("公开内容", "内容")),
    ("basis", ("公开依据", "依据")),
    ("time", ("公开时限", "时限")),
    ("publisher", ("公开主体", "主体")),
    ("channels", ("公开渠道和载体", "公开渠道", "公开载体", "渠道", "载体")),
    ("audience_all", ("全社会",)),
    ("audience_group", ("特定群体",)),
    ("audience", ("公开对象", "对象")),
    ("method", ("公开方式",)),
    ("level", ("公开层级", "层级")),
    ("offices", ("责任科室", "责任单位", "责任部门", "责任股室", "承办科室", "科室")),
    ("remarks", ("备注",)),
)
FIELD_LABELS = {
    "seq": "序号", "level1": "一级事项", "level2": "二级事项", "level3": "三级事项", "item": "公开事项",
    "content": "公开内容", "basis": "公开依据", "time": "公开时限", "publisher": "公开主体", "channels": "公开渠道和载体",
    "audience": "公开对象", "audience_all": "公开对象/全社会", "audience_group": "公开对象/特定群体", "method": "公开方式",
    "level": "公开层级", "offices": "责任科室", "remarks": "备注",
}
_SUBFIELDS = {"item": ("level1", "level2", "level3"), "audience": ("audience_all", "audience_group")}
_PARENS = re.compile(r"[(（][^)）]*[)）]")


def classify_header(cell: str) -> str | None:
    key = _PARENS.sub("", compact(cell))
    if not key or len(key) > 12:
        return None
    for name, words in HEADER_NAMES:
        if any(key == w or key.startswith(w) for w in words):
            return name
    return None


@dataclass
class Column:
    name: str
    start: int
    end: int  # exclusive


@dataclass
class Header:
    columns: list[Column]
    width: int
    header_rows: int  # rows consumed by the header (1 or 2)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]


def _header_fields(row: RawRow) -> dict[int, str]:
    return {i: f for i, c in enumerate(row.cells) if c.strip() and (f := classify_header(c))}


def find_header(rows: list[RawRow], scan: int = 30) -> tuple[int, Header] | None:
    """(index of the header row, header) for the first row that reads as a catalog header."""
    for idx, row in enumerate(rows[:scan]):
        found = _header_fields(row)
        filled = sum(1 for c in row.cells if c.strip())
        kinds = set(found.values())
        if len(kinds) < 3 or len(found) < 0.6 * filled or not kinds & {"content", "item", "level1"}:
            continue
        return idx, _build_header(rows, idx, found)
    return None


def _build_header(rows: list[RawRow], idx: int, found: dict[int, str]) -> Header:
    width = len(rows[idx].cells)
    pos = dict(found)
    header_rows = 1
    # A second header row holds the parts of 公开事项 (一级/二级/三级) and 公开对象 (全社会/特定群体).
    if idx + 1 < len(rows):
        sub = _header_fields(rows[idx + 1])
        sub_parts = {i: f for i, f in sub.items() if f in ("level1", "level2", "level3", "audience_all", "audience_group")}
        others = [c for i, c in enumerate(rows[idx + 1].cells) if c.strip() and i not in sub]
        if sub_parts and not others:
            header_rows = 2
            if len(rows[idx + 1].cells) == len(rows[idx].cells):
                pos.update(sub_parts)
            else:
                # Empty cells vanished (space-separated text): splice the parts in by name, not by position.
                parts = [f for _, f in sorted(sub_parts.items())]
                order: list[str] = []
                for _, f in sorted(found.items()):
                    own = [p for p in parts if p in _SUBFIELDS.get(f, ())]
                    order.extend(own or [f])
                pos = dict(enumerate(order))
                width = len(order)
    # Drop a group label when its parts are columns of their own; a lone 公开事项 column is the item name.
    present = set(pos.values())
    for parent, parts in _SUBFIELDS.items():
        if present & set(parts):
            pos = {i: f for i, f in pos.items() if f != parent}
    pos = {i: ("level1" if f == "item" else f) for i, f in pos.items()}
    # One column per field: the first occurrence wins (merged header cells repeat their text).
    seen: set[str] = set()
    starts = []
    for i in sorted(pos):
        if pos[i] not in seen:
            seen.add(pos[i])
            starts.append(i)
    columns = [Column(pos[s], s, starts[n + 1] if n + 1 < len(starts) else width) for n, s in enumerate(starts)]
    return Header(columns, width, header_rows)


# ---------------------------------------------------------------- alignment by content

NOTE_ROW = re.compile(r"^(注|说明|备注|填表说明)[:：]")
_SEQ = re.compile(r"^(\d{1,4}|[一二三四五六七八九十]{1,3})[.、．]?$")
_TIME = re.compile(r"工作日|\d+\s*个?\s*(日|天|月)|[一二两三四五六七八九十]个?月|即时|实时|及时|立即|同步|长期公开|审核后|批复后|公告期|^同上")
_TICK = re.compile(r"^[√✓✔■☑●是]$")
_BOX = re.compile(r"[■□☑☐√✓✔]|<input\b", re.IGNORECASE)
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


def score(name: str, f: Features, has_seq: bool) -> float:
    """How well a non-empty cell fits a field; the alignment maximises the sum over a run of rows."""
    t = f.t
    if name == "seq":
        return 6.0 if f.seq else -6.0
    if name == "channels":
        return 6.0 if f.channel else -6.0
    if name in ("audience_all", "audience_group"):
        return 5.0 if f.tick else -6.0
    if f.channel or f.tick:
        return 5.0 if name == "audience" and f.tick else -4.0
    if name in ("level1", "level2", "level3"):
        base = -3.0 if f.timeish or f.seq else (2.0 if len(t) <= 20 else -2.0)
        # Ties between levels go to the shallower one; a top-level name sits next to a sequence number.
        return base + {"level1": 0.2 if has_seq else -0.5, "level2": 0.1, "level3": 0.0}[name]
    if name == "content":
        return 2.5 + (1.0 if len(t) > 12 else 0.0)
    if name == "time":
        return 4.0 if f.timeish else -2.0
    if name == "basis":
        return 1.0 + (2.0 if "《" in t else 0.0)
    if name == "publisher":
        return 3.0 if _PUBLISHER.search(t) and len(t) <= 30 else 0.2
    if name == "offices":
        return -3.0 if f.timeish else (3.0 if _OFFICE.search(t) else 0.3)
    if name == "audience":
        return 5.0 if _AUDIENCE.match(t) else -2.0
    if name == "method":
        return 5.0 if _METHOD.match(t) else -3.0
    if name == "level":
        return 4.0 if _LEVEL.search(t) else -2.0
    return 0.1  # remarks


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
    names = header.names
    out: list[Record] = []
    notes: list[Note] = []
    i = 0
    while i < len(rows):
        width = len(rows[i].cells)
        if width == header.width or (width > header.width and not any(c.strip() for c in rows[i].cells[header.width :])):
            out.append(_positional(rows[i], header))
            i += 1
            continue
        j = i
        while j < len(rows) and len(rows[j].cells) == width:
            j += 1
        run = rows[i:j]
        mapping = align([r.cells for r in run], names, is_channels)
        if mapping is None:  # more filled cells than fields: nothing better than reading by position
            out.extend(_positional(r, header) for r in run)
            notes.append(Note(run[0].line, run[-1].line, width, None))
            i = j
            continue
        mapped = {names[f] for f in mapping if f is not None}
        notes.append(Note(run[0].line, run[-1].line, width, sorted(mapped, key=names.index)))
        # A lone tick with only one of 全社会/特定群体 present as a cell: which column it was in is lost.
        tick_ambiguous = {"audience_all", "audience_group"} <= set(names) and len(mapped & {"audience_all", "audience_group"}) == 1
        for r in run:
            rec = Record(r.line, realigned=True, ambiguous={"audience"} if tick_ambiguous else set())
            for ci, fi in enumerate(mapping):
                if fi is not None and r.cells[ci].strip():
                    rec.values[names[fi]] = r.cells[ci]
                    if ci in r.merged:
                        rec.merged.add(names[fi])
            out.append(rec)
        i = j
    return out, notes


def _positional(row: RawRow, header: Header) -> Record:
    rec = Record(row.line)
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


def pick_table(tables: list[RawTable]) -> tuple[RawTable, Header, list[RawRow]] | None:
    """The first table with a catalog header, plus the data rows of the tables that continue it."""
    for t_idx, table in enumerate(tables):
        hit = find_header(table.rows)
        if not hit:
            continue
        h_idx, header = hit
        data = table.rows[h_idx + header.header_rows :]
        for nxt in tables[t_idx + 1 :]:
            if nxt.group != table.group or nxt.depth != table.depth or not table.group.startswith("docx"):
                break
            again = find_header(nxt.rows, scan=3)
            if again:
                data = data + nxt.rows[again[0] + again[1].header_rows :]
            elif nxt.rows and len(nxt.rows[0].cells) == header.width:
                data = data + nxt.rows
            else:
                break
        return table, header, data
    return None
