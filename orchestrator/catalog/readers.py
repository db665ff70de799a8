"""Turn a catalog file (flattened text, .docx, .xlsx) into rows of cell strings.

Readers know nothing about catalogs: they only recover the grid. Header detection, column
alignment and inheritance happen in ``layout`` and ``importer``. Every failure becomes a
``CatalogImportError`` with a message a clerk can act on.
"""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import openpyxl
from docx import Document
from docx.oxml.ns import qn

from orchestrator.catalog.errors import CatalogImportError

# A real catalog is a few hundred KB at most; the 5,000-row benchmark is ~3 MB. Anything above this is not a catalog.
MAX_BYTES = 8 * 1024 * 1024
# Guard against zip bombs: the XML inside a .docx/.xlsx may not expand beyond this.
MAX_UNZIPPED_BYTES = 256 * 1024 * 1024


@dataclass
class RawRow:
    cells: list[str]
    line: int  # 1-based line (text) or row (table) number, for messages
    merged: frozenset[int] = frozenset()  # columns whose value comes from an explicit vertical merge above


@dataclass
class RawTable:
    rows: list[RawRow]
    label: str  # where it came from, for messages ("第1个表格", "工作表“目录”", "制表符分隔")
    group: str = ""  # tables of one group and depth may continue each other (a Word table broken by a page)
    depth: int = 0


@dataclass
class Source:
    kind: str  # "text" | "docx" | "xlsx" | "html" | "pdf" | "xls" | "doc" | "csv"
    tables: list[RawTable] = field(default_factory=list)
    preamble: list[str] = field(default_factory=list)  # text before the tables (title line)
    text: str | None = None  # the whole text, for text sources (read again as a stream of cells by textshapes)


# ---------------------------------------------------------------- text


