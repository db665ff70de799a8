"""One rich Word document out on WeChat, the screens and push e-mail, through the whole product.

A clerk imports the generated 红头 notice (.docx: 文号, two-level numbering, a table with merged cells, an image, 落款
and date) on 登记文件 in Debian's Chromium and submits it; real Celery workers deliver it to the local WeChat API
stand-in, the screens and an SMTP server plus a webhook. Each channel's output is then checked: the table's cells and
merges, the image (uploaded and referenced / loadable / attached by cid), the 落款 and the date on separate lines,
numbered items separate, the e-mail's plain-text structure. Screenshots go to /tmp/shots/outchan/.
"""

from __future__ import annotations

import base64
import email
import email.policy
import re
import uuid
from pathlib import Path

import httpx
import pytest

from tests.docin_support import notice_docx, png_bytes
from tests.fanout_harness import FanoutStack
from tests.push_support import SmtpServer, WebhookReceiver
from tests.screens_support import SCREENS, write_screens_file
from tests.web_support import PASSWORD, chromium, make_web_user, serve_app
from tests.wechat_server import WeChatServer

pytestmark = [pytest.mark.slow, pytest.mark.browser]

SHOTS = Path("/tmp/shots/outchan")
PUBLISHER = "测试旗司法局"
ENTRY = "通知公告/法治宣传"
CATALOG = f"""
publisher: {PUBLISHER}
index_prefix: "11150000TEST0077X"
entries:
  - code: "OC-01"
    path: [通知公告, 法治宣传]
    content: 法治宣传活动通知
    time_limit: {{text: 即时公开, kind: immediate}}
    publisher: {PUBLISHER}
    channels: [wechat, bulletin_board, targeted_push]
    offices: [办公室]
"""
DONE = ("delivered", "verified")
TITLE = "关于开展2026年法治宣传月活动的通知"
IMAGE_SIZE = (120, 80)


def subscribers(path: Path, smtp: SmtpServer, hooks: WebhookReceiver) -> Path:
    path.write_text(f"""
publishers:
  - publisher: {PUBLISHER}
    mail_server: {smtp.mail_server_url()}
    groups:
      - name: 企业
        members:
          - id: ent-1
            name: 根河林业发展有限公司
            email: fawu@forestry.example.cn
          - id: grid
            name: 社区网格平台
            routes: [json://127.0.0.1:{hooks.port}/grid]
    pushes:
      - entries: [{ENTRY}]
        groups: [企业]
""", encoding="utf-8")
    return path


def screens_file(path: Path) -> Path:
    data = {**SCREENS, "screens": [{**SCREENS["screens"][0], "publishers": [], "entries": [ENTRY]}]}
    return write_screens_file(path, data)


def rows_of(rows: list[dict], channel: str) -> list[dict]:
    return [r for r in rows if r["channel"] == channel and r["action"] == "publish"]


def settled(rows: list[dict]) -> bool:
    return all(any(r["status"] in (*DONE, "failed") for r in rows_of(rows, c))
               for c in ("wechat", "bulletin_board", "targeted_push"))


def paragraphs(html: str) -> list[str]:
    """The text of each <p>, tags removed (a line of the rendered document)."""
    return [re.sub(r"<[^>]+>", "", p).strip() for p in re.findall(r"<p\b[^>]*>(.*?)</p>", html, re.S)]


