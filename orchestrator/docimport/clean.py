"""The canonical document body: one sanitised HTML subset, and the cleaning of HTML pasted from Word/WPS.

Every body goes through :func:`sanitise` — uploaded Word files (after conversion), the REST API's HTML, the web
editor's HTML and its pastes — so each channel renderer only ever sees this subset.
"""

from __future__ import annotations

import re

import lxml.html
import nh3
from lxml import etree

# The subset. Structure and text only: no scripts, handlers, styles, classes (except the 公文 part markers below).
ALLOWED_TAGS = {
    "p", "br", "hr", "h1", "h2", "h3", "h4", "strong", "b", "em", "i", "u", "s", "sub", "sup", "blockquote", "pre",
    "code", "ul", "ol", "li", "table", "caption", "thead", "tbody", "tfoot", "tr", "th", "td", "a", "img",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title", "id"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"colspan", "rowspan", "align"},
    "th": {"colspan", "rowspan", "align"},
    "p": {"align", "class"},
    "ol": {"start"},
    "li": {"id"},
}
# Relative URLs (attachment file names, staged uploads), http(s), mailto; data: only for images.
URL_SCHEMES = {"http", "https", "mailto", "data"}
MAX_IMAGE_DIMENSION = 2000
# Marks the 公文 parts recognised in an imported document, for the channels' 公文 layout (落款 and date right-aligned).
GONGWEN_CLASSES = {"gw-recipient", "gw-attachments", "gw-signature", "gw-date"}
_FOOTNOTE_ID = re.compile(r"footnote(?:-ref)?-\d{1,4}")
_SPAN = re.compile(r"^[1-9]\d{0,2}$")


def _attribute_filter(tag: str, name: str, value: str) -> str | None:
    if tag == "img" and name in {"width", "height"}:
        try:
            n = int(value)
        except ValueError:
            return None
        return str(min(max(n, 1), MAX_IMAGE_DIMENSION))
    if tag == "img" and name == "src" and value.startswith("data:") and not value.startswith("data:image/"):
        return None
    if tag == "a" and name == "href" and value.startswith("data:"):
        return None
    if name == "id":  # only footnote anchors keep an id (their links point at it)
        return value if _FOOTNOTE_ID.fullmatch(value) else None
    if name == "class":
        kept = [c for c in value.split() if c in GONGWEN_CLASSES]
        return " ".join(kept) or None
    if name in {"colspan", "rowspan", "start"}:
        return value if _SPAN.fullmatch(value.strip()) else None
    return value


_CANONICAL = [
    (re.compile(r"<b>"), "<strong>"), (re.compile(r"</b>"), "</strong>"),
    (re.compile(r"<i>"), "<em>"), (re.compile(r"</i>"), "</em>"),
    # Empty paragraphs (Word's spacing lines, an empty table cell's <p>&nbsp;</p>) carry nothing.
    (re.compile(r"<p(?: [^>]*)?>(?:\s|&nbsp;|\u00a0|\u3000|<br>)*</p>"), ""),
]


def sanitise(html: str) -> str:
    """The canonical subset of any HTML body (Word/WPS paste markup is cleaned first)."""
    if looks_like_word(html):
        html = clean_word_html(html)
    out = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        attribute_filter=_attribute_filter,
        link_rel="noopener noreferrer",
        strip_comments=True,
    )
    for pattern, repl in _CANONICAL:
        out = pattern.sub(repl, out)
    return out.strip()


# --- Word / WPS clipboard HTML -------------------------------------------------------------------

_WORD_SIGNS = re.compile(r"mso-|urn:schemas-microsoft-com|<o:p|class=\"?'?Mso|<!\[if|<!--\[if", re.I)


def looks_like_word(html: str) -> bool:
    return bool(_WORD_SIGNS.search(html[:200_000]))


_PRE_CLEAN = [
    # The list marker Word writes for browsers without list support: the real list is rebuilt below.
    re.compile(r"<!\[if !supportLists\]>.*?<!\[endif\]>", re.S | re.I),
    re.compile(r"<!--\[if !supportLists\]-->.*?<!--\[endif\]-->", re.S | re.I),
    # Downlevel-hidden conditional comments (VML, Office XML): never shown by a browser.
    re.compile(r"<!--\[if[^\]]*\]>.*?<!\[endif\]-->", re.S | re.I),
    # Downlevel-revealed markers (their content, e.g. an image's fallback <img>, stays).
    re.compile(r"<!\[(?:if [^\]]*|endif)\]>", re.I),
    re.compile(r"<(style|xml|script|head)\b.*?</\1\s*>", re.S | re.I),
    re.compile(r"<(?:meta|link)\b[^>]*>", re.I),
    re.compile(r"</?o:p\s*>", re.I),
    re.compile(r"<(w|v|m):[a-z]+\b[^>]*/>", re.I),
    re.compile(r"<(w|v|m):([a-z]+)\b[^>]*>.*?</\1:\2>", re.S | re.I),
]
_LIST_STYLE = re.compile(r"mso-list:\s*l(\d+)\s+level(\d+)", re.I)
_ORDERED_MARKER = re.compile(r"^\s*[(（]?(?:\d+|[一二三四五六七八九十]+|[a-zA-Z]|[ivxlcIVXLC]+)[.．、)）]")


