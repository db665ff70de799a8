"""Import an agency's disclosure catalog (主动公开目录) into a typed :class:`Catalog`.

Pipeline: ``readers`` recover the grid (or, for text whose lines are not rows, ``textshapes`` recovers a
stream of cell pieces) → ``layout`` finds the header and maps rows onto fields → this module rebuilds
what flattening broke and types every value. A text is read in every plausible way (tab, pipe, one cell
per line, single spaces…) and the reading whose entries come out most complete is kept.

Decisions (documented here because reviewers and clerks rely on them):

* **One entry per table row.** A row that only adds another content line under an item (the seed's
  意见征集及反馈 has "征求意见公告…" with 即时公开 and "公众意见采纳反馈情况" with 公告期后满一个月) becomes
  its own entry with the item's path, because each line has its own time limit. Such entries share a
  path; address them by code.
* **Codes** are ``SS-PP``: SS the row's numbered section (序号), PP the 1-based position of the row inside
  it (``01-03`` is the third row of section 1). Deterministic for a given table; a repeated 序号 gets
  ``SS.k`` for its k-th occurrence.
* **Blank cells** take the value above only within the same numbered section (merged cells printed once),
  and the entry lists those fields in ``inherited``. Across a section nothing is inherited: the entry gets a
  warning instead. Item names (the path) always come from the row above when the row prints only deeper
  levels (merged cells).
* **Several catalogs** in one file (each with its title and header) come back as separate catalogs; the
  publisher comes from the title line before the header, the 公开主体 column or ``--publisher``, never from a
  data row.
* **Never invents**: no channel marked → no channels and a warning; unknown wordings → a warning naming
  the wording plus a proposed mapping a person confirms; untypeable time limits → ``kind: unknown`` + warning;
  a last row cut off is flagged incomplete and nothing is completed for it.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from orchestrator.catalog.channel_map import ChannelMap, load_channel_map, parse_channel_cell
from orchestrator.catalog.errors import CatalogImportError
from orchestrator.catalog.layout import (
    _LOOKUP,
    LEVELS,
    NOTE_ROW,
    Column,
    Header,
    Record,
    _header_fields,
    find_header,
    is_text,
    join_spills,
    label_of,
    map_rows,
)
from orchestrator.catalog.readers import RawRow, RawTable, Source, read_text_source
from orchestrator.catalog.schema import Catalog, CatalogEntry, TimeLimit, TimeLimitKind
from orchestrator.catalog.sources import read_source
from orchestrator.catalog.textnorm import clean, cn_number, compact
from orchestrator.catalog.textshapes import find_stream_header, fit_row, fit_rows, shapes, split_rows, text_bigrams
from orchestrator.catalog.timelimit import SAME_AS_ABOVE, parse_time_limit

# Fields that a blank cell inherits from the row above (within the section), with their schema names.
INHERITABLE = {
    "time": "time_limit", "publisher": "publisher", "channels": "channels", "audience": "audience",
    "offices": "offices", "basis": "basis", "method": "disclosure_method", "level": "level",
}
_OFFICE_END = re.compile(r"(办公室|室|科|股|中心|队|所|站|部|处|组|办|局|委|团|会)$")
_OFFICE_SEP = re.compile(r"[、,，;；/]+")
_TICK = re.compile(r"^[√✓✔■☑●是]$")
# A header note that gives the marks another meaning: ■ = mandatory, □/口 = optional (both apply).
MARKS_MANDATORY = re.compile(r"■[”\"」』’']*[为是表示:：]*必[选须要]|必选[^，,。；;]{0,6}■")
_NUMBERED = re.compile(r"^(\d{1,2}(?:[.．]\d{1,2}){1,3}|\d{1,2}(?=[.．、)）\s]))[.．、)）]?\s*(?=\S)")
_ONLY_NUMBER = re.compile(r"^\d{1,4}[.、．]?$")
_TICK_GROUP = {"audience_all": "audience", "audience_group": "audience", "method_active": "method", "method_request": "method"}
_ANY_MARK = re.compile(r"[■□☑☐√✓✔口þý¨]|<input", re.IGNORECASE)
INCOMPLETE_WARNING = "本行在原文中被截断（文件末尾不完整），缺少的单元格未补全，也未沿用上一行的值，请对照原表补充"


@dataclass
class _Cell:
    """A field value as this row sees it: own text, or text inherited from the row above."""

    text: str
    line: int
    extra: dict = field(default_factory=dict)


def split_offices(text: str) -> list[str]:
    """Several offices in one cell, separated by punctuation or by spaces — spaces also break names
    ("普法与依法治 理办公室 人民参与和促 进法制办公室" is two offices), so a piece only ends at an office suffix."""
    out: list[str] = []
    for part in _OFFICE_SEP.split(text or ""):
        buf = ""
        for tok in part.split():
            buf += tok
            if _OFFICE_END.search(buf):
                out.append(buf)
                buf = ""
        if buf:
            out.append(buf)
    # Two names run together without a space ("…办公室人民参与…办公室").
    split = [s for o in out for s in re.split(r"(?<=办公室)(?=[\u4e00-\u9fff]{2,}(?:办公室|室|科|股|中心))", o)]
    return list(dict.fromkeys(clean(s) for s in split if s.strip()))


@lru_cache(maxsize=4096)
def _split_offices_cached(text: str) -> tuple[str, ...]:
    return tuple(split_offices(text))


@lru_cache(maxsize=4096)
def _clean_cached(text: str) -> str:
    return clean(text)


@lru_cache(maxsize=4096)
def _parse_time_cached(text: str) -> tuple[TimeLimit, bool, tuple[str, ...]]:
    rule, keep, warnings = parse_time_limit(text)
    return rule, keep, tuple(warnings)


def _audience(values: dict[str, str]) -> str:
    parts = []
    if _TICK.match(compact(values.get("audience_all", ""))):
        parts.append("全社会")
    if _TICK.match(compact(values.get("audience_group", ""))):
        parts.append("特定群体")
    if not parts and values.get("audience"):
        return clean(values["audience"])
    return "、".join(parts)


def _method(values: dict[str, str]) -> str:
    parts = []
    if _TICK.match(compact(values.get("method_active", ""))):
        parts.append("主动")
    if _TICK.match(compact(values.get("method_request", ""))):
        parts.append("依申请")
    if not parts and values.get("method"):
        return clean(values["method"])
    return "、".join(parts)


def _level(values: dict[str, str]) -> str:
    parts = []
    for k, v in values.items():
        if k.startswith("lvl:") and v.strip():
            parts.append(k[4:] if _TICK.match(compact(v)) else clean(v))
    if not parts and values.get("level"):
        return clean(values["level"])
    return "、".join(dict.fromkeys(parts))


def _section_number(seq: str) -> int | None:
    return cn_number(compact(seq).rstrip(".、．"))


# ---------------------------------------------------------------- titles and publishers

_TITLE_LINE = re.compile(r"(目录|清单)")
_TITLE_NUMBER = re.compile(r"^(?:[(（][一二三四五六七八九十百]+[)）]|[一二三四五六七八九十百]+[、.．]|\d+[、.．])")
_TITLE_TAIL = re.compile(
    r"(?:[\u4e00-\u9fff、]{1,16}领域)?(?:基层)?(?:政府信息|政务)?(?:主动)?(?:公开)?(?:事项)?(?:标准|基本)?(?:目录|清单).*$"
)
_ORG_END = re.compile(r"(局|委员会|委|政府|办公室|办事处|街道|镇|乡|院|中心|厅|所|站|馆|队|会|社区|村|公司|部|处|署|县|市|区|旗|盟|州)$")
_CHROME = re.compile(
    r"^(?:[【\[]?(?:打印|关闭)|上一篇|下一篇|相关链接|相关文件|版权所有|主办单位|承办单位|网站标识码|分享到|扫一扫|网站地图"
    r"|联系我们|ICP备|[京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼]ICP)|.*版权所有"
    r"|.{0,14}(?:要素说明|填表说明|编制说明|目录说明)[:：]?$"
)


_TITLE_END = re.compile(r"(?:基层)?(?:政府信息|政务)?(?:主动)?(?:公开)?(?:事项)?(?:标准|基本)?(?:目录|清单).*$")
_STRONG_ORG = re.compile(r"(局|委员会|政府|办公室|办事处|街道|服务中心|镇|乡|县|市|区|旗|委|院|厅)(?!村|镇|建设|规划|一体)")


_BREADCRUMB = re.compile(r">|＞|»|当前位置|您的位置|首页")
_ATTACHMENT = re.compile(r"^附件\d*[:：]?")


def publisher_from_title(line: str | None) -> str | None:
    """The agency named by a catalog title line ("盖州市民政局社会救助领域基层政务公开标准目录" → 盖州市民政局).
    A title naming only a domain ("社会救助领域基层政务公开标准目录") names no agency."""
    t = compact(line)
    if not t or not _TITLE_LINE.search(t) or len(t) > 80 or _BREADCRUMB.search(t):
        return None
    t = _ATTACHMENT.sub("", t.strip("|｜"))
    if "|" in t:
        t = next((p for p in t.split("|") if _TITLE_LINE.search(p)), t)
    t = _TITLE_NUMBER.sub("", t)
    who = _TITLE_END.sub("", t)
    who = re.sub(r"(关于)?(印发|公布|发布)?$", "", who)
    if who.endswith("领域"):
        # Cut the domain off: the agency is the longest start that ends like an agency name.
        ends = [m.end() for m in _STRONG_ORG.finditer(who)]
        who = who[: ends[-1]] if ends else ""
    if "领域" in who or len(who) < 2 or not _ORG_END.search(who):
        return None
    return who


def _title_of(lines: list[str]) -> str | None:
    """The nearest line before a header that reads as a catalog title."""
    for ln in reversed(lines[-8:]):
        t = compact(ln)
        if _TITLE_LINE.search(t) and len(t) <= 80 and not _CHROME.match(t) and not _BREADCRUMB.search(t):
            return clean(ln.strip().strip("|").strip())
    return None


# ---------------------------------------------------------------- parts (one catalog each)


@dataclass
class Part:
    """One catalog found in the source: its title, header and data records."""

    title: str | None
    header: Header
    records: list[Record]
    notes: list = field(default_factory=list)
    lines_before: list[str] = field(default_factory=list)
    cut: bool = False  # the data ran to the end of the file (no page chrome after it)


def _grid_parts(tables: list[RawTable], preamble: list[str], is_channels) -> list[Part]:
    parts: list[Part] = []
    t_idx = 0
    while t_idx < len(tables):
        table = tables[t_idx]
        hit = find_header(table.rows, positional=not is_text(table))
        if not hit:
            t_idx += 1
            continue
        h_idx, header = hit
        before = [" ".join(c for c in r.cells if c.strip()) for r in table.rows[:h_idx]]
        data = table.rows[h_idx + header.header_rows :]
        # Tables that continue this one (a Word table broken by a page).
        nxt_idx = t_idx + 1
        for nxt in tables[t_idx + 1 :]:
            if nxt.group != table.group or nxt.depth != table.depth or not table.group.startswith("docx"):
                break
            again = find_header(nxt.rows, scan=3)
            if again and again[1].names == header.names:
                data = data + nxt.rows[again[0] + again[1].header_rows :]
            elif not again and nxt.rows and len(nxt.rows[0].cells) == header.width:
                data = data + nxt.rows
            else:
                break
            nxt_idx += 1
        cut = True
        if is_text(table):
            n = len(data)
            data = _cut_chrome(data)
            cut = len(data) == n
        title_lines = before if (is_text(table) or before) else preamble
        header = _resolve_wild(header, data, is_channels)
        segments = _split_grid(data, header, title_lines)
        for k, (title, hdr, rows, lines_before) in enumerate(segments):
            if table.group in ("tab", "pipe"):
                rows = join_spills(rows, hdr.width)
            records, notes = map_rows(rows, hdr, is_channels)
            parts.append(Part(title, hdr, records, notes, lines_before, cut and k == len(segments) - 1))
        if not is_text(table) and not before and preamble and parts and parts[-1].title is None:
            parts[-1].title = _title_of(preamble)
        t_idx = nxt_idx
    return parts


_WILD_CANDIDATES = ("time", "channels", "content", "publisher", "basis", "offices", "audience", "level1")


def _resolve_wild(header: Header, data: list[RawRow], is_channels) -> Header:
    """A label cut to 公开 (公开时限, 公开主体…): the column is the missing field its cells read as."""
    # lazy: the layout/text-shape readers load with the first import
    from orchestrator.catalog.layout import features, score

    if "channels" not in header.names and "method" in header.names:
        # 公开方式 holding channel names (政府网站、公示栏) rather than 主动/依申请: it is the channel column.
        col = next(c for c in header.columns if c.name == "method")
        cells = [r.cells[col.start] for r in data[:40] if col.start < len(r.cells) and r.cells[col.start].strip()]
        if cells and sum(1 for c in cells if is_channels(c)) >= 0.6 * len(cells):
            header = Header([Column("channels", c.start, c.end) if c is col else c for c in header.columns], header.width,
                            header.header_rows, header.note, header.positional)
    if "wild" not in header.names:
        return header
    cols = []
    for col in header.columns:
        if col.name != "wild":
            cols.append(col)
            continue
        missing = [f for f in _WILD_CANDIDATES if f not in header.names and f not in {c.name for c in cols}]
        cells = [r.cells[col.start] for r in data[:40] if col.start < len(r.cells) and r.cells[col.start].strip()]
        totals = {f: sum(score(f, features(c, is_channels), False) for c in cells) for f in missing}
        best = max(totals, key=lambda f: totals[f], default=None)
        if best is not None and totals[best] > 0:
            cols.append(Column(best, col.start, col.end))
        else:
            cols.append(Column("x:公开", col.start, col.end))
    return Header(cols, header.width, header.header_rows, header.note, header.positional)


def _cut_chrome(rows: list[RawRow]) -> list[RawRow]:
    for i, r in enumerate(rows):
        first = compact(next((c for c in r.cells if c.strip()), ""))
        if first and _CHROME.match(first) and sum(1 for c in r.cells if c.strip()) <= 3:
            return rows[:i]
    return rows


def _split_grid(data: list[RawRow], header: Header, before: list[str]):
    """Several catalogs in one table (each with its title and header), and headers repeated before rows."""
    out = []
    title = _title_of(before)
    cur: list[RawRow] = []
    hdr = header
    cur_before = before
    i = 0
    while i < len(data):
        row = data[i]
        if sum(1 for c in row.cells if c.replace(" ", "") in _LOOKUP) < 2:
            cur.append(row)
            i += 1
            continue
        found = _header_fields(row)
        filled = sum(1 for c in row.cells if c.strip())
        if len(found) >= 3 and len(found) >= 0.6 * filled:
            hit = find_header(data[i : i + 3], scan=1, positional=hdr.positional)
            if hit:
                # A single-cell row just above is the next catalog's title; otherwise the header is only repeated.
                prev_title = None
                if cur and sum(1 for c in cur[-1].cells if c.strip()) == 1:
                    prev_title = _title_of([" ".join(c for c in cur[-1].cells if c.strip())])
                if prev_title or hit[1].names != hdr.names:
                    if prev_title:
                        cur = cur[:-1]
                    out.append((title, hdr, cur, cur_before))
                    title, hdr, cur, cur_before = prev_title, hit[1], [], [prev_title or ""]
                i += hit[1].header_rows
                continue
        cur.append(row)
        i += 1
    out.append((title, hdr, cur, cur_before))
    return [seg for seg in out if seg[2]] or out[:1]


def _stream_parts(text: str, is_channels) -> list[tuple[str, list[Part]]]:
    """Each stream reading of a text (cells per line, pipes broken inside cells, single spaces…) as parts."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    out = []
    for shape in shapes(text):
        toks = shape.toks
        memo = {"_bigrams": text_bigrams(toks)} if any(t.sep == " " for t in toks[:50]) else {}
        first = find_stream_header(toks, 0)
        if first is None:
            continue
        # Page chrome after the table (打印 关闭, the footer) ends the data; chrome before the header is skipped anyway.
        end = next((i for i in range(first.end, len(toks)) if toks[i].row_start and _CHROME.match(compact(toks[i].text))),
                   len(toks))
        cut = end == len(toks)
        toks = toks[:end]
        heads = [first]
        pos = first.end
        while len(heads) < 50:
            h = find_stream_header(toks, pos)
            if h is None:
                break
            heads.append(h)
            pos = h.end
        starts = []
        for h in heads:
            lines_before = [ln for ln in lines[: toks[h.start].line - 1] if ln.strip()]
            title_tok = None
            for back in range(1, 4):
                k = h.start - back
                if k >= 0 and not toks[k].empty and _TITLE_LINE.search(compact(toks[k].text)) and len(compact(toks[k].text)) <= 80:
                    title_tok = k
                    break
            if not starts or title_tok is not None or h.fields != starts[-1][0].fields:
                starts.append((h, title_tok, lines_before))
        parts = []
        for n, (h, title_tok, lines_before) in enumerate(starts):
            stop = len(toks)
            if n + 1 < len(starts):
                nh, ntitle, _ = starts[n + 1]
                stop = ntitle if ntitle is not None else nh.start
            title = clean(toks[title_tok].text) if title_tok is not None else _title_of(lines_before)
            rows = split_rows(toks[:stop], h, shape.lines_are_rows, shape.soft_continues)
            if shape.lines_are_rows:
                recs = [fit_row(r, h.fields, is_channels, memo) for r in rows]
            else:
                recs = [rec for r in rows for rec in fit_rows(r, h.fields, is_channels, memo)]
            if shape.lines_are_rows:
                recs = _merge_broken_rows(recs, h.fields, is_channels, memo)
            fields_named = list(h.fields)
            if "wild" in fields_named:
                fields_named = _name_wild(fields_named, recs, is_channels)
                for r in recs:
                    if "wild" in r.values:
                        r.values[fields_named[h.fields.index("wild")]] = r.values.pop("wild")
            header = Header([Column(f, i, i + 1) for i, f in enumerate(fields_named)], len(fields_named), 1, h.note, False)
            records = []
            for r in recs:
                rec = Record(r.lines[0] if r.lines else 0, dict(r.values), lines=r.lines, realigned=True)
                if r.spare:
                    rec.values["_spare"] = "\n".join(r.spare)
                # Tick columns whose empty cells vanished: which column a √ stood in is lost. Nothing is assigned.
                tick_fields = [f for f in fields_named if f in _TICK_GROUP or f.startswith("lvl:")]
                ticked = [f for f in tick_fields if rec.values.get(f)]
                if ticked and len(ticked) < len(tick_fields) and not any(t.empty for t in r.toks):
                    rec.ambiguous.update(_TICK_GROUP.get(f, "level") for f in tick_fields)
                records.append(rec)
            parts.append(Part(title, header, records, [], lines_before, cut and n == len(starts) - 1))
        if parts:
            out.append((shape.label, parts))
    return out


