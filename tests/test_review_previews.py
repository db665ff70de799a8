"""Per-channel previews on the reviewer's page, on a real PostgreSQL: every channel's own rendering (the site's 公文
page, the gazette page, the WeChat article, the screens' slides, the push e-mail, the manual packet), served on its
own route under a strict CSP, equal to what the adapters write or send for the same payload; hostile titles and
bodies; who may see a preview."""

from __future__ import annotations

import io
import os
import re
import shutil
from pathlib import Path

import lxml.html
import pytest
import yaml
from PIL import Image

from tests.api_helpers import ROOT, configure
from tests.web_support import WebEnv, make_web_user

PUBLISHER = "测试预览局"
OFFICE = "办公室"
OTHER_OFFICE = "行政执法协调监督办公室"
ENTRY_PATH = ["通知公告", "预览事项"]
CATALOG = f"""
publisher: {PUBLISHER}
index_prefix: "PREVIEW01"
entries:
  - code: "YL-01"
    path: [{", ".join(ENTRY_PATH)}]
    time_limit: {{text: 即时公开, kind: immediate}}
    channels: [website, gazette, wechat, bulletin_board, targeted_push, reading_room]
    offices: [{OFFICE}]
    options: {{review: true}}
"""
CHANNELS = ["website", "gazette", "wechat", "bulletin_board", "targeted_push", "reading_room"]
SCREEN_NAME = "预览局大厅电子屏"
MEMBER_NAME = "预览测试企业"
TITLE = "关于开展2026年度行政执法案卷评查的通知"
DOC_NUMBER = "测预〔2026〕7号"


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (320, 180), (30, 120, 200)).save(out, "PNG")
    return out.getvalue()


def _long_body(with_image: bool) -> str:
    paras = [f"<p>{'一二三四五六七八九十'[i % 10]}、第{i + 1}项工作要求：各单位要按照全面推行行政执法三项制度的要求，"
             "认真组织本单位执法案卷的自查和整改，确保执法程序合法、文书规范、证据充分，并于规定时间内报送自查报告。</p>"
             for i in range(24)]
    image = '<p><img src="图1.png" alt="评查流程图"></p>' if with_image else ""
    return ("<p>各科室、各执法大队：</p>" + "".join(paras[:3]) + image + "".join(paras[3:])
            + f"<p>{PUBLISHER}</p><p>2026年11月2日</p>")


@pytest.fixture
def web(orch_env, redis_server, tmp_path, monkeypatch) -> WebEnv:
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    monkeypatch.setenv("ORCH_CONFIG_DIR", str(config))
    catalog = tmp_path / "preview.yaml"
    catalog.write_text(CATALOG, encoding="utf-8")
    screens = tmp_path / "screens.yaml"
    screens.write_text(yaml.safe_dump({
        "timezone": "Asia/Shanghai", "default_display_days": 30, "poll_seconds": 10,
        "screens": [{"id": "yl-lobby", "name": SCREEN_NAME, "location": "一楼大厅", "resolution": "1920x1080",
                     "orientation": "landscape", "publishers": [PUBLISHER], "entries": ["/".join(ENTRY_PATH)],
                     "slide_seconds": 15, "heading": "测试预览局 政务公开栏"}],
    }, allow_unicode=True), encoding="utf-8")
    subscribers = tmp_path / "subscribers.yaml"
    subscribers.write_text(yaml.safe_dump({"publishers": [{
        "publisher": PUBLISHER, "mail_server": "mailto://127.0.0.1:9?from=push@example.cn&mode=insecure",
        "groups": [{"name": "企业", "members": [{"id": "ent-yl-1", "name": MEMBER_NAME, "email": "a@example.cn"}]}],
        "pushes": [{"entries": ["YL-01"], "groups": ["企业"]}],
    }]}, allow_unicode=True), encoding="utf-8")
    configure(monkeypatch, tmp_path, redis_server.url, {
        "website": [{"name": "site", "adapter": "site", "output_dir": str(tmp_path / "site"),
                     "public_base_url": "http://testserver/site/"}],
        "gazette": [{"name": "gazette", "adapter": "gazette", "output_dir": str(tmp_path / "gazette"),
                     "public_base_url": "http://testserver/gazette/"}],
        "wechat": [{"name": "official-account", "adapter": "wechat", "mode": "manual"}],
        "bulletin_board": [{"name": "screens", "adapter": "screens", "screens_file": str(screens),
                            "bundle_dir": str(tmp_path / "bundles"), "renderer": "pillow"}],
        "targeted_push": [{"name": "subscribers", "adapter": "push", "subscribers_file": str(subscribers)}],
        "reading_room": [{"name": "reading_room", "adapter": "manual"}],
    }, extra_catalogs=[catalog])
    from orchestrator.app import create_app

    users = {
        "clerk": make_web_user("clerk", OFFICE, display_name="王经办"),
        "reviewer": make_web_user("reviewer", OFFICE, display_name="初审员"),
        "outsider": make_web_user("clerk", OTHER_OFFICE, display_name="外科室经办"),
    }
    return WebEnv(create_app(), users)


