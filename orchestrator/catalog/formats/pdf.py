"""PDF catalogs: ruled tables extracted with pdfplumber.

A cell pdfplumber reports as covered by a merge (None) is a vertical merge when the cell above it spans down over
it — its text is carried down and marked merged, as for .docx/.xlsx — otherwise part of a horizontal span (blank).
A table continued on the next page (same columns, the header printed again or not) is joined to it. Text above the
first table is the preamble (title). Layouts without ruled tables (text placed in columns, scans) cannot be rebuilt:
the message says what to import instead.
"""

from __future__ import annotations

import io
import re
import zlib
from pathlib import Path

from orchestrator.catalog.errors import CatalogImportError
from orchestrator.catalog.formats.common import carried
from orchestrator.catalog.readers import RawRow, RawTable, Source

MAX_PAGES = 300
# pdfminer inflates every stream whole: a few MB of compressed zeros would become gigabytes. Refuse before parsing.
MAX_INFLATED = 256 * 1024 * 1024
_STREAM = re.compile(rb"stream\r?\n")
_TITLE = re.compile(r"目录|清单")
_NO_TABLE = (
    "中没有找到可以读取的表格（可能是扫描件，或表格没有框线、文字按版面排布）。请导入目录的原始 Word/Excel 文件，"
    "或发布该目录的网页（网址或另存的 .html）；也可以把表格复制到 Excel 中整理后保存为 .xlsx 再导入"
)


def _inflated(data: bytes, limit: int) -> int:
    """Total size of the Flate streams once inflated, counted up to just past `limit` (never inflating more)."""
    total = 0
    for m in _STREAM.finditer(data):
        end = data.find(b"endstream", m.end())
        if end < 0:
            break
        d = zlib.decompressobj()
        buf = data[m.end():end]
        try:
            while buf and total <= limit:
                out = d.decompress(buf, limit - total + 1)
                total += len(out)
                buf = d.unconsumed_tail
                if not out:
                    break
        except zlib.error:
            continue  # not Flate (an image, another filter): pdfminer does not inflate it either
        if total > limit:
            break
    return total


def _open(name: str, data: bytes):
    # lazy: header detection only once a table was extracted
    import pdfplumber

    try:
        return pdfplumber.open(io.BytesIO(data))
    except Exception as exc:
        kind = type(exc).__name__
        # pdfplumber wraps pdfminer's PDFPasswordIncorrect / PDFEncryptionError in a PdfminerException.
        names = " ".join(type(e).__name__ for e in (exc, exc.__cause__, exc.__context__, *exc.args) if isinstance(e, BaseException))
        if "Password" in names or "Encrypt" in names:
            raise CatalogImportError(f"{name} 是加密（设置了密码）的 PDF，无法读取；请取消密码后另存，或导入目录的原始 Word/Excel 文件") from None
        raise CatalogImportError(f"{name} 是损坏或不完整的 PDF，无法读取（{kind}）；请重新下载，或导入目录的原始 Word/Excel 文件") from None


def _grid(table) -> tuple[list[list[str]], list[set[int]]]:
    """Rows of the table with merges resolved: vertical → carried down (merged), horizontal → blank."""
    texts = table.extract()
    rows = table.rows
    grid: list[list[str]] = []
    merged: list[set[int]] = []
    last_box: dict[int, tuple] = {}  # column → (bbox, text) of the latest real cell
    for r, values in enumerate(texts):
        cells: list[str] = []
        m: set[int] = set()
        boxes = rows[r].cells if r < len(rows) else [None] * len(values)
        top, bottom = _row_span(boxes)
        for c, v in enumerate(values):
            box = boxes[c] if c < len(boxes) else None
            if v is not None and box is not None:
                cells.append(v)
                last_box[c] = (box, v)
                continue
            above = last_box.get(c)
            if above is not None and bottom is not None and above[0][3] >= bottom - 1.0 and above[0][1] < top:
                cells.append(carried(above[1]))
                m.add(c)
            else:
                cells.append("")
        grid.append(cells)
        merged.append(m)
    return grid, merged