@pytest.mark.timeout(600)
def test_rich_word_notice_on_wechat_screens_and_email(orch_env, redis_server, tmp_path, smtp, hooks):
    from orchestrator.app import create_app

    SHOTS.mkdir(parents=True, exist_ok=True)
    wechat = WeChatServer()
    wechat.state.appid = f"wx{uuid.uuid4().hex[:16]}"
    wechat.start()
    catalog = tmp_path / "oc-catalog.yaml"
    catalog.write_text(CATALOG, encoding="utf-8")
    screens_dest = {"name": "screens", "adapter": "screens", "screens_file": str(screens_file(tmp_path / "screens.yaml")),
                    "bundle_dir": str(tmp_path / "bundles"), "renderer": "chromium"}
    channels = {
        "wechat": [{"name": "公众号", "adapter": "wechat", "appid": wechat.state.appid, "secret": wechat.state.secret,
                    "api_base": wechat.api_base, "timeout": 20}],
        "bulletin_board": [screens_dest],
        "targeted_push": [{"name": "subscribers", "adapter": "push",
                           "subscribers_file": str(subscribers(tmp_path / "subscribers.yaml", smtp, hooks)),
                           "timeout_seconds": 5, "run_budget_seconds": 8, "unsubscribe_secret": "oc",
                           "public_url": "http://127.0.0.1:8000"}],
    }
    docx_path = tmp_path / "关于开展法治宣传月活动的通知.docx"
    docx_path.write_bytes(notice_docx(png_bytes((20, 90, 160), IMAGE_SIZE)))

    try:
        # Rendering the slides with Chromium takes longer than the harness' 10 s task limit on a busy machine.
        limits = {"ORCH_TASK_TIME_LIMIT_SECONDS": "120", "ORCH_LEASE_SECONDS": "150"}
        with FanoutStack(orch_env, tmp_path, channels=channels, catalogs=[catalog], redis=redis_server,
                         settings=limits) as stack:
            clerk = make_web_user("clerk", "办公室")
            with (serve_app(create_app()) as base,
                  chromium(["--no-sandbox", "--disable-gpu", "--disable-background-networking"]) as browser):
                document_id = submit_in_browser(browser, base, clerk, docx_path)
                rows = stack.wait_until(document_id, settled, timeout=180, what="wechat, screens and push delivered")
                for channel in ("wechat", "bulletin_board", "targeted_push"):
                    [row] = rows_of(rows, channel)
                    assert row["status"] in DONE, (channel, row["last_error"], stack.logs_tail())
                check_wechat(browser, wechat)
                check_screens(browser, base)
                check_email(browser, smtp, hooks)
    finally:
        wechat.stop()


def submit_in_browser(browser, base: str, clerk: str, path: Path) -> int:
    page = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN", base_url=base).new_page()
    page.set_default_timeout(30_000)
    page.goto("/login")
    page.fill("#username", clerk)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
    page.goto("/submit")
    page.fill("#entry-search", "法治宣传")
    page.locator(".tree .ent", has_text="法治宣传").first.click()
    page.set_input_files("#import-file", str(path))
    page.wait_for_function("() => document.querySelector('#title').value !== ''")
    assert page.input_value("#title") == TITLE
    page.wait_for_selector("#rich-editor td[rowspan='2']")
    # The prefilled summary is the start of the text, at most 120 characters: WeChat (digest ≤ 128) takes it as it is.
    page.locator("details", has=page.locator("#summary")).locator("summary").first.click()  # 更多信息
    prefilled = page.input_value("#summary")
    assert 0 < len(prefilled) <= 120
    page.click("#submit-btn")
    page.wait_for_url("**/documents/*")
    document_id = int(re.search(r"/documents/(\d+)", page.url).group(1))
    page.context.close()
    return document_id


# --- WeChat ---------------------------------------------------------------------------------------------------------


