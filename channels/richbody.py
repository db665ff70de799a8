"""The canonical document body (the sanitised HTML subset of ``orchestrator.docimport.clean``) read for channels
that cannot show it as it is: explicit 公文 list numbers, table grids (merged cells resolved), structured plain text
and inline-styled HTML for editors and mail clients that ignore style sheets (WeChat, e-mail).

Every channel renderer reads the body through this module, so a numbered item reads "一、活动时间" on WeChat, in the
e-mail and on the screens alike, and a table's merged cells mean the same thing everywhere.
"""

from __future__ import annotations

import copy
import html as html_lib
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

import lxml.html
from lxml import etree

BLOCK_TAGS = {"p", "h1", "h2", "h3", "h4", "blockquote", "pre", "table", "hr", "ul", "ol", "div"}
_CN = "零一二三四五六七八九"


def cn_number(n: int) -> str:
    """1..99 in Chinese numerals (一, 十, 十一, 二十三)."""
    if n < 10:
        return _CN[n]
    tens, units = divmod(n, 10)
    return ("" if tens == 1 else _CN[tens]) + "十" + (_CN[units] if units else "")


def list_marker(depth: int, n: int, ordered: bool) -> str:
    """The 公文 numbering hierarchy (GB/T 9704): 一、 → （一） → 1. → （1）; bullets for unordered lists."""
    if not ordered:
        return "•" if depth <= 1 else "◦"
    if depth <= 1:
        return f"{cn_number(n)}、" if n < 100 else f"{n}."
    if depth == 2:
        return f"（{cn_number(n)}）" if n < 100 else f"（{n}）"
    if depth == 3:
        return f"{n}."
    return f"（{n}）"


def parse(body_html: str) -> etree._Element:
    """The body as an lxml tree under one <div> (never fails on an empty body)."""
    return lxml.html.fragment_fromstring(body_html or "", create_parent="div")


def serialise(root: etree._Element) -> str:
    # libxml2's HTML writer %-escapes non-ASCII in src/href ("正文图片1.png" → "%E6..."), which would no longer match
    # the attachment's name: the values are put back as they were.
    originals: dict[str, str] = {}
    for el in root.iter("img", "a"):
        for attr in ("src", "href"):
            value = el.get(attr)
            if value is not None and not value.isascii():
                token = f"richbody-url-{len(originals)}"
                originals[token] = value
                el.set(attr, token)
    out = html_lib.escape(root.text or "", quote=False)
    out += "".join(etree.tostring(c, encoding="unicode", method="html") for c in root)
    for token, value in originals.items():
        out = out.replace(f'"{token}"', '"' + html_lib.escape(value, quote=True) + '"')
    return out


def text_of(el: etree._Element) -> str:
    """Visible text of an element, whitespace collapsed (a <br> counts as a line break)."""
    parts: list[str] = []

    def walk(e: etree._Element) -> None:
        if e.tag == "br":
            parts.append("\n")
        elif e.tag == "img":
            parts.append(f"[图片{('：' + e.get('alt')) if e.get('alt') else ''}]")
        else:
            parts.append(e.text or "")
            for c in e:
                if isinstance(c.tag, str):
                    walk(c)
                parts.append(c.tail or "")

    walk(el)
    lines = [re.sub(r"[ \t\r\f\v\u00a0]+", " ", ln).strip() for ln in "".join(parts).split("\n")]
    return "\n".join(ln for ln in lines if ln)


# --- lists ------------------------------------------------------------------------------------------------------------


def flatten_lists(root: etree._Element, make_item: Callable[[int, str], etree._Element] | None = None) -> None:
    """Replace every <ol>/<ul> by one <p> per item carrying its explicit marker ("一、活动时间"), nested items after
    their parent with ``data-depth`` set, so channels without list styling keep numbered items separate."""
    while True:
        top = next((e for e in root.iter("ol", "ul") if not _has_list_ancestor(e, root)), None)
        if top is None:
            return
        items = _list_paragraphs(top, 1, make_item)
        parent = top.getparent()
        at = parent.index(top)
        tail = top.tail
        parent.remove(top)
        for k, p in enumerate(items):
            parent.insert(at + k, p)
        if items:
            items[-1].tail = (items[-1].tail or "") + (tail or "")


def _append_text(el: etree._Element, text: str | None) -> None:
    if not text:
        return
    if len(el):
        el[-1].tail = (el[-1].tail or "") + text
    else:
        el.text = (el.text or "") + text


def _has_list_ancestor(el: etree._Element, root: etree._Element) -> bool:
    p = el.getparent()
    while p is not None and p is not root:
        if p.tag in ("ol", "ul"):
            return True
        p = p.getparent()
    return False


