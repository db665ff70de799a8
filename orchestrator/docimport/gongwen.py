"""Recognising the parts of a 公文 (GB/T 9704) by position and style: 版头, 文号, 标题, 主送, 正文, 附件说明, 落款, 成文日期.

Works on a flat list of paragraphs (text, centred?, font size, bold?) so a Word file and a PDF's text lines are
read the same way. The result only *prefills* the form: the clerk confirms every field.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Para:
    text: str
    centred: bool = False
    right: bool = False
    size: float = 0.0  # points; 0 when unknown
    bold: bool = False
    style: str = ""


@dataclass
class Parts:
    issuer: str = ""  # 发文机关标志 (红头), e.g. 根河市司法局文件
    doc_number: str = ""  # 发文字号
    title: str = ""
    recipient: str = ""  # 主送机关
    attachments_note: list[str] = field(default_factory=list)  # 附件说明
    signature: str = ""  # 落款 (发文机关署名)
    signed_on: dt.date | None = None  # 成文日期
    signed_on_text: str = ""
    # Texts of the paragraphs that are the 版头 (issuer, 文号, title): the body starts after them.
    header_texts: list[str] = field(default_factory=list)

    def fields(self) -> dict[str, object]:
        return {
            "issuer": self.issuer, "doc_number": self.doc_number, "title": self.title, "recipient": self.recipient,
            "attachments_note": list(self.attachments_note), "signature": self.signature,
            "signed_on": self.signed_on.isoformat() if self.signed_on else "", "signed_on_text": self.signed_on_text,
        }


# 文号: 机关代字 + 〔年份〕 + 序号 + 号 (brackets as typed in practice: 〔〕, [], 【】, ()).
DOC_NUMBER = re.compile(r"[\u4e00-\u9fa5A-Za-z]{1,20}\s*[〔\[【（(]\s*(19|20)\d{2}\s*[〕\]】）)]\s*第?\s*\d{1,5}\s*号")
_CN_DIGITS = {"〇": 0, "○": 0, "零": 0, "Ｏ": 0, "O": 0, "一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7,
              "八": 8, "九": 9}
_DATE_ARABIC = re.compile(r"^\s*((?:19|20)\d{2})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日\s*$")
_DATE_CN = re.compile(r"^\s*([〇○零ＯO一二三四五六七八九]{4})\s*年\s*([一二三四五六七八九十]{1,3})\s*月\s*([一二三四五六七八九十]{1,3})\s*日\s*$")
_ATTACH = re.compile(r"^\s*附\s*件\s*[:：]")
_NUMBERED = re.compile(r"^\s*\d{1,2}\s*[.．、]")
_ISSUER = re.compile(r"(文件|通知|公报|纪要)$")
_TITLE_LIKE = re.compile(r"关于|(通知|决定|意见|办法|规定|细则|方案|公告|通告|批复|通报|报告|函|纪要|规划|条例|规则|制度|要点|"
                         r"公示|指引|指南|标准|命令|议案|请示)$")


def _cn_number(s: str) -> int:
    if s == "十":
        return 10
    if "十" in s:
        tens, _, units = s.partition("十")
        return (_CN_DIGITS[tens] if tens else 1) * 10 + (_CN_DIGITS[units] if units else 0)
    return _CN_DIGITS[s]


def parse_date(text: str) -> dt.date | None:
    """成文日期 in Arabic (2026年3月5日) or Chinese numerals (二〇二六年三月五日)."""
    try:
        m = _DATE_ARABIC.match(text)
        if m:
            return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        m = _DATE_CN.match(text)
        if m:
            year = int("".join(str(_CN_DIGITS[c]) for c in m.group(1)))
            return dt.date(year, _cn_number(m.group(2)), _cn_number(m.group(3)))
    except (ValueError, KeyError):
        return None
    return None


def _norm(text: str) -> str:
    return re.sub(r"[\s\u3000\u00a0]+", "", text)


def recognise(paras: list[Para]) -> Parts:
    parts = Parts()
    items = [p for p in paras if _norm(p.text)]
    if not items:
        return parts
    sizes = [p.size for p in items if p.size]
    body_size = sorted(sizes)[len(sizes) // 2] if sizes else 0.0

    # 文号: the first paragraph carrying one within the 版头 (the first few paragraphs).
    i = 0
    number_at = -1
    for k, p in enumerate(items[:8]):
        m = DOC_NUMBER.search(p.text)
        if m:
            parts.doc_number = re.sub(r"\s+", "", m.group(0))
            number_at = k
            break
    title_first = False
    if number_at >= 0:
        before = items[:number_at]
        # Leading lines before the 文号 are the 发文机关标志 (红头), except in the layout of notices copied from web
        # pages and many Word templates: the title first, the 文号 under it. A title says 关于 or ends in a kind of
        # document; a 红头 ends in 文件 (or is only the agency's name).
        k = 0
        while k < len(before) and not _TITLE_LIKE.search(_norm(before[k].text)):
            k += 1
        title_first = 0 < len(before) - k <= 3 and not _norm(before[-1].text).endswith("文件")
        if title_first:
            parts.issuer = "".join(_norm(p.text) for p in before[:k])
            parts.title = "".join(_norm(p.text) for p in before[k:])
        else:
            parts.issuer = "".join(_norm(p.text) for p in before)
        parts.header_texts = [p.text for p in items[: number_at + 1]]
        i = number_at + 1
    elif items and _ISSUER.search(_norm(items[0].text)) and (items[0].size > body_size * 1.5 if body_size else False):
        parts.issuer = _norm(items[0].text)
        parts.header_texts = [items[0].text]
        i = 1

    # Title: the next paragraph(s) set apart by style — centred, larger, bold or a title/heading style; a long title
    # wraps over consecutive centred lines.
    def looks_like_title(p: Para) -> bool:
        return (p.centred or (body_size and p.size > body_size * 1.15) or p.bold
                or p.style.lower() in {"title", "标题"}) and len(_norm(p.text)) <= 80 and not parse_date(p.text)

    title_lines: list[Para] = []
    while not title_first and i < len(items) and looks_like_title(items[i]) and (not title_lines or items[i].centred) and len(title_lines) < 3:
        title_lines.append(items[i])
        i += 1
        if title_lines and not title_lines[0].centred:
            break
    if title_lines:
        parts.title = "".join(_norm(p.text) for p in title_lines)
        parts.header_texts += [p.text for p in title_lines]

    # 主送: a short line ending in a colon, right after the title.
    if i < len(items):
        t = _norm(items[i].text)
        if t.endswith(("：", ":")) and len(t) <= 120 and not _ATTACH.match(t):
            parts.recipient = items[i].text.strip()
            i += 1

    # 成文日期 and 落款: from the end; the date is the last date line, the 落款 the short lines just above it.
    end = len(items)
    for k in range(len(items) - 1, max(i, len(items) - 8) - 1, -1):
        d = parse_date(_norm(items[k].text))
        if d:
            parts.signed_on, parts.signed_on_text, end = d, items[k].text.strip(), k
            sig = []
            j = k - 1
            while j >= i and len(sig) < 3 and len(_norm(items[j].text)) <= 30 and not _ATTACH.match(items[j].text) \
                    and not re.search(r"[。；;，,]$", _norm(items[j].text)) and not _NUMBERED.match(items[j].text):
                sig.insert(0, items[j].text.strip())
                j -= 1
            parts.signature = "\n".join(sig)
            break

    # 附件说明: "附件：1. …" and the numbered lines that follow it, before the 落款.
    for k in range(i, end):
        if _ATTACH.match(items[k].text):
            first = re.sub(r"^\s*附\s*件\s*[:：]\s*", "", items[k].text).strip()
            note = [first] if first else []
            for p in items[k + 1:end]:
                if _NUMBERED.match(p.text) and _norm(p.text) not in _norm(parts.signature):
                    note.append(p.text.strip())
                else:
                    break
            parts.attachments_note = note
            break
    return parts
