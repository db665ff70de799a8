"""The annual report's section 二 and the self-inspection report as .docx (python-docx) and .xlsx (openpyxl).

Section 二 keeps the template's layout: four tables, each headed by its 第二十条 item in a merged first row, then
信息内容 and the column names, then one row per kind; every cell holds a number (0 rather than blank).
"""

from __future__ import annotations

import io
from typing import Any

from docx import Document as DocxDocument
from docx.enum.text import WD_ALIGN_PARAGRAPH
from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, Side

from orchestrator.compliance.annual import KINDS, SectionTwo

SECTION_TITLE = "二、主动公开政府信息情况"


def section_tables(report: SectionTwo) -> list[tuple[str, list[str], list[list[str]]]]:
    """(heading, column names, rows) of the four tables, cells as text; shared by both formats and the web page."""
    r = report.rules
    return [
        ("第二十条第（一）项", ["信息内容", "本年制发件数", "本年废止件数", "现行有效件数"],
         [[KINDS[k], r[k]["made"].text, r[k]["repealed"].text, r[k]["valid"].text] for k in ("rule", "normative")]),
        ("第二十条第（五）项", ["信息内容", "本年处理决定数量"], [[KINDS["license"], report.decisions["license"].text]]),
        ("第二十条第（六）项", ["信息内容", "本年处理决定数量"],
         [[KINDS[k], report.decisions[k].text] for k in ("penalty", "coercion")]),
        ("第二十条第（八）项", ["信息内容", "本年收费金额（单位：万元）"], [["行政事业性收费", report.fee.text]]),
    ]


def _safe(v: Any) -> Any:
    """Spreadsheet formula injection: text typed by people stays text."""
    if isinstance(v, str) and v[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + v
    return v


def annual_docx(report: SectionTwo, agency: str = "") -> bytes:
    doc = DocxDocument()
    title = doc.add_paragraph()
    title.alignment = WD_ALIGN_PARAGRAPH.CENTER
    run = title.add_run(f"{agency}{report.year}年政府信息公开工作年度报告")
    run.bold = True
    doc.add_paragraph(SECTION_TITLE).runs[0].bold = True
    for heading, cols, rows in section_tables(report):
        t = doc.add_table(rows=2 + len(rows), cols=len(cols))
        t.style = "Table Grid"
        merged = t.cell(0, 0).merge(t.cell(0, len(cols) - 1)) if len(cols) > 1 else t.cell(0, 0)
        merged.text = heading
        for j, c in enumerate(cols):
            t.cell(1, j).text = c
        for i, row in enumerate(rows, start=2):
            for j, v in enumerate(row):
                t.cell(i, j).text = v
        doc.add_paragraph("")
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def annual_xlsx(report: SectionTwo, agency: str = "") -> bytes:
    """One sheet in the template's layout (numbers as numbers), and a sheet of publication figures."""
    wb = Workbook()
    ws = wb.active
    ws.title = "主动公开政府信息情况"
    thin = Side(style="thin")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    center = Alignment(horizontal="center", vertical="center", wrap_text=True)
    ws.append([f"{agency}{report.year}年政府信息公开工作年度报告 {SECTION_TITLE}"])
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=4)
    ws.cell(1, 1).font = Font(bold=True)
    row_no = 2
    for heading, cols, rows in section_tables(report):
        row_no += 1
        ws.cell(row_no, 1, heading)
        ws.merge_cells(start_row=row_no, start_column=1, end_row=row_no, end_column=len(cols))
        ws.cell(row_no, 1).font = Font(bold=True)
        for j in range(1, len(cols) + 1):
            ws.cell(row_no, j).border = border
            ws.cell(row_no, j).alignment = center
        row_no += 1
        for j, c in enumerate(cols, start=1):
            ws.cell(row_no, j, c).border = border
            ws.cell(row_no, j).alignment = center
        for row in rows:
            row_no += 1
            for j, v in enumerate(row, start=1):
                value: Any = v
                if j > 1:
                    value = float(v) if "." in v else int(v)
                cell = ws.cell(row_no, j, _safe(value))
                cell.border = border
                cell.alignment = center
        row_no += 1
    for col, width in zip("ABCD", (22, 18, 18, 26), strict=True):
        ws.column_dimensions[col].width = width
    pub = report.publication
    if pub:
        ps = wb.create_sheet("各渠道发布与及时性")
        ps.append(["渠道", "发布条数", "按时", "逾期", "无期限", "逾期工作日中位数", "逾期工作日最多"])
        for channel, c in pub["channels"].items():
            ps.append([_safe(channel), c["published"], c["on_time"], c["late"], c["no_due"], c["late_median"],
                       c["late_max"]])
        ps.append([])
        ps.append(["生成日期至公开的天数中位数", pub["lag_median"], "最多", pub["lag_max"], "文件数", pub["documents"]])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def inspection_rows(results: list[dict[str, Any]]) -> list[list[str]]:
    rows = []
    for r in results:
        for item in r.get("items") or []:
            rows.append([r["title"], r.get("rule", ""), item.get("what", ""), item.get("detail", ""), item.get("link", "")])
    return rows


INSPECTION_COLUMNS = ["检查项", "依据", "待整改事项", "说明", "链接"]


def inspection_xlsx(results: list[dict[str, Any]], created: str) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = "自查汇总"
    ws.append([f"政务公开自查报告（{created}）"])
    ws.append(["检查项", "依据", "发现问题数", "结论"])
    for r in results:
        ws.append([r["title"], r.get("rule", ""), r["count"], "需整改" if r["count"] else "未发现问题"])
    items = wb.create_sheet("待整改事项")
    items.append(INSPECTION_COLUMNS)
    for row in inspection_rows(results):
        items.append([_safe(v) for v in row])
    for sheet, widths in ((ws, (28, 40, 12, 12)), (items, (24, 36, 50, 50, 50))):
        for i, w in enumerate(widths):
            sheet.column_dimensions[chr(ord("A") + i)].width = w
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def inspection_docx(results: list[dict[str, Any]], created: str) -> bytes:
    doc = DocxDocument()
    p = doc.add_paragraph()
    p.alignment = WD_ALIGN_PARAGRAPH.CENTER
    p.add_run(f"政务公开自查报告（{created}）").bold = True
    t = doc.add_table(rows=1, cols=3)
    t.style = "Table Grid"
    for j, c in enumerate(("检查项", "发现问题数", "结论")):
        t.cell(0, j).text = c
    for r in results:
        cells = t.add_row().cells
        cells[0].text, cells[1].text = r["title"], str(r["count"])
        cells[2].text = "需整改" if r["count"] else "未发现问题"
    for r in results:
        if not r.get("items"):
            continue
        doc.add_paragraph(f"{r['title']}（{r['count']} 项）").runs[0].bold = True
        for item in r["items"]:
            doc.add_paragraph(f"{item.get('what', '')} —— {item.get('detail', '')}", style="List Bullet")
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()