def _decode(data: bytes, name: str) -> str:
    for bom, enc in ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16")):
        if data.startswith(bom):
            text = data.decode(enc, errors="replace")
            break
    else:
        for enc in ("utf-8", "gb18030"):  # GB18030 covers GBK/GB2312 files saved by older Windows tools
            try:
                text = data.decode(enc)
                break
            except UnicodeDecodeError:
                continue
        else:
            raise CatalogImportError(f"{name} 不是文本文件，也不是 .docx/.xlsx 表格（无法识别的二进制内容）")
    controls = sum(1 for ch in text[:65536] if ord(ch) < 32 and ch not in "\t\n\r\f\v")
    if "\x00" in text or controls > max(8, len(text[:65536]) // 200):
        raise CatalogImportError(f"{name} 不是文本文件，也不是 .docx/.xlsx 表格（含有二进制内容）")
    return text


_PIPE_SEP = re.compile(r"^[\s|:：\-—=+]+$")
_MULTISPACE = re.compile(r"[ \u3000]{2,}|\t")


def read_text_source(text: str) -> Source:
    """Pasted text (the web form): the same readings as a text file."""
    if not text or not text.strip():
        raise CatalogImportError("粘贴的文本是空的")
    if len(text.encode("utf-8")) > MAX_BYTES:
        raise CatalogImportError(f"粘贴的文本过大，超过 {MAX_BYTES // 1024 // 1024} MB 上限")
    return _read_text(text)


def _read_text(text: str) -> Source:
    """Offer every plausible way the text may have been flattened; layout keeps the first that has a header."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    numbered = list(enumerate(lines, start=1))
    tables: list[RawTable] = []
    if any("\t" in ln for ln in lines):
        tables.append(RawTable([RawRow(ln.split("\t"), i) for i, ln in numbered if ln.strip()], "制表符分隔", "tab"))
    if sum("|" in ln for ln in lines) >= 2:
        rows = []
        for i, ln in numbered:
            s = ln.strip()
            if not s or _PIPE_SEP.match(s):
                continue
            if s.startswith("|"):
                s = s[1:]
            if s.endswith("|"):
                s = s[:-1]
            rows.append(RawRow([c.strip() for c in s.split("|")], i))
        tables.append(RawTable(rows, "竖线分隔", "pipe"))
    tables.append(
        RawTable([RawRow(_MULTISPACE.split(ln.strip()), i) for i, ln in numbered if ln.strip()], "空格分隔", "spaces")
    )
    # One cell per line, rows separated by blank lines.
    records, current = [], None
    for i, ln in numbered:
        if ln.strip():
            if current is None:
                current = RawRow([], i)
                records.append(current)
            current.cells.append(ln.strip())
        else:
            current = None
    tables.append(RawTable(records, "每行一个单元格", "lines"))
    return Source("text", tables, preamble=[ln.strip() for ln in lines[:20] if ln.strip()], text=text)


# ---------------------------------------------------------------- zip containers


def _read_zip(path: Path) -> Source:
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            if sum(i.file_size for i in zf.infolist()) > MAX_UNZIPPED_BYTES:
                raise CatalogImportError(f"{path.name} 解压后过大，不像是一份目录表格，已拒绝导入")
            bad = zf.testzip()
    except zipfile.BadZipFile:
        raise CatalogImportError(f"{path.name} 已损坏或不完整（无法作为 .docx/.xlsx 打开），请重新保存或重新下载") from None
    if bad is not None:
        raise CatalogImportError(f"{path.name} 已损坏（压缩包中的 {bad} 校验失败），请重新保存或重新下载")
    try:
        if "word/document.xml" in names:
            return _read_docx(path)
        if "xl/workbook.xml" in names:
            return _read_xlsx(path)
    except CatalogImportError:
        raise
    except Exception as exc:  # the libraries raise many kinds of errors on damaged files
        raise CatalogImportError(f"{path.name} 无法读取（文件可能已损坏）：{type(exc).__name__}: {exc}") from None
    raise CatalogImportError(f"{path.name} 是压缩包，但不是 Word(.docx) 或 Excel(.xlsx) 文件")


# ---------------------------------------------------------------- docx

# Word "symbol" runs (w:sym) used for checkboxes in the Wingdings fonts.
_SYMBOLS = {
    "F06E": "■", "F0A8": "□", "F06F": "□", "F071": "□", "F0FE": "☑", "F0FD": "☒", "F0FC": "√",  # Wingdings
    "F052": "☑", "F0A3": "□", "F054": "☒", "F050": "√", "F0A2": "□",  # Wingdings 2
}


def _read_docx(path: Path) -> Source:
    T, TAB, BR, SYM, P, TBL, TR, TC = (qn(t) for t in ("w:t", "w:tab", "w:br", "w:sym", "w:p", "w:tbl", "w:tr", "w:tc"))
    CHAR, SPAN, VMERGE, VAL, GRID_BEFORE = qn("w:char"), qn("w:gridSpan"), qn("w:vMerge"), qn("w:val"), qn("w:gridBefore")

    def para_text(p) -> str:
        out = []
        for el in p.iter(T, TAB, BR, SYM):
            if el.tag == T:
                out.append(el.text or "")
            elif el.tag == SYM:
                out.append(_SYMBOLS.get((el.get(CHAR) or "").upper(), ""))
            else:
                out.append(" " if el.tag == TAB else "\n")
        return "".join(out)

    def block_text(el) -> str:
        parts = []
        for child in el:
            if child.tag == P:
                parts.append(para_text(child))
            elif child.tag == TBL:  # a nested table inside a cell: its cells read left to right
                parts.append(" ".join(block_text(tc) for tr in child.iter(TR) for tc in tr.findall(TC)))
            elif child.tag != qn("w:tcPr"):
                parts.append(block_text(child))  # content controls, tracked insertions, ...
        return "\n".join(p for p in parts if p)

    doc = Document(str(path))
    tables: list[RawTable] = []
    for n, tbl in enumerate(doc.element.body.iter(TBL), start=1):
        depth = sum(1 for a in tbl.iterancestors(TBL))
        rows: list[RawRow] = []
        above: dict[int, str] = {}
        for r, tr in enumerate(tbl.findall(TR), start=1):
            cells: list[str] = []
            merged: set[int] = set()
            gb = tr.find(f"{qn('w:trPr')}/{GRID_BEFORE}")
            cells.extend([""] * (int(gb.get(VAL)) if gb is not None else 0))
            for tc in tr.findall(TC):
                tcpr = tc.find(qn("w:tcPr"))
                span_el = tcpr.find(SPAN) if tcpr is not None else None
                vm = tcpr.find(VMERGE) if tcpr is not None else None
                span = int(span_el.get(VAL)) if span_el is not None else 1
                col = len(cells)
                if vm is not None and vm.get(VAL) in (None, "continue"):
                    text = above.get(col, "")
                    merged.add(col)
                else:
                    text = block_text(tc)
                above[col] = text
                cells.extend([text] + [""] * (span - 1))
            rows.append(RawRow(cells, r, frozenset(merged)))
        tables.append(RawTable(rows, f"第{n}个表格" + ("（嵌套表格）" if depth else ""), "docx", depth))
    if not tables:
        raise CatalogImportError(f"{path.name} 中没有表格；目录必须是 Word 表格")
    preamble = [p.text.strip() for p in doc.paragraphs[:20] if p.text.strip()]
    return Source("docx", tables, preamble)


# ---------------------------------------------------------------- xlsx


def _cell_str(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, dt.datetime):
        return v.date().isoformat() if v.time() == dt.time() else v.isoformat(sep=" ")
    return str(v)


def _read_xlsx(path: Path) -> Source:
    # Not read-only: merged ranges are only available on a fully loaded sheet.
    wb = openpyxl.load_workbook(path, data_only=True)
    tables: list[RawTable] = []
    preamble: list[str] = []
    for ws in wb.worksheets:
        grid = [[_cell_str(v) for v in row] for row in ws.iter_rows(values_only=True)]
        merged: dict[int, set[int]] = {}
        for rng in ws.merged_cells.ranges:
            top = grid[rng.min_row - 1][rng.min_col - 1] if rng.min_row - 1 < len(grid) else ""
            for r in range(rng.min_row + 1, rng.max_row + 1):
                if r - 1 < len(grid):
                    # The first column of a vertical merge carries the value down; the rest of the block stays blank.
                    grid[r - 1][rng.min_col - 1] = top
                    merged.setdefault(r - 1, set()).add(rng.min_col - 1)
        rows = [RawRow(cells, i + 1, frozenset(merged.get(i, ()))) for i, cells in enumerate(grid) if any(c.strip() for c in cells)]
        tables.append(RawTable(rows, f"工作表“{ws.title}”", f"xlsx:{ws.title}"))
        preamble.extend(c.strip() for cells in grid[:5] for c in cells if c.strip())
    wb.close()
    return Source("xlsx", tables, preamble)