def _list_paragraphs(lst: etree._Element, depth: int, make_item) -> list[etree._Element]:
    ordered = lst.tag == "ol"
    try:
        n = int(lst.get("start") or 1)
    except ValueError:
        n = 1
    out: list[etree._Element] = []
    for li in lst:
        if li.tag != "li":
            continue
        marker = list_marker(depth, n, ordered)
        n += 1
        p = make_item(depth, marker) if make_item else etree.Element("p")
        p.set("data-depth", str(depth))
        p.text = marker + (li.text or "").lstrip()
        nested: list[etree._Element] = []
        for child in list(li):
            if child.tag in ("ol", "ul"):
                nested += _list_paragraphs(child, depth + 1, make_item)
                if child.tail and child.tail.strip():
                    extra = etree.Element("p")
                    extra.text = child.tail
                    nested.append(extra)
            elif child.tag == "p" and not nested:
                # <li><p>text</p></li>: the paragraph's content joins the item's line.
                _append_text(p, child.text)
                for c in list(child):
                    p.append(c)
                _append_text(p, child.tail)
            elif not nested:
                p.append(child)
            else:  # content after a nested list: its own paragraph
                extra = etree.Element("p")
                extra.append(child)
                nested.append(extra)
        out.append(p)
        out += nested
    return out


# --- tables -----------------------------------------------------------------------------------------------------------


@dataclass
class Cell:
    text: str
    element: etree._Element | None  # the <td>/<th> this slot comes from
    origin: bool  # the top-left slot of its (possibly merged) cell
    rowspan: int = 1
    colspan: int = 1
    header: bool = False


def table_grid(table: etree._Element) -> list[list[Cell]]:
    """The table as a full grid: a merged cell fills every slot it covers (``origin`` only on its top-left one)."""
    rows = [tr for tr in table.iter("tr") if _owning_table(tr) is table]
    grid: list[list[Cell | None]] = []
    for r, tr in enumerate(rows):
        while len(grid) <= r:
            grid.append([])
        c = 0
        for cell in tr:
            if cell.tag not in ("td", "th"):
                continue
            while c < len(grid[r]) and grid[r][c] is not None:
                c += 1
            rs = _span(cell.get("rowspan"))
            cs = _span(cell.get("colspan"))
            rs = min(rs, len(rows) - r)
            text = text_of(cell)
            header = cell.tag == "th" or cell.getparent().tag == "thead"
            for dr in range(rs):
                while len(grid) <= r + dr:
                    grid.append([])
                row = grid[r + dr]
                for dc in range(cs):
                    while len(row) <= c + dc:
                        row.append(None)
                    row[c + dc] = Cell(text, cell, dr == 0 and dc == 0, rs, cs, header)
            c += cs
    width = max((len(r) for r in grid), default=0)
    return [[cell or Cell("", None, True) for cell in row] + [Cell("", None, True)] * (width - len(row)) for row in grid]


def _owning_table(el: etree._Element) -> etree._Element | None:
    p = el.getparent()
    while p is not None and p.tag != "table":
        p = p.getparent()
    return p


def _span(value: str | None) -> int:
    try:
        return max(1, min(int(value or 1), 100))
    except ValueError:
        return 1


def header_rows(grid: list[list[Cell]]) -> int:
    """How many leading rows are the table's header: marked ones (<th>/<thead>), else a first row of short labels
    (a Word table has no header markup) when the table has rows below it."""
    marked = 0
    for row in grid:
        if row and all(c.header for c in row):
            marked += 1
        else:
            break
    if marked:
        return marked
    if len(grid) >= 2 and grid[0] and all(c.text and len(c.text) <= 12 and c.rowspan == 1 for c in grid[0]):
        return 1
    return 0


def column_names(grid: list[list[Cell]], heads: int) -> list[str]:
    if not heads:
        return [f"第{i + 1}列" for i in range(len(grid[0]) if grid else 0)]
    names = []
    for i in range(len(grid[0])):
        parts: list[str] = []
        for r in range(heads):
            t = grid[r][i].text
            if t and t not in parts:
                parts.append(t)
        names.append("/".join(parts) or f"第{i + 1}列")
    return names


