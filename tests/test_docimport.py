"""Documents in, without a database: a generated 红头 notice (.docx) to the canonical body with its 公文 parts
recognised, Word clipboard HTML cleaned to the same structure, PDFs and .doc through LibreOffice, hostile files refused
with nothing stored."""

from __future__ import annotations

import io
import shutil
import subprocess
import zipfile
from pathlib import Path

import lxml.html
import pytest

from orchestrator.docimport import clean
from orchestrator.docimport.docx import ImportRefused, convert_docx
from orchestrator.docimport.importer import import_document
from orchestrator.settings import Settings
from tests.docin_support import notice_docx, png_bytes, title_first_docx, with_footnote

# What Word (Microsoft 365, zh-CN) puts on the clipboard as HTML for the same notice body: MsoNormal paragraphs with
# mso- styles, <o:p>, conditional comments around list markers, MsoListParagraph pseudo-lists, <b> for bold, a
# MsoTableGrid table whose empty cell holds <p>&nbsp;</p>.
WORD_PASTE = """<html xmlns:v="urn:schemas-microsoft-com:vml" xmlns:o="urn:schemas-microsoft-com:office:office"
xmlns:w="urn:schemas-microsoft-com:office:word" xmlns="http://www.w3.org/TR/REC-html40"><head>
<meta name=ProgId content=Word.Document><meta name=Generator content="Microsoft Word 15">
<!--[if gte mso 9]><xml><w:WordDocument><w:View>Normal</w:View></w:WordDocument></xml><![endif]-->
<style><!-- p.MsoNormal {mso-style-parent:""; margin:0cm; font-size:16.0pt;} --></style></head>
<body lang=ZH-CN style='tab-interval:21.0pt'><!--StartFragment-->
<p class=MsoNormal><span style='font-size:16.0pt;font-family:仿宋_GB2312'>各司法所、局机关各股室：<o:p></o:p></span></p>
<p class=MsoNormal><span style='font-size:16.0pt'>为深入推进法治宣传教育，现将有关事项通知如下。<o:p></o:p></span></p>
<p class=MsoListParagraphCxSpFirst style='margin-left:32.0pt;text-indent:-32.0pt;mso-list:l0 level1 lfo1'>
<![if !supportLists]><span style='mso-fareast-font-family:仿宋_GB2312'><span style='mso-list:Ignore'>一、<span
style='font:7.0pt "Times New Roman"'>&nbsp;&nbsp; </span></span></span><![endif]><span>活动时间<o:p></o:p></span></p>
<p class=MsoListParagraphCxSpMiddle style='margin-left:42.0pt;mso-add-space:auto;text-indent:-21.0pt;mso-list:l0 level2 lfo1'>
<![if !supportLists]><span><span style='mso-list:Ignore'>1.<span style='font:7.0pt "Times New Roman"'>&nbsp;
</span></span></span><![endif]><span>2026年3月1日至31日。<o:p></o:p></span></p>
<p class=MsoListParagraphCxSpMiddle style='margin-left:42.0pt;text-indent:-21.0pt;mso-list:l0 level2 lfo1'>
<![if !supportLists]><span><span style='mso-list:Ignore'>2.<span style='font:7.0pt "Times New Roman"'>&nbsp;
</span></span></span><![endif]><span>每周三为集中宣传日。<o:p></o:p></span></p>
<p class=MsoListParagraphCxSpLast style='margin-left:32.0pt;text-indent:-32.0pt;mso-list:l0 level1 lfo1'>
<![if !supportLists]><span><span style='mso-list:Ignore'>二、<span style='font:7.0pt "Times New Roman"'>&nbsp;&nbsp;
</span></span></span><![endif]><span>活动内容<o:p></o:p></span></p>
<p class=MsoNormal><span style='font-size:16.0pt'>请各单位</span><b><span style='font-size:16.0pt'>务必按时</span></b><span
style='font-size:16.0pt'>报送材料。<o:p></o:p></span></p>
<table class=MsoTableGrid border=1 cellspacing=0 cellpadding=0 style='border-collapse:collapse;mso-yfti-tbllook:1184'>
 <tr style='mso-yfti-irow:0;mso-yfti-firstrow:yes'>
  <td width=184 valign=top style='width:138.25pt;border:solid windowtext 1.0pt'><p class=MsoNormal>单位<o:p></o:p></p></td>
  <td width=184 valign=top style='width:138.25pt'><p class=MsoNormal>时间<o:p></o:p></p></td>
  <td width=184 valign=top style='width:138.3pt'><p class=MsoNormal>地点<o:p></o:p></p></td>
 </tr>
 <tr style='mso-yfti-irow:1'>
  <td width=184 rowspan=2 valign=top><p class=MsoNormal>城区司法所<o:p></o:p></p></td>
  <td width=184 valign=top><p class=MsoNormal>3月5日<o:p></o:p></p></td>
  <td width=184 valign=top><p class=MsoNormal>中央街<o:p></o:p></p></td>
 </tr>
 <tr style='mso-yfti-irow:2;mso-yfti-lastrow:yes'>
  <td width=369 colspan=2 valign=top style='width:276.55pt'><p class=MsoNormal>待定<o:p></o:p></p></td>
 </tr>
</table>
<p class=MsoNormal><o:p>&nbsp;</o:p></p>
<p class=MsoNormal><span style='font-size:16.0pt'>附件：1. 活动安排表<o:p></o:p></span></p>
<p class=MsoNormal><span style='font-size:16.0pt'>2. 联系人名单<o:p></o:p></span></p>
<p class=MsoNormal align=right style='text-align:right'><span style='font-size:16.0pt'>根河市司法局<o:p></o:p></span></p>
<p class=MsoNormal align=right style='text-align:right'><span style='font-size:16.0pt'>2026年3月2日<o:p></o:p></span></p>
<!--EndFragment--></body></html>"""


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(var_dir=tmp_path / "var")


