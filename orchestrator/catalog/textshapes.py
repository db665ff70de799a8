"""Catalog text whose lines are not table rows: the cells arrive as a stream of pieces.

A clerk pastes or exports the table in whatever shape the tool gave (see ``catalog-shapes.md``):
one cell per line (PDF copy), one paragraph per cell with blank lines (CMS pages), cells ending in
`` |``, padded pipes, pipe text broken inside cells, single spaces between cells. Each shape becomes a
list of :class:`Tok` — pieces of cell text with what separated them (a certain cell boundary, a line
break, a space). The header is found by its labels (a label may be broken over several pieces), rows
by their sequence numbers (or by a repeated header, or by text lines), and the pieces of a row are
fitted to the header's fields by content: one field may take several consecutive pieces (a wrapped cell,
several paragraphs, one checkbox option per line), and a field the row does not print stays empty.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from orchestrator.catalog.layout import (
    _SEQ,
    Features,
    classify_header,
    features,
    is_sub,
    resolve_levels,
    score,
)
from orchestrator.catalog.textnorm import compact

_NBSP = re.compile(r"[\u00a0\u2002\u2003\u2009\u200b\ufeff]")
_BAR_END = re.compile(r"\s\|\s*$|^\|\s*$")
_UNIT_START = re.compile(r"^(个|工作日|日|天|月|年|周|小时)")
_ROWNUM = re.compile(r"^(\d{1,3})[.、．]?$")
_NUM_PARA = re.compile(r"^\s*(?:\d{1,2}[.、．]|[(（]\d{1,2}[)）]|[一二三四五六七八九十][、.．])\S")


@dataclass
class Tok:
    text: str
    line: int
    hard: bool = False  # a certain cell boundary lies before this piece
    sep: str = "\n"  # what joins it to the piece before when both belong to one cell
    row_start: bool = False  # the first piece of a text line
    row_end: bool = False  # the last piece of a line padded with empty cells to the table's width (a complete row)

    @property
    def empty(self) -> bool:
        return not self.text.strip()


@dataclass
class Shape:
    label: str
    toks: list[Tok]
    lines_are_rows: bool = False  # each text line starts a row unless it continues the one above
    soft_continues: bool = False  # a line that does not start at a cell boundary continues the cell above


def shapes(text: str) -> list[Shape]:
    """Every plausible stream reading of the text (the importer keeps the one that reads best)."""
    lines = _NBSP.sub(" ", text).replace("\r\n", "\n").replace("\r", "\n").replace("\u3000", " ").split("\n")
    raw_lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    out: list[Shape] = []
    filled = [ln for ln in lines if ln.strip()]
    if not filled:
        return out
    piped = sum("|" in ln for ln in filled)
    bar_end = sum(bool(_BAR_END.search(ln)) for ln in filled)
    inner = sum(1 for ln in filled if ln.strip().rstrip("|").count("|") >= 1)
    bar_cells = bar_end >= 0.6 * len(filled) and inner <= 0.3 * len(filled)  # one cell per line, each ending in |
    if bar_cells:
        out.append(Shape("每行一个单元格（以“|”结尾）", _bar_cells(lines)))
    if piped >= 2 and not bar_cells:
        toks = _pipe_stream(_fold_column_lines(lines))
        per_line = len([t for t in toks if not t.empty]) / max(1, len({t.line for t in toks}))
        # Padded pipes (one cell per line) are a stream of cells; otherwise a line is (mostly) a row.
        wide = per_line > 1.6
        out.append(Shape("竖线分隔（行内换行）", toks, lines_are_rows=wide, soft_continues=wide))
    if sum(1 for ln in lines if not ln.strip()) >= 0.25 * len(lines):
        # One paragraph (block of lines) per cell, blank lines between cells (CMS pages): a block is one cell.
        out.append(Shape("每段一个单元格", _block_cells(lines, raw_lines)))
    out.append(Shape("每行一个单元格", _line_cells(lines, raw_lines)))
    if sum(" " in ln.strip() for ln in filled) >= 0.3 * len(filled):
        out.append(Shape("单个空格分隔", _space_cells(lines), lines_are_rows=True))
    return out


def _bar_cells(lines: list[str]) -> list[Tok]:
    toks: list[Tok] = []
    buf: list[str] = []
    first = 0
    seen_bar = False
    for i, ln in enumerate(lines, start=1):
        s = ln.strip()
        if not s and not buf:
            continue
        if not seen_bar and s and not s.endswith("|"):
            toks.append(Tok(s, i, hard=True, row_start=True))  # a title or page text before the table
            continue
        if not buf:
            first = i
        if s.endswith("|"):
            seen_bar = True
            pieces = s[:-1].split("|")  # "√ | ||": padding cells after the last one
            buf.append(pieces[0].strip())
            toks.append(Tok("\n".join(b for b in buf if b), first, hard=True, row_start=True))
            for p in pieces[1:]:
                if p.strip():
                    toks.append(Tok(p.strip(), i, hard=True))
            buf = []
        elif s:
            buf.append(s)
    if buf:
        toks.append(Tok("\n".join(buf), first, hard=True, row_start=True))
    return toks


def _pipe_cells(line: str, border: bool = True) -> list[str]:
    s = line.strip()
    if border and s.startswith("|"):
        s = s[1:]
    return s.split("|")


def _fold_column_lines(lines: list[str]) -> list[str]:
    """Pipe lines that hold one cell in a column of a padded grid row (a checkbox list continued over the grid rows
    around its row, whose other cells are empty) are folded into that column of their row: the row below when they
    come between a header and it, else the row above. Returns the lines with those emptied."""
    out = list(lines)
    # Does a leading "|" draw the table's border, or stand after an empty first cell? The fuller rows tell.
    full = [ln.strip() for ln in lines if ln.count("|") >= 3 and sum(1 for c in ln.split("|") if c.strip()) >= 3]
    border = sum(1 for ln in full if ln.startswith("|")) >= 0.5 * len(full) if full else True
    cells_of = [(_pipe_cells(ln, border) if "|" in ln else None) for ln in lines]

    def single(i: int) -> int | None:
        cells = cells_of[i]
        if not cells or len(cells) < 4:
            return None
        filled = [c for c, v in enumerate(cells) if v.strip()]
        return filled[0] if len(filled) == 1 and filled[0] > 0 else None

    def is_header(i: int) -> bool:
        cells = cells_of[i] or []
        return sum(1 for c in cells if c.strip() and classify_header(c)) >= 3

    data_rows = [i for i, c in enumerate(cells_of) if c and single(i) is None and not is_header(i)
                 and sum(1 for v in c if v.strip()) >= 3]
    if not data_rows:
        return out
    pending: list[tuple[int, int]] = []  # folded lines waiting for the row below
    last_data: int | None = None
    touched: set[int] = set()
    for i, cells in enumerate(cells_of):
        if cells is None or not lines[i].strip():
            continue
        if is_header(i):
            last_data = None
            continue
        col = single(i)
        if col is not None:
            if last_data is None:
                pending.append((i, col))
            else:
                _fold_into(cells_of, last_data, col, cells[col], after=True)
                touched.add(last_data)
                out[i] = ""
            continue
        if i in data_rows:
            for j, c in pending:
                _fold_into(cells_of, i, c, cells_of[j][c], after=False)
                touched.add(i)
                out[j] = ""
            pending = []
            last_data = i
            continue
    for i in touched:
        lead = "|" if border and lines[i].strip().startswith("|") else ""
        out[i] = lead + "|".join(cells_of[i])
    return out


def _fold_into(cells_of: list, row: int, col: int, text: str, after: bool) -> None:
    cells = cells_of[row]
    while len(cells) <= col:
        cells.append("")
    old = cells[col].strip()
    cells[col] = f"{old} {text.strip()}".strip() if after else f"{text.strip()} {old}".strip()


def _pipe_stream(lines: list[str]) -> list[Tok]:
    toks: list[Tok] = []
    ended_with_bar = True
    lone_bar = False
    for i, ln in enumerate(lines, start=1):
        s = ln.strip()
        if not s or re.fullmatch(r"[\s|:：\-—=+]+", s):
            if s == "|":
                if lone_bar:
                    toks.append(Tok("", i, hard=True, row_start=True))  # "|" lines around nothing: an empty cell
                lone_bar = True
            if s:
                ended_with_bar = True
            continue
        lone_bar = False
        starts_bar = s.startswith("|")
        parts = s.split("|")
        if starts_bar:
            parts = parts[1:]
        ends_bar = s.endswith("|")
        if ends_bar:
            parts = parts[:-1]
        # Trailing runs of empty cells come from colspan/rowspan padding.
        padding = 0
        while parts and not parts[-1].strip():
            parts.pop()
            padding += 1
        for n, p in enumerate(parts):
            hard = n > 0 or starts_bar or ended_with_bar
            toks.append(Tok(p.strip(), i, hard=hard, row_start=n == 0))
        if parts and padding + ends_bar >= 3:
            toks[-1].row_end = True
        ended_with_bar = ends_bar or not parts
    return toks


def _line_cells(lines: list[str], raw_lines: list[str]) -> list[Tok]:
    toks: list[Tok] = []
    for i, (ln, raw) in enumerate(zip(lines, raw_lines, strict=True), start=1):
        if ln.strip():
            toks.append(Tok(ln.strip(), i, row_start=True))
        elif raw.strip("\r\n"):
            # A whitespace-only paragraph (CMS rendering, often a non-breaking space) stands for an empty cell.
            toks.append(Tok("", i, hard=True, row_start=True))
    return toks


def _block_cells(lines: list[str], raw_lines: list[str]) -> list[Tok]:
    toks: list[Tok] = []
    buf: list[str] = []
    first = 0
    for i, (ln, raw) in enumerate([*zip(lines, raw_lines, strict=True), ("", "")], start=1):
        if ln.strip():
            if not buf:
                first = i
            buf.append(ln.strip())
            continue
        if buf:
            toks.append(Tok("\n".join(buf), first, sep="\n\n", row_start=True))
            buf = []
        elif raw.strip("\r\n"):
            toks.append(Tok("", i, hard=True, row_start=True))  # a whitespace-only paragraph: an empty cell
    return toks


def _space_cells(lines: list[str]) -> list[Tok]:
    toks: list[Tok] = []
    for i, ln in enumerate(lines, start=1):
        for n, w in enumerate(ln.split()):
            toks.append(Tok(w, i, sep=" ", row_start=n == 0))
    return toks


# ---------------------------------------------------------------- header in a stream

_MAXJOIN_HEADER = 4


@dataclass
class StreamHeader:
    start: int  # index of its first piece
    end: int  # index after its last piece
    fields: list[str]
    note: str


def _label_at(toks: list[Tok], i: int) -> tuple[str, int] | None:
    """The longest run of pieces from i that reads as one header label: (field, pieces used)."""
    best = None
    text = ""
    for k in range(_MAXJOIN_HEADER):
        if i + k >= len(toks):
            break
        t = toks[i + k]
        if k and t.hard:
            break
        if t.empty:
            if k == 0:
                return None
            break
        text += t.text
        if len(compact(text)) > 40:
            break
        f = classify_header(text)
        if f:
            best = (f, k + 1)
    return best


def find_stream_header(toks: list[Tok], start: int = 0, scan: int = 800) -> StreamHeader | None:
    i = start
    stop = min(len(toks), start + scan)
    while i < stop:
        hit = _read_header(toks, i)
        if hit:
            return hit
        i += 1
    return None


def _read_header(toks: list[Tok], i: int) -> StreamHeader | None:
    first = _label_at(toks, i)
    if not first:
        return None
    labels: list[str] = []
    texts: list[str] = []
    j = i
    misses = 0
    while j < len(toks):
        if toks[j].empty:
            j += 1
            continue
        hit = _label_at(toks, j)
        if hit is None:
            # One unknown label inside a header is tolerated (a damaged or unusual column name).
            if misses == 0 and j + 1 < len(toks) and _label_at(toks, j + 1) and len(compact(toks[j].text)) <= 12 and not _ROWNUM.match(compact(toks[j].text)):
                misses += 1
                texts.append(toks[j].text)
                j += 1
                continue
            break
        f, k = hit
        if f == "seq" and labels and "seq" in labels:
            break  # the next header, repeated before the next row
        labels.append(f)
        texts.append("".join(t.text for t in toks[j : j + k]))
        j += k
    core = {f for f in labels if not f.startswith(("x:", "lvl:")) and f != "wild"}
    if len(core) < 3 or not core & {"content", "item", "level1", "dir1", "level2", "dir2"}:
        return None
    top = [f for f in labels if not is_sub(f)]
    subs = [f for f in labels if is_sub(f)]
    # lazy: layout imports this module's callers
    from orchestrator.catalog.layout import _splice

    fields = [f for f in resolve_levels(_splice(list(dict.fromkeys(top)), list(dict.fromkeys(subs)))) if f]
    return StreamHeader(i, j, list(dict.fromkeys(fields)), " ".join(texts))


# ---------------------------------------------------------------- rows


@dataclass
class StreamRecord:
    toks: list[Tok]
    values: dict[str, str] = field(default_factory=dict)
    fields_used: list[int] = field(default_factory=list)
    spare: list[str] = field(default_factory=list)  # pieces no field could take in order
    score: float = 0.0  # how well the pieces fit (for deciding whether two text lines are one row)

    @property
    def lines(self) -> list[int]:
        return sorted({t.line for t in self.toks})


def _seq_chain(toks: list[Tok]) -> list[int]:
    """Indexes of the pieces that are row numbers: bare numbers rising by 1–3, each at a cell or line start."""
    chain: list[int] = []
    last = 0
    for i, t in enumerate(toks):
        m = _ROWNUM.match(compact(t.text))
        if not m or not (t.hard or t.row_start):
            continue
        n = int(m.group(1))
        if i + 1 < len(toks) and _UNIT_START.match(compact(toks[i + 1].text)) and not toks[i + 1].hard:
            continue  # "10" + "个工作日内": a count broken off its unit
        # Numbering may skip (rows left out of a page, D5), but never goes back.
        if (not chain and 1 <= n <= 3) or (chain and last < n <= last + (3 if len(chain) < 2 else 30)):
            chain.append(i)
            last = n
    return chain


def split_rows(toks: list[Tok], header: StreamHeader, lines_are_rows: bool, soft_continues: bool = False) -> list[list[Tok]]:
    """Data pieces after the header, grouped into rows (repeated headers removed)."""
    data = toks[header.end :]
    # A header repeated before every row: drop its copies (the pieces between copies are one row each).
    repeated: list[tuple[int, int]] = []
    i = 0
    while i < len(data):
        h = _read_header(data, i) if _label_at(data, i) else None
        if h and h.fields == header.fields:
            repeated.append((h.start, h.end))
            i = h.end
        else:
            i += 1
    if repeated:
        rows: list[list[Tok]] = []
        prev = 0
        for s, e in repeated:
            if s > prev:
                rows.append(data[prev:s])
            prev = e
        rows.append(data[prev:])
        return [r for r in rows if any(not t.empty for t in r)]
    if lines_are_rows:
        rows = []
        for t in data:
            if not rows or (t.row_start and (t.hard or not soft_continues)):
                rows.append([t])
            else:
                rows[-1].append(t)
        return rows
    chain = _seq_chain(data)
    if chain:
        rows = []
        if chain[0] > 0:
            rows.append(data[: chain[0]])
        for a, b in zip(chain, [*chain[1:], len(data)], strict=True):
            rows.append(data[a:b])
        return [r for r in rows if any(not t.empty for t in r)]
    return [data] if data else []


RESTART_COST = 6.0
_CONTINUES = re.compile(r"^[和及与、等的之或并]")
_CJK_CHAR = re.compile(r"[\u4e00-\u9fff]")


def _word_goes_on(before: str, after: str, bigrams: set[str]) -> bool:
    """Does a space between two pieces fall inside a word? Yes when the piece after starts with a connective, or when
    the two characters around the space occur side by side elsewhere in the same text."""
    if not before or not after or not _CJK_CHAR.match(before[-1]) or not _CJK_CHAR.match(after[0]):
        return False
    return bool(_CONTINUES.match(after)) or before[-1] + after[0] in bigrams


def text_bigrams(toks: list[Tok]) -> set[str]:
    """Adjacent character pairs inside the pieces of a text (never across a space)."""
    out: set[str] = set()
    for t in toks:
        s = t.text
        out.update(s[i : i + 2] for i in range(len(s) - 1))
    return out


def fit_row(toks: list[Tok], fields: list[str], is_channels: Callable[[str], bool], memo: dict) -> StreamRecord:
    """Fit the pieces of one row to the header's fields in order (dynamic programming over joins and skips)."""
    return fit_rows(toks, fields, is_channels, memo, restart=False)[0]