def table_rows_text(grid: list[list[Cell]]) -> list[str]:
    """A table as "列：值" lines, one line per row; a value merged across columns is named once ("时间/地点：待定")
    and a value merged down rows is repeated on every row it covers, so each line reads on its own."""
    if not grid:
        return []
    heads = header_rows(grid)
    names = column_names(grid, heads)
    lines = []
    for row in grid[heads:]:
        pairs: list[str] = []
        i = 0
        while i < len(row):
            cell = row[i]
            j = i + 1
            while j < len(row) and row[j].element is not None and row[j].element is cell.element:
                j += 1
            label = "/".join(names[i:j])
            if cell.text:
                pairs.append(f"{label}：{cell.text.replace(chr(10), ' ')}")
            i = j
        if pairs:
            lines.append("；".join(pairs))
    return lines


# --- plain text -------------------------------------------------------------------------------------------------------


def display_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def to_text(body_html: str, *, image_label: Callable[[str], str] | None = None, gap: str = "\n") -> str:
    """Structured plain text of a body: one paragraph a line, headings set apart by blank lines, numbered items on
    their own lines with their 公文 numbers, tables as "列：值" rows, 落款 and 成文日期 each on their own line.
    ``gap`` goes between blocks ("\n\n" for a letter); a table's rows and the 落款 with its date stay together."""
    root = parse(body_html)
    flatten_lists(root)
    blocks: list[str] = []

    def label(img: etree._Element) -> str:
        if image_label:
            return image_label(img.get("src") or "")
        return f"[图片{('：' + img.get('alt')) if img.get('alt') else ''}]"

    def emit(el: etree._Element) -> None:
        tag = el.tag
        if not isinstance(tag, str):
            return
        if tag == "table":
            grid = table_grid(el)
            caption = el.find("caption")
            rows = table_rows_text(grid)
            head = f"【表格：{text_of(caption)}】" if caption is not None else "【表格】"
            blocks.append("\n".join([head, *rows]))
            return
        if tag in ("div", "blockquote") and any(isinstance(c.tag, str) and c.tag in BLOCK_TAGS for c in el):
            for c in el:
                emit(c)
            return
        if tag == "hr":
            blocks.append("————")
            return
        text = text_of(_with_image_labels(el, label))
        if not text:
            return
        depth = int(el.get("data-depth") or 0)
        if depth > 1:
            text = "\u3000\u3000" * (depth - 1) + text.replace("\n", "\n" + "\u3000\u3000" * (depth - 1))
        if tag in ("h1", "h2", "h3", "h4"):
            blocks.append("")
            blocks.append(text)
            blocks.append("")
        elif blocks and _continues(el):  # the 落款 with its date, the items of the 附件说明: one block of lines
            blocks[-1] += "\n" + text
        else:
            blocks.append(text)

    if (root.text or "").strip():
        blocks.append(root.text.strip())
    for child in root:
        emit(child)
        if (child.tail or "").strip():
            blocks.append(child.tail.strip())
    out = gap.join(b for b in blocks if b) if gap != "\n" else "\n".join(blocks)
    return re.sub(r"\n{3,}", "\n\n", out).strip()


def _continues(el: etree._Element) -> bool:
    cls = el.get("class") or ""
    prev = el.getprevious()
    before = (prev.get("class") or "") if prev is not None and isinstance(prev.tag, str) else ""
    if "gw-signature" in cls or "gw-date" in cls:
        return "gw-signature" in before
    return "gw-attachments" in cls and "gw-attachments" in before


def _with_image_labels(el: etree._Element, label: Callable[[etree._Element], str]) -> etree._Element:
    el = copy.deepcopy(el)
    for img in list(el.iter("img")):
        span = etree.Element("span")
        span.text = label(img)
        span.tail = img.tail
        img.getparent().replace(img, span)
    return el


# --- inline styles ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InlineStyles:
    """The inline style of each part of a body, for renderers whose target ignores style sheets and classes."""

    p: str = "margin:0 0 12px 0;text-indent:2em;"
    p_center: str = "margin:0 0 12px 0;text-align:center;"
    p_plain: str = "margin:0 0 12px 0;"  # 主送, list items
    # 落款 and 成文日期: each its own right-aligned line, set apart from the text above.
    signature_first: str = "margin:24px 0 0 0;text-align:right;padding-right:1em;"
    signature: str = "margin:0;text-align:right;padding-right:1em;"
    date: str = "margin:0 0 12px 0;text-align:right;padding-right:1em;"
    attachments: str = "margin:12px 0 0 0;padding-left:2em;"
    attachments_more: str = "margin:0;padding-left:5em;"
    h1: str = "margin:16px 0 12px 0;font-size:20px;font-weight:bold;text-align:center;"
    h2: str = "margin:14px 0 10px 0;font-size:18px;font-weight:bold;"
    h3: str = "margin:12px 0 8px 0;font-size:16px;font-weight:bold;"
    h4: str = "margin:10px 0 8px 0;font-size:16px;font-weight:bold;"
    item: str = "margin:0 0 8px 0;"
    item_indent_em: float = 2.0
    table_wrap: str = "margin:12px 0;overflow-x:auto;"
    table: str = "border-collapse:collapse;width:100%;font-size:14px;line-height:1.6;"
    cell: str = "border:1px solid #999999;padding:6px 8px;vertical-align:top;"
    head_cell: str = "border:1px solid #999999;padding:6px 8px;background-color:#f2f2f2;font-weight:bold;"
    wide_cell: str = "min-width:5em;"  # wide tables scroll sideways instead of squeezing each column to a character
    wide_columns: int = 4
    caption: str = "font-weight:bold;text-align:center;padding:4px 0;"
    img: str = "max-width:100%;height:auto;display:block;margin:10px auto;"
    blockquote: str = "margin:12px 0;padding:8px 12px;border-left:3px solid #cccccc;color:#555555;"
    link: str = "color:#576b95;"


