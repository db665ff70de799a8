"""The same document out on the site and in the gazette, in Debian's Chromium, through the real fan-out.

A clerk imports the generated 红头 notice (.docx: 文号, two-level numbering, a table with merged cells, an embedded image,
附件说明, 落款 and date) on 登记文件, adds two attachments and submits; real Celery workers (PostgreSQL + Redis) render
the site and the gazette; a visitor reads the pages from a plain HTTP server over the output directories. Then a
correction through the document page's rich editor shows its 更正说明, and a 政策解读 submitted through the form links
both ways. Screenshots go to /tmp/shots/outrender/.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docx
import feedparser
import lxml.html
import pytest
import requests

from tests.docin_support import notice_docx, png_bytes
from tests.fanout_harness import FanoutStack
from tests.static_channel_helpers import serve
from tests.web_support import OFFICE_B, PASSWORD, chromium, make_web_user, serve_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]
CATALOG = [Path(__file__).parent / "data" / "catalogs" / "test-publisher.yaml"]
SHOTS = Path("/tmp/shots/outrender")
IMAGE = png_bytes((20, 90, 160), (120, 80))
TITLE = "关于开展2026年法治宣传月活动的通知"


@dataclass
class Env:
    web: str
    site: str
    gazette: str
    clerk: str
    stack: FanoutStack
    tmp: Path


@pytest.fixture
def env(orch_env, redis_server, tmp_path: Path) -> Iterator[Env]:
    with serve(tmp_path / "site") as site_base, serve(tmp_path / "gazette") as gazette_base:
        channels = {
            "website": [{"name": "site", "adapter": "site", "output_dir": str(tmp_path / "site"),
                         "public_base_url": site_base, "org_name": "测试市司法局", "show_catalog_entries": False}],
            "gazette": [{"name": "gazette", "adapter": "gazette", "output_dir": str(tmp_path / "gazette"),
                         "public_base_url": gazette_base}],
        }
        with FanoutStack(orch_env, tmp_path / "stack", channels=channels, catalogs=CATALOG,
                         redis=redis_server) as stack:
            from orchestrator.app import create_app

            clerk = make_web_user("clerk", OFFICE_B)  # the office responsible for 履职依据/规范性文件
            with serve_app(create_app()) as web_base:
                yield Env(web_base, site_base, gazette_base, clerk, stack, tmp_path)


@pytest.fixture
def browser():
    with chromium(["--no-sandbox", "--disable-gpu", "--disable-background-networking"]) as b:
        yield b


def _page(browser, base: str, width: int = 1280):
    page = browser.new_context(viewport={"width": width, "height": 900}, locale="zh-CN", base_url=base).new_page()
    page.set_default_timeout(30_000)
    return page


def _login(page, user: str) -> None:
    page.goto("/login")
    page.fill("#username", user)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")


def _choose_entry(page) -> None:
    page.goto("/submit")
    page.fill("#entry-search", "规范性")
    page.locator(".tree .ent", has_text="规范性文件").first.click()


def _word_attachment() -> bytes:
    d = docx.Document()
    d.add_paragraph("联系人名单：张三、李四")
    out = io.BytesIO()
    d.save(out)
    return out.getvalue()


def _settled(env: Env, document_id: int, action: str = "publish") -> dict[str, dict]:
    rows = env.stack.wait_settled(document_id, timeout=150)
    mine = {r["channel"]: r for r in rows if r["action"] == action and r["channel"] in {"website", "gazette"}}
    assert set(mine) == {"website", "gazette"}, rows
    for r in mine.values():
        assert r["status"] == "verified", (r, env.stack.logs_tail())
    return mine


def _check_document_page(page, url: str, shot: str) -> None:
    """What a visitor sees of the notice: 公文 layout, table with merges, the image loaded, 落款/date lines."""
    failed: list[str] = []
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.goto(url)
    page.wait_for_load_state("networkidle")
    assert page.inner_text("h1.doc-title") == TITLE
    assert page.inner_text(".doc-number-line") == "根司发〔2026〕5号"
    assert page.evaluate("getComputedStyle(document.querySelector('h1.doc-title')).textAlign") == "center"
    # The table: seven cells in three rows, the merges kept, borders drawn.
    cells = page.locator(".doc-body table td").all_inner_texts()
    assert [c.strip() for c in cells] == ["单位", "时间", "地点", "城区司法所", "3月5日", "中央街", "待定"]
    assert page.locator(".doc-body td[rowspan='2']").inner_text().strip() == "城区司法所"
    assert page.locator(".doc-body td[colspan='2']").inner_text().strip() == "待定"
    assert page.evaluate("getComputedStyle(document.querySelector('.doc-body td')).borderTopStyle") == "solid"
    # The image: loaded in the page, and a file of the generated output (200 + the very bytes).
    page.wait_for_function("() => { const i = document.querySelector('.doc-body img');"
                           " return i && i.complete && i.naturalWidth === 120; }")
    src = page.evaluate("document.querySelector('.doc-body img').src")
    got = requests.get(src, timeout=10)
    assert got.status_code == 200 and got.headers["content-type"] == "image/png" and got.content == IMAGE
    # Numbered items: separate list items, each on its own line; the second level nested.
    tops = page.evaluate("[...document.querySelectorAll('.doc-body ol ol > li')].map(li => li.getBoundingClientRect().top)")
    assert len(tops) == 2 and tops[1] > tops[0]
    assert page.locator(".doc-body > ol > li").count() == 2
    # ... numbered as every other channel numbers them (channels/richbody.py): 一、 first, （一） nested.
    kinds = page.evaluate("[...document.querySelectorAll('.doc-body > ol, .doc-body ol ol')]"
                          ".map(o => getComputedStyle(o).listStyleType)")
    assert kinds == ["simp-chinese-informal", "gw-paren-cn"], kinds
    # 落款 and 成文日期: two block elements, the date below the 落款, both right-aligned.
    for sel in ("p.gw-signature", "p.gw-date"):
        style = page.evaluate(f"(() => {{ const s = getComputedStyle(document.querySelector('.doc-body {sel}'));"
                              " return [s.display, s.textAlign]; })()")
        assert style == ["block", "right"], (sel, style)
    assert page.inner_text(".doc-body p.gw-signature") == "根河市司法局"
    assert page.inner_text(".doc-body p.gw-date") == "2026年3月2日"
    sig, date = (page.locator(f".doc-body {s}").bounding_box() for s in ("p.gw-signature", "p.gw-date"))
    assert date["y"] >= sig["y"] + sig["height"] - 1
    body = page.locator(".doc-body").bounding_box()
    assert date["x"] + date["width"] > body["x"] + body["width"] * 0.6  # the text sits at the right
    # Attachments: name, type and size; the body image is not offered again.
    items = page.locator("li.attachment")
    assert items.count() == 2
    rows = [(items.nth(i).locator("a").inner_text(), items.nth(i).locator(".file-kind").inner_text(),
             items.nth(i).locator(".file-size").inner_text()) for i in range(2)]
    assert rows[0] == ("活动安排表.pdf", "PDF", "1.2 MB")
    assert rows[1][0] == "联系人名单.docx" and rows[1][1] == "Word" and rows[1][2].endswith("KB")
    assert not failed, failed
    page.screenshot(path=str(SHOTS / f"{shot}-desktop.png"), full_page=True)
    # A phone: the page never scrolls sideways; a wide table scrolls inside its own box.
    page.set_viewport_size({"width": 360, "height": 780})
    page.evaluate("""() => { const t = document.querySelector('.doc-body table');
        const tr = t.rows[0]; for (let i = 0; i < 6; i++) { const c = tr.insertCell(); c.textContent = '很长的表头内容' + i; } }""")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    assert page.evaluate("(() => { const b = document.querySelector('.doc-body .table-scroll');"
                         " return getComputedStyle(b).overflowX === 'auto' && b.scrollWidth > b.clientWidth; })()")
    page.reload()
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(SHOTS / f"{shot}-phone.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def _check_feed(url: str, title: str) -> None:
    parsed = feedparser.parse(requests.get(url, timeout=10).content)
    assert not parsed.bozo, parsed.get("bozo_exception")
    entry = next(e for e in parsed.entries if e.title == title)
    # The 摘要 the Word import prefilled: the content, without the letter's 主送 line.
    assert entry.summary.startswith("为深入推进法治宣传教育") and "<" not in entry.summary
    (content,) = entry.content
    assert content.type == "text/html"
    root = lxml.html.fromstring(f"<div>{content.value}</div>")
    (img,) = root.xpath(".//img")
    assert img.get("src").startswith("http://")
    got = requests.get(img.get("src"), timeout=10)
    assert got.status_code == 200 and got.content == IMAGE
    assert root.xpath(".//td[@rowspan='2']") and root.xpath(".//td[@colspan='2']")
    assert "根河市司法局" in content.value and "2026年3月2日" in content.value


@pytest.mark.timeout(600)
def test_rich_notice_from_the_web_form_to_site_gazette_and_feeds(env: Env, browser) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    notice = env.tmp / "关于开展法治宣传月活动的通知.docx"
    notice.write_bytes(notice_docx(IMAGE))
    pdf = env.tmp / "活动安排表.pdf"
    pdf.write_bytes(b"%PDF-1.4\n" + b"%" * (1258291 - 15) + b"\n%%EOF")
    word = env.tmp / "联系人名单.docx"
    word.write_bytes(_word_attachment())

    page = _page(browser, env.web)
    _login(page, env.clerk)
    _choose_entry(page)
    page.set_input_files("#import-file", str(notice))
    page.wait_for_function("() => document.querySelector('#title').value !== ''")
    assert page.input_value("#title") == TITLE and page.input_value("#doc_number") == "根司发〔2026〕5号"
    page.wait_for_function("() => { const i = document.querySelector('#rich-editor img');"
                           " return i && i.complete && i.naturalWidth === 120; }")
    page.set_input_files("#file-input", [str(pdf), str(word)])
    page.screenshot(path=str(SHOTS / "01-submit-form.png"), full_page=True)
    page.click("#submit-btn")
    page.wait_for_url("**/documents/*")
    document_id = int(page.url.rstrip("/").rsplit("/", 1)[1])

    rows = _settled(env, document_id)
    site_url = rows["website"]["receipt"]["url"]
    assert site_url.startswith(env.site)
    visitor = _page(browser, env.site)
    _check_document_page(visitor, site_url, "02-site")

    # The gazette: the issue lists the document, its 全文 page is laid out the same way.
    issue_url = rows["gazette"]["receipt"]["data"]["issue"]["url"]
    visitor.goto(issue_url)
    assert TITLE in visitor.inner_text(".issue")
    href = visitor.get_attribute(f"#doc-{document_id} a.full-text", "href")
    _check_document_page(visitor, requests.compat.urljoin(issue_url, href), "03-gazette")

    # Atom: a plain-text summary and the full body with absolute, loadable image URLs — on both channels.
    _check_feed(env.site + "atom.xml", TITLE)
    _check_feed(env.gazette + "feeds/all/atom.xml", TITLE)


@pytest.mark.timeout(600)
def test_correction_in_the_rich_editor_and_interpretation_links(env: Env, browser) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    notice = env.tmp / "通知.docx"
    notice.write_bytes(notice_docx(IMAGE))
    page = _page(browser, env.web)
    _login(page, env.clerk)
    _choose_entry(page)
    page.set_input_files("#import-file", str(notice))
    page.wait_for_function("() => document.querySelector('#title').value !== ''")
    page.click("#submit-btn")
    page.wait_for_url("**/documents/*")
    policy = int(page.url.rstrip("/").rsplit("/", 1)[1])
    site_url = _settled(env, policy)["website"]["receipt"]["url"]

    # The correction form has the rich editor, showing the body with its table and its image.
    page.goto(f"/documents/{policy}")
    page.click("summary:has-text('登记新版本')")
    page.wait_for_function("() => { const i = document.querySelector('#rich-editor img');"
                           " return i && i.complete && i.naturalWidth === 120; }")
    assert page.locator("#rich-editor td[rowspan='2']").inner_text().strip() == "城区司法所"
    page.evaluate("""() => { const ed = document.querySelector('#rich-editor');
        const cell = [...ed.querySelectorAll('td')].find(td => td.textContent.trim() === '中央街');
        cell.querySelector('p') ? cell.querySelector('p').textContent = '新华街' : cell.textContent = '新华街';
        ed.dispatchEvent(new Event('input', {bubbles: true})); }""")
    page.fill("input[name=change_note]", "更正活动地点：中央街改为新华街")
    page.screenshot(path=str(SHOTS / "04-correction-form.png"), full_page=True)
    page.click("#version-form button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert "已登记第 2 版" in page.inner_text("body")
    _settled(env, policy, "update")

    visitor = _page(browser, env.site)
    visitor.goto(site_url)
    note = visitor.inner_text("aside.correction")
    assert "更正说明" in note and "中央街改为新华街" in note and "第2版" in note
    cells = [c.strip() for c in visitor.locator(".doc-body td").all_inner_texts()]
    assert "新华街" in cells and "中央街" not in cells
    visitor.wait_for_function("() => { const i = document.querySelector('.doc-body img');"
                              " return i && i.complete && i.naturalWidth === 120; }")
    visitor.screenshot(path=str(SHOTS / "05-site-corrected.png"), full_page=True)

    # A 政策解读 through the form: both pages link to each other.
    _choose_entry(page)
    page.fill("#title", "《法治宣传月活动通知》政策解读")
    page.click("#rich-editor")
    page.keyboard.type("一、为什么开展法治宣传月活动。")
    page.click("details.schedule summary")
    page.fill("#related_document_id", str(policy))
    page.select_option("#related_kind", "解读")
    page.click("#submit-btn")
    page.wait_for_url("**/documents/*")
    interp = int(page.url.rstrip("/").rsplit("/", 1)[1])
    assert "解读的政策文件" in page.inner_text("dl.meta")
    interp_url = _settled(env, interp)["website"]["receipt"]["url"]
    env.stack.wait_settled(policy, timeout=60)

    visitor.goto(interp_url)
    section = visitor.inner_text("section.related")
    assert "解读的政策文件" in section and TITLE in section
    assert visitor.get_attribute("section.related a", "href") == f"../art/{policy}.html"
    visitor.screenshot(path=str(SHOTS / "06-site-interpretation.png"), full_page=True)
    visitor.goto(site_url)
    section = visitor.inner_text("section.related")
    assert "政策解读" in section and "《法治宣传月活动通知》政策解读" in section
    assert visitor.get_attribute("section.related a", "href") == f"../art/{interp}.html"
    visitor.screenshot(path=str(SHOTS / "07-site-policy-links.png"), full_page=True)
