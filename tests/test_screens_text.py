"""The slide excerpt keeps a body's list numbers and bullets ("1. 执法监督科", not "执法监督科")."""

from __future__ import annotations

from channels.screens.render import html_to_text
from orchestrator.documents.content import render_body


def test_excerpt_keeps_list_numbers_and_bullets():
    body = render_body("分工如下：\n\n1. 执法监督科\n2. 办公室\n\n要求：\n\n- 按时报送\n- 注明联系人\n", "markdown")
    assert html_to_text(body).splitlines() == ["分工如下：", "1. 执法监督科", "2. 办公室", "要求：", "• 按时报送", "• 注明联系人"]


def test_excerpt_numbers_loose_lists_and_start_attribute():
    body = '<ol start="3"><li><p>第三项</p></li><li><p>第四项</p></li></ol><p>完</p>'
    assert html_to_text(body).splitlines() == ["3. 第三项", "4. 第四项", "完"]
