"""The canonical body on the site and in the gazette: 公文 layout, body images as local files of the output, tables with
merges in a scrolling box, attachments with type and size, and Atom entries with a plain summary and the full body
with absolute URLs — checked on the imported 红头 notice (tests/docin_support.py) and on typed bodies."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import feedparser
import lxml.html
import pytest
import requests

from channels import gongwen_html
from channels.base import Action
from channels.gazette import GazetteChannel
from channels.screens.pages import screen_body
from channels.site import SiteChannel
from channels.wechat.content import article_body
from orchestrator.docimport.docx import convert_docx
from tests.docin_support import notice_docx, png_bytes
from tests.static_channel_helpers import attachment, context, payload, serve

IMAGE = png_bytes((20, 90, 160), (120, 80))
DOCX = b"PK\x03\x04 docx bytes"


def _notice(tmp_path: Path, document_id: int = 1, **kw):
    conv = convert_docx(notice_docx(IMAGE), "通知.docx", unpacked_limit=50 * 1024 * 1024)
    (img,) = conv.images
    pdf = attachment(tmp_path, "活动安排表.pdf", b"%PDF-1.4 " + b"x" * (1258291 - 9))  # 1.2 MB
    doc_att = attachment(tmp_path, "联系人名单.docx", DOCX,
                         "application/vnd.openxmlformats-officedocument.wordprocessingml.document")
    image = attachment(tmp_path, img.filename, img.data, "image/png")
    return payload(document_id, title="关于开展2026年法治宣传月活动的通知", doc_number="根司发〔2026〕5号",
                   body_html=conv.body_html, attachments=(image, pdf, doc_att), **kw), img.filename


def _tree(html: str) -> lxml.html.HtmlElement:
    return lxml.html.fromstring(html)


def _c(name: str) -> str:
    return f"contains(concat(' ', normalize-space(@class), ' '), ' {name} ')"


def q(root: lxml.html.HtmlElement, path: str) -> list:
    """XPath with ``.name`` standing for "has class name" (e.g. ``.//p[.gw-date]``)."""
    return root.xpath(re.sub(r"\[\.([\w-]+)\]", lambda m: f"[{_c(m.group(1))}]", path))


def _check_gongwen_body(root: lxml.html.HtmlElement) -> None:
    body = q(root, ".//*[.doc-body]")[0]
    # Table: every cell kept, the merges kept, inside the scrolling box.
    (table,) = q(body, ".//div[.table-scroll]/table")
    cells = [c.text_content().strip() for c in q(table, ".//td")]
    assert cells == ["单位", "时间", "地点", "城区司法所", "3月5日", "中央街", "待定"]
    assert q(table, ".//td[@rowspan='2']")[0].text_content().strip() == "城区司法所"
    assert q(table, ".//td[@colspan='2']")[0].text_content().strip() == "待定"
    # Numbered items: one list item each, the second level nested.
    items = [li.text_content().strip() for li in q(body, ".//ol/li/ol/li")]
    assert items == ["2026年3月1日至31日。", "每周三为集中宣传日。"]
    assert [li.text.strip() for li in q(body, "./ol/li")] == ["活动时间", "活动内容"]
    # 落款 and 成文日期: separate paragraphs, marked for right alignment; the 附件说明 lines separate too.
    assert [p.text_content() for p in q(body, ".//p[.gw-signature]")] == ["根河市司法局"]
    assert [p.text_content() for p in q(body, ".//p[.gw-date]")] == ["2026年3月2日"]
    assert [p.text_content() for p in q(body, ".//p[.gw-attachments]")] == ["附件：1. 活动安排表", "2. 联系人名单"]
    assert q(body, ".//p[.gw-recipient]")[0].text_content() == "各司法所、局机关各股室："


def test_site_page_lays_out_the_imported_notice(tmp_path: Path) -> None:
    out = tmp_path / "site"
    with serve(out) as base:
        site = SiteChannel({"output_dir": str(out), "public_base_url": base, "show_catalog_entries": False},
                           name="site")
        doc, image_name = _notice(tmp_path)
        receipt = site.publish(context(doc))
        resp = requests.get(receipt.url, timeout=5)
        resp.encoding = "utf-8"
        root = _tree(resp.text)
        assert q(root, ".//h1[.doc-title]")[0].text_content() == doc.title
        assert q(root, ".//*[.doc-number-line]")[0].text_content() == "根司发〔2026〕5号"
        _check_gongwen_body(root)
        # The body image is a file of the generated site, and it loads.
        (img,) = q(root, ".//*[.doc-body]//img")
        assert img.get("src").startswith("../files/1/") and image_name not in img.get("src")
        got = requests.get(requests.compat.urljoin(receipt.url, img.get("src")), timeout=5)
        assert got.status_code == 200 and got.content == IMAGE
        # Attachments: name, type and human size; the body image is not offered again as a download.
        rows = [(q(a, ".//a")[0].text_content(), q(a, ".//*[.file-kind]")[0].text_content(),
                 q(a, ".//*[.file-size]")[0].text_content()) for a in q(root, ".//li[.attachment]")]
        assert rows == [("活动安排表.pdf", "PDF", "1.2 MB"), ("联系人名单.docx", "Word", f"{len(DOCX)} 字节")]
        # verify() still recognises the page (the content hash is computed from the payload).
        assert site.verify(context(doc), receipt) is True


def test_site_atom_feed_has_summary_and_absolute_full_content(tmp_path: Path) -> None:
    out = tmp_path / "site"
    with serve(out) as base:
        site = SiteChannel({"output_dir": str(out), "public_base_url": base, "show_catalog_entries": False},
                           name="site")
        doc, _ = _notice(tmp_path)
        site.publish(context(doc))
        site.publish(context(payload(2)))
        parsed = feedparser.parse(requests.get(base + "atom.xml", timeout=5).content)
        assert not parsed.bozo, parsed.get("bozo_exception")
        assert [e.title for e in parsed.entries] == [payload(2).title, doc.title]  # newest first
        entry = next(e for e in parsed.entries if e.title == doc.title)
        assert entry.summary.startswith("各司法所、局机关各股室：") and "<" not in entry.summary
        (content,) = entry.content
        assert content.type == "text/html"
        html = _tree(f"<div>{content.value}</div>")
        (img,) = q(html, ".//img")
        assert img.get("src").startswith(base + "files/1/")
        assert requests.get(img.get("src"), timeout=5).content == IMAGE
        links = [a.get("href") for a in q(html, ".//a")]
        assert links and all(h.startswith(base + "files/1/") for h in links)
        assert q(html, ".//td[@rowspan='2']") and q(html, ".//p[.gw-date]")


def test_gazette_document_page_and_feed(tmp_path: Path) -> None:
    out = tmp_path / "gazette"
    with serve(out) as base:
        g = GazetteChannel({"output_dir": str(out), "public_base_url": base}, name="gazette")
        doc, _ = _notice(tmp_path)
        receipt = g.publish(context(doc))
        issue = _tree(requests.get(receipt.data["issue"]["url"], timeout=5).content.decode("utf-8"))
        assert "活动安排表.pdf（PDF，1.2 MB）" in issue.text_content()
        (full,) = q(issue, ".//a[.full-text]")
        page_url = requests.compat.urljoin(receipt.data["issue"]["url"], full.get("href"))
        root = _tree(requests.get(page_url, timeout=5).content.decode("utf-8"))
        assert q(root, ".//h1[.doc-title]")[0].text_content() == doc.title
        _check_gongwen_body(root)
        (img,) = q(root, ".//*[.doc-body]//img")
        assert requests.get(requests.compat.urljoin(page_url, img.get("src")), timeout=5).content == IMAGE
        kinds = [q(a, ".//*[.file-kind]")[0].text_content() for a in q(root, ".//li[.attachment]")]
        assert kinds == ["PDF", "Word"]

        parsed = feedparser.parse(requests.get(base + "feeds/all/atom.xml", timeout=5).content)
        assert not parsed.bozo
        (entry,) = parsed.entries
        assert entry.summary.startswith("各司法所、局机关各股室：")
        body = _tree(f"<div>{entry.content[0].value}</div>")
        (fimg,) = q(body, ".//img")
        assert fimg.get("src").startswith(base + "files/1/")
        assert requests.get(fimg.get("src"), timeout=5).content == IMAGE
        # The body image is shown, not enclosed; the two real attachments are enclosures.
        assert sorted(e["type"] for e in entry.enclosures) == [
            "application/pdf", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"]

        # A correction shows its 更正说明 on the gazette page.
        v2 = payload(1, version=2, title=doc.title, doc_number=doc.doc_number, body_html=doc.body_html,
                     attachments=doc.attachments, extra={"change_note": "更正表格中的地点"},
                     updated_at=dt.datetime(2026, 3, 4, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=8))))
        g.update(context(v2))
        root = _tree(requests.get(page_url, timeout=5).content.decode("utf-8"))
        assert "更正表格中的地点" in q(root, ".//aside[.correction]")[0].text_content()
        assert q(root, ".//p[.issue-label]/a")[0].get("href") == "../issues/no-1.html#doc-1"

        # A withdrawal leaves a notice at the same address, without the body or the downloads.
        g.withdraw(context(payload(1, version=2, extra={"withdraw_reason": "文件已废止"}), Action.withdraw))
        root = _tree(requests.get(page_url, timeout=5).content.decode("utf-8"))
        assert "文件已废止" in root.text_content() and not q(root, ".//*[.doc-body]")
        assert not q(root, ".//li[.attachment]")


