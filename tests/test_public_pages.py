"""Public pages (site, gazette, screens, unsubscribe): strict CSP everywhere, and data inlined into pages stays data.

The hostile-title test goes through the real stack: submit → Celery worker → screens adapter → the app's own screen
page in headless Chromium, which must show every notice with the hostile title as plain text and no CSP violation.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from channels.screens.render import CHROMIUM_FLAGS
from orchestrator.public_headers import PUBLIC_CSP, inline_json
from tests.fanout_harness import FanoutStack
from tests.screens_support import (  # noqa: F401  (clean_screens is a fixture)
    ARTIFACTS,
    SCREENS,
    ThreadedServer,
    clean_screens,
    write_screens_file,
)
from tests.web_support import chromium

HOSTILE = "关于<!--<script>alert(1)</script>&amp;'\"的通知"
PLAIN = "关于调整公共法律服务中心窗口办公时间的通知"
DONE = ("delivered", "verified")


def test_inline_json_is_html_safe():
    text = inline_json({"title": HOSTILE, "x": "</script><!--"})
    assert not re.search(r"[<>&']", str(text)), text
    assert "\\u003c!--\\u003cscript\\u003e" in text
    assert json.loads(str(text)) == {"title": HOSTILE, "x": "</script><!--"}


def test_every_public_page_sends_the_csp(orch_env, redis_server, tmp_path, monkeypatch):
    from fastapi.testclient import TestClient

    from tests.api_helpers import configure

    configure(monkeypatch, tmp_path, redis_server.url, {})
    from orchestrator.app import create_app

    c = TestClient(create_app(), raise_server_exceptions=False)
    for path in ("/site/", "/site/index.html", "/site/api/search?q=x", "/gazette/", "/gazette/feed.xml", "/screens",
                 "/screens/lobby", "/screens/_static/screen.js", "/push/unsubscribe/not-a-token"):
        r = c.get(path)
        assert r.headers.get("content-security-policy") == PUBLIC_CSP, (path, r.status_code, dict(r.headers))
        assert r.headers.get("x-content-type-options") == "nosniff", path
    r = c.post("/push/unsubscribe/not-a-token")
    assert r.status_code == 400 and r.headers["content-security-policy"] == PUBLIC_CSP
    assert "script-src 'self';" in PUBLIC_CSP and "unsafe-eval" not in PUBLIC_CSP
    assert "'unsafe-inline'" not in PUBLIC_CSP.split("script-src", 1)[1].split(";", 1)[0]
    # The staff pages keep their own policy; the API documentation page (CDN assets) is not touched.
    assert "frame-ancestors 'none'" in c.get("/login").headers["content-security-policy"]
    assert "content-security-policy" not in c.get("/docs").headers


@pytest.fixture
def browser() -> Iterator:
    with chromium(CHROMIUM_FLAGS) as b:
        yield b


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.usefixtures("clean_screens")
def test_hostile_title_is_text_on_the_live_screen(orch_env, redis_server, tmp_path, browser):
    data = json.loads(json.dumps(SCREENS))
    data["screens"] = [s for s in data["screens"] if s["id"] == "lobby"]
    dest = {"screens_file": str(write_screens_file(tmp_path / "screens.yaml", data)),
            "bundle_dir": str(tmp_path / "bundles"), "renderer": "pillow"}
    channels = {"bulletin_board": [{"name": "screens", "adapter": "screens", **dest}]}
    with FanoutStack(orch_env, tmp_path, channels=channels, redis=redis_server) as stack:
        ids = [stack.submit(entry="部门会议", title=t, body="<p>会议研究决定的事项。</p>").document_id
               for t in (PLAIN, HOSTILE)]
        for doc_id in ids:
            rows = stack.wait_until(doc_id, lambda ds: any(r["channel"] == "bulletin_board" and r["status"] in (*DONE, "failed")
                                                           for r in ds), timeout=90, what="bulletin_board publish")
            board = [r for r in rows if r["channel"] == "bulletin_board"]
            assert board and board[0]["status"] in DONE, board

        from orchestrator.app import create_app

        server = ThreadedServer(create_app()).start()
        try:
            r = httpx.get(f"{server.url}/screens/lobby")
            assert r.status_code == 200 and r.headers["content-security-policy"] == PUBLIC_CSP
            assert "<!--<script>" not in r.text and "<script>alert" not in r.text
            assert not re.search(r"<script>(?!</script>)", r.text)  # no inline script element at all

            page = browser.new_page(viewport={"width": 1920, "height": 1080})
            problems: list[str] = []
            page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
            page.on("console", lambda m: problems.append(f"{m.text} {m.location.get('url')}")
                    if m.type == "error" and not m.location.get("url", "").endswith("/favicon.ico") else None)
            page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
            page.goto(f"{server.url}/screens/lobby")
            # Both notices are in rotation: the page did not stop at the hostile one.
            page.wait_for_function("() => document.querySelector('#counter').textContent.endsWith('/ 2')", timeout=20_000)
            # The slides rotate every 5 s: each title shows up, the hostile one as literal text in the title element.
            for title in (PLAIN, HOSTILE):
                page.wait_for_function("(t) => { const e = document.querySelector('.slide .title');"
                                       " return !!e && e.textContent === t; }", arg=title, timeout=30_000)
            assert page.locator(".slide .title script").count() == 0
            assert page.evaluate("() => document.querySelectorAll('script').length") == 2  # the feed and screen.js
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "screens-hostile-title.png"))
            assert problems == [], problems
        finally:
            server.stop()


def test_screen_script_is_a_file(tmp_path: Path):
    """The kiosk loop lives in a static file (the CSP admits no inline script), with no template syntax left."""
    from orchestrator.settings import get_settings

    js = (get_settings().templates_dir / "screens" / "static" / "screen.js").read_text(encoding="utf-8")
    assert "{{" not in js and "stage.dataset.feedUrl" in js
    page = (get_settings().templates_dir / "screens" / "screen.html").read_text(encoding="utf-8")
    assert "<script>" not in page


@pytest.mark.browser
def test_site_search_and_unsubscribe_work_under_the_csp(orch_env, redis_server, tmp_path, monkeypatch, browser):
    """The column's search script and the unsubscribe page run in Chromium with the policy on, with no violation."""
    from channels.site import SiteChannel
    from tests.api_helpers import configure
    from tests.static_channel_helpers import context as site_context
    from tests.static_channel_helpers import payload as site_payload

    site_cfg = {"name": "site", "adapter": "site", "output_dir": str(tmp_path / "site"),
                "public_base_url": "http://127.0.0.1/site/", "org_name": "根河市司法局"}
    configure(monkeypatch, tmp_path, redis_server.url, {"website": [site_cfg]})
    site = SiteChannel({k: v for k, v in site_cfg.items() if k not in ("name", "adapter")}, name="site")
    site.publish(site_context(site_payload(30, title="关于公布权责清单的通知")))
    site.publish(site_context(site_payload(31, title=HOSTILE)))
    from orchestrator.app import create_app

    server = ThreadedServer(create_app()).start()
    try:
        page = browser.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
        page.on("console", lambda m: problems.append(f"{m.text} {m.location.get('url')}")
                if m.type == "error" and not m.location.get("url", "").endswith("/favicon.ico") else None)
        resp = page.goto(f"{server.url}/site/search.html?q=通知")
        assert resp.headers["content-security-policy"] == PUBLIC_CSP
        page.wait_for_selector("#search-results li", timeout=20_000)
        titles = page.locator("#search-results li a").all_inner_texts()
        assert "关于公布权责清单的通知" in titles and HOSTILE in titles, titles
        page.goto(f"{server.url}/site/art/31.html")
        assert page.locator("h1").first.inner_text().strip() == HOSTILE
        resp = page.goto(f"{server.url}/push/unsubscribe/not-a-valid-token")
        assert resp.status == 400 and resp.headers["content-security-policy"] == PUBLIC_CSP
        assert page.locator("h1").inner_text() == "退订链接无效"
        # The invalid link's own 400 is expected; nothing else may complain (a CSP violation is a console error).
        assert [p for p in problems if "/push/unsubscribe/not-a-valid-token" not in p] == [], problems
    finally:
        server.stop()