def _name_wild(fields: list[str], recs, is_channels) -> list[str]:
    """The field a label cut to 公开 stands for, from what its cells read as across the rows."""
    # lazy: the layout/text-shape readers load with the first import
    from orchestrator.catalog.layout import features, score

    cells = [r.values["wild"] for r in recs if r.values.get("wild")]
    missing = [f for f in _WILD_CANDIDATES if f not in fields]
    totals = {f: sum(score(f, features(c, is_channels), False) for c in cells) for f in missing}
    best = max(totals, key=lambda f: totals[f], default=None)
    name = best if best is not None and totals[best] > 0 else "x:公开"
    return [name if f == "wild" else f for f in fields]


def _merge_broken_rows(recs, fields, is_channels, memo):
    """A text line that carries on the fields where the line above stopped is the rest of that row: its cells come
    after the row's last cell, or the two lines read better as one row than as two (a row break costs)."""
    # lazy: the layout/text-shape readers load with the first import
    from orchestrator.catalog.textshapes import RESTART_COST

    names = fields if "seq" in fields else ["seq", *fields]
    out = []
    for r in recs:
        if out and r.values and "seq" not in r.values and not (out[-1].toks and out[-1].toks[-1].row_end):
            prev = out[-1]
            used_prev = [i for i in prev.fields_used if names[i] in prev.values]
            used_now = [i for i in r.fields_used if names[i] in r.values]
            if used_prev and used_now and min(used_now) > max(used_prev):
                out[-1] = fit_row(prev.toks + r.toks, fields, is_channels, memo)
                continue
            joined = fit_row(prev.toks + r.toks, fields, is_channels, memo)
            if joined.score >= prev.score + r.score - RESTART_COST and not joined.spare:
                out[-1] = joined
                continue
        out.append(r)
    return out