def test_site_correction_shows_its_note(tmp_path: Path) -> None:
    out = tmp_path / "site"
    site = SiteChannel({"output_dir": str(out), "public_base_url": "http://x/", "show_catalog_entries": False},
                       name="site")
    site.publish(context(payload(3)))
    site.update(context(payload(3, version=2, body_html="<p>改正后的正文。</p>", extra={"change_note": "更正日期"},
                                updated_at=dt.datetime(2026, 3, 5, 10, 0, tzinfo=dt.UTC))))
    root = _tree((out / "art" / "3.html").read_text("utf-8"))
    note = q(root, ".//aside[.correction]")[0].text_content()
    assert "更正说明" in note and "更正日期" in note and "第2版" in note


@pytest.mark.parametrize(
    ("body", "signature", "date"),
    [
        # Typed as separate paragraphs (the editor, Markdown): the last date line and the short line above it.
        ("<p>请遵照执行。</p><p>根河市司法局</p><p>2026年3月2日</p>", ["根河市司法局"], ["2026年3月2日"]),
        # One paragraph with a line break: split into two lines, both right-aligned.
        ("<p>请遵照执行。</p><p>根河市司法局<br>二〇二六年三月二日</p>", ["根河市司法局"], ["二〇二六年三月二日"]),
        # Two issuing offices (联合行文) above the date.
        ("<p>特此通知。</p><p>根河市司法局</p><p>根河市财政局</p><p>2026年3月2日</p>",
         ["根河市司法局", "根河市财政局"], ["2026年3月2日"]),
        # A sentence ending in punctuation is body text, not a 落款.
        ("<p>本办法自2026年3月2日起施行。</p>", [], []),
    ],
)
def test_typed_signature_and_date_are_recognised(body: str, signature: list[str], date: list[str]) -> None:
    root = _tree(f"<div>{gongwen_html.render(body)}</div>")
    assert [p.text_content() for p in q(root, ".//p[.gw-signature]")] == signature
    assert [p.text_content() for p in q(root, ".//p[.gw-date]")] == date


