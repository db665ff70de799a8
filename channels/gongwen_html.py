"""The canonical body laid out as a 公文 (GB/T 9704) for the static channels (site pages, gazette pages, feeds).

The body arrives in the canonical subset (orchestrator/docimport/clean.py). This module:

- keeps the 公文 part markers (``gw-recipient``, ``gw-attachments``, ``gw-signature``, ``gw-date``) and turns paragraph
  alignment into classes (the pages' CSP and the sanitiser allow no inline styles);
- marks the 落款 and 成文日期 of a body that was typed rather than imported (the last date line and the short lines
  just above it), and splits a final ``署名<br>日期`` paragraph into its two lines, so both end up right-aligned on
  lines of their own;
- points body images (referenced by their attachment file name) at the copies the channel wrote into its output
  directory, or drops an image whose file the channel does not have (a broken image helps nobody);
- wraps every table in a scrollable box, so a wide table scrolls on a phone instead of breaking the page;
- for feeds, makes every image and link URL absolute against the public base URL.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import unquote, urljoin

import lxml.html
import nh3
from lxml import etree

from channels.staticout import BODY_ATTRIBUTES, BODY_TAGS, URL_SCHEMES, display_filename

GONGWEN_CLASSES = {"gw-recipient", "gw-attachments", "gw-signature", "gw-date"}
_ALIGN = {"right": "gw-right", "center": "gw-center", "centre": "gw-center"}
_ATTRIBUTES = {k: set(v) for k, v in BODY_ATTRIBUTES.items()}
_ATTRIBUTES.setdefault("p", set()).update({"class", "align"})
_ATTRIBUTES["td"] = _ATTRIBUTES.get("td", set()) | {"align"}
_ATTRIBUTES["th"] = _ATTRIBUTES.get("th", set()) | {"align"}

_DATE_ARABIC = re.compile(r"^((?:19|20)\d{2})年(\d{1,2})月(\d{1,2})日$")
_DATE_CN = re.compile(r"^[〇○零ＯO一二三四五六七八九]{4}年[一二三四五六七八九十]{1,3}月[一二三四五六七八九十]{1,3}日$")
_SENTENCE_END = re.compile(r"[。；;，,：:！!？?]$")
_NUMBERED = re.compile(r"^\s*[(（]?(?:\d{1,2}|[一二三四五六七八九十]{1,3})[.．、)）]")
SIGNATURE_MAX_CHARS = 30


def _norm(text: str) -> str:
    return re.sub(r"[\s\u3000\u00a0]+", "", text or "")


def is_date_line(text: str) -> bool:
    t = _norm(text)
    return bool(_DATE_ARABIC.match(t) or _DATE_CN.match(t))


def _filter(tag: str, name: str, value: str) -> str | None:
    if name == "class":
        kept = [c for c in value.split() if c in GONGWEN_CLASSES]
        return " ".join(kept) or None
    if name in {"colspan", "rowspan", "start"}:
        return value if re.fullmatch(r"[1-9]\d{0,2}", value.strip()) else None
    return value


def _clean(html: str) -> str:
    return nh3.clean(
        html or "",
        tags=BODY_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        attribute_filter=_filter,
        link_rel="noopener noreferrer",
        strip_comments=True,
    )


def _add_class(el: etree._Element, name: str) -> None:
    classes = (el.get("class") or "").split()
    if name not in classes:
        el.set("class", " ".join([*classes, name]))


def _text(el: etree._Element) -> str:
    return "".join(el.itertext())


def _split_final_break(root: etree._Element) -> None:
    """``<p>署名<br>2026年3月2日</p>`` at the end of a body becomes one paragraph per line."""
    blocks = [c for c in root if isinstance(c.tag, str)]
    if not blocks or blocks[-1].tag != "p" or blocks[-1].find("br") is None:
        return
    p = blocks[-1]
    if any(c.tag not in {"br", "strong", "em", "u", "span"} for c in p):
        return
    lines: list[str] = [p.text or ""]
    for c in p:
        if c.tag == "br":
            lines.append(c.tail or "")
        else:
            lines[-1] += _text(c) + (c.tail or "")
    lines = [line.strip() for line in lines if _norm(line)]
    if len(lines) < 2 or not is_date_line(lines[-1]):
        return
    anchor = p
    for line in lines:
        new = etree.Element("p")
        new.text = line
        anchor.addnext(new)
        anchor = new
    new.tail = p.tail
    root.remove(p)


def _mark_signature(root: etree._Element) -> None:
    """A typed body's 成文日期 (the last date line) and its 落款 (up to two short lines above it)."""
    if root.xpath(".//*[contains(concat(' ', @class, ' '), ' gw-date ')]"):
        return
    blocks = [c for c in root if isinstance(c.tag, str)]
    tail = blocks[-4:]
    for k in range(len(tail) - 1, -1, -1):
        el = tail[k]
        if el.tag == "p" and is_date_line(_text(el)):
            _add_class(el, "gw-date")
            j = k - 1
            marked = 0
            while j >= 0 and marked < 2:
                above = tail[j]
                t = _norm(_text(above))
                if (above.tag != "p" or not t or len(t) > SIGNATURE_MAX_CHARS or _SENTENCE_END.search(t)
                        or _NUMBERED.match(t) or t.startswith("附件")):
                    break
                _add_class(above, "gw-signature")
                marked += 1
                j -= 1
            return