def blobs(settings: Settings) -> list[Path]:
    d = settings.attachments_dir
    return [p for p in d.rglob("*") if p.is_file()] if d.exists() else []


def test_notice_fields_structure_and_images(settings):
    image = png_bytes()
    res = import_document(settings, "关于开展法治宣传月活动的通知.docx", io.BytesIO(notice_docx(image)))
    f = res.fields
    assert f["doc_number"] == "根司发〔2026〕5号"
    assert f["title"] == "关于开展2026年法治宣传月活动的通知"
    assert f["issuer"] == "根河市司法局文件"
    assert f["recipient"] == "各司法所、局机关各股室："
    assert f["signature"] == "根河市司法局"
    assert f["signed_on"] == "2026-03-02" and f["formed_on"] == "2026-03-02"
    assert f["attachments_note"] == ["1. 活动安排表", "2. 联系人名单"]

    root = lxml.html.fragment_fromstring(res.body_html, create_parent="div")
    # The 版头 (issuer, 文号, title) are form fields, not body text.
    assert "根司发" not in root.text_content() and "关于开展2026年" not in root.text_content()
    # Numbered items stay separate, and the second level nests inside its first-level item.
    top = root.xpath("./ol/li")
    assert [li.text for li in top] == ["活动时间", "活动内容"]
    assert [li.text for li in top[0].xpath("./ol/li")] == ["2026年3月1日至31日。", "每周三为集中宣传日。"]
    # The table keeps its merges: 城区司法所 spans two rows, 待定 two columns.
    rows = root.xpath(".//table//tr")
    assert len(rows) == 3 and [len(r.xpath("./td")) for r in rows] == [3, 3, 1]
    assert rows[1].xpath("./td")[0].get("rowspan") == "2" and rows[1].xpath("./td")[0].text_content() == "城区司法所"
    assert rows[2].xpath("./td")[0].get("colspan") == "2" and rows[2].xpath("./td")[0].text_content() == "待定"
    assert root.xpath(".//strong")[0].text == "务必按时"
    # 落款 and 成文日期 are separate paragraphs, marked for the right-aligned 公文 layout.
    assert [p.text for p in root.xpath("./p[@class='gw-signature']")] == ["根河市司法局"]
    assert [p.text for p in root.xpath("./p[@class='gw-date']")] == ["2026年3月2日"]
    assert root.xpath("./p")[-1].text == "2026年3月2日" and root.xpath("./p")[-2].text == "根河市司法局"
    # The image is stored (content-addressed) and the body refers to it by its attachment name.
    assert len(res.attachments) == 1
    stored = res.attachments[0]
    assert stored.path.read_bytes() == image and stored.content_type == "image/png"
    assert [img.get("src") for img in root.xpath(".//img")] == [stored.filename]
    # The prefilled 摘要 is the content, without the letter's frame (主送, 附件说明, 落款, 成文日期).
    assert res.summary.startswith("为深入推进法治宣传教育")
    assert not any(part in res.summary for part in ("各司法所", "活动安排表", "根河市司法局", "2026年3月2日"))


