"""A PDF-only document: its text, for search, the screens and the feed summary (the PDF itself is the attachment)."""

from __future__ import annotations

import html
import io
import re

import pdfplumber

from orchestrator.docimport import gongwen
from orchestrator.docimport.docx import ImportRefused

MAX_PAGES = 300
_END = re.compile(r"[。！？；：:!?;）)」”]$")


def read_pdf(data: bytes, name: str) -> tuple[list[gongwen.Para], int]:
    """The PDF's text lines (centred or not, font size) and its page count."""
    if not data.startswith(b"%PDF-"):
        raise ImportRefused(f"“{name}”不是有效的 PDF 文件，可能已损坏或被改名")
    lines: list[gongwen.Para] = []
    try:
        with pdfplumber.open(io.BytesIO(data)) as pdf:
            pages = len(pdf.pages)
            if pages > MAX_PAGES:
                raise ImportRefused(f"“{name}”有 {pages} 页，超过可提取文字的上限（{MAX_PAGES} 页）")
            for page in pdf.pages:
                width = float(page.width)
                for ln in page.extract_text_lines(return_chars=True):
                    text = ln["text"].strip()
                    if not text:
                        continue
                    mid = (ln["x0"] + ln["x1"]) / 2
                    sizes = [c.get("size", 0.0) for c in ln.get("chars", [])]
                    lines.append(gongwen.Para(
                        text, centred=abs(mid - width / 2) < width * 0.05 and (ln["x1"] - ln["x0"]) < width * 0.7,
                        right=ln["x1"] > width * 0.7 and ln["x0"] > width * 0.45,
                        size=max(sizes) if sizes else 0.0))
    except ImportRefused:
        raise
    except Exception as exc:  # noqa: BLE001 - an unreadable PDF is refused with the reason
        raise ImportRefused(f"“{name}”无法读取（{type(exc).__name__}），可能已损坏或加密") from exc
    return lines, pages


def paragraphs_html(lines: list[gongwen.Para], parts: gongwen.Parts) -> str:
    """Visual lines joined into paragraphs (a line ends one when it ends a sentence or stops short)."""
    header = {gongwen._norm(t) for t in parts.header_texts}
    widths = [len(p.text) for p in lines]
    full = sorted(widths)[int(len(widths) * 0.9)] if widths else 0
    paras: list[str] = []
    cur = ""
    for p in lines:
        if gongwen._norm(p.text) in header and not paras and not cur:
            continue
        cur += p.text.strip()
        if _END.search(cur) or len(p.text) < full * 0.8 or p.centred or p.right:
            paras.append(cur)
            cur = ""
    if cur:
        paras.append(cur)
    return "".join(f"<p>{html.escape(t)}</p>" for t in paras)