def mark_typed_signature(root: etree._Element) -> None:
    """The 落款 and 成文日期 of a typed body, marked as an imported one's are (for the screens and the WeChat article,
    which lay them out right-aligned from these classes like the site page does)."""
    _split_final_break(root)
    _mark_signature(root)


def _images(root: etree._Element, images: Mapping[str, str]) -> None:
    for img in root.iter("img"):
        src = (img.get("src") or "").strip()
        if src.startswith(("http://", "https://")):
            continue
        local = images.get(src) or images.get(unquote(src)) or images.get(display_filename(unquote(src)))
        if local:
            img.set("src", local)
            if not img.get("alt"):
                img.set("alt", "正文图片")
            continue
        # An image the channel has no file for (a name of nothing it received, a path into the output's other
        # files): its alt text stays.
        alt = img.get("alt") or ""
        parent = img.getparent()
        if alt:
            span = etree.Element("span")
            span.text = alt
            span.tail = img.tail
            parent.replace(img, span)
        else:
            prev = img.getprevious()
            if img.tail:
                if prev is not None:
                    prev.tail = (prev.tail or "") + img.tail
                else:
                    parent.text = (parent.text or "") + img.tail
            parent.remove(img)


def _align_classes(root: etree._Element) -> None:
    for el in root.iter("p", "td", "th"):
        align = (el.attrib.pop("align", "") or "").strip().lower()
        if align in _ALIGN:
            _add_class(el, _ALIGN[align])


def _wrap_tables(root: etree._Element) -> None:
    for table in list(root.iter("table")):
        parent = table.getparent()
        if parent is not None and parent.tag == "div" and "table-scroll" in (parent.get("class") or ""):
            continue
        box = etree.Element("div", {"class": "table-scroll"})
        parent.replace(table, box)
        box.tail, table.tail = table.tail, None
        box.append(table)


def _absolute(root: etree._Element, base: str) -> None:
    for el in root.iter("a", "img"):
        attr = "href" if el.tag == "a" else "src"
        value = (el.get(attr) or "").strip()
        if value and not value.startswith(("#", "mailto:")):
            el.set(attr, urljoin(base, value))


def _serialise(root: etree._Element) -> str:
    out = root.text or ""
    out += "".join(etree.tostring(c, encoding="unicode", method="html") for c in root)
    return out


