"""Readers for the catalog forms beyond text/.docx/.xlsx: HTML (saved page or fragment, or fetched from a URL), PDF,
legacy .xls/.doc/.wps, and .csv.

Each returns the same :class:`~orchestrator.catalog.readers.Source` grid the docx/xlsx readers return, so header,
row and channel understanding treats every form alike. The form is told by the file's content (magic bytes, markup),
the name's suffix only where content cannot tell (.csv). Every failure is a ``CatalogImportError`` in Chinese that
says what to do.
"""

from __future__ import annotations

import re
from pathlib import Path

from orchestrator.catalog.errors import CatalogImportError
from orchestrator.catalog.formats.common import carried  # noqa: F401  (re-exported for callers)
from orchestrator.catalog.readers import Source

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_HTML_HINT = re.compile(rb"<\s*(table|html|!doctype\s+html)\b", re.IGNORECASE)
# A web archive ("网页，单个文件" .mht): MIME headers, then a multipart/related body.
_MHT_HINT = re.compile(rb"(?is)^(?:[\x21-\x7e]+:[^\n]*\n)*?\s*(?:mime-version:[^\n]*\n(?:[^\n]+\n)*?)?content-type:\s*multipart/related")
_HTML_SUFFIXES = {".html", ".htm", ".shtml", ".xhtml", ".jsp", ".asp", ".aspx", ".php"}
_TEXT_SUFFIXES = {".txt", ".text", ".md", ".tsv"}




def read_other(path: Path, data: bytes) -> Source | None:
    """The Source for a form this package reads, or None when the file is text, .docx or .xlsx (read as before)."""
    suffix = path.suffix.lower()
    if data.startswith(b"%PDF"):
        # lazy: each form's library (pdfplumber, xlrd, lxml) loads only for that form
        from orchestrator.catalog.formats.pdf import read_pdf

        return read_pdf(path, data)
    if data.startswith(OLE_MAGIC) or data.startswith(b"\xd0\xcf\x11\xe0"):
        # lazy: each form's library (pdfplumber, xlrd, lxml) loads only for that form
        from orchestrator.catalog.formats.legacy import read_ole

        return read_ole(path, data)
    if data.startswith(b"PK\x03\x04") or data.startswith(b"PK\x05\x06"):
        if suffix == ".ofd" or b"OFD.xml" in data[:4096]:
            raise CatalogImportError(
                f"{path.name} 是 OFD 版式文件，其中的表格无法直接读取；请导入目录的原始 Word/Excel 文件或 PDF，"
                "或发布该目录的网页（网址或另存的 .html）"
            )
        return None
    if suffix in (".mht", ".mhtml") or _MHT_HINT.match(data[:4096]):
        # lazy: each form's library (pdfplumber, xlrd, lxml) loads only for that form
        from orchestrator.catalog.formats.html import read_mht

        return read_mht(path.name, data)
    if suffix in _HTML_SUFFIXES or (suffix not in _TEXT_SUFFIXES and _HTML_HINT.search(data[:65536])):
        # lazy: each form's library (pdfplumber, xlrd, lxml) loads only for that form
        from orchestrator.catalog.formats.html import read_html

        return read_html(path.name, data)
    if suffix == ".csv":
        # lazy: each form's library (pdfplumber, xlrd, lxml) loads only for that form
        from orchestrator.catalog.formats.csvfile import read_csv

        return read_csv(path.name, data)
    if suffix in (".xls", ".et") and b"\t" in data[:65536] and b"\0" not in data[:65536]:
        return None  # tab-separated text saved as "Excel" by many systems: the text reader reads it
    if suffix in (".pdf", ".xls", ".doc", ".wps", ".et", ".docx", ".xlsx"):
        raise CatalogImportError(
            f"{path.name} 的扩展名是 {suffix}，但文件内容不是这种格式（可能已损坏，或是改了扩展名的其他文件），请重新保存或重新下载"
        )
    return None