@pytest.mark.parametrize(
    ("body", "signature", "date"),
    [
        ("<p>请遵照执行。</p><p>根河市司法局</p><p>2026年3月2日</p>", ["根河市司法局"], ["2026年3月2日"]),
        ("<p>请遵照执行。</p><p>根河市司法局<br>二〇二六年三月二日</p>", ["根河市司法局"], ["二〇二六年三月二日"]),
        ("<p>本办法自2026年3月2日起施行。</p>", [], []),
    ],
)
def test_screens_and_wechat_lay_out_a_typed_signature_like_the_site(body: str, signature: list[str],
                                                                      date: list[str]) -> None:
    # The screens' slides and the WeChat article right-align a typed 落款 and 成文日期 as the site page does.
    screen = _tree(f"<div>{screen_body(body, '', [], lambda _a: None)}</div>")
    assert [p.text_content() for p in q(screen, ".//p[.gw-signature]")] == signature
    assert [p.text_content() for p in q(screen, ".//p[.gw-date]")] == date
    article = _tree(f"<div>{article_body(body)}</div>")
    right = [p.text_content() for p in article.iter("p") if "text-align:right" in (p.get("style") or "")]
    assert right == signature + date


def test_single_line_breaks_and_alignment_survive() -> None:
    html = gongwen_html.render('<p>第一行<br>第二行</p><p align="right">右对齐</p><p align="center">居中</p>'
                               '<p>段落</p>')
    root = _tree(f"<div>{html}</div>")
    assert len(q(root, ".//p")[0].xpath(".//br")) == 1
    assert q(root, ".//p[.gw-right]")[0].text_content() == "右对齐"
    assert q(root, ".//p[.gw-center]")[0].text_content() == "居中"
    assert "align=" not in html and "style=" not in html


