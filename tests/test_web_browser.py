"""The web app in Debian's Chromium (Playwright), served by uvicorn, on the session's PostgreSQL and Redis with real
Celery workers: a clerk submits with a PDF and watches the channels turn delivered, a reviewer approves, ops retries a
failure and confirms a manual channel, a clerk of another office is kept out. Screenshots go to
``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest

from tests.api_helpers import PDF, PUBLISHER, TEST_CATALOG
from tests.conftest import ARTIFACTS
from tests.fanout_harness import FanoutStack
from tests.receiver import Receiver
from tests.web_support import OFFICE_A, OFFICE_B, PASSWORD, REVIEW_CATALOG, chromium, make_web_user, serve_app


@pytest.fixture(scope="module")
def migrated_pg():
    """A database of this module's own: the ops dashboard and its bulk retry see every failure in the database,
    so other tests' failed deliveries must not be there."""
    from tests.conftest import run_migrations
    from tests.services import PostgresDatabase

    db = PostgresDatabase().create()
    try:
        run_migrations(db.url)
        yield db.url
    finally:
        from orchestrator.db import reset_caches

        reset_caches()
        db.drop()

pytestmark = [pytest.mark.browser, pytest.mark.slow]
SHOTS = ARTIFACTS / "screenshots"


@pytest.fixture
def stack(orch_env, redis_server, tmp_path, monkeypatch) -> Iterator[tuple[FanoutStack, Receiver]]:
    # The form's 生成日期 defaults to today: pin the holiday tables (package data to 2025 only, no override files) so
    # the due date is the same kind of date whatever the machine's calendar package and checkout hold: from 2026 on
    # a provisional (暂估) date, never a missing one, so "按期" below holds on any date.
    holidays = tmp_path / "holidays"
    holidays.mkdir()
    monkeypatch.setenv("ORCH_CALENDAR_PACKAGE_UNTIL", "2025")
    monkeypatch.setenv("ORCH_HOLIDAYS_DIR", str(holidays))
    from orchestrator.settings import get_settings

    get_settings.cache_clear()
    review = tmp_path / "review.yaml"
    review.write_text(REVIEW_CATALOG, encoding="utf-8")
    with Receiver() as receiver, FanoutStack(orch_env, tmp_path, redis=redis_server, catalogs=[TEST_CATALOG, review], channels={
        "website": [{"name": "push", "adapter": "http_push", "url": receiver.url, "secret": receiver.secret, "timeout": 3}],
        "reading_room": [{"name": "reading_room", "adapter": "manual"}],
    }) as st:
        yield st, receiver


@pytest.fixture
def server(stack) -> Iterator[str]:
    from orchestrator.app import create_app

    with serve_app(create_app()) as url:
        yield url


@pytest.fixture
def browser() -> Iterator:
    with chromium() as b:
        yield b