def _quality(entries: list[CatalogEntry]) -> float:
    """How completely a reading filled its entries from their own cells (inherited values do not count)."""
    q = 0.0
    for e in entries:
        own_time = e.time_limit.kind != TimeLimitKind.unknown and "time_limit" not in e.inherited
        own_channels = bool(e.channels) and "channels" not in e.inherited
        q += own_time + own_channels + (0.5 if e.content else -0.5) + 0.25 * (len(e.path) <= 4) - 0.5
        q -= 0.1 * len(e.warnings)
    return q


@dataclass
class ImportResult:
    """Everything an import found: one catalog per title/header (several catalogs on one page), the reading used,
    the source rows each entry came from, and proposed mappings for channel wordings the map does not know."""

    catalogs: list[Catalog]
    reading: str
    source_rows: dict[int, str]
    proposals: dict[str, dict[str, str]] = field(default_factory=dict)  # wording → {code, like}

    @property
    def review(self) -> list[str]:
        """What a person must review, one line each (for the import summary)."""
        out = []
        for c in self.catalogs:
            flagged = [e for e in c.entries if e.warnings]
            name = c.title or c.publisher
            if flagged:
                codes = "、".join(e.code for e in flagged[:20]) + ("…" if len(flagged) > 20 else "")
                out.append(f"{name}：{len(flagged)} 个条目需要人工核对（{codes}）")
        for wording, p in self.proposals.items():
            out.append(f"未识别的公开渠道“{wording}”：建议映射为 {p['code']}（最接近的已知写法“{p['like']}”），确认后才会生效")
        return out


