"""Renderers for the development corpus: one logical catalog grid → the form and shape an agency really sends.

A catalog here is a header (1–3 grid rows, with merges) and data rows of cell strings. An empty data cell
in a mergeable column is a cell merged with the one above (printed once). A ``\\n`` inside a cell is a line
break the original had inside the cell; text shapes flatten it the way each export does.
"""

from __future__ import annotations

import csv
import html
import io
from dataclasses import dataclass, field
from pathlib import Path

NBSP = "\u00a0"

STD_OPTIONS = [
    "政府网站", "政府公报", "两微一端", "发布会/听证会", "广播电视", "纸质媒体", "公开查阅点",
    "政务服务中心", "便民服务站", "入户/现场", "社区/企事业单位/村公示栏（电子屏）", "精准推送", "其他",
]


def boxes(checked: list[str], options: list[str] | None = None, on: str = "■", off: str = "□", sep: str = " ") -> str:
    """A checkbox channel cell: every option listed, the checked ones marked."""
    opts = options or STD_OPTIONS
    unknown = [c for c in checked if c not in opts]
    assert not unknown, unknown
    return sep.join(f"{on if o in checked else off}{o}" for o in opts)


@dataclass
class Grid:
    header: list[list[str]]
    rows: list[list[str]]
    # Header merges: (row, col, rowspan, colspan); cells covered by a merge are "" in `header`.
    header_merges: list[tuple[int, int, int, int]] = field(default_factory=list)
    merge_cols: tuple[int, ...] = ()  # data columns where a blank under a value is a vertical merge
    span_cols: tuple[int, ...] = ()  # ...of which these merge across a new 序号 too (one 公开主体 cell for the table)
    before: list[str] = field(default_factory=list)  # page text before the table (title, chrome)
    cut: bool = False  # the last row is cut off: text shapes end after its last non-empty cell
    after: list[str] = field(default_factory=list)

    def text_rows(self) -> list[list[str]]:
        """Header and data rows as a text export prints them: a cut last row ends at its last non-empty cell."""
        rows = [list(r) for r in self.header + self.rows]
        if self.cut:
            last = rows[-1]
            n = max(i for i, c in enumerate(last) if c.strip()) + 1
            rows[-1] = last[:n]
        return rows

    @property
    def width(self) -> int:
        return len(self.header[0])

    def data_merges(self) -> list[tuple[int, int, int]]:
        """(first row, col, rowspan) of vertical merges in the data; a merge never crosses a row with a 序号."""
        out = []
        for c in self.merge_cols:
            r = 0
            while r < len(self.rows):
                end = r
                if self.rows[r][c].strip():
                    while end + 1 < len(self.rows) and not self.rows[end + 1][c].strip() and (
                        c in self.span_cols or not self.rows[end + 1][0].strip()
                    ):
                        end += 1
                if end > r:
                    out.append((r, c, end - r + 1))
                r = end + 1
        return out


# ---------------------------------------------------------------- text shapes


def _flat(cell: str, joiner: str = " ") -> str:
    return joiner.join(p for p in cell.split("\n"))


def text_a1_pipe(g: Grid, break_after: tuple[int, ...] = (), pad: int = 3) -> str:
    """Pipe text where a line is not a row: line breaks inside cells stay, some rows break at a cell boundary,
    colspan padding leaves trailing ``||||`` and pipe-only lines separate some rows."""
    out = list(g.before)
    for n, row in enumerate(g.text_rows()):
        cells = list(row)
        line = ""
        for i, c in enumerate(cells):
            line += c + "|"
            if i in break_after and n >= len(g.header):
                line += "\n"
        if not (g.cut and n == len(g.header) + len(g.rows) - 1):
            line = line + "|" * pad
        if n % 2 == 0:
            line = "|" + line
        out.append(line)
        if n % 3 == 2:
            out.append("|" * (g.width + pad))
    out.extend(g.after)
    return "\n".join(out) + "\n"


