"""One entry point for an uploaded document file: refuse what is hostile, convert, recognise, store the images."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from orchestrator.docimport import clean, gongwen
from orchestrator.docimport.docx import ImportRefused, convert_docx, legacy_to_docx
from orchestrator.docimport.pdf import paragraphs_html, read_pdf
from orchestrator.documents import attachments as att
from orchestrator.documents.content import plain_text
from orchestrator.settings import Settings

IMPORTABLE = ("docx", "doc", "wps", "pdf")
# The prefilled 摘要 is the opening of the text, short enough for every channel as it stands: WeChat refuses a digest
# over 128 characters, and a clerk should not have to cut a prefilled field before the form is accepted.
SUMMARY_CHARS = 120


@dataclass
class ImportResult:
    kind: str  # "docx" / "pdf"
    body_html: str  # canonical subset; images by their attachment file name
    fields: dict[str, Any]
    attachments: list[att.StoredAttachment] = field(default_factory=list)  # body images, or the PDF itself
    summary: str = ""
    warnings: list[str] = field(default_factory=list)

    def as_json(self, url_of=None) -> dict[str, Any]:
        return {
            "kind": self.kind, "body_html": self.body_html, "fields": self.fields, "summary": self.summary,
            "warnings": self.warnings,
            "attachments": [{"filename": a.filename, "sha256": a.sha256, "size": a.size, "content_type": a.content_type,
                             **({"url": url_of(a)} if url_of else {})} for a in self.attachments],
        }


def _read_capped(stream: BinaryIO, limit: int, name: str) -> bytes:
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise ImportRefused(f"“{name}”超过可导入的大小上限（{limit // (1024 * 1024)} MB），未保存任何内容。"
                            "可先压缩文档中的图片，或把大文件作为附件上传")
    if not data:
        raise ImportRefused(f"“{name}”是空文件")
    return data


# The letter's frame, marked by the 公文 recogniser: 主送, 附件说明, 落款 and 成文日期 say nothing about the content.
_LETTER_FRAME = re.compile(r'<p class="gw-(?:recipient|attachments|signature|date)">.*?</p>', re.S)


def _summary(html: str) -> str:
    """The opening of the text, without the letter's frame: it is prefilled as the 摘要 that feeds and pushes carry."""
    text = plain_text(_LETTER_FRAME.sub(" ", html)) or plain_text(html)
    return text if len(text) <= SUMMARY_CHARS else text[: SUMMARY_CHARS - 1] + "…"


def import_document(settings: Settings, filename: str, stream: BinaryIO) -> ImportResult:
    """Read an uploaded .docx/.doc/.wps/.pdf. Raises ImportRefused (nothing stored) for anything it will not take."""
    name = att.clean_filename(filename)
    ext = att.extension(name)
    if ext == "docm" or ext == "dotm":
        raise ImportRefused(f"“{name}”是启用宏的 Word 文件，出于安全不予导入。请在 Word 中另存为 .docx 后再上传")
    if ext not in IMPORTABLE:
        raise ImportRefused(f"“{name}”不能导入为正文（可导入：{'、'.join('.' + e for e in IMPORTABLE)}）")
    data = _read_capped(stream, settings.max_import_bytes, name)
    if ext == "pdf":
        lines, _pages = read_pdf(data, name)
        parts = gongwen.recognise(lines)
        body = clean.sanitise(paragraphs_html(lines, parts))
        stored = att.store(settings, name, io.BytesIO(data))
        warnings = [] if body else ["PDF 中没有可提取的文字（可能是扫描件），正文请手工录入"]
        return ImportResult("pdf", body, _fields(parts), [stored], _summary(body), warnings)
    if ext in ("doc", "wps"):
        data = legacy_to_docx(data, name)
    conv = convert_docx(data, name, unpacked_limit=settings.max_import_unpacked_bytes)
    stored: list[att.StoredAttachment] = []
    try:
        for img in conv.images:
            stored.append(att.store(settings, img.filename, io.BytesIO(img.data)))
    except att.AttachmentError as exc:
        att.discard(stored)
        raise ImportRefused(str(exc)) from exc
    except BaseException:
        att.discard(stored)
        raise
    return ImportResult("docx", conv.body_html, _fields(conv.parts), stored, _summary(conv.body_html), conv.warnings)


def _fields(parts: gongwen.Parts) -> dict[str, Any]:
    out = parts.fields()
    out["formed_on"] = out["signed_on"]
    return out