def check_wechat(browser, wechat: WeChatServer) -> None:
    [draft] = wechat.state.drafts.values()
    assert draft["stripped"] == {"scripts": 0, "images": 0}  # nothing the platform would remove
    [article] = draft["articles"]
    content = article["content"]
    # The body image went through media/uploadimg and its mmbiz URL is in the content.
    [url] = [u for u in wechat.state.images if u in content]
    assert url.startswith("http://mmbiz.qpic.cn/")
    # Inline styles only: nothing the editor strips.
    assert "<style" not in content and "<script" not in content and " class=" not in content and " id=" not in content
    assert len(content) < 20_000
    # The table, with its merges, bordered inside a sideways-scrolling section.
    assert re.search(r'<section style="[^"]*overflow-x:auto[^"]*"><table', content)
    assert re.search(r'<td rowspan="2" style="[^"]*border:1px solid[^"]*"><p[^>]*>城区司法所</p></td>', content)
    assert re.search(r'<td colspan="2" style="[^"]*"><p[^>]*>待定</p></td>', content)
    lines = paragraphs(content)
    # Numbered items separate, with their 公文 numbers; 落款 and date each its own right-aligned line.
    for item in ("一、活动时间", "（一）2026年3月1日至31日。", "（二）每周三为集中宣传日。", "二、活动内容"):
        assert item in lines, (item, lines)
    assert lines.index("根河市司法局") + 1 == lines.index("2026年3月2日")
    assert re.search(r'<p style="[^"]*text-align:right;[^"]*">根河市司法局</p>', content)
    assert re.search(r'<p style="[^"]*text-align:right;[^"]*">2026年3月2日</p>', content)
    assert "text-align:center" in content.split(TITLE)[0].rsplit("<p", 1)[1]  # the title centred

    # As a reader sees it on a phone (375 px), the image served from "WeChat's" host.
    page = browser.new_page(viewport={"width": 375, "height": 800}, device_scale_factor=2)
    try:
        def serve(route):
            data = wechat.state.images.get(route.request.url)
            if data is None:
                route.fulfill(status=404, body=b"")
            else:
                route.fulfill(status=200, body=data, content_type="image/png")

        page.route("http://mmbiz.qpic.cn/**", serve)
        page.set_content('<!doctype html><html><head><meta charset="utf-8"><meta name="viewport" '
                         'content="width=device-width,initial-scale=1"></head><body style="margin:0;padding:16px;'
                         'font-family:\'Noto Sans CJK SC\',sans-serif">' + content + "</body></html>")
        page.wait_for_function("() => [...document.images].every(i => i.complete && i.naturalWidth > 0)")
        # The page itself never scrolls sideways: only the table's own section may.
        assert page.evaluate("() => document.documentElement.scrollWidth") <= 375
        box = page.locator("table").bounding_box()
        assert box and box["width"] <= 375
        right = page.evaluate("""() => [...document.querySelectorAll('p')].filter(p => /根河市司法局|2026年3月2日/
            .test(p.textContent)).map(p => getComputedStyle(p).textAlign)""")
        assert right == ["right", "right"]
        page.screenshot(path=str(SHOTS / "wechat-375.png"), full_page=True)
    finally:
        page.close()


# --- screens --------------------------------------------------------------------------------------------------------