def text_a2_spaces(g: Grid) -> str:
    """Single spaces between cells; empty cells vanish; line breaks inside cells became spaces too."""
    out = list(g.before)
    for row in g.text_rows():
        out.append(" ".join(_flat(c) for c in row if c.strip()))
    out.extend(g.after)
    return "\n".join(out) + "\n"


def text_a3_lines(g: Grid) -> str:
    """One cell per line, no blank lines (PDF copy): empty cells vanish, wrapped cells span several lines."""
    out = list(g.before)
    for row in g.text_rows():
        for c in row:
            if c.strip():
                out.extend(c.split("\n"))
    out.extend(g.after)
    return "\n".join(out) + "\n"


def text_a4_paragraphs(g: Grid, option_cols: tuple[int, ...] = ()) -> str:
    """One paragraph per cell, a blank line after every paragraph (CMS rendering). Multi-line cells become several
    paragraphs; in `option_cols` every checkbox option is its own paragraph; empty cells are whitespace-only."""
    out = list(g.before) + [""]
    for n, row in enumerate(g.text_rows()):
        for i, c in enumerate(row):
            if not c.strip():
                if n >= len(g.header):
                    out += ["\u3000" if i % 2 else " ", ""]
                continue
            parts = c.split("\n")
            if i in option_cols and n >= len(g.header):
                parts = [p for part in parts for p in _split_options(part)]
            for p in parts:
                out += [p, ""]
    out.extend(g.after)
    return "\n".join(out) + "\n"


def _split_options(text: str) -> list[str]:
    out, cur = [], ""
    for ch in text:
        if ch in "■□口" and cur.strip():
            out.append(cur.strip())
            cur = ""
        cur += ch
    if cur.strip():
        out.append(cur.strip())
    return out


def text_a5_bars(g: Grid, repeat_header: bool = True) -> str:
    """Every cell on its own line ending in `` |``; a lone ``|`` is an empty cell; the header repeated before rows."""
    out = list(g.before)

    def emit(row):
        for c in row:
            out.append(f"{_flat(c)} |" if c.strip() else "|")

    for h in g.header:
        emit(h)
    for n, row in enumerate(g.rows):
        if repeat_header and n:
            for h in g.header:
                emit(h)
        emit(row)
    out.extend(g.after)
    return "\n".join(out) + "\n"


def text_a6_padded(g: Grid) -> str:
    """Padded pipe: every cell on its own line with leading and trailing blanks (some non-breaking)."""
    out = list(g.before)
    for n, row in enumerate(g.text_rows()):
        for i, c in enumerate(row):
            pad = NBSP * 2 if (n + i) % 2 else "  "
            out.append(f"|{pad}{_flat(c)}{pad}")
        out.append("|")
    out.extend(g.after)
    return "\n".join(out) + "\n"


def text_tsv(g: Grid) -> str:
    out = list(g.before)
    for row in g.header + g.rows:
        out.append("\t".join(_flat(c) for c in row))
    out.extend(g.after)
    return "\n".join(out) + "\n"


def text_markdown(g: Grid) -> str:
    out = list(g.before)
    for n, row in enumerate(g.header + g.rows):
        out.append("| " + " | ".join(_flat(c) for c in row) + " |")
        if n == 0:
            out.append("|" + "---|" * g.width)
    out.extend(g.after)
    return "\n".join(out) + "\n"


def csv_text(g: Grid) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    for line in g.before:
        w.writerow([line] + [""] * (g.width - 1))
    for row in g.header + g.rows:
        w.writerow(row)
    return buf.getvalue()


# ---------------------------------------------------------------- html