def inline_styled(body_html: str, styles: InlineStyles = InlineStyles(), *, keep_links: bool = True,
                  wrap: str = "section") -> str:
    """The body with every style inline and no classes: 公文 parts laid out (落款 and date right-aligned, each on its
    own line), numbered items as separate paragraphs with explicit numbers, tables bordered inside a sideways
    scrolling wrapper with their merged cells kept."""
    root = parse(body_html)
    flatten_lists(root)
    for el in list(root.iter()):
        if not isinstance(el.tag, str) or el is root:
            continue
        tag = el.tag
        cls = set((el.get("class") or "").split())
        style = ""
        if tag == "p":
            depth = int(el.get("data-depth") or 0)
            if depth:
                style = styles.item + (f"padding-left:{styles.item_indent_em * (depth - 1):g}em;" if depth > 1 else "")
            elif "gw-signature" in cls:
                prev = el.getprevious()
                first = prev is None or "gw-signature" not in (prev.get("class") or "")
                style = styles.signature_first if first else styles.signature
            elif "gw-date" in cls:
                style = styles.date
            elif "gw-attachments" in cls:
                # "附件：1. …" indented two characters, the following items aligned under "1." (GB/T 9704).
                style = styles.attachments if text_of(el).startswith("附") else styles.attachments_more
            elif "gw-recipient" in cls:
                style = styles.p_plain
            elif el.get("align") == "center":
                style = styles.p_center
            elif el.get("align") == "right":
                style = styles.signature
            elif _inside(el, ("td", "th")) or len(el) == 1 and el[0].tag == "img" and not (el.text or "").strip():
                style = "margin:0;"
            else:
                style = styles.p
        elif tag in ("h1", "h2", "h3", "h4"):
            style = getattr(styles, tag)
        elif tag == "table":
            grid = table_grid(el)
            wide = bool(grid) and len(grid[0]) > styles.wide_columns
            heads = header_rows(grid)
            head_cells = {id(c.element) for row in grid[:heads] for c in row if c.element is not None}
            for cell in el.iter("td", "th"):
                if _owning_table(cell) is not el:
                    continue
                s = styles.head_cell if id(cell) in head_cells or cell.tag == "th" else styles.cell
                if wide:
                    s += styles.wide_cell
                if cell.get("align") in ("center", "right", "left"):
                    s += f"text-align:{cell.get('align')};"
                cell.set("style", s)
                cell.attrib.pop("align", None)
            style = styles.table
            holder = etree.Element(wrap, {"style": styles.table_wrap})
            parent = el.getparent()
            parent.replace(el, holder)
            holder.tail, el.tail = el.tail, None
            holder.append(el)
        elif tag == "caption":
            style = styles.caption
        elif tag == "img":
            style = styles.img
        elif tag == "blockquote":
            style = styles.blockquote
        elif tag == "a":
            href = el.get("href") or ""
            if not keep_links or not href.startswith(("http://", "https://", "mailto:")):
                # Where links are not kept (WeChat removes links outside its own pages), a web address stays
                # readable as text after the link's words.
                if href.startswith(("http://", "https://")) and text_of(el) != href:
                    _append_text(el, f"（{href}）")
                _unwrap(el)
                continue
            style = styles.link
        if style:
            el.set("style", style)
        for attr in ("class", "data-depth", "align", "id", "rel"):
            el.attrib.pop(attr, None)
    return serialise(root)


def _inside(el: etree._Element, tags: tuple[str, ...]) -> bool:
    p = el.getparent()
    while p is not None:
        if p.tag in tags:
            return True
        p = p.getparent()
    return False


def _unwrap(el: etree._Element) -> None:
    el.drop_tag()
