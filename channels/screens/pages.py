"""A document's body laid out as slides: paged at a readable, fixed font size, never cut off or faded out.

The canonical body (``orchestrator.docimport.clean`` subset) is split into pages on the server, so the live page,
the exported PNGs and the manifest agree on how many slides a document has and how long each stays up. Heights are
estimated from the screen's geometry (the same units as ``templates/screens/_slide_css.html``): CJK characters are
one em wide, Latin letters and digits about half; tables use a fixed layout with column widths chosen here, so the
estimate of every cell's line count holds in the browser. Each page leaves a safety margin, and the browser tests
check that no slide's content overflows.

- Paragraphs keep their lines: numbered items are separate paragraphs with their 公文 numbers (一、/（一）/1.), the 落款
  and the 成文日期 each on their own right-aligned line.
- A table too long for the rest of a page continues on the next one with its header row repeated; a cell merged down
  across the break is repeated on the new page with the rows it still covers. Merges (rowspan/colspan) are kept.
- Images come from the document's attachment store (``screens-media:<sha256>`` in the stored body; the live page
  loads them from ``/screens/_media/…``, the PNG export embeds them), scaled to fit the page.
- Each page stays up long enough to be read: ``slide_seconds`` at least, more for a full page of text.
"""

from __future__ import annotations

import copy
import html as html_lib
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote

from lxml import etree
from markupsafe import Markup

from channels import richbody
from channels.gongwen_html import mark_typed_signature

MEDIA_SCHEME = "screens-media:"
# Reading speed for a notice on a wall screen (Chinese characters per second; people read 5-8 at a desk).
READING_CHARS_PER_SECOND = 4.0
SECONDS_PER_IMAGE = 4
SECONDS_PER_PAGE = 4  # finding one's place on a new slide
# Sizes in screen units (1 u = 1% of the short side), shared with _slide_css.html.
BODY_FONT = 3.1
BODY_LINE = 1.6
PARA_GAP = 0.5
TABLE_FONT = 2.6
TABLE_FONT_MIN = 2.2  # wide tables shrink to this, never below
TABLE_LINE = 1.4
CELL_PAD_V = 0.5
CELL_PAD_H = 0.8
HEAD_FONTS = {"h1": 3.8, "h2": 3.5, "h3": 3.3, "h4": 3.2}
SAFETY = 0.9  # part of the estimated room actually filled


@dataclass(frozen=True)
class Geometry:
    width: int
    height: int
    portrait: bool
    has_qr: bool

    @property
    def u(self) -> float:
        return min(self.width, self.height) / 100

    @property
    def text_width(self) -> float:
        u = self.u
        w = self.width - 8 * u
        if self.has_qr and not self.portrait:
            w -= 30 * u + 3.5 * u
        return w

    def body_height(self, first: bool, title_lines: int, meta_lines: int) -> float:
        u = self.u
        h = self.height - 8.6 * u - 6.5 * u - 5.5 * u  # band, footer, padding of the main area
        if self.has_qr and self.portrait:
            h -= 28 * u + 2.5 * u
        if first:
            h -= title_lines * 6 * u * 1.3 + meta_lines * 3 * u * 1.5 + 4.3 * u
        else:
            h -= 3.2 * u * 1.4 + 2.2 * u  # the running title line
        return max(h - 1.5 * u, 10 * u) * SAFETY


def em_width(text: str) -> float:
    """Width of ``text`` in ems: CJK and full-width characters 1, others about 0.55."""
    total = 0.0
    for ch in text:
        total += 1.0 if ord(ch) > 0x2E7F or ch in "“”‘’…—" else 0.55
    return total


def line_count(text: str, width_px: float, font_px: float, indent_em: float = 0.0) -> int:
    if width_px <= font_px:
        return max(1, len(text))
    per_line = width_px / font_px
    lines = 0
    for k, para in enumerate(text.split("\n")):
        ems = em_width(para) + (indent_em if k == 0 else 0)
        lines += max(1, math.ceil(ems * 1.02 / per_line))
    return lines


@dataclass
class Block:
    html: str
    height: float
    chars: int
    images: int = 0