def check_screens(browser, base: str) -> None:
    feed = httpx.get(f"{base}/screens/lobby/feed.json", timeout=30).json()
    slides = [n for n in feed["notices"] if n["title"] == TITLE]
    assert slides and [s["page"] for s in slides] == list(range(1, len(slides) + 1))
    html = "".join(s["html"] for s in slides)
    # A table, not one line per cell: the merges are kept.
    assert re.search(r'<td rowspan="2">城区司法所</td>', html) and re.search(r'<td colspan="2">待定</td>', html)
    assert "<th>单位</th><th>时间</th><th>地点</th>" in html
    # The image is served by the screens' own route.
    [src] = set(re.findall(r'<img src="([^"]+)"', html))
    r = httpx.get(src, timeout=30)
    assert r.status_code == 200 and r.headers["content-type"] == "image/png" and r.content.startswith(b"\x89PNG")
    assert httpx.get(src.replace(src.rsplit("/", 1)[1], "0" * 64 + ".png"), timeout=30).status_code == 404
    # Each slide stays up at least the screen's time and long enough for its text.
    for s in slides:
        text = re.sub(r"<[^>]+>", "", s["html"])
        assert s["duration"] >= 5 and s["duration"] >= len(re.sub(r"\s", "", text)) / 8, s

    page = browser.new_page(viewport={"width": 1920, "height": 1080})
    try:
        page.goto(f"{base}/screens/lobby")
        page.wait_for_selector(".slide[data-page='1']")
        for s in slides:
            # The kiosk script shows each slide by putting its HTML into #slot; page 1 is up for half a minute, so
            # the later pages are put there the same way to look at them now.
            page.evaluate("(html) => { document.getElementById('slot').innerHTML = html; }", s["html"])
            page.wait_for_selector(f".slide[data-page='{s['page']}']")
            page.wait_for_function("() => [...document.querySelectorAll('.slide img')].every(i => i.complete)")
            # Nothing cut off or faded: the body fits its box, at the readable size.
            fit = page.evaluate("""() => { const b = document.querySelector('.slide .body');
                return {over: b.scrollHeight - b.clientHeight, font: parseFloat(getComputedStyle(b).fontSize),
                        mask: getComputedStyle(b).webkitMaskImage || 'none'}; }""")
            assert fit["over"] <= 1 and fit["font"] >= 30 and fit["mask"] == "none", fit
            page.screenshot(path=str(SHOTS / f"screens-lobby-{s['page']}.png"))
            if page.locator(".slide img").count():
                assert page.evaluate("() => document.querySelector('.slide img').naturalWidth") == IMAGE_SIZE[0]
            texts = page.evaluate("() => [...document.querySelectorAll('.slide .body p')].map(p => p.textContent)")
            if "根河市司法局" in texts:
                assert texts.index("2026年3月2日") == texts.index("根河市司法局") + 1
    finally:
        page.close()
    lines = [re.sub(r"<[^>]+>", "", p) for p in re.findall(r"<p\b[^>]*>.*?</p>", html, re.S)]
    for item in ("一、活动时间", "（一）2026年3月1日至31日。", "（二）每周三为集中宣传日。", "二、活动内容"):
        assert item in lines, (item, lines)


# --- e-mail and webhook ---------------------------------------------------------------------------------------------


def check_email(browser, smtp: SmtpServer, hooks: WebhookReceiver) -> None:
    [mail] = smtp.handler.to("fawu@forestry.example.cn")
    msg = email.message_from_bytes(mail.message.as_bytes(), policy=email.policy.default)
    html = msg.get_body(("html",)).get_content()
    text = msg.get_body(("plain",)).get_content().replace("\r\n", "\n")
    # The image travels with the mail, referenced by cid:.
    [cid] = re.findall(r'<img src="cid:([^"]+)"', html)
    [image] = [p for p in msg.walk() if p.get("Content-ID") == f"<{cid}>"]
    assert image.get_content_type() == "image/png" and image.get_content().startswith(b"\x89PNG")
    assert re.search(r'<td rowspan="2" style="[^"]*border:1px solid', html) and 'colspan="2"' in html
    # The plain-text alternative keeps the structure.
    lines = text.splitlines()
    for item in ("一、活动时间", "\u3000\u3000（一）2026年3月1日至31日。", "二、活动内容", "单位：城区司法所；时间：3月5日；地点：中央街",
                 "单位：城区司法所；时间/地点：待定", "附件：1. 活动安排表", "2. 联系人名单"):
        assert item in lines, (item, lines)
    assert lines[lines.index("根河市司法局") + 1] == "2026年3月2日"
    assert "<" not in text
    # The webhook payload carries both.
    [hook] = hooks.at("/grid")
    doc = hook.json()["document"]
    assert "一、活动时间" in doc["body_text"] and 'rowspan="2"' in doc["body_html"]

    page = browser.new_page(viewport={"width": 800, "height": 900})
    try:
        shown = html.replace(f"cid:{cid}", "data:image/png;base64," + base64.b64encode(image.get_content()).decode())
        page.set_content(shown)
        page.wait_for_function("() => [...document.images].every(i => i.complete && i.naturalWidth > 0)")
        page.screenshot(path=str(SHOTS / "email-html.png"), full_page=True)
        (SHOTS / "email-text.txt").write_text(text, encoding="utf-8")
    finally:
        page.close()
