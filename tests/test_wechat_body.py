"""The canonical body as the WeChat article and the e-mail show it (channels/richbody.py): inline styles only, 公文
layout, explicit list numbers, tables bordered in a scrolling section with merges kept, structured plain text."""

from __future__ import annotations

import re

from channels import richbody
from channels.wechat.content import article_body

BODY = ('<p class="gw-recipient">各司法所：</p><p>现将有关事项通知如下。</p>'
        '<ol><li>活动时间<ol><li>3月1日至31日。</li><li>每周三。</li></ol></li><li><p>活动内容</p></li></ol>'
        '<table><tbody><tr><td><p>单位</p></td><td><p>时间</p></td><td><p>地点</p></td></tr>'
        '<tr><td rowspan="2"><p>城区司法所</p></td><td><p>3月5日</p></td><td><p>中央街</p></td></tr>'
        '<tr><td colspan="2"><p>待定</p></td></tr></tbody></table>'
        '<p><img src="正文图片1-abc.png"></p><p>详见<a href="https://www.example.gov.cn/x">网站</a>和<a href="#footnote-1">注</a>。</p>'
        '<p class="gw-attachments">附件：1. 活动安排表</p><p class="gw-attachments">2. 联系人名单</p>'
        '<p class="gw-signature">根河市司法局</p><p class="gw-date">2026年3月2日</p>')


def test_article_body_has_inline_styles_only():
    html = article_body(BODY)
    assert " class=" not in html and "<style" not in html and " id=" not in html and "data-depth" not in html
    assert "<ol" not in html and "<li" not in html  # numbered items are paragraphs with their numbers
    for tag in re.findall(r"<(p|td|table|section|img)\b([^>]*)>", html):
        assert 'style="' in tag[1], tag
    # Image source kept as it was (the adapter maps it to the uploaded URL), not %-escaped.
    assert 'src="正文图片1-abc.png"' in html


def test_article_body_gongwen_layout():
    html = article_body(BODY)
    lines = [(re.sub(r"<[^>]+>", "", m.group(2)), m.group(1))
             for m in re.finditer(r'<p style="([^"]*)">(.*?)</p>', html)]
    text = [t for t, _ in lines]
    for item in ("一、活动时间", "（一）3月1日至31日。", "（二）每周三。", "二、活动内容"):
        assert item in text
    style = dict(lines)
    assert "text-align:right" in style["根河市司法局"] and "text-align:right" in style["2026年3月2日"]
    assert text.index("2026年3月2日") == text.index("根河市司法局") + 1
    assert "padding-left:2em" in style["（一）3月1日至31日。"]
    assert "text-indent:2em" in style["现将有关事项通知如下。"] and "text-indent" not in style["各司法所："]
    # Links leave WeChat's article: the address stays readable, footnote links become text.
    assert "详见网站（https://www.example.gov.cn/x）和注。" in text and "<a " not in html


def test_article_table_scrolls_with_borders_and_merges():
    html = article_body(BODY)
    assert re.search(r'<section style="[^"]*overflow-x:auto[^"]*"><table style="[^"]*border-collapse:collapse', html)
    assert re.search(r'<td rowspan="2" style="[^"]*border:1px solid #999999', html)
    assert re.search(r'<td colspan="2" style="[^"]*border:1px solid #999999', html)
    # The first row of short labels is the header.
    assert "background-color:#f2f2f2" in re.search(r"<tr>(.*?)</tr>", html).group(1)
    wide = "<table><tr>" + "".join(f"<td>列{i}</td>" for i in range(8)) + "</tr><tr>" + "<td>值</td>" * 8 + "</tr></table>"
    assert "min-width:5em" in article_body(wide)


def test_plain_text_keeps_the_structure():
    text = richbody.to_text(BODY)
    assert text.splitlines() == [
        "各司法所：", "现将有关事项通知如下。", "一、活动时间", "\u3000\u3000（一）3月1日至31日。", "\u3000\u3000（二）每周三。", "二、活动内容",
        "【表格】", "单位：城区司法所；时间：3月5日；地点：中央街", "单位：城区司法所；时间/地点：待定",
        "[图片]", "详见网站和注。", "附件：1. 活动安排表", "2. 联系人名单", "根河市司法局", "2026年3月2日",
    ]
    letter = richbody.to_text(BODY, gap="\n\n", image_label=lambda src: f"[图片：{src}]")
    assert "\n\n根河市司法局\n2026年3月2日" in letter and "[图片：正文图片1-abc.png]" in letter
    assert "【表格】\n单位：城区司法所" in letter


def test_table_grid_resolves_merges():
    grid = richbody.table_grid(richbody.parse(BODY).find(".//table"))
    assert [[c.text for c in row] for row in grid] == [["单位", "时间", "地点"], ["城区司法所", "3月5日", "中央街"],
                                                        ["城区司法所", "待定", "待定"]]
    assert grid[2][0].origin is False and grid[2][1].origin and not grid[2][2].origin
    assert richbody.header_rows(grid) == 1


def test_list_markers_follow_gongwen_levels():
    assert [richbody.list_marker(d, n, True) for d, n in ((1, 1), (1, 10), (1, 23), (2, 2), (3, 3), (4, 4))] == [
        "一、", "十、", "二十三、", "（二）", "3.", "（4）"]
    assert richbody.list_marker(1, 1, False) == "•"