def _page(browser, base: str, username: str):
    ctx = browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN", base_url=base)
    page = ctx.new_page()
    page.set_default_timeout(20_000)
    page.goto("/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
    return page


def _shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _row_status(page, channel: str) -> str:
    return page.locator(f'tr[data-channel="{channel}"] [data-role=status]').first.inner_text()


def _wait_row(page, channel: str, label: str, timeout: float = 60) -> None:
    page.wait_for_function(
        "([ch, label]) => { const e = document.querySelector(`tr[data-channel=\"${ch}\"] [data-role=status]`);"
        " return e && e.textContent.trim() === label; }", arg=[channel, label], timeout=timeout * 1000)


def test_clerk_reviewer_ops_in_the_browser(stack, server, browser, tmp_path):
    st, receiver = stack
    clerk = make_web_user("clerk", OFFICE_A, display_name="王经办")
    clerk_b = make_web_user("clerk", OFFICE_B, display_name="李经办")
    reviewer = make_web_user("reviewer", display_name="赵审核")
    ops = make_web_user("ops", display_name="钱运维")
    admin = make_web_user("admin", display_name="孙管理")
    pdf = tmp_path / "关于开展法治宣传的通知.pdf"
    pdf.write_bytes(PDF)

    # --- the log-in page, then a clerk submits once -----------------------------------------------
    anon = browser.new_context(viewport={"width": 1366, "height": 768}, base_url=server).new_page()
    anon.goto("/submit")
    assert anon.url.endswith("/login?next=/submit")
    _shot(anon, "01-login")

    page = _page(browser, server, clerk)
    assert page.url.endswith("/submit")
    page.fill("#entry-search", "人工")
    page.locator(".tree .ent", has_text="人工渠道").first.click()
    page.wait_for_selector("#due-date")
    assert "最迟" in page.inner_text("#due") and "公开查阅点" in page.inner_text("#due-channels")
    # A 生成日期 whose deadline falls in a year without an official schedule here: the preview marks it 暂估.
    today = page.input_value("#formed_on")
    page.fill("#formed_on", "2026-01-19")  # 即时公开: the next working day, Tue 2026-01-20
    page.wait_for_function(
        "() => ((document.querySelector('#due-date') || {}).textContent || '').includes('最迟 2026-01-20（暂估）')")
    page.fill("#formed_on", today)
    page.wait_for_function(
        "() => !((document.querySelector('#due-date') || {}).textContent || '').includes('2026-01-20')")
    page.fill("#title", "关于开展法治宣传进社区活动的通知")
    page.fill("#doc_number", "测司发〔2026〕12号")
    page.check("#mode-markdown")  # the rich-text editor is the default; this test writes Markdown
    page.fill("#body", "# 活动安排\n\n请各社区于 **11 月** 开展法治宣传。\n\n- 时间：每周三\n- 联系电话：13812345678\n")
    page.set_input_files("#file-input", str(pdf))
    page.wait_for_selector("#preview h1")
    assert page.inner_text("#preview h1") == "活动安排"
    assert "关于开展法治宣传的通知.pdf" in page.inner_text("#file-list")
    _shot(page, "02-submit")
    page.click("#submit-btn")
    # Personal data: refused until acknowledged; nothing is lost from the form.
    page.wait_for_selector("#client-errors:not([hidden])")
    assert "个人信息" in page.inner_text("#client-errors")
    assert not page.is_hidden("#personal")
    _shot(page, "03-submit-personal-data")
    page.check("#confirm_personal_data")
    page.click("#submit-btn")
    page.wait_for_url(re.compile(r"/documents/\d+$"))
    doc_id = int(page.url.rsplit("/", 1)[1])
    assert "已登记" in page.inner_text(".flash")
    _wait_row(page, "website", "已送达")
    _wait_row(page, "reading_room", "待人工确认")
    assert page.locator('tr[data-channel="website"] [data-role=links] a').count() >= 1
    assert "关于开展法治宣传的通知.pdf" in page.inner_text("#attachments")
    _shot(page, "04-document-clerk")

    # --- a clerk of another office is kept out -----------------------------------------------------
    other = _page(browser, server, clerk_b)
    other.goto(f"/documents/{doc_id}")
    assert "不存在" in other.inner_text("main")
    other.goto("/users")
    assert "权限不足" in other.inner_text("main")
    _shot(other, "05-other-office-denied")
    other.goto("/documents")
    assert "关于开展法治宣传进社区活动的通知" not in other.inner_text("main")

    # --- a reviewer approves a document that needs 保密审查 ------------------------------------------
    res = st.submit(entry="R-01", publisher="测试审核局", title="需审查的人事任免通知", body="<p>任免事项</p>",
                    submitted_by=clerk)
    rev = _page(browser, server, reviewer)
    assert rev.url.endswith("/review")
    _shot(rev, "06-review-queue")
    rev.click("text=需审查的人事任免通知")
    rev.click("#approve-btn")
    rev.wait_for_selector(".flash")
    assert "保密审查已通过" in rev.inner_text(".flash")
    _wait_row(rev, "website", "已送达")
    st.wait_until(res.document_id, lambda ds: any(d["channel"] == "website" and d["status"] == "delivered" for d in ds))

    # --- ops: a failed delivery, retried from the dashboard; a manual one confirmed ------------------
    receiver.script("必然失败", (400, {}, 0))
    bad = st.submit(entry="03", publisher=PUBLISHER, title="必然失败的测试通知", body="<p>内容</p>")
    st.wait_until(bad.document_id, lambda ds: any(d["channel"] == "website" and d["status"] == "failed" for d in ds))
    op = _page(browser, server, ops)
    assert op.url.endswith("/ops")
    op.wait_for_selector("#failures tbody button")
    assert "接收端拒绝了该文件" in op.inner_text("#failures")
    assert op.locator("#matrix tbody tr").count() >= 3
    _shot(op, "07-ops-dashboard")
    op.on("dialog", lambda d: d.accept())
    op.click("#failures tbody button")
    op.wait_for_selector("#bulk-msg:not([hidden])")
    assert "已重新排队 1 条投递" in op.inner_text("#bulk-msg")
    st.wait_until(bad.document_id, lambda ds: any(d["channel"] == "website" and d["status"] == "delivered" for d in ds))
    # The dashboard redraws itself (no reload) once the retry has gone through.
    op.wait_for_function("() => document.querySelector('#failures tbody').textContent.includes('没有失败的投递')",
                         timeout=20_000)

    op.goto(f"/documents/{doc_id}")
    form = op.locator("form.confirm-form")
    form.locator("input[name=note]").fill("已在司法局一楼公开查阅点放置纸质文件")
    form.locator("input[name=url]").fill("https://www.example.gov.cn/cyd/12")
    form.locator("input[name=evidence]").set_input_files(str(pdf))
    form.locator("button[type=submit]").click()
    op.wait_for_selector(".flash")
    assert "已确认" in op.inner_text(".flash"), op.inner_text(".flash")
    assert _row_status(op, "reading_room") == "已送达"
    assert "钱运维" in op.inner_text('tr[data-channel="reading_room"]')
    _shot(op, "08-document-ops-confirmed")

    op.goto("/log")
    assert op.locator("#log tbody tr").count() >= 3
    _shot(op, "09-delivery-log")
    op.select_option("#f-channel", "website")
    op.click("text=筛选")
    assert "channel=website" in op.url
    with op.expect_download() as dl:
        op.click("#export-xlsx")
    assert dl.value.suggested_filename.endswith(".xlsx")

    # --- admin pages ---------------------------------------------------------------------------
    ad = _page(browser, server, admin)
    ad.goto("/catalog")
    assert ad.locator("tr.needs-review").count() >= 1
    _shot(ad, "10-catalog")
    ad.goto("/users")
    assert clerk in ad.inner_text("#users")
    _shot(ad, "11-users")
    ad.goto("/documents")
    _shot(ad, "12-documents")

    # The clerk's own page shows everything delivered on time.
    page.goto(f"/documents/{doc_id}")
    time.sleep(0.2)
    assert _row_status(page, "reading_room") == "已送达"
    assert "按期" in page.inner_text('tr[data-channel="website"] [data-role=due]')