def html_table(g: Grid, cell_html=None, table_attrs: str = 'border="1" cellspacing="0"') -> str:
    """An HTML table with real rowspan/colspan in the header and the data."""
    cell_html = cell_html or (lambda r, c, text: html.escape(text).replace("\n", "<br/>"))
    lines = [f"<table {table_attrs}>"]
    covered: set[tuple[int, int]] = set()
    spans: dict[tuple[int, int], tuple[int, int]] = {}
    for r, c, rs, cs in g.header_merges:
        spans[(r, c)] = (rs, cs)
        for rr in range(r, r + rs):
            for cc in range(c, c + cs):
                if (rr, cc) != (r, c):
                    covered.add((rr, cc))
    h = len(g.header)
    for r0, c, rs in g.data_merges():
        spans[(h + r0, c)] = (rs, 1)
        for rr in range(h + r0 + 1, h + r0 + rs):
            covered.add((rr, c))
    all_rows = g.header + g.rows
    for r, row in enumerate(all_rows):
        lines.append("<tr>")
        last = max((i for i, t in enumerate(row) if t.strip()), default=-1) if g.cut and r == len(all_rows) - 1 else len(row)
        for c, text in enumerate(row):
            if (r, c) in covered or c > last:
                continue
            rs, cs = spans.get((r, c), (1, 1))
            attrs = (f' rowspan="{rs}"' if rs > 1 else "") + (f' colspan="{cs}"' if cs > 1 else "")
            tag = "th" if r < h else "td"
            body = html.escape(text).replace("\n", "<br/>") if r < h else cell_html(r - h, c, text)
            lines.append(f"  <{tag}{attrs}>{body}</{tag}>")
        lines.append("</tr>")
    lines.append("</table>")
    return "\n".join(lines)


def html_page(title: str, body: str, charset: str = "utf-8") -> str:
    return (
        f'<!DOCTYPE html>\n<html><head><meta http-equiv="Content-Type" content="text/html; charset={charset}"/>'
        f"<title>{html.escape(title)}</title></head>\n<body>\n{body}\n</body></html>\n"
    )


# ---------------------------------------------------------------- docx / xlsx / xls / pdf


