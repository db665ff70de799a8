"""Word documents built with python-docx for the import tests: a 红头 notice with every 公文 part."""

from __future__ import annotations

import io

import docx
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Pt, RGBColor
from PIL import Image


def png_bytes(color: tuple[int, int, int] = (200, 30, 30), size: tuple[int, int] = (40, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "PNG")
    return out.getvalue()


def _centred(d: docx.document.Document, text: str, size: int, bold: bool = False, red: bool = False) -> None:
    p = d.add_paragraph()
    p.alignment = WD_ALIGN_PARAGRAPH.CENTER
    r = p.add_run(text)
    r.font.size = Pt(size)
    r.bold = bold
    if red:
        r.font.color.rgb = RGBColor(0xE0, 0, 0)


_NUMBERING = (
    '<w:abstractNum xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" w:abstractNumId="90">'
    '<w:multiLevelType w:val="multilevel"/>'
    '<w:lvl w:ilvl="0"><w:start w:val="1"/><w:numFmt w:val="chineseCounting"/><w:lvlText w:val="%1、"/></w:lvl>'
    '<w:lvl w:ilvl="1"><w:start w:val="1"/><w:numFmt w:val="decimal"/><w:lvlText w:val="%2."/></w:lvl>'
    '</w:abstractNum>'
)


def _num_id(d: docx.document.Document) -> int:
    """A two-level numbering definition (一、 / 1.) added to the document's numbering part once."""
    numbering = d.part.numbering_part.element
    if numbering.find(qn("w:num") + "[@" + qn("w:numId") + "='90']") is None:
        from lxml import etree

        numbering.insert(0, etree.fromstring(_NUMBERING))
        num = numbering.add_num(90)
        return num.numId
    return 0


def _numbered(d: docx.document.Document, text: str, level: int) -> None:
    if not hasattr(d, "_test_num_id"):
        d._test_num_id = _num_id(d)  # type: ignore[attr-defined]
    p = d.add_paragraph(text)
    num_pr = OxmlElement("w:numPr")
    ilvl = OxmlElement("w:ilvl")
    ilvl.set(qn("w:val"), str(level))
    nid = OxmlElement("w:numId")
    nid.set(qn("w:val"), str(d._test_num_id))  # type: ignore[attr-defined]
    num_pr.append(ilvl)
    num_pr.append(nid)
    p._p.get_or_add_pPr().append(num_pr)


def _body(d: docx.document.Document, text: str) -> None:
    p = d.add_paragraph()
    r = p.add_run(text)
    r.font.size = Pt(16)


def _right(d: docx.document.Document, text: str) -> None:
    p = d.add_paragraph()
    p.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    r = p.add_run(text)
    r.font.size = Pt(16)


def notice_docx(image: bytes | None = None) -> bytes:
    """根河市司法局 notice: 红头, 文号, title, 主送, numbered sections (two levels), a merged-cell table, an image,
    附件说明, 落款 and 成文日期 on their own lines."""
    d = docx.Document()
    _centred(d, "根河市司法局文件", 36, bold=True, red=True)
    _centred(d, "根司发〔2026〕5号", 16)
    _centred(d, "关于开展2026年法治宣传月活动的通知", 22, bold=True)
    _body(d, "各司法所、局机关各股室：")
    _body(d, "为深入推进法治宣传教育，现将有关事项通知如下。")
    _numbered(d, "活动时间", 0)
    _numbered(d, "2026年3月1日至31日。", 1)
    _numbered(d, "每周三为集中宣传日。", 1)
    _numbered(d, "活动内容", 0)
    p = d.add_paragraph()
    p.add_run("请各单位").font.size = Pt(16)
    b = p.add_run("务必按时")
    b.bold = True
    b.font.size = Pt(16)
    p.add_run("报送材料。").font.size = Pt(16)
    t = d.add_table(rows=3, cols=3)
    t.style = "Table Grid"
    t.cell(0, 0).text = "单位"
    t.cell(0, 1).text = "时间"
    t.cell(0, 2).text = "地点"
    t.cell(1, 0).merge(t.cell(2, 0)).text = "城区司法所"
    t.cell(1, 1).text = "3月5日"
    t.cell(1, 2).text = "中央街"
    t.cell(2, 1).merge(t.cell(2, 2)).text = "待定"
    if image is not None:
        d.add_paragraph().add_run().add_picture(io.BytesIO(image))
    _body(d, "附件：1. 活动安排表")
    _body(d, "2. 联系人名单")
    _right(d, "根河市司法局")
    _right(d, "2026年3月2日")
    out = io.BytesIO()
    d.save(out)
    return out.getvalue()


W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"


def with_footnote(data: bytes, after: str, note: str) -> bytes:
    """The document with a footnote (python-docx cannot add one): reference placed after the run ending in ``after``."""
    import zipfile

    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    footnotes = (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:footnotes xmlns:w="{W_NS}">'
                 '<w:footnote w:type="separator" w:id="-1"><w:p><w:r><w:separator/></w:r></w:p></w:footnote>'
                 '<w:footnote w:type="continuationSeparator" w:id="0"><w:p><w:r><w:continuationSeparator/></w:r></w:p>'
                 f'</w:footnote><w:footnote w:id="1"><w:p><w:r><w:t>{note}</w:t></w:r></w:p></w:footnote></w:footnotes>')
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for info in src.infolist():
            part = src.read(info)
            if info.filename == "[Content_Types].xml":
                part = part.replace(b"</Types>", b'<Override PartName="/word/footnotes.xml" ContentType="application/'
                                    b'vnd.openxmlformats-officedocument.wordprocessingml.footnotes+xml"/></Types>')
            elif info.filename == "word/_rels/document.xml.rels":
                part = part.replace(b"</Relationships>", b'<Relationship Id="rIdFootnotes" Type="http://schemas.'
                                    b'openxmlformats.org/officeDocument/2006/relationships/footnotes" '
                                    b'Target="footnotes.xml"/></Relationships>')
            elif info.filename == "word/document.xml":
                marker = f"{after}</w:t></w:r>".encode()
                assert marker in part, "footnote anchor text not found"
                part = part.replace(marker, marker + b'<w:r><w:footnoteReference w:id="1"/></w:r>', 1)
            z.writestr(info, part)
        z.writestr("word/footnotes.xml", footnotes)
    return out.getvalue()


def title_first_docx(lines_before_number: list[str]) -> bytes:
    """The layout of notices copied from web pages and many Word templates: the title (here ``lines_before_number``,
    optionally after an agency name) centred above the 文号, no 红头."""
    d = docx.Document()
    for text in lines_before_number:
        _centred(d, text, 22, bold=True)
    _centred(d, "根司发〔2027〕3号", 16)
    _body(d, "各司法所：")
    _body(d, "现就开展案卷评查工作通知如下。")
    _right(d, "根河市司法局")
    _right(d, "2026年11月5日")
    out = io.BytesIO()
    d.save(out)
    return out.getvalue()

