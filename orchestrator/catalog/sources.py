"""Read an agency's catalog file of any form into the raw grid the layout reads.

The dispatcher sits above both the basic readers (text, .docx, .xlsx: ``readers``) and the other forms
(``formats``: HTML, PDF, legacy Office, CSV), which build on the basic readers' types, so neither imports the other's
caller.
"""

from __future__ import annotations

from pathlib import Path

from orchestrator.catalog.errors import CatalogImportError
from orchestrator.catalog.formats import read_other
from orchestrator.catalog.readers import MAX_BYTES, Source, _decode, _read_text, _read_zip


def read_source(path: Path) -> Source:
    path = Path(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise CatalogImportError(f"找不到文件：{path}") from None
    except OSError as exc:
        raise CatalogImportError(f"无法读取文件 {path}：{exc.strerror or exc}") from None
    if path.is_dir():
        raise CatalogImportError(f"{path} 是目录，不是文件")
    if size > MAX_BYTES:
        raise CatalogImportError(
            f"文件过大（{size / 1024 / 1024:.1f} MB），超过 {MAX_BYTES // 1024 // 1024} MB 上限。"
            "主动公开目录通常不足 1 MB，请确认选择的文件是否正确"
        )
    data = path.read_bytes()
    if not data.strip():
        raise CatalogImportError(f"文件 {path.name} 是空的")
    # HTML, PDF, .xls/.doc/.wps and .csv have readers of their own (orchestrator.catalog.formats).
    other = read_other(path, data)
    if other is not None:
        return other
    if data.startswith(b"PK\x03\x04") or data.startswith(b"PK\x05\x06"):
        return _read_zip(path)
    return _read_text(_decode(data, path.name))