UNKNOWN_PUBLISHER = "（未确定）"


def import_catalogs(
    path: Path | str | None = None,
    publisher: str | None = None,
    channel_map: ChannelMap | None = None,
    *,
    text: str | None = None,
    name: str | None = None,
    source: Source | None = None,
) -> ImportResult:
    """Read a catalog file (or pasted text) into one Catalog per catalog it holds. A catalog whose publisher is
    not known (no title, no 公开主体 column, no ``publisher``) comes back as UNKNOWN_PUBLISHER with a warning."""
    cmap = channel_map or load_channel_map()
    if source is None:
        if text is not None:
            source = read_text_source(text)
            name = name or "粘贴的文本"
        else:
            path = Path(path)
            source = read_source(path)
            name = name or path.name
    name = name or "目录"

    channel_memo: dict[str, bool] = {}

    def is_channels(text: str) -> bool:
        hit = channel_memo.get(text)
        if hit is None:
            hit = channel_memo[text] = _is_channels(text, cmap)
        return hit

    candidates: list[tuple[str, list[Part]]] = []
    if source.kind == "text":
        # Each table of a text source is another reading of the same text (tabs, pipes, spaces, lines).
        for table in source.tables:
            parts = _grid_parts([table], source.preamble, is_channels)
            if parts and table.group == "pipe" and not _consistent(table, parts[0].header):
                continue  # lines are not rows here: the stream readings below handle it
            if parts:
                candidates.append((table.label, parts))
                # A large table read by position needs no other reading (keeps 5,000 rows fast).
                if parts[0].header.positional and len(parts[0].records) > 300:
                    break
        else:
            if source.text:
                candidates.extend(_stream_parts(source.text, is_channels))
    else:
        grid = _grid_parts(source.tables, source.preamble, is_channels)
        if grid:
            candidates.append((grid_label(source, grid), grid))
    hint = _layout_hint(source)
    if not candidates:
        raise CatalogImportError(
            f"{name} 中找不到主动公开目录的表头：需要一行列名，至少包含“序号、公开事项（或一级事项）、公开内容、"
            "公开时限、公开主体、公开渠道和载体、公开对象、责任科室”中的三项" + hint
        )
    best = None
    for n, (label, parts) in enumerate(candidates):
        built = []
        for part in parts:
            catalog_warnings: list[str] = []
            entries = _part_entries(part, cmap, catalog_warnings)
            built.append((part, entries, catalog_warnings))
        q = sum(_quality(e) for _, e, _ in built)
        # A later (less literal) reading must read clearly better to be kept.
        if best is None or q > best[0] * 1.1 + 0.5 * n:
            best = (q, label, built)
    assert best is not None
    quality, label, built = best
    total = sum(len(e) for _, e, _ in built)
    if not total:
        raise CatalogImportError(f"{name} 找到了表头，但表头下面没有任何目录条目（文件可能被截断）" + hint)
    if hint:
        raise CatalogImportError(f"{name}：{hint.lstrip('。')}")

    page_who = next((w for ln in source.preamble if (w := publisher_from_title(ln))), None)
    catalogs: list[Catalog] = []
    proposals: dict[str, dict[str, str]] = {}
    for part, entries, catalog_warnings in built:
        if not entries:
            continue
        who_title = publisher_from_title(part.title)
        common = Counter(e.publisher for e in entries if e.publisher).most_common(1)
        column_who = common[0][0] if common else ""
        if not who_title and not column_who:
            # No title of its own and no 公开主体 column: a title line a little above the table.
            who_title = next((w for ln in reversed(part.lines_before[-4:]) if (w := publisher_from_title(ln))), None)
        if who_title and who_title in column_who:
            who_title = column_who  # the title shortens the agency the 公开主体 column names in full
        who = (publisher or "").strip() or who_title or column_who or page_who or ""
        if not who:
            catalog_warnings.append("无法从文件中确定发布机构（标题中没有机构名称，表格也没有“公开主体”列），请填写发布机构")
        for e in entries:
            if not e.publisher and who:
                e.publisher = who
                if "publisher" in part.header.names:
                    e.warnings.append(f"公开主体为空，已按目录发布机构“{who}”填写，请核对")
            for w in e.options.pop("_unknown_channels", []):
                if w not in proposals and (p := cmap.propose(w)):
                    proposals[w] = {"code": p[0], "like": p[1]}
        _flag_truncated_channels(entries)
        if _marks_mandatory(part):
            catalog_warnings.append("表头注明 ■ 表示必选、□/口 表示可选：两种都作为适用渠道导入（可选的在条目警告中注明），请核对")
        catalogs.append(Catalog(publisher=who or UNKNOWN_PUBLISHER, source=name, entries=entries, warnings=catalog_warnings,
                                title=part.title))
    if len(catalogs) > 1:
        titles = "；".join(f"{i + 1}. {c.title or c.publisher}（{len(c.entries)} 个条目）" for i, c in enumerate(catalogs))
        for c in catalogs:
            c.warnings.insert(0, f"本文件含有 {len(catalogs)} 个目录：{titles}")
    return ImportResult(catalogs, label, _source_rows(source, label), proposals)


