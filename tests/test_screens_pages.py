"""Paging a body across slides: a long document becomes several slides at the fixed reading size, tables stay tables
(header row repeated on each slide, merged cells kept or re-emitted at a cut), 公文 lines kept, durations long enough
to read. The layout estimate is checked against Chromium in test_wechat_screens_push_rich_doc.py and below."""

from __future__ import annotations

import re

import pytest

from channels.screens.config import ScreenSpec
from channels.screens.pages import Geometry, paginate
from channels.screens.render import CHROMIUM_FLAGS, SlideNotice, slide_page, slide_pages, template_env
from tests.web_support import chromium

LANDSCAPE = Geometry(1920, 1080, portrait=False, has_qr=True)
ROWS = 40
LONG_TABLE = ("<table><tr><th>序号</th><th>单位</th><th>联系人</th></tr>"
              + "".join(f"<tr><td>{i}</td><td>第{i}司法所（含法律援助工作站）</td><td>张{i}</td></tr>" for i in range(1, ROWS))
              + '<tr><td rowspan="2">合计</td><td colspan="2">共39个单位</td></tr><tr><td colspan="2">另有2个</td></tr>'
              "</table>")
PARAS = "".join(f"<p>第{i}段：为深入推进法治宣传教育，切实提高全民法治素养，现就有关事项通知如下，请认真贯彻落实。</p>"
                for i in range(1, 30))
SIGN = '<p class="gw-signature">根河市司法局</p><p class="gw-date">2026年3月2日</p>'


def pages(body: str, g: Geometry = LANDSCAPE):
    return paginate(body, g, title_lines=1, meta_lines=1, media_url=lambda ref: "/m/" + ref)


def test_short_body_is_one_slide_with_its_lines():
    [p] = pages("<ol><li>活动时间<ol><li>3月1日</li><li>每周三</li></ol></li><li>活动内容</li></ol>" + SIGN)
    assert p.index == p.count == 1
    lines = re.findall(r"<p[^>]*>(.*?)</p>", str(p.body))
    assert lines == ["一、活动时间", "（一）3月1日", "（二）每周三", "二、活动内容", "根河市司法局", "2026年3月2日"]
    assert p.seconds(15) == 15  # a short slide: the screen's own time


def test_long_text_pages_and_every_word_is_shown_once():
    ps = pages(PARAS + SIGN)
    assert len(ps) >= 3 and [p.index for p in ps] == list(range(1, len(ps) + 1)) and {p.count for p in ps} == {len(ps)}
    text = "".join(re.sub(r"<[^>]+>", "", str(p.body)) for p in ps)
    for i in range(1, 30):
        assert text.count(f"第{i}段：") == 1
    assert text.endswith("根河市司法局2026年3月2日")
    # A full slide of text stays up long enough to read it (4 characters a second and more).
    for p in ps:
        assert p.seconds(15) >= p.chars / 4


def test_long_table_continues_with_header_and_merges():
    ps = pages("<p>名单如下：</p>" + LONG_TABLE)
    tables = [t for p in ps for t in re.findall(r"<table.*?</table>", str(p.body))]
    assert len(tables) >= 2
    for t in tables:  # the header row heads every part
        assert "<thead><tr><th>序号</th><th>单位</th><th>联系人</th></tr></thead>" in t
    allrows = "".join(tables)
    for i in range(1, ROWS):
        assert allrows.count(f"<td>第{i}司法所（含法律援助工作站）</td>") == 1
    assert '<td rowspan="2">合计</td>' in tables[-1] and '<td colspan="2">共39个单位</td>' in tables[-1]
    assert "（1/" in tables[0] and "（续2/" in tables[1]


def test_rowspan_cut_by_a_slide_break_is_repeated():
    body = ("<table><tr><th>单位</th><th>事项</th></tr><tr><td rowspan=\"30\">城区司法所</td><td>事项1</td></tr>"
            + "".join(f"<tr><td>事项{i}</td></tr>" for i in range(2, 31)) + "</table>")
    tables = [t for p in pages(body) for t in re.findall(r"<table.*?</table>", str(p.body))]
    assert len(tables) >= 2
    spans = [int(re.search(r'<td rowspan="(\d+)">城区司法所</td>', t).group(1)) for t in tables]
    assert sum(spans) == 30


@pytest.mark.browser
def test_slides_fit_in_chromium():
    """The estimate holds in the browser: no slide's body overflows, on a landscape and a portrait screen."""
    from orchestrator.settings import get_settings

    env = template_env(str(get_settings().templates_dir))
    notice = SlideNotice(document_id=1, version=1, title="关于开展2026年法治宣传月活动暨“八五”普法总结验收工作的通知",
                         doc_number="根司发〔2026〕5号", publisher="根河市司法局", category="通知公告",
                         date_text="2026年3月2日", period_text="2026年3月2日 至 2026年4月1日", index_no="X-1",
                         excerpt="<p>名单如下：</p>" + LONG_TABLE + PARAS + SIGN, site_url="https://www.example.gov.cn/1")
    screens = [ScreenSpec(id="l", name="横屏", entries=["*"]),
               ScreenSpec(id="p", name="竖屏", entries=["*"], resolution="1080x1920", orientation="portrait")]
    with chromium(CHROMIUM_FLAGS) as browser:
        for screen in screens:
            w, h = screen.size
            page = browser.new_page(viewport={"width": w, "height": h})
            for pg in slide_pages(screen, notice):
                page.set_content(slide_page(env, screen, notice, pg))
                over = page.evaluate("() => { const b = document.querySelector('.slide .body');"
                                     " return b.scrollHeight - b.clientHeight; }")
                assert over <= 1, (screen.id, pg.index, over)
            page.close()