@dataclass(frozen=True)
class Page:
    index: int  # 1-based
    count: int
    body: Markup
    chars: int
    images: int

    def seconds(self, minimum: int) -> int:
        reading = SECONDS_PER_PAGE + self.chars / READING_CHARS_PER_SECOND + SECONDS_PER_IMAGE * self.images
        return max(minimum, math.ceil(reading))


def _text_block_height(g: Geometry, el: etree._Element) -> tuple[float, int]:
    u = g.u
    text = richbody.text_of(el)
    tag = el.tag
    if tag in HEAD_FONTS:
        font = HEAD_FONTS[tag] * u
        return line_count(text, g.text_width, font) * font * 1.4 + 1.6 * u, len(text)
    font = BODY_FONT * u
    cls = el.get("class") or ""
    depth = int(el.get("data-depth") or 0)
    indent = 0.0
    width = g.text_width
    if depth > 1:
        width -= 2 * (depth - 1) * font
    elif not depth and not any(c in cls for c in ("gw-signature", "gw-date", "gw-recipient")):
        indent = 2.0
    if "gw-attachments" in cls and not text.startswith("附"):
        width -= 5 * font
    extra = 1.5 * u if "gw-signature" in cls and _first_signature(el) else 0.0
    return line_count(text, width, font, indent) * font * BODY_LINE + PARA_GAP * u + extra, len(text)


def _first_signature(el: etree._Element) -> bool:
    prev = el.getprevious()
    return prev is None or "gw-signature" not in (prev.get("class") or "")


def _html(el: etree._Element) -> str:
    holder = etree.Element("div")
    holder.append(_copy(el))
    return richbody.serialise(holder)


def _copy(el: etree._Element) -> etree._Element:
    c = copy.deepcopy(el)
    c.tail = None
    return c


def _image_box(g: Geometry, img: etree._Element, room: float) -> tuple[float, float]:
    """Displayed (width, height) of an image: its size scaled into the text width and at most ``room`` high."""
    try:
        w, h = int(img.get("width") or 0), int(img.get("height") or 0)
    except ValueError:
        w = h = 0
    if w <= 0 or h <= 0:
        return g.text_width * 0.5, room
    scale = min(1.0, g.text_width / w, room / h)
    # Small images are shown larger on a wall screen (up to twice), within the same limits.
    scale = max(scale, min(2.0, g.text_width / w, room / h)) if scale >= 1.0 else scale
    return w * scale, h * scale


# --- tables ------------------------------------------------------------------------------------------------------------


@dataclass
class TableLayout:
    grid: list[list[richbody.Cell]]
    heads: int
    widths: list[float]  # column widths in px
    font: float
    row_heights: list[float]
    caption: str


def _table_layout(g: Geometry, table: etree._Element) -> TableLayout:
    u = g.u
    grid = richbody.table_grid(table)
    cols = len(grid[0]) if grid else 0
    heads = richbody.header_rows(grid)
    caption_el = table.find("caption")
    caption = richbody.text_of(caption_el) if caption_el is not None else ""
    if not cols:
        return TableLayout(grid, heads, [], TABLE_FONT * u, [], caption)
    # Column weights from their longest single-column cell, within limits, so a 序号 column stays narrow.
    weights = []
    for c in range(cols):
        longest = max((em_width(cell.text) for row in grid for cell in [row[c]] if cell.colspan == 1), default=2.0)
        weights.append(min(max(longest, 2.5), 14.0))
    total = sum(weights)
    widths = [g.text_width * w / total for w in weights]
    font = TABLE_FONT * u
    narrowest = min(widths)
    if narrowest - 2 * CELL_PAD_H * u < 3 * font:  # many columns: smaller type, down to the minimum
        font = max(TABLE_FONT_MIN * u, (narrowest - 2 * CELL_PAD_H * u) / 3)
    row_heights = []
    for row in grid:
        need = 0.0
        for c, cell in enumerate(row):
            if not cell.origin or cell.rowspan > 1:
                continue
            span_w = sum(widths[c:c + cell.colspan]) - 2 * CELL_PAD_H * u
            need = max(need, line_count(cell.text or " ", span_w, font) * font * TABLE_LINE)
        row_heights.append(max(need, font * TABLE_LINE) + 2 * CELL_PAD_V * u + 2)
    # A cell merged down needs its rows together to be tall enough.
    for r, row in enumerate(grid):
        for c, cell in enumerate(row):
            if cell.origin and cell.rowspan > 1:
                span_w = sum(widths[c:c + cell.colspan]) - 2 * CELL_PAD_H * u
                need = line_count(cell.text or " ", span_w, font) * font * TABLE_LINE + 2 * CELL_PAD_V * u
                have = sum(row_heights[r:r + cell.rowspan])
                if need > have:
                    row_heights[r + cell.rowspan - 1] += need - have
    return TableLayout(grid, heads, widths, font, row_heights, caption)