def _is_channels(text: str, cmap: ChannelMap) -> bool:
    """Does a cell read as a 公开渠道和载体 cell (checkboxes, or only channel names)?"""
    if len(text) > 80 and not _ANY_MARK.search(text):
        return False
    cell = parse_channel_cell(text, cmap)
    if cell.boxed:
        return True
    return bool(cell.checked) and len(compact(text)) <= 80 and all(cmap.match(c) or cmap.propose(c, loose=False) for c in cell.checked)


def _consistent(table: RawTable, header: Header) -> bool:
    """Most lines after the header have the header's width (a line is a row)."""
    widths = [len(r.cells) for r in table.rows if any(c.strip() for c in r.cells)]
    if not widths:
        return False
    return sum(1 for w in widths if w == header.width) >= 0.7 * len(widths)


def grid_label(source: Source, parts: list[Part]) -> str:
    return {"text": "按行读取的表格", "docx": "Word 表格", "xlsx": "Excel 表格"}.get(source.kind, source.kind)


def _source_rows(source: Source, label: str) -> dict[int, str]:
    if source.kind == "text" and source.text is not None:
        lines = source.text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        return {i: ln for i, ln in enumerate(lines, start=1) if ln.strip()}
    out: dict[int, str] = {}
    for t in source.tables[:1]:
        for r in t.rows:
            out[r.line] = " | ".join(c.replace("\n", " ") for c in r.cells)
    return out


_LAYOUT = re.compile(r"\S {3,}\S")


def _layout_hint(source: Source) -> str:
    """Text copied from a PDF page layout (cells interleaved, options in columns): say what to do instead."""
    if source.kind != "text" or not source.text:
        return ""
    lines = [ln for ln in source.text.splitlines() if ln.strip()]
    laid = sum(1 for ln in lines if len(_LAYOUT.findall(ln)) >= 2)
    codes = sum(1 for ln in lines if re.search(r"(?<![\d.])0\d{3}(?![\d])", ln))
    row_codes = sum(1 for ln in lines if re.match(r"^\s*0\d{3}\s+\d{1,3}\s", ln))
    two_options = sum(1 for ln in lines if re.fullmatch(r"\s*[■□口☑☐√]\s*\S+\s+[■□口☑☐√]\s*\S+\s*", ln))
    if (lines and laid >= 0.3 * len(lines) and codes >= 3) or (row_codes >= 2 and two_options >= 2):
        return ("。这段文字像是从 PDF 按版面复制的（各列文字交错在一起，勾选项排成两栏），无法可靠还原表格："
                "请改为导入 PDF 原文件、Word/Excel 原表，或网页另存的 .html 文件")
    return ""