def fit_rows(toks: list[Tok], fields: list[str], is_channels: Callable[[str], bool], memo: dict,
             restart: bool = True) -> list[StreamRecord]:
    """Fit pieces to the header's fields in order (dynamic programming over joins and skips). With ``restart``
    the pieces may hold more than one row: rows under a number whose merged cells were printed once start
    again at an item level or the content (a row break costs, so it is only taken when the pieces read better)."""
    names = fields if "seq" in fields else ["seq", *fields]
    n, m = len(toks), len(names)
    # A row starts at its top level when it has a number, or when the table has no 序号 column at all.
    has_seq = bool(toks and _SEQ.match(compact(toks[0].text))) or "seq" not in fields
    targets = [k for k, f in enumerate(names) if f in ("level0", "level1", "level2", "level3", "content")] if restart else []
    wild_fields = [f for f in ("time", "channels", "content", "publisher", "basis", "offices", "audience") if f not in names]

    def fit_score(name: str, f: Features) -> float:
        if name == "wild":  # a label cut to 公开: whichever missing field the cell reads as
            return max((score(w, f, has_seq) for w in wild_fields), default=0.0)
        return score(name, f, has_seq)

    maxj = 8
    NEG = float("-inf")
    bigrams = memo.get("_bigrams") or set()
    nonempty_after = [0] * (n + 1)
    for k in range(n - 1, -1, -1):
        nonempty_after[k] = nonempty_after[k + 1] + (not toks[k].empty)
    best = [[NEG] * (m + 1) for _ in range(n + 1)]
    back: list[list[tuple[int, int, str] | None]] = [[None] * (m + 1) for _ in range(n + 1)]
    best[0][0] = 0.0

    def feat(text: str) -> Features:
        f = memo.get(text)
        if f is None:
            f = memo[text] = features(text, is_channels)
        return f

    for i in range(n + 1):
        for j in range(m + 1):
            cur = best[i][j]
            if cur == NEG:
                continue
            if i < n and not toks[i].empty and cur - 2.5 > best[i + 1][j]:
                # A piece no field can take in order (a continuation paragraph of an earlier cell): set aside.
                best[i + 1][j] = cur - 2.5
                back[i + 1][j] = (i, j, "spare")
            if j < m and cur > best[i][j + 1]:  # the row does not print this field
                best[i][j + 1] = cur
                back[i][j + 1] = (i, j, "skip")
            if i < n and toks[i].empty:
                # An explicit empty cell: it occupies a field, or (rarely) is an empty paragraph inside a cell.
                if restart and j == m and nonempty_after[i] >= 3 and cur - 3.0 > best[i + 1][1]:
                    # ...or, right after a complete row, the empty 序号 cell of the next row (merged number).
                    best[i + 1][1] = cur - 3.0
                    back[i + 1][1] = (i, j, "restart_empty")
                if j < m and cur + 0.4 > best[i + 1][j + 1]:
                    best[i + 1][j + 1] = cur + 0.4
                    back[i + 1][j + 1] = (i, j, "empty")
                if cur - 0.3 > best[i + 1][j]:
                    best[i + 1][j] = cur - 0.3
                    back[i + 1][j] = (i, j, "drop")
                continue
            if i >= n:
                continue
            moves = [(j, 0.0, "take")] if j < m else []
            if j > 1:
                # Under a merged upper level the new row starts at the deepest level (or the content).
                deepest = max((t for t in targets if names[t] != "content"), default=0)
                moves += [(jj, RESTART_COST + (2.0 * (deepest - jj) if names[jj] != "content" else 1.5), "restart")
                          for jj in targets if jj < j - 1]
            for jj, cost, kind in moves:
                text = ""
                joins = 0.0
                for k in range(i, min(n, i + maxj)):
                    t = toks[k]
                    if k > i and (t.hard or t.empty):
                        break
                    text = t.text if k == i else f"{text}{t.sep}{t.text}"
                    if k > i:
                        # Numbered paragraphs (1. … 2. …) continue one cell: joining them costs nothing.
                        if _NUM_PARA.match(t.text) and _NUM_PARA.match(toks[i].text):
                            pass
                        elif t.sep == " " and _word_goes_on(toks[k - 1].text, t.text, bigrams):
                            joins -= 0.6  # a word the export broke with a space ("基本公共卫 生服务项目")
                        else:
                            joins += 0.9 if t.sep == "\n\n" else 0.35  # paragraphs are more often cells of their own
                    v = cur - cost + fit_score(names[jj], feat(text)) - joins
                    if v > best[k + 1][jj + 1]:
                        best[k + 1][jj + 1] = v
                        back[k + 1][jj + 1] = (i, j, kind)
    end_j = max(range(m + 1), key=lambda jj: best[n][jj])
    if best[n][end_j] == NEG:
        return [StreamRecord(toks, score=NEG)]
    rows: list[StreamRecord] = []
    rec = StreamRecord([])
    i, j = n, end_j
    last = n
    while (i, j) != (0, 0):
        step = back[i][j]
        if step is None:
            break
        pi, pj, kind = step
        if kind in ("take", "restart"):
            text = toks[pi].text
            for t in toks[pi + 1 : i]:
                text = f"{text}{t.sep}{t.text}"
            rec.values[names[j - 1]] = text
            rec.fields_used.append(j - 1)
        elif kind in ("empty", "restart_empty"):
            rec.fields_used.append(j - 1)
        elif kind == "spare":
            rec.spare.insert(0, toks[pi].text)
        if kind in ("restart", "restart_empty"):
            rec.toks = toks[pi:last]
            rows.append(rec)
            rec = StreamRecord([])
            last = pi
        i, j = pi, pj
    rec.toks = toks[:last]
    rows.append(rec)
    rows.reverse()
    rows[0].score = best[n][end_j]
    for r in rows:
        r.fields_used.sort()
    return rows