def _table_html(t: TableLayout, start: int, end: int, g: Geometry, part: tuple[int, int] | None) -> str:
    """Rows [start, end) of the table, header rows first; cells merged across the cut are re-emitted."""
    total = sum(t.widths) or 1
    out = [f'<table class="body-table" style="font-size:{t.font:.1f}px">']
    caption = t.caption
    if part and part[1] > 1:
        caption = (caption or "表格") + f"（{'续' if part[0] > 1 else ''}{part[0]}/{part[1]}）"
    if caption:
        out.append(f"<caption>{html_lib.escape(caption)}</caption>")
    out.append("<colgroup>" + "".join(f'<col style="width:{w / total * 100:.2f}%">' for w in t.widths) + "</colgroup>")

    def rows(lo: int, hi: int, head: bool) -> str:
        parts = []
        for r in range(lo, hi):
            cells = []
            for c, cell in enumerate(t.grid[r]):
                first_row_of_cell = cell.origin or (r == lo and _top_row(t.grid, r, c) < lo)
                if not first_row_of_cell or (c > 0 and t.grid[r][c - 1].element is not None
                                             and t.grid[r][c - 1].element is cell.element):
                    continue
                top = _top_row(t.grid, r, c)
                remaining = min(top + cell.rowspan, hi) - r
                tag = "th" if head or cell.header else "td"
                attrs = ""
                if remaining > 1:
                    attrs += f' rowspan="{remaining}"'
                if cell.colspan > 1:
                    attrs += f' colspan="{cell.colspan}"'
                inner = html_lib.escape(cell.text).replace("\n", "<br>")
                cells.append(f"<{tag}{attrs}>{inner}</{tag}>")
            parts.append("<tr>" + "".join(cells) + "</tr>")
        return "".join(parts)

    if t.heads:  # the header rows head every part of a table cut across slides
        out.append("<thead>" + rows(0, t.heads, True) + "</thead>")
    out.append("<tbody>" + rows(max(start, t.heads), end, False) + "</tbody></table>")
    return "".join(out)


def _top_row(grid: list[list[richbody.Cell]], r: int, c: int) -> int:
    el = grid[r][c].element
    while r > 0 and el is not None and grid[r - 1][c].element is el:
        r -= 1
    return r


# --- paging ------------------------------------------------------------------------------------------------------------


def body_blocks(body_html: str) -> list[etree._Element]:
    root = richbody.parse(body_html)
    richbody.flatten_lists(root)
    blocks: list[etree._Element] = []
    if (root.text or "").strip():
        p = etree.Element("p")
        p.text = root.text.strip()
        blocks.append(p)
    for child in root:
        if not isinstance(child.tag, str):
            continue
        if child.tag in ("div", "blockquote") and any(isinstance(c.tag, str) for c in child):
            blocks.extend(c for c in child if isinstance(c.tag, str))
        else:
            blocks.append(child)
        if (child.tail or "").strip():
            p = etree.Element("p")
            p.text = child.tail.strip()
            blocks.append(p)
    return blocks