def test_hostile_body_images_and_classes_are_neutralised() -> None:
    html = gongwen_html.render(
        '<p class="gw-date evil" style="color:red" onclick="x()">2026年3月2日</p>'
        '<p><img src="../../state/site.sqlite3" alt="泄露"><img src="javascript:alert(1)"><img src="未上传.png"></p>'
        '<table><tr><td rowspan="999999" colspan="abc">格</td></tr></table><script>alert(1)</script>',
        {"正文图片1.png": "../files/1/a.png"},
    )
    root = _tree(f"<div>{html}</div>")
    assert not q(root, ".//img")  # images the channel has no file for are dropped (their alt text stays)
    assert "泄露" in root.text_content()
    assert q(root, ".//p")[0].get("class") == "gw-date"
    assert "onclick" not in html and "style" not in html and "script" not in html
    assert q(root, ".//td")[0].get("rowspan") is None and q(root, ".//td")[0].get("colspan") is None


def test_file_kinds_and_sizes() -> None:
    assert gongwen_html.file_kind(".pdf", "") == "PDF"
    assert gongwen_html.file_kind("", "application/vnd.openxmlformats-officedocument.wordprocessingml.document") \
        == "Word"
    assert gongwen_html.file_kind(".xlsx", "") == "Excel"
    assert gongwen_html.file_kind(".ofd", "") == "OFD"
    assert gongwen_html.file_kind(".jpg", "image/jpeg") == "图片"
    assert gongwen_html.size_text(1258291) == "1.2 MB"
    assert gongwen_html.size_text(2048) == "2 KB"
    assert gongwen_html.size_text(17) == "17 字节"


def test_markdown_line_breaks_reach_the_page_as_lines() -> None:
    from orchestrator.documents.content import render_body

    body = render_body("现将有关事项通知如下：\n1. 活动时间\n2. 活动内容\n\n（一）报名\n（二）培训\n\n"
                       "根河市司法局\n2026年3月2日\n", "markdown")
    root = _tree(f"<div>{gongwen_html.render(body)}</div>")
    assert [li.text_content() for li in q(root, ".//ol/li")] == ["活动时间", "活动内容"]
    lines = q(root, ".//p")[1]
    assert lines.text_content() == "（一）报名\n（二）培训" and len(lines.xpath("./br")) == 1  # one per line
    assert [p.text_content() for p in q(root, ".//p[.gw-signature]")] == ["根河市司法局"]
    assert [p.text_content() for p in q(root, ".//p[.gw-date]")] == ["2026年3月2日"]
