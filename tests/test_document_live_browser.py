"""The document page's poller in Chromium: it reloads the page when the document moves on (new deliveries, a status
change), but never over the user: once they have typed into a form it keeps their input and offers the reload
instead. No Celery worker here: the deliveries stay queued, and the test moves the document itself (a withdrawal)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.api_helpers import PDF, PUBLISHER
from tests.web_support import PASSWORD, WebEnv, chromium, serve_app, setup_web

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def web(orch_env, redis_server, tmp_path, monkeypatch) -> WebEnv:
    return setup_web(monkeypatch, tmp_path, redis_server.url, {
        "website": [{"name": "push", "adapter": "http_push", "url": "http://127.0.0.1:9/never", "timeout": 1}],
        "reading_room": [{"name": "reading_room", "adapter": "manual"}],
    })


@pytest.fixture
def server(web) -> Iterator[str]:
    with serve_app(web.app) as url:
        yield url


def _submit(web: WebEnv, title: str) -> int:
    from orchestrator import auth

    token = auth.create_token(web.users["clerk"], "页面刷新测试")[1]
    data = {"entry": "03", "publisher": PUBLISHER, "title": title, "body": "<p>第一条 为规范管理，制定本办法。</p>",
            "formed_on": "2026-11-02"}
    r = web.client().post("/api/v1/documents", data={"data": json.dumps(data, ensure_ascii=False)},
                          files=[("files", ("办法.pdf", PDF, "application/pdf"))],
                          headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 201, r.text
    return r.json()["document_id"]


def _withdraw(doc_id: int) -> None:
    from orchestrator.documents import versions

    versions.withdraw(doc_id, "内容有误，撤回后重新发布", actor="测试")


def test_document_page_reloads_when_idle_and_keeps_typed_input(web, server):
    idle = _submit(web, "关于印发《行政执法公示办法》的通知")
    busy = _submit(web, "关于印发《执法全过程记录办法》的通知")
    with chromium() as browser:
        ctx = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN", base_url=server)
        page = ctx.new_page()
        page.set_default_timeout(20_000)
        page.goto("/login")
        page.fill("#username", web.users["clerk"])
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_load_state("networkidle")

        # Nobody typing: the withdrawal's new deliveries and status reload the page by themselves.
        page.goto(f"/documents/{idle}")
        expect(page.locator("#live")).to_contain_text("自动刷新中")
        status_before = page.inner_text("#doc-status")
        page.evaluate("() => { window.__sameDocument = true; }")
        _withdraw(idle)
        page.wait_for_function("() => window.__sameDocument === undefined", timeout=20_000)  # reloaded
        expect(page.locator("#doc-status")).not_to_have_text(status_before)
        assert "撤回" in page.inner_text("#doc-status")

        # The clerk is writing a correction when the document moves on: the page stays, with what they typed, and
        # says it is out of date; the reload happens when they ask for it.
        page.goto(f"/documents/{busy}")
        expect(page.locator("#live")).to_contain_text("自动刷新中")
        page.click("text=登记新版本（更正）")
        note = page.locator("#version-form input[name=change_note]")
        note.fill("按局长意见更正第二条")
        page.evaluate("() => { window.__sameDocument = true; }")
        _withdraw(busy)
        reload_link = page.locator("#live-reload")
        expect(reload_link).to_be_visible(timeout=20_000)
        assert "刷新会清空尚未提交的填写内容" in reload_link.inner_text()
        page.wait_for_timeout(4_000)  # more than one polling interval: still no reload
        assert page.evaluate("() => window.__sameDocument") is True
        assert note.input_value() == "按局长意见更正第二条"
        reload_link.click()
        page.wait_for_function("() => window.__sameDocument === undefined", timeout=20_000)
        assert "撤回" in page.inner_text("#doc-status")
