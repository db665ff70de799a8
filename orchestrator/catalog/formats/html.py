"""HTML catalogs: a saved page or a fragment, with the table's real structure.

rowspan/colspan are expanded into a grid (a rowspanned value is carried down and marked merged, as for .docx/.xlsx
vertical merges; a colspan leaves blank cells), nested tables are tables of their own (and their text also stays in
the enclosing cell, where a small checkbox table belongs), ``<input type="checkbox">`` becomes ■/□ by its checked
state, ``<br>`` and block elements are line breaks inside a cell. The page's text before the catalog table (title,
breadcrumbs, 索引号 lines) is the preamble. When no table holds a catalog (a CMS that prints one paragraph per cell),
the page's text is read as pasted text instead.
"""

from __future__ import annotations

import codecs
import re

from orchestrator.catalog.errors import CatalogImportError
from orchestrator.catalog.formats.common import carried
from orchestrator.catalog.readers import RawRow, RawTable, Source

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_\-]+)""", re.IGNORECASE)
_WS = re.compile(r"[ \t\r\n\f\v]+")  # not NBSP: clean() handles it later
_BLOCK = frozenset({
    "p", "div", "li", "ul", "ol", "tr", "table", "tbody", "thead", "tfoot", "h1", "h2", "h3", "h4", "h5", "h6",
    "section", "article", "header", "footer", "blockquote", "pre", "dl", "dt", "dd", "caption", "form", "center", "nav",
})
_SKIP = frozenset({"script", "style", "noscript", "template", "head", "select", "option", "button", "iframe", "object"})
_BOX_ALT = frozenset("■□☑☐√✓✔")
_TITLE_WORDS = re.compile(r"目录|清单")
# Word's "save as web page" keeps checkbox symbols as letters in a Wingdings font: map them back (as the .docx
# reader does for w:sym runs).
_WINGDINGS = {"n": "■", "o": "□", "q": "□", "¨": "□", "þ": "☑", "ý": "☒", "ü": "√", "x": "☒"}
_WINGDINGS2 = {"R": "☑", "T": "☒", "£": "□", "P": "√", "¢": "□", "S": "☒", "Q": "☒"}
_FONT = re.compile(r"font-family\s*:\s*['\"]?\s*(wingdings(?:\s*2)?)", re.IGNORECASE)
MAX_SPAN = 500
MAX_CELLS = 400_000  # a catalog has a few thousand cells; spans beyond this are hostile


def _codec(name: str | None) -> str | None:
    if not name:
        return None
    try:
        codec = codecs.lookup(name.strip().lower()).name
    except LookupError:
        return None
    # Pages labelled GB2312/GBK routinely hold GBK/GB18030 characters: read the superset.
    return "gb18030" if codec in ("gb2312", "gbk", "gb18030", "hz") else codec


def decode_html(data: bytes, name: str, declared: str | None = None) -> str:
    """Text of an HTML document: BOM; UTF-8 when the bytes are valid UTF-8 (GBK text practically never is, while a
    page mislabelled gb2312 often is UTF-8); then the HTTP/meta charset, GB18030, detection."""
    for bom, enc in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            return data.decode(enc, errors="replace")
    tried = []
    meta = _META_CHARSET.search(data[:4096])
    for enc in ("utf-8", _codec(declared), _codec(meta.group(1).decode("ascii", "ignore")) if meta else None, "gb18030"):
        if enc and enc not in tried:
            tried.append(enc)
            try:
                return data.decode(enc)
            except UnicodeDecodeError:
                continue
    # lazy: layout/readers only for a page that has no table (read as text)
    from charset_normalizer import from_bytes

    best = from_bytes(data[:262144]).best()
    if best is None:
        raise CatalogImportError(f"{name} 的文字编码无法识别（不是 UTF-8 或 GBK），请在浏览器中另存为“网页，仅 HTML”（UTF-8）后再导入")
    return data.decode(best.encoding, errors="replace")


def _is_box(el) -> str | None:
    if el.tag == "input" and (el.get("type") or "").lower() in ("checkbox", "radio"):
        return "■" if el.get("checked") is not None else "□"
    if el.tag == "img":
        alt = (el.get("alt") or "").strip()
        if alt in _BOX_ALT:
            return alt
    return None


def _text(el, out: list[str], stop=None, markers: dict | None = None, font: dict | None = None) -> bool:
    """Append the text of `el` (and its tail) to `out`; returns True when `stop` was reached (nothing after it).
    An element in `markers` is replaced by its marker line (the catalog tables, when splitting the page text)."""
    if el is stop:
        return True
    if markers and el in markers:
        out.append(f"\n{markers[el]}\n")
        if el.tail:
            out.append(_WS.sub(" ", el.tail))
        return False
    tag = el.tag if isinstance(el.tag, str) else ""
    tag = tag.lower()
    if tag and tag not in _SKIP:
        box = _is_box(el)
        if box:
            out.append(box)
        elif tag == "br":
            out.append("\n")
        elif tag in ("td", "th"):
            out.append(" ")
        block = tag in _BLOCK
        if block:
            out.append("\n")
        table = _symbol_font(el) or font  # a symbol font set on an element applies to what it contains
        if el.text:
            text = _WS.sub(" ", el.text)
            out.append("".join(table.get(ch, ch) for ch in text) if table else text)
        for child in el:
            if _text(child, out, stop, markers, table):
                return True
        if block:
            out.append("\n")
    if el.tail:
        tail = _WS.sub(" ", el.tail)
        out.append("".join(font.get(ch, ch) for ch in tail) if font else tail)  # the tail is in the parent's font
    return False


def _symbol_font(el) -> dict[str, str] | None:
    """The letter → symbol table when `el` sets a Wingdings font (style or <font face>)."""
    face = el.get("face") or ""
    m = _FONT.search(el.get("style") or "")
    name = (m.group(1) if m else face).lower().replace(" ", "")
    if name == "wingdings":
        return _WINGDINGS
    if name == "wingdings2":
        return _WINGDINGS2
    return None


def _lines(parts: list[str]) -> list[str]:
    return [ln.strip(" ") for ln in "".join(parts).split("\n") if ln.strip(" \u00a0\u3000")]


def cell_text(el) -> str:
    parts: list[str] = []
    if el.text:
        parts.append(_WS.sub(" ", el.text))
    for child in el:
        _text(child, parts)
    return "\n".join(_lines(parts))


def _own_rows(table) -> list:
    """The table's rows, not those of tables nested in its cells."""
    return [tr for tr in table.iter("tr") if next(tr.iterancestors("table"), None) is table]


