"""The live screen page in headless Debian Chromium: notices appear, leave without a reload, survive a server outage."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from PIL import Image

from channels.base import Action
from channels.screens.render import CHROMIUM_FLAGS
from channels.screens.web import make_router
from tests.screens_support import (  # noqa: F401  (clean_screens is a fixture)
    ARTIFACTS,
    ThreadedServer,
    clean_screens,
    context,
    make_channel,
    payload,
)
from tests.web_support import chromium

pytestmark = pytest.mark.browser


@pytest.fixture
def browser() -> Iterator:
    with chromium(CHROMIUM_FLAGS) as b:
        yield b


def serve(channel) -> ThreadedServer:
    app = FastAPI()
    app.include_router(make_router(lambda: channel.service))
    return ThreadedServer(app).start()


@pytest.mark.usefixtures("clean_screens")
def test_notice_appears_then_leaves_after_withdrawal_without_reload(tmp_path: Path, browser):
    ch = make_channel(tmp_path, renderer="pillow")
    server = serve(ch)
    try:
        page = browser.new_page(viewport={"width": 1920, "height": 1080})
        page.goto(f"{server.url}/screens/lobby")
        page.wait_for_selector("text=暂无公示信息")
        page.evaluate("window.__sameDocument = 'yes'")  # gone if the page reloads

        doc = payload(title="根河市司法局2026年第6次局务会议纪要", doc_number="根司会〔2026〕6号")
        ch.run(context(doc))
        page.wait_for_selector(f"text={doc.title}", timeout=15_000)
        assert page.locator(".slide .meta").inner_text().count("根司会〔2026〕6号") == 1
        assert page.locator(".qr svg").count() == 1
        ARTIFACTS.mkdir(exist_ok=True)
        shot = ARTIFACTS / "screens-live-lobby.png"
        page.screenshot(path=str(shot))
        with Image.open(shot) as im:
            assert im.size == (1920, 1080)

        second = payload(title="关于开展2026年度法治宣传“七进”活动的会议纪要")
        ch.run(context(second))
        page.wait_for_function("() => document.querySelector('#counter').textContent.endsWith('/ 2')", timeout=15_000)

        ch.run(context(doc, Action.withdraw))
        page.wait_for_selector(f"text={doc.title}", state="detached", timeout=15_000)
        page.wait_for_function("() => document.querySelector('#counter').textContent === '1 / 1'", timeout=15_000)
        assert page.evaluate("window.__sameDocument") == "yes"
        assert page.locator(f"text={second.title}").count() == 1
    finally:
        server.stop()


@pytest.mark.usefixtures("clean_screens")
def test_page_keeps_showing_when_server_is_unreachable(tmp_path: Path, browser):
    ch = make_channel(tmp_path, renderer="pillow")
    doc = payload(title="关于调整公共法律服务中心窗口办公时间的通知")
    ch.run(context(doc))
    server = serve(ch)
    page = browser.new_page(viewport={"width": 1080, "height": 1920})
    try:
        page.goto(f"{server.url}/screens/hall")
        page.wait_for_selector(f"text={doc.title}")
    finally:
        server.stop()
    # Two poll periods (2 s each) with the server gone: the notice stays, the page says it is offline.
    page.wait_for_function("() => document.body.classList.contains('offline')", timeout=15_000)
    page.wait_for_timeout(2500)
    assert page.locator(f"text={doc.title}").count() == 1
    assert page.locator("#offline").is_visible()
    page.screenshot(path=str(ARTIFACTS / "screens-live-hall-offline.png"))


@pytest.mark.usefixtures("clean_screens")
def test_feed_and_page_for_unknown_screen(tmp_path: Path):
    import httpx

    ch = make_channel(tmp_path, renderer="pillow")
    server = serve(ch)
    try:
        r = httpx.get(f"{server.url}/screens/nowhere")
        assert r.status_code == 404 and "屏幕“nowhere”不存在" in r.text and "lobby" in r.text
        r = httpx.get(f"{server.url}/screens/nowhere/feed.json")
        assert r.status_code == 404 and "config/screens.yaml" in r.json()["error"]
        doc = payload()
        ch.run(context(doc))
        feed = httpx.get(f"{server.url}/screens/community/feed.json").json()
        assert [n["document"] for n in feed["notices"]] == [doc.document_id]
        r = httpx.get(f"{server.url}/screens/community/bundle.zip")
        assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
        import io
        import zipfile

        with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
            manifest = json.loads(zf.read("manifest.json"))
            assert [s["document"] for s in manifest["slides"]] == [doc.document_id]
        index = httpx.get(f"{server.url}/screens")
        assert index.status_code == 200 and "社区公示栏" in index.text
    finally:
        server.stop()