def _row_span(boxes) -> tuple[float | None, float | None]:
    real = [b for b in boxes if b is not None]
    if not real:
        return None, None
    return min(b[1] for b in real), min(b[3] for b in real)


def read_pdf(path: Path, data: bytes) -> Source:
    name = path.name
    if _inflated(data, MAX_INFLATED) > MAX_INFLATED:
        raise CatalogImportError(f"{name} 中的压缩内容解压后过大（超过 {MAX_INFLATED // 1024 // 1024} MB），不像是一份目录，已拒绝导入")
    pdf = _open(name, data)
    tables: list[RawTable] = []
    preamble: list[str] = []
    try:
        if len(pdf.pages) > MAX_PAGES:
            raise CatalogImportError(f"{name} 有 {len(pdf.pages)} 页，超过 {MAX_PAGES} 页上限，不像是一份目录")
        for pno, page in enumerate(pdf.pages, start=1):
            try:
                found = page.find_tables()
            except Exception as exc:
                raise CatalogImportError(f"{name} 第{pno}页无法解析（{type(exc).__name__}），文件可能已损坏；请导入目录的原始 Word/Excel 文件") from None
            if not tables and found and not preamble:
                head = page.crop((0, 0, page.width, max(found[0].bbox[1], 1))).extract_text() or ""
                preamble = [ln.strip() for ln in head.splitlines() if ln.strip()][:20]
            top = 0.0
            for t_no, t in enumerate(found):
                # A title line between the previous table (or the top of the page) and this one starts a catalog.
                between = page.crop((0, min(top, t.bbox[1]), page.width, max(t.bbox[1], top + 1))).extract_text() or ""
                top = t.bbox[3]
                title = next((ln.strip() for ln in between.splitlines() if _TITLE.search(ln) and len(ln.strip()) <= 80), None)
                grid, merged = _grid(t)
                if not grid:
                    continue
                width = max(len(r) for r in grid)
                rows = [RawRow(cells + [""] * (width - len(cells)), i + 1, frozenset(m)) for i, (cells, m) in enumerate(zip(grid, merged, strict=True))]
                rows = [r for r in rows if any(c.strip() for c in r.cells)]
                if not rows:
                    continue
                prev = tables[-1] if tables else None
                if t_no == 0 and prev is not None and title is None and len(prev.rows[-1].cells) == width:
                    # The table goes on from the previous page: drop the header printed again, keep the rows.
                    own = [r for r in prev.rows if r.line]
                    k = 0
                    while k < len(rows) and k < len(own) and [c.strip() for c in rows[k].cells] == [c.strip() for c in own[k].cells]:
                        k += 1
                    base = max(r.line for r in prev.rows)
                    prev.rows.extend(RawRow(r.cells, base + i + 1, r.merged) for i, r in enumerate(rows[k:]))
                    continue
                if title and tables:  # a later catalog's title, as the first row of its table (line 0)
                    rows.insert(0, RawRow([title] + [""] * (width - 1), 0))
                tables.append(RawTable(rows, f"第{pno}页第{t_no + 1}个表格", "pdf"))
        if not tables:
            text = "".join((p.extract_text() or "") for p in pdf.pages[:3]).strip()
            if not text:
                raise CatalogImportError(f"{name} 中没有文字（可能是扫描图片），无法读取表格。请导入目录的原始 Word/Excel 文件，或发布该目录的网页")
            raise CatalogImportError(name + _NO_TABLE)
    finally:
        pdf.close()
    # lazy: header detection only once a table was extracted
    from orchestrator.catalog.layout import find_header

    if not any(find_header(t.rows) for t in tables):
        raise CatalogImportError(
            f"{name} 中有表格，但没有一个表格有主动公开目录的表头（PDF 的版面可能把表头或各列拆散了）。请导入目录的原始 "
            "Word/Excel 文件，或发布该目录的网页（网址或另存的 .html）；也可以把表格复制到 Excel 中整理后保存为 .xlsx 再导入"
        )
    return Source("pdf", tables, preamble)