@pytest.mark.parametrize(
    ("before", "issuer", "title"),
    [
        # Title first, 文号 under it: the title is not taken for a 红头.
        (["根河市司法局关于开展案卷评查工作的通知"], "", "根河市司法局关于开展案卷评查工作的通知"),
        # A long title over two centred lines.
        (["根河市司法局关于印发《根河市行政执法", "公示办法（试行）》的通知"], "", "根河市司法局关于印发《根河市行政执法公示办法（试行）》的通知"),
        # The agency's name, then the title, then the 文号.
        (["根河市司法局", "关于开展案卷评查工作的通知"], "根河市司法局", "关于开展案卷评查工作的通知"),
        # A 红头 ending in 文件 stays the issuer (the title then follows the 文号: none here).
        (["根河市司法局文件"], "根河市司法局文件", ""),
    ],
)
def test_title_above_the_doc_number_is_the_title(settings, before, issuer, title):
    res = import_document(settings, "通知.docx", io.BytesIO(title_first_docx(before)))
    f = res.fields
    assert (f["issuer"], f["title"], f["doc_number"]) == (issuer, title, "根司发〔2027〕3号")
    assert f["recipient"] == "各司法所：" and f["formed_on"] == "2026-11-05"
    assert "根司发" not in res.body_html and (not title or title[-6:] not in res.body_html)


def test_word_paste_equals_the_uploaded_file(settings):
    uploaded = convert_docx(notice_docx()).body_html
    pasted = clean.sanitise(WORD_PASTE)
    for junk in ("mso-", "o:p", "MsoNormal", "supportLists", "<span", "style=", "一、", "1."):
        assert junk not in pasted.replace("附件：1.", ""), junk
    # The 公文 part markers come from the file's recognition; the structure (tags, nesting, merges, text) is equal.
    assert clean.structure(pasted) == clean.structure(uploaded)


def test_sanitiser_keeps_the_subset_only():
    html = clean.sanitise('<div><span style="color:red">字</span><script>x()</script><p onclick="y()" class="gw-date x">'
                          '<b>粗</b><i>斜</i></p><a href="javascript:alert(1)">链</a><td colspan="9999">c</td>'
                          '<img src="data:text/html;base64,xx"><p>&nbsp;</p></div>')
    assert html == '字<p class="gw-date"><strong>粗</strong><em>斜</em></p><a rel="noopener noreferrer">链</a>c<img>'