def render(body_html: str, images: Mapping[str, str] | None = None, *, absolute_base: str = "") -> str:
    """The body for a page or a feed: sanitised, in 公文 layout, images pointing at the channel's own files.

    ``images`` maps an attachment file name (as the body refers to it) to its URL in the output; ``absolute_base``
    (for feeds) is the URL every relative image and link URL is resolved against.
    """
    cleaned = _clean(body_html)
    if not cleaned.strip():
        return ""
    root = lxml.html.fragment_fromstring(cleaned, create_parent="div")
    _align_classes(root)
    _split_final_break(root)
    _mark_signature(root)
    _images(root, images or {})
    _wrap_tables(root)
    if absolute_base:
        _absolute(root, absolute_base)
    return _clean_div(_serialise(root))


def _clean_div(html: str) -> str:
    """Second pass through the sanitiser: only the table boxes' class is added on top of the subset."""
    attributes = {k: set(v) for k, v in _ATTRIBUTES.items()}
    attributes["div"] = {"class"}
    attributes["p"] = {"class"}
    attributes["td"] = attributes["td"] - {"align"} | {"class"}
    attributes["th"] = attributes["th"] - {"align"} | {"class"}
    allowed = GONGWEN_CLASSES | {"gw-right", "gw-center", "table-scroll"}

    def keep(tag: str, name: str, value: str) -> str | None:
        if name == "class":
            return " ".join(c for c in value.split() if c in allowed) or None
        return _filter(tag, name, value)

    return nh3.clean(html, tags=BODY_TAGS, attributes=attributes, url_schemes=URL_SCHEMES, attribute_filter=keep,
                     link_rel="noopener noreferrer", strip_comments=True)


def plain_summary(body_html: str, limit: int = 200) -> str:
    """Plain text of a body (for a feed entry's summary), cut at ``limit`` characters."""
    spaced = re.sub(r"<(?:/p|br|/?li|/td|/th|/h\d|/tr|/caption|ol|ul)\b[^>]*>", " ", body_html or "", flags=re.I)
    cleaned = nh3.clean(spaced, tags=set(), strip_comments=True)
    text = re.sub(r"\s+", " ", lxml.html.fromstring(f"<div>{cleaned}</div>").text_content() if cleaned.strip()
                  else "").strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


_KINDS = (
    ({".pdf"}, {"application/pdf"}, "PDF"),
    ({".doc", ".docx", ".wps", ".rtf"}, {"application/msword"}, "Word"),
    ({".xls", ".xlsx", ".et", ".csv"}, {"application/vnd.ms-excel"}, "Excel"),
    ({".ppt", ".pptx", ".dps"}, {"application/vnd.ms-powerpoint"}, "PowerPoint"),
    ({".ofd"}, {"application/ofd"}, "OFD"),
    ({".zip", ".rar", ".7z"}, {"application/zip"}, "压缩包"),
    ({".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp"}, set(), "图片"),
    ({".txt"}, {"text/plain"}, "文本"),
)


def size_text(size: int) -> str:
    """A human file size: "1.2 MB", "977 KB", "512 字节"."""
    if size >= 1024 * 1024:
        return f"{size / 1024 / 1024:.1f} MB"
    if size >= 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size} 字节"


def file_kind(extension: str, content_type: str) -> str:
    """A clerk's word for a file's type (PDF, Word, Excel, 图片…), from its extension or MIME type."""
    ext = (extension or "").lower()
    ctype = (content_type or "").lower()
    for exts, types, label in _KINDS:
        if ext in exts or ctype in types:
            return label
    if ctype.startswith("image/"):
        return "图片"
    if "wordprocessingml" in ctype:
        return "Word"
    if "spreadsheetml" in ctype:
        return "Excel"
    return ext.lstrip(".").upper() or "文件"


def referenced_images(body_html: str) -> set[str]:
    """The attachment file names a body shows as images (those are not listed again as downloads)."""
    names: set[str] = set()
    for m in re.finditer(r"<img\b[^>]*\bsrc=\"([^\"]+)\"", body_html or ""):
        src = m.group(1)
        if not src.startswith(("http://", "https://", "data:")):
            names.add(unquote(src))
            names.add(display_filename(unquote(src)))
    return names
