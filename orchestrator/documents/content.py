"""Document body handling: Markdown/HTML to sanitised HTML, and the personal-data check (个人信息)."""

from __future__ import annotations

import hashlib
import html as _html
import re
from dataclasses import dataclass

from markdown_it import MarkdownIt

from orchestrator.docimport import clean as _clean

# The canonical body subset is defined once, in orchestrator.docimport.clean (Word/WPS paste cleaning included).
ALLOWED_TAGS = _clean.ALLOWED_TAGS
ALLOWED_ATTRIBUTES = _clean.ALLOWED_ATTRIBUTES
URL_SCHEMES = _clean.URL_SCHEMES
MAX_IMAGE_DIMENSION = _clean.MAX_IMAGE_DIMENSION

# breaks: a single line break typed in Markdown stays a line break (<br>): clerks put the 落款 and the date, or
# numbered lines, on lines of their own without a blank line between them.
_md = MarkdownIt("commonmark", {"html": False, "breaks": True}).enable("table")


def sanitise_html(html: str) -> str:
    """Keep structure and text; drop scripts, event handlers, javascript: links and oversized image sizes."""
    return _clean.sanitise(html)


def render_body(source: str, fmt: str) -> str:
    """Sanitised HTML from a body written in ``html`` or ``markdown``."""
    if fmt == "markdown":
        return sanitise_html(_md.render(source))
    if fmt == "html":
        return sanitise_html(source)
    raise ValueError(f"不支持的正文格式：{fmt}（可选 html 或 markdown）")


_TAG = re.compile(r"<[^>]+>")
_WS = re.compile(r"\s+")


def plain_text(html: str) -> str:
    return _WS.sub(" ", _html.unescape(_TAG.sub(" ", html))).strip()


def content_hash(title: str, body_html: str) -> str:
    return hashlib.sha256(f"{title}\n{body_html}".encode()).hexdigest()


# --- personal data ------------------------------------------------------------------------------

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_ID_CANDIDATE = re.compile(r"(?<![0-9A-Za-z])([1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[0-9Xx])(?![0-9A-Za-z])")
_MOBILE = re.compile(r"(?<!\d)(1[3-9]\d{9})(?!\d)")


def id_card_checksum_ok(number: str) -> bool:
    """GB 11643-1999 check digit of an 18-digit resident identity card number."""
    if len(number) != 18 or not number[:17].isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(number[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == number[17].upper()


@dataclass(frozen=True)
class PersonalDataHit:
    kind: str  # "id_card" / "mobile"
    masked: str

    @property
    def label(self) -> str:
        return {"id_card": "身份证号码", "mobile": "手机号码"}[self.kind]


def _mask(s: str) -> str:
    return s[:3] + "*" * (len(s) - 7) + s[-4:]


def find_personal_data(text: str) -> list[PersonalDataHit]:
    """ID-card numbers with a valid check digit and mainland mobile numbers, masked for display."""
    plain = plain_text(text)
    hits: list[PersonalDataHit] = []
    seen: set[str] = set()
    for m in _ID_CANDIDATE.finditer(plain):
        n = m.group(1)
        if id_card_checksum_ok(n) and n not in seen:
            seen.add(n)
            hits.append(PersonalDataHit("id_card", _mask(n)))
    for m in _MOBILE.finditer(plain):
        n = m.group(1)
        if n not in seen and not any(n in s for s in seen):
            seen.add(n)
            hits.append(PersonalDataHit("mobile", _mask(n)))
    return hits