def import_catalog(
    path: Path | str, publisher: str | None = None, channel_map: ChannelMap | None = None, part: int | None = None
) -> Catalog:
    """Read a catalog file into a Catalog; raises CatalogImportError when it cannot.

    A file holding several catalogs gives the first (or ``part``, 1-based) and names the others in its warnings."""
    path = Path(path)
    cats = import_catalogs(path, publisher, channel_map).catalogs
    if part is not None and not 1 <= part <= len(cats):
        raise CatalogImportError(f"{path.name} 只有 {len(cats)} 个目录，没有第 {part} 个")
    cat = cats[(part or 1) - 1]
    if cat.publisher == UNKNOWN_PUBLISHER:
        raise CatalogImportError("无法从文件中确定发布机构，请用 --publisher 指定")
    return cat


# ---------------------------------------------------------------- entries


def _own_path(v: dict[str, str], stack: list[str], top: int | None = None) -> list[str]:
    """The row's own level names (blank where it prints none), indexed like LEVELS. A numbered item in a single
    column ("1.公共文化设施", "1.1开放时间") takes its depth from the number, and the number is not part of the name."""
    own = [_clean_cached(v.get(lv, "")) for lv in LEVELS]
    named = [i for i, n in enumerate(own) if n]
    if len(named) > 1 and all(_NUMBERED.match(own[i]) for i in named):
        # Every level printed with its number ("1. 公共服务", "1.1主要文艺演出"): the numbers are not part of the names.
        return [_NUMBERED.sub("", n).strip() if n else n for n in own]
    if len(named) == 1 and (m := _NUMBERED.match(own[named[0]])):
        # The number says the depth: count it from the table's top level, not from the column the cell landed in.
        base = named[0] if top is None or "." not in m.group(1).replace("．", ".") else top
        name = own[named[0]][m.end() :].strip()
        depth = m.group(1).replace("．", ".").count(".") + 1
        if depth == 1:
            own[named[0]] = name
        else:
            parents = [stack[i] if i < len(stack) else "" for i in range(base, base + depth - 1)]
            own = [""] * base + parents + [name]
            own += [""] * (len(LEVELS) - len(own))
    return own


