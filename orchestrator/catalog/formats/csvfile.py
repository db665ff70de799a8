"""CSV catalogs (Excel's "CSV" export, or a system's download): UTF-8 with or without BOM, GBK/GB18030.

Cells are read with the csv module (quoted cells may hold line breaks); the delimiter is sniffed among comma,
semicolon and tab. Rows before the first row of several cells (a title line) are the preamble.
"""

from __future__ import annotations

import csv

from orchestrator.catalog.errors import CatalogImportError
from orchestrator.catalog.readers import RawRow, RawTable, Source, _decode

MAX_FIELD = 1024 * 1024


def read_csv(name: str, data: bytes) -> Source:
    text = _decode(data, name)
    sample = text[:65536]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
        delimiter = dialect.delimiter
    except csv.Error:
        delimiter = ","
    csv.field_size_limit(MAX_FIELD)
    reader = csv.reader(text.splitlines(keepends=True), delimiter=delimiter, quotechar='"', doublequote=True, strict=False)
    rows: list[RawRow] = []
    try:
        start = 1
        for cells in reader:
            line = start
            start = reader.line_num + 1
            if any(c.strip() for c in cells):
                rows.append(RawRow([c.replace("\r\n", "\n") for c in cells], line))
    except csv.Error as exc:
        raise CatalogImportError(f"{name} 不是有效的 CSV 文件（第{reader.line_num}行：{exc}），请在 Excel/WPS 中重新另存为 CSV 或 .xlsx 后再导入") from None
    if not rows:
        raise CatalogImportError(f"{name} 是空的")
    preamble = []
    for r in rows[:20]:
        filled = [c.strip() for c in r.cells if c.strip()]
        if len(filled) > 2:
            break
        preamble.extend(filled)
    return Source("csv", [RawTable(rows, "CSV 表格", "csv")], preamble)