def submit(web: WebEnv, *, title: str = TITLE, body: str | None = None, with_image: bool = True,
           wechat_title: str = "") -> int:
    from orchestrator.documents import inputs, submission

    uploads = [inputs.Upload("评查表.pdf", io.BytesIO(b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"))]
    if with_image:
        uploads.append(inputs.Upload("图1.png", io.BytesIO(_png())))
    data = {"entry": "YL-01", "publisher": PUBLISHER, "title": title, "doc_number": DOC_NUMBER,
            "body": body if body is not None else _long_body(with_image), "body_format": "html",
            "formed_on": "2026-11-02", "submitted_by": web.users["clerk"]}
    if wechat_title:
        data["channel_options"] = {"wechat": {"title": wechat_title}}
    res = submission.submit(data, uploads)
    return res.document_id


def _attachment_ids(document_id: int) -> dict[str, int]:
    from orchestrator.db import session_scope
    from orchestrator.models import Document

    with session_scope() as s:
        doc = s.get(Document, document_id)
        return {a.filename: a.id for a in doc.versions[-1].attachments}


def _preview(client, document_id: int, channel: str):
    r = client.get(f"/documents/{document_id}/review/preview/{channel}")
    assert r.status_code == 200, r.text[:500]
    csp = r.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "sandbox" in csp and "frame-ancestors 'self'" in csp
    assert "script-src" not in csp and "allow-scripts" not in csp  # default-src 'none' covers scripts
    assert r.headers["content-type"].startswith("text/html")
    return r.text


def test_each_channel_preview_is_the_channels_own_rendering(web):
    doc_id = submit(web)
    ids = _attachment_ids(doc_id)
    pdf_url, img_url = f"/documents/{doc_id}/attachments/{ids['评查表.pdf']}", f"/documents/{doc_id}/attachments/{ids['图1.png']}"
    reviewer = web.client("reviewer")

    page = reviewer.get(f"/documents/{doc_id}/review").text
    for code in CHANNELS:
        assert f'src="/documents/{doc_id}/review/preview/{code}"' in page, code
    assert page.count('sandbox="allow-same-origin allow-downloads"') == len(CHANNELS)
    assert "微信公众号图文预览（读者看到的样子）" in page and "电子屏幻灯片预览" in page and "政府网站页面预览" in page

    # The site: the column's article page, 公文 layout (title centred, 文号 line, 落款 and date marked), its own CSS
    # inlined, attachments linked to the app's download URLs, the body image from the app.
    site = _preview(reviewer, doc_id, "website")
    tree = lxml.html.fromstring(site)
    assert tree.xpath("string(//h1[@class='doc-title'])") == TITLE
    assert tree.xpath("string(//p[@class='doc-number-line'])") == DOC_NUMBER
    assert tree.xpath("string(//p[contains(@class,'gw-signature')])") == PUBLISHER
    assert tree.xpath("string(//p[contains(@class,'gw-date')])") == "2026年11月2日"
    assert tree.xpath("//td[@class='index-no']") and "信息分类" in site
    assert tree.xpath(f"//li[@class='attachment']/a[@href='{pdf_url}']")
    assert tree.xpath(f"//div[@class='doc-body']//img[@src='{img_url}']")
    assert "<style>" in site and ".gongwen" in site and 'rel="stylesheet"' not in site

    # The gazette: its document page in the issue it would go into.
    gazette = _preview(reviewer, doc_id, "gazette")
    gtree = lxml.html.fromstring(gazette)
    assert "总第1期" in gtree.xpath("string(//p[contains(@class,'issue-label')])")
    assert gtree.xpath("string(//article[contains(@class,'gazette-doc')]//h1)") == TITLE
    assert gtree.xpath(f"//a[@href='{pdf_url}']") and gtree.xpath(f"//img[@src='{img_url}']")

    # WeChat: the inline-styled article of the template (info box, centred 文号 and title), the limits.
    wechat = _preview(reviewer, doc_id, "wechat")
    assert "border-left:4px solid #b22222" in wechat  # the template's information box
    assert "text-align:center;font-size:19px;font-weight:bold" in wechat and TITLE in wechat
    assert "text-indent:2em" in wechat  # ARTICLE_STYLES on the body's paragraphs
    assert f"（{len(TITLE)}/32 字）" in wechat and "class=" not in wechat.split('id="js_content">')[1]
    assert f'src="{img_url}"' in wechat and "max-width:100%" in wechat  # rewrite_images' style

    # Screens: every slide, numbered, drawn with the screens' templates, the long body over several screens.
    slides = _preview(reviewer, doc_id, "bulletin_board")
    numbers = re.findall(r"第 (\d+) / (\d+) 屏", slides)
    total = int(numbers[0][1])
    assert total >= 2 and [int(n) for n, _ in numbers] == list(range(1, total + 1))
    assert slides.count('class="slide landscape') == total and f"第 {total}/{total} 页" in slides
    assert "--u:" in slides and SCREEN_NAME in slides and "测试预览局 政务公开栏" in slides
    assert "各科室、各执法大队" in slides and "2026年11月2日" in slides

    # Push: the e-mail's subject and inline-styled body, addressed like the first member.
    push = _preview(reviewer, doc_id, "targeted_push")
    ptree = lxml.html.fromstring(push)
    assert ptree.xpath("string(//td[@id='mail-subject'])") == f"【政务公开】{PUBLISHER}：{TITLE}"
    assert f"{MEMBER_NAME}：" in push and "将推送给：企业（1 人）" in push
    assert "border-top:4px solid #b3121b" in push and f'src="{img_url}"' in push and "cid:" not in push

    # The reading room: the manual task and the printable packet.
    room = _preview(reviewer, doc_id, "reading_room")
    assert "人工任务" in room and "完成后在系统中确认" in room and "公开材料（可打印）" in room
    assert "PREVIEW01" in room and DOC_NUMBER in room and f'href="{pdf_url}"' in room

    # The images and links the previews point at load for the reviewer.
    assert reviewer.get(img_url).headers["content-type"] == "image/png"


def test_previews_equal_what_the_adapters_write_and_send(web, tmp_path):
    """The site page and the WeChat article of the preview are the bytes the adapters produce for the same payload;
    the screens' slides are the live feed's slides; the push subject and text are what a subscriber gets."""
    from channels import registry
    from channels.base import Action, DeliveryContext
    from channels.push.config import load_subscribers, member_routes
    from channels.screens.board import utcnow
    from orchestrator.db import session_scope
    from orchestrator.models import Document
    from orchestrator.web import review_chain

    doc_id = submit(web, with_image=False)
    reviewer = web.client("reviewer")
    reg = registry.current()
    with session_scope() as s:
        doc = review_chain._doc(s, doc_id, _principal(s, web.users["reviewer"]))
        version = doc.versions[-1]
        payloads = {c: review_chain.preview_payload(doc, version, c) for c in CHANNELS}
        previews = {c: review_chain.channel_preview(doc, version, c) for c in CHANNELS}
        assert isinstance(doc, Document)

    def ctx(code: str) -> DeliveryContext:
        return DeliveryContext(delivery_id=1, idempotency_key=f"k-{code}", channel=code,
                               destination=reg.destinations(code)[0].name, action=Action.publish,
                               document=payloads[code])

    def adapter(code: str):
        return reg.adapter_for(reg.destinations(code)[0])

    # Site: publish writes art/<id>.html; its 公文 part is the preview's, byte for byte.
    adapter("website").publish(ctx("website"))
    written = (tmp_path / "site" / "art" / f"{doc_id}.html").read_text(encoding="utf-8")
    served = _preview(reviewer, doc_id, "website")

    def gongwen(html: str) -> bytes:
        (node,) = lxml.html.fromstring(html).xpath("//div[@class='gongwen']")
        return lxml.html.tostring(node, encoding="utf-8")

    assert gongwen(written) == gongwen(served) == gongwen(previews["website"].html)
    assert previews["website"].content in written

    # WeChat (manual mode): the article the task carries for pasting is the preview's article.
    receipt = adapter("wechat").publish(ctx("wechat"))
    assert receipt.needs_person and receipt.data["article_html"] == previews["wechat"].content
    assert previews["wechat"].content in _preview(reviewer, doc_id, "wechat")

    # Gazette: the document page it writes has the preview's body.
    adapter("gazette").publish(ctx("gazette"))
    gz = (tmp_path / "gazette" / "docs" / f"{doc_id}.html").read_text(encoding="utf-8")
    assert previews["gazette"].content in gz
    body = lambda h: lxml.html.tostring(lxml.html.fromstring(h).xpath("//div[@class='doc-body']")[0])  # noqa: E731
    assert body(gz) == body(previews["gazette"].html)

    # Screens: place the notice; the live page's feed has the same slides as the preview.
    screens = adapter("bulletin_board")
    screen = screens.screens.screen("yl-lobby")
    screens.service.place(payloads["bulletin_board"], [screen], delivery_key="k-screens", now=utcnow())
    feed = screens.service.feed(screen)
    mine = [e for e in feed["notices"] if e["document"] == doc_id]
    assert len(mine) >= 2 and mine[-1]["pages"] == len(mine)
    for entry in mine:
        assert entry["html"] in previews["bulletin_board"].html

    # Push: what the adapter renders for the member's e-mail route.
    push = adapter("targeted_push")
    pub = load_subscribers(push._subscribers_path()).for_publisher(PUBLISHER)
    route = member_routes(pub, pub.groups[0], pub.groups[0].members[0])[0]
    sent = push._render(ctx("targeted_push"), pub, route)
    served_push = _preview(reviewer, doc_id, "targeted_push")
    assert f">{sent.subject}<" in served_push
    assert lxml.html.fromstring(served_push).xpath("string(//td[@id='mail-subject'])") == sent.subject
    strip = lambda h: re.sub(r"/push/unsubscribe/[^\"<\s]+", "", h)  # noqa: E731 (the token differs per member)
    assert strip(sent.html) == strip(previews["targeted_push"].content)


HOSTILE_TITLE = '<script>alert(1)</script><img src=x onerror=alert(2)>'
HOSTILE_BODY = ('<p onclick="alert(3)">正文<script>alert(4)</script></p>'
                '<p><a href="javascript:alert(5)">点击</a><img src="x" onerror="alert(6)"></p>'
                '<p style="background:url(javascript:alert(7))">样式</p><iframe src="https://evil.example"></iframe>'
                '<svg onload="alert(8)"></svg><p>2026年11月2日</p>')


def test_hostile_title_and_body_do_not_reach_any_preview_as_markup(web):
    doc_id = submit(web, title=HOSTILE_TITLE, body=HOSTILE_BODY, with_image=False, wechat_title="短标题")
    reviewer = web.client("reviewer")
    for code in CHANNELS:
        html = _preview(reviewer, doc_id, code)
        low = html.lower()
        assert "<script" not in low, code
        assert "javascript:" not in low, code
        assert not re.search(r"<[^>]*\son[a-z]+\s*=", low), code
        assert "<iframe" not in low and "evil.example" not in low, code
        assert "&lt;script&gt;" in html, code  # the title is shown as text
    page = reviewer.get(f"/documents/{doc_id}/review").text
    assert "<script>alert" not in page


def test_who_may_see_a_preview_and_unknown_channels(web):
    doc_id = submit(web, with_image=False)
    outsider = web.client("outsider")
    r = outsider.get(f"/documents/{doc_id}/review/preview/wechat")
    assert r.status_code == 404 and "不属于您所在科室" in r.text
    assert outsider.get(f"/documents/{doc_id}/review").status_code == 404
    reviewer = web.client("reviewer")
    for code in ("nonexistent", "press", "%3Cscript%3E"):
        r = reviewer.get(f"/documents/{doc_id}/review/preview/{code}")
        assert r.status_code == 404 and "没有该渠道的预览" in r.text, code
        assert "<script>" not in r.text
    assert reviewer.get(f"/documents/{doc_id + 100000}/review/preview/wechat").status_code == 404
    anonymous = web.client()
    r = anonymous.get(f"/documents/{doc_id}/review/preview/wechat", follow_redirects=False)
    assert r.status_code in (302, 303, 401) and "js_content" not in r.text


def test_unconfigured_channel_previews_as_its_manual_task(web, monkeypatch, tmp_path):
    """A channel with no destination becomes a manual task when approved: its preview is that task's packet."""
    path = Path(os.environ["ORCH_CHANNELS_FILE"])
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    raw["channels"]["reading_room"] = {"destinations": []}
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    doc_id = submit(web, with_image=False)
    room = _preview(web.client("reviewer"), doc_id, "reading_room")
    assert "人工任务（" in room and "公开材料（可打印）" in room and TITLE in room


def _principal(session, username: str):
    from sqlalchemy import select

    from orchestrator.auth import Principal, Role
    from orchestrator.models import User

    u = session.scalar(select(User).where(User.username == username))
    return Principal(u.id, u.username, u.display_name, Role(u.role), u.office)


def test_screens_preview_when_no_screen_shows_the_entry(web, tmp_path):
    """The delivery would fail as not configured: the preview says so and still draws the slides on the first screen."""
    path = tmp_path / "screens.yaml"
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    raw["screens"][0]["entries"] = ["其他事项"]
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    doc_id = submit(web, with_image=False)
    html = _preview(web.client("reviewer"), doc_id, "bulletin_board")
    notes = lxml.html.fromstring(html).xpath("string(//div[@id='preview-notes'])")
    assert "尚未安排在任何电子屏或公示栏展示" in notes and "以下按第一块屏幕的尺寸示意" in notes
    assert "第 1 / " in html and 'class="slide landscape' in html
