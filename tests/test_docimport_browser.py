"""Documents in, in Debian's Chromium: a clerk imports the generated 红头 notice (.docx) on 登记文件, checks the
prefilled fields and the editor (table merges, the image loaded from the attachment store), pastes Word clipboard HTML
(cleaned by the server), and submits. No workers: the deliveries only need to be written. Screenshots go to
``test-artifacts/screenshots/``."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from tests.api_helpers import ROOT
from tests.api_helpers import migrated_pg as migrated_pg  # noqa: F401  (a private database for this module)
from tests.conftest import ARTIFACTS
from tests.docin_support import notice_docx, png_bytes
from tests.test_docimport import WORD_PASTE
from tests.web_support import PASSWORD, chromium, serve_app, setup_web

pytestmark = [pytest.mark.browser]
SHOTS = ARTIFACTS / "screenshots"


@pytest.fixture
def server(orch_env, redis_server, tmp_path, monkeypatch) -> Iterator[tuple[str, str]]:
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    monkeypatch.setenv("ORCH_CONFIG_DIR", str(config))
    web = setup_web(monkeypatch, tmp_path, redis_server.url, {
        "website": [{"name": "push", "adapter": "http_push", "url": "http://127.0.0.1:9/never", "timeout": 1}],
        "reading_room": [{"name": "reading_room", "adapter": "manual"}],
    })
    with serve_app(web.app) as url:
        yield url, web.users["clerk"]


@pytest.mark.timeout(300)
def test_import_a_word_notice_in_the_browser(server, tmp_path):
    base, clerk = server
    path = tmp_path / "关于开展法治宣传月活动的通知.docx"
    path.write_bytes(notice_docx(png_bytes((20, 90, 160), (120, 80))))
    with chromium(["--no-sandbox", "--disable-gpu", "--disable-background-networking"]) as browser:
        page = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN", base_url=base).new_page()
        page.set_default_timeout(30_000)
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        bad: list[str] = []
        page.on("response", lambda r: bad.append(f"{r.status} {r.url}") if r.status >= 400 else None)
        page.goto("/login")
        page.fill("#username", clerk)
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_load_state("networkidle")
        page.goto("/submit")
        page.fill("#entry-search", "人工")
        page.locator(".tree .ent", has_text="人工渠道").first.click()
        page.set_input_files("#import-file", str(path))
        page.wait_for_function("() => document.querySelector('#title').value !== ''")
        assert page.input_value("#title") == "关于开展2026年法治宣传月活动的通知"
        assert page.input_value("#doc_number") == "根司发〔2026〕5号"
        assert page.input_value("#formed_on") == "2026-03-02"
        found = page.inner_text("#import-found")
        assert "主送：各司法所、局机关各股室：" in found and "落款：根河市司法局" in found
        # The editor shows the table with its merges and the image, loaded from the attachment store.
        assert page.locator("#rich-editor td[rowspan='2']").inner_text() == "城区司法所"
        assert page.locator("#rich-editor td[colspan='2']").inner_text() == "待定"
        page.wait_for_function("() => { const i = document.querySelector('#rich-editor img');"
                               " return i && i.complete && i.naturalWidth === 120; }")
        page.wait_for_selector("#preview td[rowspan='2']")
        # Paste Word's clipboard HTML at the end: the server cleans it to the same subset.
        page.evaluate("""(html) => {
            const ed = document.querySelector('#rich-editor');
            ed.focus();
            const r = document.createRange(); r.selectNodeContents(ed); r.collapse(false);
            const s = window.getSelection(); s.removeAllRanges(); s.addRange(r);
            const dt = new DataTransfer(); dt.setData('text/html', html);
            ed.dispatchEvent(new ClipboardEvent('paste', {clipboardData: dt, bubbles: true, cancelable: true}));
        }""", WORD_PASTE)
        page.wait_for_function("() => document.querySelectorAll('#rich-editor table').length === 2")
        editor_html = page.inner_html("#rich-editor")
        assert "mso-" not in editor_html and "o:p" not in editor_html and "MsoNormal" not in editor_html
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "docin-01-imported.png"), full_page=True)
        page.click("#submit-btn")
        page.wait_for_url("**/documents/*")
        assert "关于开展2026年法治宣传月活动的通知" in page.inner_text("body")
        # The document page shows the body image from the stored attachment.
        page.wait_for_function("() => { const i = document.querySelector('#body-view img');"
                               " return i && i.complete && i.naturalWidth === 120; }")
        page.screenshot(path=str(SHOTS / "docin-02-submitted.png"), full_page=True)
        # Chromium's insertHTML may add inline styles, which the page's CSP blocks (and the server strips): only
        # script errors and failed requests count.
        assert not [e for e in errors if "Uncaught" in e], errors
        assert not bad, bad

    from sqlalchemy import select

    from orchestrator.db import session_scope
    from orchestrator.models import DocumentVersion

    with session_scope() as s:
        v = s.scalars(select(DocumentVersion).order_by(DocumentVersion.id.desc())).first()
        names = [a.filename for a in v.attachments]
        assert len(names) == 1 and names[0].startswith("正文图片1-") and f'src="{names[0]}"' in v.body_html
        assert v.doc_number == "根司发〔2026〕5号" and v.body_html.count("<table>") == 2
