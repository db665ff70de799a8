"""The per-channel previews in Chromium: the review page frames each channel's preview in a sandbox, the WeChat
article renders with its inline styles, the site page shows the body image (loaded from the app with the reviewer's
session), the screens' slides are drawn, and the CSP refuses nothing the previews need."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest

from tests.test_review_previews import CHANNELS, TITLE, submit
from tests.test_review_previews import web as web  # noqa: F401  (the fixture)
from tests.web_support import PASSWORD, chromium, serve_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def server(web) -> Iterator[str]:  # noqa: F811
    with serve_app(web.app) as url:
        yield url


def _frame(page, channel: str):
    pattern = re.compile(rf"/review/preview/{channel}$")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        for f in page.frames:
            if pattern.search(f.url):
                return f
        page.wait_for_timeout(200)
    raise AssertionError(f"no frame for {channel}: {[f.url for f in page.frames]}")


def test_review_page_frames_every_channel_preview(web, server):  # noqa: F811
    doc_id = submit(web)
    with chromium() as browser:
        ctx = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN", base_url=server)
        page = ctx.new_page()
        page.set_default_timeout(20_000)
        refused: list[str] = []
        page.on("console", lambda m: refused.append(m.text) if "Refused" in m.text or "Blocked" in m.text else None)
        page.goto("/login")
        page.fill("#username", web.users["reviewer"])
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_load_state("networkidle")

        page.goto(f"/documents/{doc_id}/review")
        frames = page.locator("#channel-previews iframe.channel-frame")
        assert frames.count() == len(CHANNELS)
        assert all(frames.nth(i).get_attribute("sandbox") == "allow-same-origin allow-downloads"
                   for i in range(len(CHANNELS)))
        assert "微信公众号图文预览（读者看到的样子）" in page.text_content("#channel-previews")

        # The website (first panel, open): the 公文 page with its body image loaded from the app.
        site = _frame(page, "website")
        site.wait_for_selector("h1.doc-title")
        assert site.inner_text("h1.doc-title") == TITLE
        img = site.locator(".doc-body img")
        img.wait_for()
        deadline = time.monotonic() + 10
        while not img.evaluate("i => i.complete && i.naturalWidth") and time.monotonic() < deadline:
            page.wait_for_timeout(200)
        assert img.evaluate("i => i.naturalWidth") == 320  # the PNG attachment, through the sandbox, logged in
        assert site.locator("h1.doc-title").evaluate("e => getComputedStyle(e).textAlign") == "center"

        # WeChat: open its panel; the article renders with the template's inline styles.
        page.click('details[data-channel="wechat"] > summary')
        wechat = _frame(page, "wechat")
        wechat.wait_for_selector("#js_content")
        assert TITLE in wechat.inner_text("#js_content")
        first_para = wechat.locator("#js_content > section > p").first  # the 文号 line
        assert first_para.evaluate("e => getComputedStyle(e).textAlign") == "center"
        box = wechat.locator("#js_content > section > section").first
        assert box.evaluate("e => getComputedStyle(e).borderLeftStyle") == "solid"
        assert wechat.locator("#js_content img").evaluate("i => i.naturalWidth") > 0
        panel = page.locator('details[data-channel="wechat"] iframe')
        panel.scroll_into_view_if_needed()
        panel.screenshot(path="/tmp/preview-wechat.png")

        # Screens: every slide drawn at the screen's proportions, numbered.
        page.click('details[data-channel="bulletin_board"] > summary')
        screens = _frame(page, "bulletin_board")
        screens.wait_for_selector(".preview-slide")
        n = screens.locator(".preview-slide").count()
        assert n >= 2 and f"第 {n} / {n} 屏" in screens.inner_text("body")
        width = screens.locator(".preview-slide .slide").first.evaluate("e => e.getBoundingClientRect().width")
        assert 700 <= width <= 721  # 1920 px scaled to fit
        page.locator('details[data-channel="bulletin_board"] iframe').screenshot(path="/tmp/preview-screens.png")

        page.click('details[data-channel="targeted_push"] > summary')
        push = _frame(page, "targeted_push")
        push.wait_for_selector("#mail-subject")
        assert TITLE in push.inner_text("#mail-subject")
        page.screenshot(path="/tmp/preview-review.png", full_page=True)
        assert not refused, refused