def _text(el: etree._Element) -> str:
    return "".join(el.itertext())


def clean_word_html(html: str) -> str:
    """Word/WPS clipboard HTML to plain structural HTML: pseudo-lists become real lists, Office markup goes."""
    # Markers of lists are read before they are removed: numbered ("1.", "一、") or bulleted.
    list_kinds: list[bool] = []

    def _marker(m: re.Match[str]) -> str:
        marker = re.sub(r"<[^>]+>|&nbsp;", "", m.group(0).split(">", 1)[1] if ">" in m.group(0) else "")
        list_kinds.append(bool(_ORDERED_MARKER.match(marker)))
        return f"<span data-list-marker=\"{int(list_kinds[-1])}\"></span>"

    html = _PRE_CLEAN[0].sub(_marker, html)
    html = _PRE_CLEAN[1].sub(_marker, html)
    for pattern in _PRE_CLEAN[2:]:
        html = pattern.sub("", html)
    body = re.search(r"<body[^>]*>(.*)</body>", html, re.S | re.I)
    if body:
        html = body.group(1)
    root = lxml.html.fragment_fromstring(html or "<p></p>", create_parent="div")
    for span in root.xpath(".//span[contains(@style,'mso-list:Ignore') or contains(@style,'mso-list: Ignore')]"):
        # A marker left without the conditional wrapper (WPS): read and drop it.
        marker = _text(span).replace("\u00a0", "")
        parent = span.getparent()
        holder = etree.Element("span", {"data-list-marker": str(int(bool(_ORDERED_MARKER.match(marker))))})
        parent.replace(span, holder)
    for p in root.xpath(".//p[contains(@class,'MsoTitle')]"):
        p.tag = "h1"
    _rebuild_lists(root)
    for a in root.xpath(".//a[not(@href)]"):
        a.drop_tag()
    for img in root.xpath(".//img[starts-with(@src,'file:')]"):
        # A pasted Word image points at the clerk's own disk; the image itself is uploaded separately.
        img.drop_tree()
    return "".join(etree.tostring(c, encoding="unicode", method="html") for c in root) if len(root) or root.text \
        else ""


def _rebuild_lists(root: etree._Element) -> None:
    """Consecutive ``MsoListParagraph`` paragraphs (``mso-list:l0 level2``) become nested <ol>/<ul>."""
    for parent in [root, *root.xpath(".//td|.//th|.//div|.//blockquote")]:
        children = list(parent)
        i = 0
        while i < len(children):
            level = _list_level(children[i])
            if level is None:
                i += 1
                continue
            run = []
            while i < len(children) and _list_level(children[i]) is not None:
                run.append(children[i])
                i += 1
            _replace_run(parent, run)


def _list_level(el: etree._Element) -> int | None:
    if el.tag != "p":
        return None
    m = _LIST_STYLE.search(el.get("style", ""))
    return int(m.group(2)) if m else None


def _replace_run(parent: etree._Element, run: list[etree._Element]) -> None:
    first = run[0]
    anchor = etree.Element("span")
    parent.replace(first, anchor)
    stack: list[tuple[int, etree._Element]] = []  # (level, list element)
    top: etree._Element | None = None
    for p in run:
        level = _list_level(p) or 1
        marker = p.find(".//span[@data-list-marker]")
        ordered = marker is not None and marker.get("data-list-marker") == "1"
        if marker is not None:
            marker.drop_tree()
        while stack and stack[-1][0] > level:
            stack.pop()
        if not stack or stack[-1][0] < level:
            lst = etree.Element("ol" if ordered else "ul")
            if stack:
                last_items = stack[-1][1].findall("li")
                holder = last_items[-1] if last_items else etree.SubElement(stack[-1][1], "li")
                holder.append(lst)
            else:
                top = lst
            stack.append((level, lst))
        li = etree.SubElement(stack[-1][1], "li")
        li.text = (p.text or "").lstrip()
        for child in list(p):
            li.append(child)
        if p is not first and p.getparent() is not None:
            p.getparent().remove(p)
    if top is not None:
        anchor.addnext(top)
        top.tail = anchor.tail
    parent.remove(anchor)


# --- structure (for comparing two bodies) --------------------------------------------------------

def structure(html: str) -> list:
    """The tag tree with its text, whitespace-normalised: what two bodies must share to be "the same document"."""
    root = lxml.html.fragment_fromstring(html or "<p></p>", create_parent="div")

    def walk(el: etree._Element) -> list:
        out: list = []
        text = re.sub(r"\s+", "", el.text or "")
        if text:
            out.append(text)
        for c in el:
            if isinstance(c.tag, str):
                attrs = {k: c.get(k) for k in ("colspan", "rowspan") if c.get(k)}
                out.append([c.tag, attrs, *walk(c)])
            tail = re.sub(r"\s+", "", c.tail or "")
            if tail:
                out.append(tail)
        return out

    return walk(root)
