"""The 审批单 (approval form agencies file on paper): every sign-off of one document, as docx, PDF and an HTML print
view.

- docx: python-docx; Chinese text is set in the East Asian font slot (宋体), which every office suite substitutes.
- PDF: the HTML print view printed by headless Chromium (the browser the screens channel already uses), with the
  packaged Noto Sans CJK added through fontconfig exactly as for the slides, so the Chinese glyphs are embedded and
  no font has to be installed by hand. Without Chromium, :class:`PdfUnavailable` says so and the docx and the print
  view still work.
"""

from __future__ import annotations

import datetime as dt
import io
import os
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import jinja2

from channels.screens import render as screens_render

TZ = ZoneInfo("Asia/Shanghai")
TITLE = "政府信息主动公开审批单"


class PdfUnavailable(Exception):
    """No browser to print with on this machine (the message is Chinese)."""


@dataclass
class SignOff:
    no: int
    step: str
    decision: str
    actor: str
    at: dt.datetime
    comment: str
    version: int
    target: str = ""


@dataclass
class ApprovalForm:
    document_id: int
    title: str
    index_no: str
    doc_number: str
    publisher: str
    entry: str
    offices: str
    formed_on: dt.date
    due_date: dt.date | None
    submitted_by: str
    submitted_at: dt.datetime
    chain: str
    state: str
    channels: list[str] = field(default_factory=list)
    rows: list[SignOff] = field(default_factory=list)
    printed_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(TZ))

    def fields(self) -> list[tuple[str, str]]:
        return [("标题", self.title), ("索引号", self.index_no), ("文号", self.doc_number or "无"),
                ("发布机构", self.publisher), ("目录事项", self.entry), ("责任科室", self.offices or "未指定"),
                ("生成日期", self.formed_on.isoformat()),
                ("公开期限", self.due_date.isoformat() if self.due_date else "无法自动计算"),
                ("登记人", f"{self.submitted_by} · {local(self.submitted_at)}"),
                ("公开渠道", "、".join(self.channels) or "无"), ("审核流程", self.chain), ("审核状态", self.state)]


def local(at: dt.datetime | None) -> str:
    if at is None:
        return ""
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    return at.astimezone(TZ).strftime("%Y-%m-%d %H:%M")


HEADERS = ["序号", "审核步骤", "审核意见", "办理结果", "审核人", "时间", "版本"]


def row_cells(r: SignOff) -> list[str]:
    decision = r.decision + (f"（退回至{r.target}）" if r.target else "")
    return [str(r.no), r.step or "—", r.comment or "—", decision, r.actor or "—", local(r.at), f"第 {r.version} 版"]


def to_docx(form: ApprovalForm) -> bytes:
    from docx import Document as DocxDocument  # python-docx is heavy: loaded only when a form is exported
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml.ns import qn
    from docx.shared import Pt

    doc = DocxDocument()
    normal = doc.styles["Normal"]
    normal.font.name = "宋体"
    normal.font.size = Pt(10.5)
    normal.element.rPr.rFonts.set(qn("w:eastAsia"), "宋体")
    heading = doc.add_paragraph()
    heading.alignment = WD_ALIGN_PARAGRAPH.CENTER
    run = heading.add_run(TITLE)
    run.bold = True
    run.font.size = Pt(16)
    meta = doc.add_table(rows=0, cols=2)
    meta.style = "Table Grid"
    for label, value in form.fields():
        cells = meta.add_row().cells
        cells[0].text, cells[1].text = label, value
    doc.add_paragraph()
    doc.add_paragraph("审核记录").runs[0].bold = True
    table = doc.add_table(rows=1, cols=len(HEADERS))
    table.style = "Table Grid"
    for cell, text in zip(table.rows[0].cells, HEADERS, strict=True):
        cell.text = text
    for r in form.rows:
        for cell, text in zip(table.add_row().cells, row_cells(r), strict=True):
            cell.text = text
    doc.add_paragraph(f"打印时间：{form.printed_at.strftime('%Y-%m-%d %H:%M')}（系统生成，记录不可修改）")
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


def to_html(env: jinja2.Environment, form: ApprovalForm, *, css: str = "", for_pdf: bool = False) -> str:
    return env.get_template("approval_form.html").render(form=form, headers=HEADERS, rows=[row_cells(r) for r in form.rows],
                                                         title=TITLE, inline_css=css, for_pdf=for_pdf)


def to_pdf(html: str) -> bytes:
    """Print the HTML view with headless Chromium (the packaged CJK font added through fontconfig)."""
    if not os.path.exists(screens_render.CHROMIUM_PATH):
        raise PdfUnavailable("本机没有可用的 Chromium 浏览器，无法生成 PDF；请下载 Word 版（docx）或使用打印页")
    return screens_render._outside_event_loop(_print, html)


def _print(html: str) -> bytes:
    from playwright.sync_api import Error as PlaywrightError  # playwright starts a driver: loaded only to print
    from playwright.sync_api import sync_playwright

    env = dict(os.environ)
    conf = screens_render.fontconfig_file()
    if conf is not None:
        env["FONTCONFIG_FILE"] = str(conf)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=screens_render.CHROMIUM_PATH,
                                         args=screens_render.CHROMIUM_FLAGS, headless=True, env=env)
            try:
                page = browser.new_page()
                page.set_content(html, wait_until="load")
                page.evaluate("() => document.fonts.ready.then(() => true)")
                return page.pdf(format="A4", print_background=True,
                                margin={"top": "18mm", "bottom": "18mm", "left": "15mm", "right": "15mm"})
            finally:
                browser.close()
    except PlaywrightError as exc:
        raise PdfUnavailable(f"PDF 生成失败（浏览器错误：{str(exc)[:200]}）；请下载 Word 版（docx）或使用打印页") from exc