def expand(table) -> list[RawRow]:
    """The table as a grid: rowspans carried down (and marked merged), colspans padded with blank cells."""
    trs = _own_rows(table)
    rows: list[RawRow] = []
    carry: dict[int, list] = {}  # column → [rows still covered, text]
    total = 0
    for r, tr in enumerate(trs, start=1):
        cells: list[str] = []
        merged: set[int] = set()
        for td in tr:
            if not isinstance(td.tag, str) or td.tag.lower() not in ("td", "th"):
                continue
            _take_carried(cells, merged, carry)
            rs = _span(td.get("rowspan"), len(trs) - r + 1)
            cs = _span(td.get("colspan"), MAX_SPAN)
            text = cell_text(td)
            col = len(cells)
            cells.append(text)
            cells.extend([""] * (cs - 1))
            if rs > 1:
                for k in range(cs):
                    carry[col + k] = [rs - 1, carried(text) if k == 0 else ""]
        while carry and max(carry) >= len(cells):
            if len(cells) in carry:
                _take_carried(cells, merged, carry)
            else:
                cells.append("")
        total += len(cells)
        if total > MAX_CELLS:
            raise CatalogImportError("网页中的表格大得不像一份目录（单元格过多，或合并单元格的跨度异常），已拒绝导入")
        if any(c.strip() for c in cells):
            rows.append(RawRow(cells, r, frozenset(merged)))
    return rows


def _width(table: RawTable) -> int:
    return max(len(r.cells) for r in table.rows)


def _take_carried(cells: list[str], merged: set[int], carry: dict[int, list]) -> None:
    """Place the values rowspanned from rows above at the current position."""
    while len(cells) in carry:
        col = len(cells)
        left, text = carry[col]
        cells.append(text)
        merged.add(col)
        if left <= 1:
            del carry[col]
        else:
            carry[col][0] = left - 1


def _span(value: str | None, limit: int) -> int:
    try:
        n = int(str(value).strip()) if value is not None else 1
    except ValueError:
        return 1
    if n == 0:  # HTML: rowspan="0" spans to the end of the table section
        return max(limit, 1)
    return max(1, min(n, limit, MAX_SPAN))