def paginate(body_html: str, g: Geometry, *, title_lines: int, meta_lines: int,
             media_url: Callable[[str], str]) -> list[Page]:
    """The body as pages for a screen of geometry ``g``; page 1 has the title and meta lines above the body."""
    pages: list[list[Block]] = [[]]
    room = g.body_height(True, title_lines, meta_lines)
    full_room = g.body_height(False, 0, 0)
    used = 0.0

    def new_page() -> None:
        nonlocal room, used
        pages.append([])
        room = full_room
        used = 0.0

    def add(block: Block) -> None:
        nonlocal used
        if pages[-1] and used + block.height > room:
            new_page()
        pages[-1].append(block)
        used += block.height

    for el in body_blocks(body_html):
        _rewrite_media(el, media_url)
        if el.tag == "table":
            _add_table(el, g, pages, lambda: room - used, add, new_page)
            continue
        if el.tag == "hr":
            add(Block('<hr>', 2 * g.u, 0))
            continue
        imgs = list(el.iter("img"))
        if imgs and not richbody.text_of(_without_images(el)).strip():
            for img in imgs:
                left = room - used
                target = left if left > full_room * 0.4 else full_room * 0.6
                w, h = _image_box(g, img, target)
                if pages[-1] and h > left:
                    new_page()
                    w, h = _image_box(g, img, room * 0.95)
                src = html_lib.escape(img.get("src") or "", quote=True)
                alt = html_lib.escape(img.get("alt") or "正文图片", quote=True)
                add(Block(f'<p class="body-image"><img src="{src}" alt="{alt}" style="width:{w:.0f}px;height:{h:.0f}px">'
                          "</p>", h + g.u, 0, 1))
            continue
        for img in imgs:  # an image inside text: a small inline picture
            img.set("style", f"max-height:{BODY_FONT * g.u * 3:.0f}px")
        height, chars = _text_block_height(g, el)
        if height <= full_room:
            add(Block(_html(el), height, chars, len(imgs)))
            continue
        for piece in _split_paragraph(el, g, room - used, full_room):
            h, n = _text_block_height(g, piece)
            add(Block(_html(piece), h, n))
    pages = [p for p in pages if p] or [[]]
    count = len(pages)
    return [Page(i + 1, count, Markup("".join(b.html for b in blocks)), sum(b.chars for b in blocks),
                 sum(b.images for b in blocks)) for i, blocks in enumerate(pages)]


def _without_images(el: etree._Element) -> etree._Element:
    c = _copy(el)
    for img in list(c.iter("img")):
        img.drop_tree()
    return c


def _rewrite_media(el: etree._Element, media_url: Callable[[str], str]) -> None:
    for img in el.iter("img"):
        src = img.get("src") or ""
        if src.startswith(MEDIA_SCHEME):
            img.set("src", media_url(src[len(MEDIA_SCHEME):]))


def _split_paragraph(el: etree._Element, g: Geometry, first_room: float, full_room: float) -> list[etree._Element]:
    """A paragraph longer than a page, cut into page-sized pieces at sentence ends where possible (plain text)."""
    text = richbody.text_of(el)
    pieces: list[etree._Element] = []
    room = first_room if first_room > BODY_FONT * g.u * BODY_LINE * 3 else full_room
    while text:
        lo, hi = 1, len(text)
        while lo < hi:  # the longest prefix that fits
            mid = (lo + hi + 1) // 2
            probe = etree.Element("p", {k: v for k, v in el.attrib.items() if k == "class"})
            probe.text = text[:mid]
            if _text_block_height(g, probe)[0] <= room:
                lo = mid
            else:
                hi = mid - 1
        cut = lo
        if cut < len(text):
            stop = max(text.rfind(p, 0, cut) for p in "。；！？")
            if stop > cut * 0.6:
                cut = stop + 1
        p = etree.Element("p", {k: v for k, v in el.attrib.items() if k == "class"})
        if pieces:
            p.set("class", (p.get("class", "") + " continued").strip())
        p.text = text[:cut]
        pieces.append(p)
        text = text[cut:]
        room = full_room
    return pieces