def _reproducible_zip(path: Path) -> None:
    """Fixed timestamps inside the package and in its core properties: rebuilding gives the same bytes."""
    import re
    import zipfile

    with zipfile.ZipFile(path) as zf:
        items = [(i.filename, zf.read(i)) for i in zf.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in items:
            if name == "docProps/core.xml":
                data = re.sub(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*", rb"\g<1>2025-01-01T00:00:00Z", data)
            zf.writestr(zipfile.ZipInfo(name, date_time=(2025, 1, 1, 0, 0, 0)), data, zipfile.ZIP_DEFLATED)


def write_docx(path: Path, g: Grid, symbol_cols: tuple[int, ...] = ()) -> None:
    """A Word table with real merges; in `symbol_cols` ■/□ become Wingdings symbol runs (w:sym) as Word inserts them."""
    from docx import Document
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    doc = Document()
    for line in g.before:
        doc.add_paragraph(line)
    grid = g.header + g.rows
    table = doc.add_table(len(grid), g.width)
    table.style = "Table Grid"
    h = len(g.header)
    for r, row in enumerate(grid):
        for c, text in enumerate(row):
            cell = table.cell(r, c)
            if r >= h and c in symbol_cols and text:
                p = cell.paragraphs[0]
                for ch in text:
                    if ch in "■□":
                        run = p.add_run()
                        sym = OxmlElement("w:sym")
                        sym.set(qn("w:font"), "Wingdings")
                        sym.set(qn("w:char"), "F06E" if ch == "■" else "F0A8")
                        run._r.append(sym)
                    else:
                        p.add_run(ch)
            else:
                lines = text.split("\n")
                cell.text = lines[0]
                for extra in lines[1:]:
                    cell.add_paragraph(extra)
    for r, c, rs, cs in g.header_merges:
        table.cell(r, c).merge(table.cell(r + rs - 1, c + cs - 1))
    for r0, c, rs in g.data_merges():
        a = table.cell(h + r0, c)
        text = g.rows[r0][c]
        merged = a.merge(table.cell(h + r0 + rs - 1, c))
        # python-docx appends the (empty) paragraphs of the merged cells: keep the text as written.
        for p in merged.paragraphs[len(text.split("\n")):]:
            p._p.getparent().remove(p._p)
    for line in g.after:
        doc.add_paragraph(line)
    doc.save(str(path))
    _reproducible_zip(path)


def write_xlsx(path: Path, g: Grid, sheet: str = "Sheet1") -> None:
    import openpyxl
    from openpyxl.styles import Alignment

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = sheet
    for line in g.before:
        ws.append([line])
    off = len(g.before) + 1
    for row in g.header + g.rows:
        ws.append([v if v != "" else None for v in row])
    for r, c, rs, cs in g.header_merges:
        ws.merge_cells(start_row=off + r, start_column=c + 1, end_row=off + r + rs - 1, end_column=c + cs)
    h = len(g.header)
    for r0, c, rs in g.data_merges():
        ws.merge_cells(start_row=off + h + r0, start_column=c + 1, end_row=off + h + r0 + rs - 1, end_column=c + 1)
    for row in ws.iter_rows():
        for cell in row:
            cell.alignment = Alignment(wrap_text=True)
    wb.save(path)
    _reproducible_zip(path)


def write_xls(path: Path, g: Grid, sheet: str = "目录") -> None:
    import xlwt

    wb = xlwt.Workbook(encoding="utf-8")
    ws = wb.add_sheet(sheet)
    r = 0
    for line in g.before:
        ws.write(r, 0, line)
        r += 1
    off = r
    covered = set()
    for hr, c, rs, cs in g.header_merges:
        ws.write_merge(off + hr, off + hr + rs - 1, c, c + cs - 1, g.header[hr][c])
        covered |= {(hr + i, c + j) for i in range(rs) for j in range(cs)}
    h = len(g.header)
    for r0, c, rs in g.data_merges():
        ws.write_merge(off + h + r0, off + h + r0 + rs - 1, c, c, g.rows[r0][c])
        covered |= {(h + r0 + i, c) for i in range(rs)}
    for rr, row in enumerate(g.header + g.rows):
        for c, text in enumerate(row):
            if (rr, c) not in covered and text:
                ws.write(off + rr, c, text)
    for line in g.after:
        ws.write(off + len(g.header) + len(g.rows) + 1, 0, line)
    wb.save(str(path))


def write_pdf(path: Path, g: Grid, title: str, col_widths: list[float]) -> bool:
    """A PDF with a ruled table (reportlab, with the Adobe CID font STSong-Light: no font file needed)."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Table, TableStyle

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    style = ParagraphStyle("cell", fontName="STSong-Light", fontSize=7, leading=9, wordWrap="CJK")
    tstyle = ParagraphStyle("title", fontName="STSong-Light", fontSize=13, leading=18, alignment=1)
    h = len(g.header)

    def para(text):
        return Paragraph(html.escape(text).replace("\n", "<br/>"), style)

    data = [[para(c) for c in row] for row in g.header + g.rows]
    commands = [("GRID", (0, 0), (-1, -1), 0.5, colors.black), ("VALIGN", (0, 0), (-1, -1), "MIDDLE")]
    for r, c, rs, cs in g.header_merges:
        commands.append(("SPAN", (c, r), (c + cs - 1, r + rs - 1)))
    for r0, c, rs in g.data_merges():
        commands.append(("SPAN", (c, h + r0), (c, h + r0 + rs - 1)))
    table = Table(data, colWidths=[w * mm for w in col_widths], repeatRows=h)
    table.setStyle(TableStyle(commands))
    doc = SimpleDocTemplate(str(path), pagesize=landscape(A4), leftMargin=10 * mm, rightMargin=10 * mm,
                            title=title, author="corpus", creator="tests/data/catalog_corpus/build.py",
                            invariant=1)
    doc.build([Paragraph(html.escape(title), tstyle), table])
    return True
