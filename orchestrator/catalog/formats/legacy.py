"""Legacy Office files (OLE compound documents): .xls read with xlrd; .doc/.wps converted to .docx by LibreOffice
(headless) when it is installed, and read like any .docx. A password-protected .docx/.xlsx is also an OLE file
(an EncryptedPackage): it gets a message of its own.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from orchestrator.catalog.errors import CatalogImportError
from orchestrator.catalog.formats.common import carried
from orchestrator.catalog.readers import RawRow, RawTable, Source

CONVERT_TIMEOUT = 120  # seconds for LibreOffice to convert one document


def _utf16(name: str) -> bytes:
    return name.encode("utf-16-le")


def read_ole(path: Path, data: bytes) -> Source:
    if _utf16("EncryptedPackage") in data or _utf16("EncryptionInfo") in data:
        raise CatalogImportError(f"{path.name} 设置了打开密码（已加密），无法读取；请在 Office/WPS 中取消密码后另存，再导入")
    if _utf16("Workbook") in data:
        return read_xls(path, data)
    if _utf16("WordDocument") in data:
        return read_doc(path)
    if _utf16("Book") in data:  # Excel 5/95
        return read_xls(path, data)
    raise CatalogImportError(
        f"{path.name} 是旧版 Office 格式，但不是 Word 文档或 Excel 工作簿（也可能已损坏），请在 Office/WPS 中另存为 .docx 或 .xlsx 后再导入"
    )


def _xls_value(cell, datemode: int) -> str:
    # lazy: a .doc converted by LibreOffice is read as .docx
    import xlrd

    if cell.ctype in (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK):
        return ""
    if cell.ctype == xlrd.XL_CELL_NUMBER:
        v = cell.value
        return str(int(v)) if float(v).is_integer() else str(v)
    if cell.ctype == xlrd.XL_CELL_DATE:
        try:
            d = xlrd.xldate_as_datetime(cell.value, datemode)
        except (ValueError, OverflowError):
            return str(cell.value)
        return d.date().isoformat() if d.time() == dt.time() else d.isoformat(sep=" ")
    if cell.ctype == xlrd.XL_CELL_BOOLEAN:
        return "是" if cell.value else "否"
    if cell.ctype == xlrd.XL_CELL_ERROR:
        return ""
    return str(cell.value)


def read_xls(path: Path, data: bytes) -> Source:
    # lazy: a .doc converted by LibreOffice is read as .docx
    import xlrd

    try:
        book = xlrd.open_workbook(file_contents=data, formatting_info=True, on_demand=True)
    except Exception as exc:  # xlrd raises XLRDError, struct.error, AssertionError... on damaged files
        raise CatalogImportError(f"{path.name} 无法作为 Excel 97-2003（.xls）读取（文件可能已损坏）：{exc}；请在 Excel/WPS 中另存为 .xlsx 后再导入") from None
    tables: list[RawTable] = []
    preamble: list[str] = []
    try:
        for sheet in book.sheets():
            grid = [[_xls_value(sheet.cell(r, c), book.datemode) for c in range(sheet.ncols)] for r in range(sheet.nrows)]
            merged: dict[int, set[int]] = {}
            for rlo, rhi, clo, _chi in sheet.merged_cells:
                if rlo >= len(grid):
                    continue
                top = carried(grid[rlo][clo])
                for r in range(rlo + 1, min(rhi, len(grid))):
                    # As for .xlsx: the first column of a vertical merge carries the value down.
                    grid[r][clo] = top
                    merged.setdefault(r, set()).add(clo)
            rows = [RawRow(cells, i + 1, frozenset(merged.get(i, ()))) for i, cells in enumerate(grid) if any(c.strip() for c in cells)]
            tables.append(RawTable(rows, f"工作表“{sheet.name}”", f"xls:{sheet.name}"))
            preamble.extend(c.strip() for cells in grid[:5] for c in cells if c.strip())
    finally:
        book.release_resources()
    return Source("xls", tables, preamble)


def soffice() -> str | None:
    return shutil.which("soffice") or shutil.which("libreoffice")


def read_doc(path: Path) -> Source:
    # lazy: a .doc converted by LibreOffice is read as .docx
    from orchestrator.catalog.readers import _read_docx

    exe = soffice()
    if exe is None:
        raise CatalogImportError(
            f"{path.name} 是旧版 Word/WPS 文档（.doc/.wps）。本机没有安装 LibreOffice，无法转换：请安装"
            "（Debian/Ubuntu：apt-get install libreoffice-writer）后重试，或在 Word/WPS 中另存为 .docx 后再导入"
        )
    with tempfile.TemporaryDirectory(prefix="catalog-doc-") as tmp:
        src = Path(tmp) / ("source" + (path.suffix.lower() if path.suffix.lower() in (".doc", ".wps") else ".doc"))
        shutil.copyfile(path, src)
        profile = Path(tmp) / "profile"
        cmd = [exe, f"-env:UserInstallation={profile.as_uri()}", "--headless", "--norestore", "--convert-to", "docx",
               "--outdir", str(Path(tmp) / "out"), str(src)]
        try:
            proc = subprocess.run(cmd, capture_output=True, timeout=CONVERT_TIMEOUT, env={**os.environ, "HOME": tmp})
        except subprocess.TimeoutExpired:
            raise CatalogImportError(f"{path.name} 用 LibreOffice 转换超时（{CONVERT_TIMEOUT} 秒），请在 Word/WPS 中另存为 .docx 后再导入") from None
        out = Path(tmp) / "out" / (src.stem + ".docx")
        if proc.returncode != 0 or not out.exists():
            detail = (proc.stderr or proc.stdout).decode("utf-8", "replace").strip()[:200]
            raise CatalogImportError(f"{path.name} 无法用 LibreOffice 转换为 .docx（文件可能已损坏）：{detail}；请在 Word/WPS 中另存为 .docx 后再导入")
        try:
            source = _read_docx(out)
        except CatalogImportError:
            raise
        except Exception as exc:
            raise CatalogImportError(f"{path.name} 转换后无法读取：{type(exc).__name__}: {exc}；请在 Word/WPS 中另存为 .docx 后再导入") from None
    source.kind = "doc"
    return source