def _add_table(el: etree._Element, g: Geometry, pages: list[list[Block]], left: Callable[[], float],
               add: Callable[[Block], None], new_page: Callable[[], None]) -> None:
    t = _table_layout(g, el)
    if not t.grid:
        return
    cap_h = TABLE_FONT * g.u * 1.5  # a caption, or the "（续2/3）" line of a table cut across slides
    head_h = sum(t.row_heights[: t.heads])
    margin = 1.5 * g.u
    chunks: list[tuple[int, int]] = []
    body_rows = len(t.grid)
    avail = left()
    full = g.body_height(False, 0, 0)
    whole = head_h + margin + sum(t.row_heights[t.heads:]) + (cap_h if t.caption else 0.0)
    if t.heads == len(t.grid) or whole <= avail or (whole <= full and pages[-1]):
        # It fits on one slide: kept whole (on the next slide if need be).
        add(Block(_table_html(t, 0, len(t.grid), g, None), whole, _table_chars(t, 0, len(t.grid))))
        return
    if avail < cap_h + head_h + margin + sum(t.row_heights[t.heads:t.heads + 2]):
        avail = full  # fewer than two rows would fit under what the page has: the table starts on a new slide
    r = start = t.heads
    used = cap_h + head_h + margin
    first = True
    while r < body_rows:
        h = t.row_heights[r]
        if used + h > avail and r > start:
            chunks.append((start, r))
            start, used, avail, first = r, cap_h + head_h + margin, full, False
            continue
        if used + h > avail and r == start and first and pages[-1]:
            # Not even one row fits under what the page already has: the table starts on a new page.
            avail, first = full, False
            continue
        used += h
        r += 1
    chunks.append((start, body_rows))
    for k, (a, b) in enumerate(chunks):
        height = cap_h + head_h + margin + sum(t.row_heights[a:b])
        part = (k + 1, len(chunks)) if len(chunks) > 1 else None
        block = Block(_table_html(t, a, b, g, part), height, _table_chars(t, a, b) + _table_chars(t, 0, t.heads))
        if k:
            new_page()
        add(block)


def _table_chars(t: TableLayout, a: int, b: int) -> int:
    seen: set[int] = set()
    n = 0
    for row in t.grid[a:b]:
        for cell in row:
            if cell.element is not None and id(cell.element) not in seen:
                seen.add(id(cell.element))
                n += len(cell.text)
    return n


def plain_body(text: str) -> str:
    """A plain-text excerpt (notices placed before bodies were kept as HTML) as paragraphs."""
    return "".join(f"<p>{html_lib.escape(line)}</p>" for line in text.split("\n") if line.strip())


def is_html(stored: str) -> bool:
    return bool(re.match(r"\s*<", stored or ""))


def screen_body(body_html: str, summary: str, attachments, image_size: Callable[[object], tuple[int, int] | None]) -> str:
    """The body as stored for the screens: images of the document's attachment store as ``screens-media:<sha>.<ext>``
    with their pixel size (for the page layout), web images kept, anything else (a path on a clerk's disk) dropped.
    A body without text or images falls back to the summary (a scanned PDF)."""
    root = richbody.parse(body_html)
    if not richbody.text_of(root).replace("[图片]", "").strip() and root.find(".//img") is None:
        root = richbody.parse(plain_body(summary))
    mark_typed_signature(root)
    by_name = {a.filename: a for a in attachments}
    for img in list(root.iter("img")):
        src = img.get("src") or ""
        name = unquote(src)
        att = by_name.get(name) or by_name.get(name.rsplit("/", 1)[-1])
        if att is not None and att.content_type in MEDIA_TYPES:
            img.set("src", f"{MEDIA_SCHEME}{att.sha256}.{MEDIA_TYPES[att.content_type]}")
            size = image_size(att)
            if size:
                img.set("width", str(size[0]))
                img.set("height", str(size[1]))
            img.set("alt", img.get("alt") or "正文图片")
        elif not src.startswith(("http://", "https://")):
            img.drop_tree()
    return richbody.serialise(root)


MEDIA_TYPES = {"image/png": "png", "image/jpeg": "jpg", "image/gif": "gif", "image/webp": "webp"}
MEDIA_EXTENSIONS = {v: k for k, v in MEDIA_TYPES.items()}
MEDIA_REF = re.compile(r"^([0-9a-f]{64})\.(png|jpg|gif|webp)$")