def _docx_with(extra: dict[str, bytes], base: bytes | None = None, content_types_extra: str = "") -> bytes:
    src = zipfile.ZipFile(io.BytesIO(base or notice_docx()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "[Content_Types].xml" and content_types_extra:
                data = data.replace(b"</Types>", content_types_extra.encode() + b"</Types>")
            z.writestr(info, data)
        for name, data in extra.items():
            z.writestr(name, data)
    return out.getvalue()


def _refused(settings: Settings, name: str, data: bytes, *needles: str) -> None:
    before = blobs(settings)
    with pytest.raises(ImportRefused) as exc:
        import_document(settings, name, io.BytesIO(data))
    for n in needles:
        assert n in str(exc.value), str(exc.value)
    assert blobs(settings) == before, "a refused file left a blob behind"


def test_hostile_files_are_refused_and_nothing_is_stored(settings):
    image_doc = notice_docx(png_bytes())
    # A macro-enabled file by name, and a .docx that carries a VBA project.
    _refused(settings, "通知.docm", image_doc, "宏")
    _refused(settings, "通知.docx", _docx_with({"word/vbaProject.bin": b"\xd0\xcf\x11\xe0macro"}, image_doc), "宏")
    # A zip bomb: one member inflating 300 MB of zeros.
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("word/document.xml", b"<w:document/>")
        with z.open("word/media/pad.bin", "w", force_zip64=True) as f:
            for _ in range(300):
                f.write(b"\0" * (1024 * 1024))
    _refused(settings, "通知.docx", bomb.getvalue(), "压缩炸弹")
    # An image that is not what the document says it is: the PNG part holds an HTML page.
    src = zipfile.ZipFile(io.BytesIO(image_doc))
    media = [n for n in src.namelist() if n.startswith("word/media/")]
    assert media
    fake = io.BytesIO()
    with zipfile.ZipFile(fake, "w") as z:
        for info in src.infolist():
            z.writestr(info, b"<html><script>alert(1)</script></html>" if info.filename in media else src.read(info))
    _refused(settings, "通知.docx", fake.getvalue(), "图片", "不符")
    # A file renamed to .docx that is not one.
    _refused(settings, "通知.docx", b"%PDF-1.4 not a word file", "不是有效的 Word")
    # 50 MB: over the import limit, refused before it is read further.
    _refused(settings, "大文件.docx", b"PK\x03\x04" + b"\0" * (50 * 1024 * 1024), "大小上限")
    # The good file still imports (and stores its image) after all that.
    assert len(import_document(settings, "通知.docx", io.BytesIO(image_doc)).attachments) == 1


def test_doc_without_libreoffice_names_the_package(settings, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    _refused(settings, "旧文件.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600, "apt-get install libreoffice-writer")


def _soffice_convert(tmp_path: Path, data: bytes, target: str) -> bytes:
    soffice = shutil.which("soffice")
    assert soffice, "LibreOffice is installed by scripts/ensure-services.sh"
    src = tmp_path / "notice.docx"
    src.write_bytes(data)
    subprocess.run([soffice, f"-env:UserInstallation=file://{tmp_path}/lo", "--headless", "--convert-to", target,
                    "--outdir", str(tmp_path), str(src)], check=True, timeout=240, capture_output=True)
    return (tmp_path / f"notice.{target.split(':')[0]}").read_bytes()


@pytest.mark.timeout(600)
def test_doc_through_libreoffice_and_pdf_text(settings, tmp_path):
    doc = _soffice_convert(tmp_path, notice_docx(), "doc")
    res = import_document(settings, "旧格式通知.doc", io.BytesIO(doc))
    assert res.fields["doc_number"] == "根司发〔2026〕5号" and res.fields["signed_on"] == "2026-03-02"
    root = lxml.html.fragment_fromstring(res.body_html, create_parent="div")
    assert root.xpath(".//td[@rowspan='2']")[0].text_content() == "城区司法所"

    pdf = _soffice_convert(tmp_path, notice_docx(), "pdf")
    before = len(blobs(settings))
    res = import_document(settings, "只有PDF的通知.pdf", io.BytesIO(pdf))
    # The PDF is the document itself (one attachment), its text the body and the summary.
    assert res.kind == "pdf" and [a.filename for a in res.attachments] == ["只有PDF的通知.pdf"]
    assert res.attachments[0].path.read_bytes() == pdf and len(blobs(settings)) == before + 1
    assert res.fields["doc_number"] == "根司发〔2026〕5号" and res.fields["signed_on"] == "2026-03-02"
    assert "为深入推进法治宣传教育" in res.body_html and "为深入推进法治宣传教育" in res.summary
    assert len(res.summary) <= 500


def test_footnotes_are_kept_and_linked(settings):
    data = with_footnote(notice_docx(), "现将有关事项通知如下。", "依据《中华人民共和国政府信息公开条例》第二十条。")
    html = import_document(settings, "通知.docx", io.BytesIO(data)).body_html
    root = lxml.html.fragment_fromstring(html, create_parent="div")
    [ref] = root.xpath(".//sup/a")
    assert ref.get("href") == "#footnote-1" and ref.get("id") == "footnote-ref-1"
    [note] = root.xpath(".//li[@id='footnote-1']")
    assert "依据《中华人民共和国政府信息公开条例》第二十条。" in note.text_content()
    assert note.xpath(".//a[@href='#footnote-ref-1']")