def _part_entries(part: Part, cmap: ChannelMap, catalog_warnings: list[str]) -> list[CatalogEntry]:
    header = part.header
    names = set(header.names)
    records = part.records
    for note in part.notes[:10]:
        where = f"第{note.first_line}行" if note.first_line == note.last_line else f"第{note.first_line}–{note.last_line}行"
        if note.fields is None:
            catalog_warnings.append(f"{where}有{note.width}列，多于表头的列，只能按位置读取，请核对")
        else:
            missing = [label_of(n) for n in header.names if n not in note.fields]
            catalog_warnings.append(
                f"{where}有{note.width}列，与表头（{header.width}列）不一致，已按单元格内容对齐"
                + (f"（这些行没有的列：{'、'.join(missing)}）" if missing else "")
            )
    if len(part.notes) > 10:
        catalog_warnings.append(f"另有{len(part.notes) - 10}段行的列数与表头不一致，已按内容对齐")
    if not header.positional:
        catalog_warnings.append("表格的行与表头不按位置对应（文本中单元格被拆散或空单元格丢失），各行已按单元格内容对齐，请核对")
    if "channels" not in names:
        catalog_warnings.append("表格没有“公开渠道和载体”列，所有条目的公开渠道都需要人工补充")
    mandatory_marks = _marks_mandatory(part)

    # The last row of a file that ends without page chrome may be cut off mid-row.
    cut_idx = None
    if part.cut and len(records) >= 3:
        filled = sorted(len([k for k, t in r.values.items() if t.strip()]) for r in records[:-1])
        last = records[-1]
        n_last = len([k for k, t in last.values.items() if t.strip()])
        # Only a row that printed fewer cells than the header can be cut (a full-width row has explicit blanks).
        if last.realigned and n_last < 0.6 * filled[len(filled) // 2] and not ({"time", "channels"} & set(last.values)):
            cut_idx = len(records) - 1

    records = _join_channel_continuations(records, cmap, text=not header.positional)
    ch_columns = [n for n in header.names if n.startswith("ch:")]
    if ch_columns:
        names = names | {"channels"}
    header_has = {f: f in names for f in INHERITABLE}
    header_has["audience"] = bool(names & {"audience", "audience_all", "audience_group"})
    header_has["method"] = bool(names & {"method", "method_active", "method_request"})
    header_has["level"] = "level" in names or any(n.startswith("lvl:") for n in names)
    has_seq = any(r.values.get("seq", "").strip() for r in records)
    top_level = next((i for i, lv in enumerate(LEVELS) if lv in names), 0)
    entries: list[CatalogEntry] = []
    section_key = ""
    section_seen: Counter[int] = Counter()
    position = 0
    above: dict[str, _Cell] = {}  # last value of each inheritable field in the current section
    before: dict[str, _Cell] = {}  # ...and in the previous sections
    prev_path: list[str] = []  # the full level stack of the row above (own or inherited)
    prev_entry_path: list[str] = []  # the path of the row above as imported
    prev_rule: TimeLimit | None = None
    ordinal = 0

    for idx, rec in enumerate(records):
        v = {k: t for k, t in rec.values.items() if t and t.strip()}
        if ch_columns and "channels" not in v:
            # Channel sub-columns ticked in the row: the same as a checkbox list in one cell.
            marks = [("■" if _TICK.match(compact(v.get(c, ""))) else "□") + c[3:] for c in ch_columns]
            if any(m.startswith("■") for m in marks) or any(v.get(c) for c in ch_columns):
                v["channels"] = " ".join(marks)
            for c in ch_columns:
                v.pop(c, None)
        if not v:
            continue
        first = compact(next(iter(v.values())))
        if len(v) == 1 and NOTE_ROW.match(first):
            catalog_warnings.append(f"第{rec.line}行是说明文字，未作为条目导入：{clean(next(iter(v.values())))[:60]}")
            continue
        if set(v) <= {"seq", "_spare"} and _ONLY_NUMBER.match(compact(v.get("seq", ""))):
            catalog_warnings.append(f"第{rec.line}行只有序号“{compact(v.get('seq', ''))}”，没有内容，未导入")
            continue
        own_levels = _own_path(v, prev_path, top_level)
        full_row = bool(v.get("time") and v.get("channels"))
        relevel_warning = ""
        releveled = False
        if not header.positional and rec.realigned and (not v.get("seq") or full_row) and prev_entry_path:
            # Text where merged cells vanished: a row printing fewer item names than the row above prints its deepest
            # levels (the upper ones are the merged cells above), whichever level column the fit gave them.
            names_own = [n for n in own_levels if n]
            numbered_row = any(_NUMBERED.match(_clean_cached(v.get(lv, ""))) for lv in LEVELS)
            if names_own and len(names_own) < len(prev_entry_path) and not numbered_row:
                lead = prev_entry_path[: len(prev_entry_path) - len(names_own)]
                first_level = LEVELS.index(next(lv for lv in LEVELS if lv in names)) if any(lv in names for lv in LEVELS) else 0
                own_levels = ([""] * first_level + lead + names_own + [""] * len(LEVELS))[: len(LEVELS)]
                releveled = True
                if v.get("seq"):
                    relevel_warning = (f"本行有自己的序号，但只印出“{'/'.join(names_own)}”：上级事项“{'/'.join(lead)}”"
                                       "按合并单元格沿用上一行，请核对")
        starts_section = bool(v.get("seq")) if has_seq else bool(own_levels[0] or own_levels[1]) and not releveled
        if starts_section or not section_key:
            ordinal += 1
            number = _section_number(v.get("seq", "")) if has_seq else ordinal
            if number is None:
                number = ordinal
                if v.get("seq"):
                    catalog_warnings.append(f"第{rec.line}行的序号“{v['seq']}”不是数字，按第{ordinal}段编码")
                elif has_seq:
                    catalog_warnings.append(f"第{rec.line}行之前没有序号，这些行按第{ordinal}段编码，请核对")
            section_seen[number] += 1
            section_key = f"{number:02d}" + (f".{section_seen[number]}" if section_seen[number] > 1 else "")
            if section_seen[number] == 2:
                catalog_warnings.append(f"序号{number}重复出现（第{rec.line}行），其条目编码为 {section_key}-NN")
            position = 0
            before = {**before, **above}
            above = {}
            prev_rule = None
        position += 1
        warnings: list[str] = [relevel_warning] if relevel_warning else []
        inherited: list[str] = []
        incomplete = idx == cut_idx

        # Path: own names; levels above the deepest own level come from the row above (merged cells printed once).
        deepest = max((i for i, n in enumerate(own_levels) if n), default=-1)
        if deepest < 0:
            path = list(prev_path)
        else:
            path = [own_levels[i] or (prev_path[i] if i < len(prev_path) else "") for i in range(deepest + 1)]
        stack = path
        present_levels = [lv for lv in LEVELS if lv in names]
        if present_levels:
            # Keep only the levels the table has (a 3-level table whose row prints level 1 only stays 1 deep).
            first_level = LEVELS.index(present_levels[0])
            path = path[first_level:] if len(path) > first_level else path
        if not any(path):
            catalog_warnings.append(f"第{rec.line}行没有事项名称，上方也没有可继承的事项，未导入：{clean(v.get('content', ''))[:40]}")
            position -= 1
            continue
        if "" in path:
            warnings.append("事项路径中有一级缺失（表格中为空且无法继承），请核对")
            path = [p for p in path if p]
        prev_path = stack
        prev_entry_path = path
        if set(v) - {"seq", "_spare"} <= set(LEVELS) and _heading_for_next(records, idx, deepest):
            # A heading row (only item names) whose name the following rows take as their upper level.
            position -= 1
            continue

        # Inheritable fields: own value, else the value above (within this section; across sections only when the
        # row does not print the cell at all), else a warning.
        cells: dict[str, _Cell | None] = {}
        for f in INHERITABLE:
            if f == "audience":
                own = _audience(v) if header_has[f] else ""
            elif f == "method":
                own = _method(v) if header_has[f] else ""
            elif f == "level":
                own = _level(v) if header_has[f] else ""
            else:
                own = v.get(f, "")
            in_header = header_has[f]
            if f in ("audience", "method", "level") and f in rec.ambiguous and not v.get(f) and (own or f != "audience"):
                what = {"audience": "公开对象（全社会/特定群体）", "method": "公开方式（主动/依申请）", "level": "公开层级"}[f]
                warnings.append(f"{what}的勾选列在原文中空列已丢失，无法确定勾的是哪一列，未导入，请人工确认")
                cells[f] = None
                continue
            if own.strip():
                cells[f] = above[f] = _Cell(own, rec.line)
                if f in rec.merged or (f == "audience" and rec.merged & {"audience_all", "audience_group"}):
                    inherited.append(INHERITABLE[f])
            elif f in above and not incomplete:
                cells[f] = above[f]
                inherited.append(INHERITABLE[f])
            else:
                cells[f] = None
                if in_header:
                    label = FIELD_LABEL(f)
                    if f in before:
                        warnings.append(f"{label}为空；上方的值属于另一编号，不跨编号继承，请人工确认")
                    elif f in ("time", "channels", "audience", "offices"):
                        warnings.append(f"{label}为空，请人工确认")

        # Time limit.
        tcell = cells["time"]
        keep_public = False
        if tcell and compact(tcell.text) in SAME_AS_ABOVE:
            base = prev_rule or next((e.time_limit for e in reversed(entries) if e.time_limit.kind != TimeLimitKind.unknown), None)
            if base is not None:
                rule = base.model_copy(update={"text": clean(tcell.text)})
                inherited.append("time_limit")
                warnings.append(f"公开时限写的是“同上”，已按上一行的规则（{base.text}）填写，请核对")
            else:
                rule = TimeLimit(text=clean(tcell.text), kind=TimeLimitKind.unknown)
                warnings.append("公开时限写的是“同上”，但上方没有时限可参照，请人工确认")
        elif tcell:
            rule, keep_public, tw = _parse_time_cached(_clean_cached(tcell.text))
            rule = rule.model_copy()
            warnings.extend(tw)
        else:
            rule = TimeLimit()
        if rule.kind != TimeLimitKind.unknown:
            prev_rule = rule
        keep_public = keep_public or (tcell is not None and bool(re.search(r"长期公开|永久公开", compact(tcell.text))))

        # Channels.
        codes: list[str] = []
        labels: list[str] = []
        options = 0
        unknown: list[str] = []
        if ccell := cells["channels"]:
            parsed = ccell.extra.get("parsed") or parse_channel_cell(ccell.text, cmap)
            ccell.extra["parsed"] = parsed
            options = parsed.options
            chosen = parsed.listed if (mandatory_marks and parsed.boxed) else parsed.checked
            for label in chosen:
                code = cmap.match(label)
                if code is None:
                    unknown.append(label)
                    p = cmap.propose(label)
                    hint = f"；建议映射为“{cmap.labels[p[0]]}”（{p[0]}），确认后生效" if p else ""
                    warnings.append(f"未识别的公开渠道“{label}”，未导入该渠道{hint}；或在 config/channel_map.yaml 中补充映射后重新导入")
                elif code in codes:
                    labels[codes.index(code)] += f"、{label}"
                else:
                    codes.append(code)
                    labels.append(label)
            if mandatory_marks and parsed.boxed:
                optional = [lab for lab in parsed.listed if lab not in parsed.checked]
                if optional:
                    warnings.append(f"按表头说明，以下渠道为可选（□/口）：{'、'.join(optional)}，请确认是否适用")
            if "other" in codes and compact(labels[codes.index("other")]) in ("其他", "其它"):
                warnings.append("勾选了“其他”渠道但没有写明是哪个渠道，请人工确认")
            if parsed.note:
                warnings.append(f"公开渠道单元格中的说明：{parsed.note}")
            if not codes and not unknown:
                warnings.append("公开渠道和载体一项也没有勾选，未自动补填，请人工确认")
        elif not any(w.startswith("公开渠道和载体") for w in warnings):
            warnings.append("公开渠道和载体为空，未自动补填，请人工确认")

        content = clean(v.get("content", ""))
        if v.get("_spare"):
            content = clean(f"{content}\n{v['_spare']}") if content else ""
            if not content:
                warnings.append(f"有一段文字无法对应到任何列，未导入：{clean(v['_spare'])[:40]}")
        if not content and "content" in names:
            warnings.append("公开内容为空，请核对")
        if incomplete:
            warnings.insert(0, INCOMPLETE_WARNING)
        extra = {label_of(k): clean(t) for k, t in v.items() if k.startswith("x:")}
        entry = CatalogEntry(
            code=f"{section_key}-{position:02d}",
            path=path,
            content=content,
            basis=_clean_cached(cells["basis"].text) if cells["basis"] else "",
            time_limit=rule,
            keep_public=keep_public,
            publisher=_clean_cached(cells["publisher"].text) if cells["publisher"] else "",
            channels=codes,
            channel_labels=labels,
            audience=cells["audience"].text if cells["audience"] else "",
            disclosure_method=clean(cells["method"].text) if cells["method"] else "",
            level=clean(cells["level"].text) if cells["level"] else "",
            offices=list(_split_offices_cached(cells["offices"].text)) if cells["offices"] else [],
            inherited=list(dict.fromkeys(inherited)),
            warnings=list(dict.fromkeys(warnings)),
            options={"_channel_options": options} if options else {},
            extra=extra or None,
            source_lines=sorted(set(rec.lines or [rec.line])),
            incomplete=True if incomplete else None,
        )
        if unknown:
            entry.options["_unknown_channels"] = unknown
        entries.append(entry)
    return entries


def _marks_mandatory(part: Part) -> bool:
    """A note in the header or just above it says ■ marks mandatory channels and □/口 optional ones."""
    texts = [part.header.note or "", *part.lines_before[-6:]]
    return any(MARKS_MANDATORY.search(compact(t)) for t in texts if t)


def _join_channel_continuations(records: list[Record], cmap: ChannelMap, text: bool = False) -> list[Record]:
    """A checkbox list continued over the following grid rows, whose other cells are empty, belongs to the row above;
    in text, so does a line holding only another paragraph of the content (multi-paragraph content)."""
    out: list[Record] = []
    for rec in records:
        v = {k: t for k, t in rec.values.items() if t and t.strip()}
        if text and out and rec.realigned and set(v) == {"content"} and out[-1].values.get("content"):
            prev = out[-1]
            prev.values["content"] = f"{prev.values['content']}\n{v['content']}"
            prev.lines = sorted(set(prev.lines or [prev.line]) | set(rec.lines or [rec.line]))
            continue
        if out and set(v) == {"channels"} and parse_channel_cell(v["channels"], cmap).boxed and out[-1].values.get("channels"):
            prev = out[-1]
            prev.values["channels"] = f"{prev.values['channels']}\n{v['channels']}"
            prev.lines = sorted(set(prev.lines or [prev.line]) | set(rec.lines or [rec.line]))
            continue
        out.append(rec)
    return out


def _heading_for_next(records: list[Record], idx: int, deepest: int) -> bool:
    if idx + 1 >= len(records):
        return False
    nxt = records[idx + 1].values
    own = _own_path(nxt, [])
    nxt_deepest = max((i for i, n in enumerate(own) if n), default=-1)
    numbered = any(_NUMBERED.match(clean(nxt.get(lv, ""))) for lv in LEVELS)
    return nxt_deepest > deepest and (not own[deepest] or numbered)


def FIELD_LABEL(f: str) -> str:  # noqa: N802 - reads like the table it replaces
    return label_of(f)


def _flag_truncated_channels(entries: list[CatalogEntry]) -> None:
    """A checkbox list shorter than the catalog's usual list was probably cut off: what is missing is unknown."""
    counts = [e.options.get("_channel_options", 0) for e in entries]
    full = max(counts, default=0)
    for e in entries:
        n = e.options.pop("_channel_options", 0)
        if 0 < n < full and not e.incomplete:
            e.warnings.append(f"公开渠道只列出{n}个选项（其他行列出{full}个），单元格可能被截断，未列出的渠道是否适用无法确定，请人工确认")


def catalog_to_dict(catalog: Catalog) -> dict:
    """The plain-data form written to YAML and printed by --json."""
    return catalog.model_dump(mode="json", by_alias=True, exclude_none=True)
