"""Text repair for cells that went through a Word/PDF → text export.

Exports break CJK words with spaces ("规 范 性 文 件", "一级事 项") because a PDF has no word
boundaries; Chinese never puts a space between two ideographs, so removing such spaces is safe.
Spaces next to Latin letters or digits are kept ("1. 姓名及职务 2. 个人简介" stays readable).
"""

from __future__ import annotations

import re
import unicodedata

# Ideographs plus CJK/full-width punctuation: a space between two of these is an export artefact.
_CJK = (
    r"\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65"
    r"\u2018\u2019\u201c\u201d\u2026\u2014"
)
_CJK_GAP = re.compile(rf"(?<=[{_CJK}])\s+(?=[{_CJK}])")
# A digit glued to a CJK unit ("20 个工作日", "之日起 20") is also broken by exports.
_CJK_DIGIT_GAP = re.compile(rf"(?<=[{_CJK}])[ \t]+(?=\d+\s*[个日天月年])|(?<=\d)[ \t]+(?=[个日天月年])")
_WS = re.compile(r"\s+")

_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}


def clean(text: str | None) -> str:
    """Collapse whitespace and rejoin CJK words broken by spaces or line breaks."""
    if not text:
        return ""
    text = unicodedata.normalize("NFC", str(text)).replace("\u00a0", " ").replace("\u3000", " ")
    text = _WS.sub(" ", text).strip()
    text = _CJK_GAP.sub("", text)
    return _CJK_DIGIT_GAP.sub("", text)


def compact(text: str | None) -> str:
    """All whitespace removed, full-width ASCII folded: for comparing names and header labels."""
    if not text:
        return ""
    return _WS.sub("", unicodedata.normalize("NFKC", str(text)))


def cn_number(token: str) -> int | None:
    """'20' → 20, '二十' → 20, '十五' → 15, '一' → 1; None when it is not a number."""
    token = unicodedata.normalize("NFKC", token.strip())
    if token.isdigit():
        return int(token)
    if not token or any(ch not in _CN_DIGITS and ch != "十" for ch in token):
        return None
    if "十" not in token:
        return _CN_DIGITS[token] if len(token) == 1 else None
    tens, _, ones = token.partition("十")
    if len(tens) > 1 or len(ones) > 1:
        return None
    return (_CN_DIGITS[tens] if tens else 1) * 10 + (_CN_DIGITS[ones] if ones else 0)