def read_html(name: str, data: bytes, declared: str | None = None) -> Source:
    # lazy: layout/readers only for a page that has no table (read as text)
    import lxml.etree

    # lazy: layout/readers only for a page that has no table (read as text)
    import lxml.html

    # lazy: layout/readers only for a page that has no table (read as text)
    from orchestrator.catalog.layout import find_header

    # lazy: layout/readers only for a page that has no table (read as text)
    from orchestrator.catalog.readers import _read_text

    text = decode_html(data, name, declared)
    if not text.strip():
        raise CatalogImportError(f"{name} 是空的")
    try:
        doc = lxml.html.document_fromstring(text)
    except (lxml.etree.ParserError, ValueError) as exc:
        raise CatalogImportError(f"{name} 不是可以读取的网页（{exc}），请在浏览器中重新另存为“网页，仅 HTML”后再导入") from None
    tables: list[RawTable] = []
    elements = []
    for n, t in enumerate(doc.iter("table"), start=1):
        depth = sum(1 for _ in t.iterancestors("table"))
        rows = expand(t)
        if rows:
            tables.append(RawTable(rows, f"第{n}个表格" + ("（嵌套表格）" if depth else ""), "html", depth))
            elements.append(t)
    has_header = [find_header(t.rows) is not None for t in tables]
    heads = [k for k, hit in enumerate(has_header) if hit]
    # A table without a header, as wide as a catalog table and not around one, may continue a catalog table (a page
    # converted from PDF prints one table per page).
    around = {id(a) for k in heads for a in elements[k].iterancestors("table")}
    marked = [k for k in range(len(elements)) if has_header[k] or id(elements[k]) not in around]

    body = doc.find("body")
    root = body if body is not None else doc
    title = doc.findtext(".//title")
    preamble: list[str] = []
    catalogs: list[RawTable] = []
    if heads:
        # The page's text with a marker line where each table stands: what precedes the first catalog table is the
        # preamble; a title line right before a later catalog table (several catalogs on one page) becomes its first
        # row; a header-less table of the same width right after a catalog table (no title between) continues it.
        markers = {elements[k]: f"\x00{k}\x00" for k in marked}
        page_parts: list[str] = []
        if root.text:
            page_parts.append(_WS.sub(" ", root.text))
        for child in root:
            _text(child, page_parts, markers=markers)
        seq: list[int | str] = []
        for line in _lines(page_parts):
            if line.startswith("\x00") and line.endswith("\x00"):
                seq.append(int(line.strip("\x00")))
            else:
                seq.append(line)
        first = next(i for i, x in enumerate(seq) if isinstance(x, int) and has_header[x])
        preamble = [x for x in seq[:first] if isinstance(x, str)][-20:] + ([title.strip()] if title and title.strip() else [])
        before: list[str] = []
        current: RawTable | None = None
        for x in seq:
            if isinstance(x, str):
                before.append(x)
                continue
            table = tables[x]
            if has_header[x]:
                heading = next((ln for ln in reversed(before[-3:]) if _TITLE_WORDS.search(ln) and len(ln) <= 80), None)
                if heading and catalogs:
                    table.rows.insert(0, RawRow([heading] + [""] * (len(table.rows[0].cells) - 1), 0))
                catalogs.append(table)
                current = table
            elif (current is not None and table.depth == current.depth and _width(table) == _width(current)
                  and not any(_TITLE_WORDS.search(ln) for ln in before)):
                base = max(r.line for r in current.rows)
                current.rows.extend(RawRow(r.cells, base + r.line, r.merged) for r in table.rows)
                table.rows = []  # merged into the catalog table
            else:
                current = None
            before = []
    # Catalog tables first (in page order), then layout/navigation tables: the first table is the one a person sees
    # beside the parsed entries.
    tables = catalogs + [t for t, hit in zip(tables, has_header, strict=True) if not hit and t.rows]
    catalog_el = elements[heads[0]] if heads else None

    if catalog_el is None:
        # No table holds a catalog: the page may print one paragraph per cell. Offer its text to the text reader.
        page: list[str] = []
        _text(root, page)
        lines = _lines(page)
        if not lines:
            raise CatalogImportError(f"{name} 是网页，但里面没有文字内容（可能要运行脚本才能显示），请在浏览器中打开后复制表格，或另存为 .html 后再导入")
        # Read as text (kind "text"), so every text shape the importer knows applies to it.
        return _read_text("\n".join(lines))
    return Source("html", tables, preamble)


def read_mht(name: str, data: bytes) -> Source:
    """A web archive (.mht/.mhtml, "网页，单个文件"): the page is its first text/html part."""
    # lazy: layout/readers only for a page that has no table (read as text)
    import email

    # lazy: layout/readers only for a page that has no table (read as text)
    import email.policy

    try:
        msg = email.message_from_bytes(data, policy=email.policy.compat32)
    except Exception as exc:  # the email parser is lenient; anything it raises means a damaged file
        raise CatalogImportError(f"{name} 不是有效的网页存档（.mht）：{exc}；请在浏览器中另存为“网页，仅 HTML”后再导入") from None
    for part in msg.walk():
        if part.get_content_type() == "text/html":
            payload = part.get_payload(decode=True) or b""
            return read_html(name, payload, part.get_content_charset())
    raise CatalogImportError(f"{name} 是网页存档（.mht），但里面没有网页内容；请在浏览器中另存为“网页，仅 HTML”后再导入")
