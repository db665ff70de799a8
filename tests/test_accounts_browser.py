"""Accounts, audit and freshness in Debian's Chromium (Playwright) against uvicorn and PostgreSQL: a clerk changes
their password, an idle session lands on the log-in page with the reason, an admin filters the 审计日志 and opens
栏目更新情况. Screenshots go to /tmp/shots/accounts/ (and test-artifacts/screenshots/)."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.api_helpers import ROOT
from tests.api_helpers import migrated_pg as migrated_pg  # noqa: F401  (a private database for this module)
from tests.conftest import ARTIFACTS
from tests.web_support import PASSWORD, WebEnv, chromium, serve_app, setup_web

pytestmark = [pytest.mark.browser]
SHOTS = Path("/tmp/shots/accounts")
CATALOG = """
publisher: 某某市司法局
entries:
  - code: "B-01"
    path: [机构信息, 机构职能]
    time_limit: {text: 即时公开, kind: immediate}
    channels: [website]
    offices: [办公室]
  - code: "B-02"
    path: [工作动态, 司法行政动态]
    time_limit: {text: 即时公开, kind: immediate}
    channels: [website, wechat]
    offices: [办公室]
  - code: "B-03"
    path: [通知公告, 公示公告]
    time_limit: {text: 即时公开, kind: immediate}
    channels: [website]
    offices: [行政执法协调监督办公室]
    freshness: {days: 30, warn_days: 7}
"""


@pytest.fixture
def web(orch_env, redis_server, tmp_path, monkeypatch) -> WebEnv:
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    monkeypatch.setenv("ORCH_CONFIG_DIR", str(config))
    env = setup_web(monkeypatch, tmp_path, redis_server.url, {
        "website": [{"name": "site-desk", "adapter": "manual", "label": "门户网站"}],
        "wechat": [{"name": "wx-account", "adapter": "manual", "label": "某某司法公众号"}],
        "reading_room": [{"name": "reading_room", "adapter": "manual"}],
    })
    from orchestrator.catalog.schema import Catalog
    from orchestrator.catalog_sync import sync_catalog
    from orchestrator.db import session_scope

    with session_scope() as s:
        sync_catalog(s, Catalog.model_validate(yaml.safe_load(CATALOG)))
    return env


@pytest.fixture
def server(web) -> Iterator[str]:
    with serve_app(web.app) as url:
        yield url


@pytest.fixture
def browser() -> Iterator:
    with chromium() as b:
        yield b


def _login(browser, base: str, username: str, password: str = PASSWORD):
    ctx = browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN", base_url=base)
    page = ctx.new_page()
    page.set_default_timeout(20_000)
    page.goto("/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
    return page


def _shot(page, name: str) -> None:
    for d in (SHOTS, ARTIFACTS / "screenshots"):
        d.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(d / f"accounts-{name}.png" if d != SHOTS else d / f"{name}.png"), full_page=True)


def _publish(code: str, title: str, days_ago: int) -> None:
    """A real publication (submitted, handed to the manual adapter, confirmed), then dated back for the picture."""
    from sqlalchemy import update

    from orchestrator.db import session_scope
    from orchestrator.delivery import engine
    from orchestrator.documents import deliveries, submission
    from orchestrator.models import Delivery

    res = submission.submit({"entry": code, "publisher": "某某市司法局", "title": title, "body": "<p>正文</p>",
                             "formed_on": dt.date.today().isoformat()}, enqueue=False)
    for delivery_id in res.delivery_ids:
        engine.run_delivery(delivery_id)
        deliveries.confirm_delivery(delivery_id, "张三", "已发布")
    with session_scope() as s:
        s.execute(update(Delivery).where(Delivery.document_id == res.document_id).values(
            delivered_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=days_ago)))


def test_accounts_audit_and_freshness_in_the_browser(web, server, browser):
    from sqlalchemy import select, update

    from orchestrator import auth
    from orchestrator.db import session_scope
    from orchestrator.web.models import WebSession

    # --- a clerk changes their password -------------------------------------------------------------------------
    clerk = _login(browser, server, web.users["clerk"])
    clerk.click("#my-account")
    clerk.fill("#pw-current", PASSWORD)
    clerk.fill("#pw-new", "Weak")
    clerk.fill("#pw-repeat", "Weak")
    clerk.evaluate("document.getElementById('password-form').noValidate = true")  # let the server judge
    clerk.click("#password-form button[type=submit]")
    assert "密码至少 10 个字符" in clerk.inner_text("#password-errors")
    _shot(clerk, "password-refused")
    clerk.fill("#pw-current", PASSWORD)
    clerk.fill("#pw-new", "Browser-made-pw-9")
    clerk.fill("#pw-repeat", "Browser-made-pw-9")
    clerk.click("#password-form button[type=submit]")
    clerk.wait_for_load_state("networkidle")
    assert "密码已修改" in clerk.inner_text(".flash")
    # Idle for longer than ORCH_SESSION_IDLE_MINUTES: the next click lands on the log-in page with the reason.
    with session_scope() as s:
        uid = auth.get_user(web.users["clerk"]).id
        s.execute(update(WebSession).where(WebSession.user_id == uid)
                  .values(last_seen_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=45)))
    clerk.goto("/documents")
    assert "/login" in clerk.url and "由于超过 30 分钟未操作" in clerk.inner_text("#login-notice")
    _shot(clerk, "idle-login")

    # --- data for the admin's pages -----------------------------------------------------------------------------
    _publish("B-01", "本局主要职能", 50)
    _publish("B-02", "开展法治宣传进社区活动", 12)
    _publish("B-03", "关于征集意见的公告", 40)
    admin = _login(browser, server, web.users["admin"])
    admin.goto("/users")
    r = admin.request.post(f"{server}/users", form={
        "csrf_token": admin.input_value("input[name=csrf_token]"), "username": "zhao.liu", "display_name": "赵六",
        "role": "ops", "office": "", "password": "Initial-pw-2026"})
    assert r.ok
    admin.goto("/holidays")
    r = admin.request.post(f"{server}/holidays", form={
        "csrf_token": admin.input_value("input[name=csrf_token]"), "year": "2027", "holidays": "2027-01-01",
        "workdays": "", "source": "测试用安排"})
    assert r.ok

    # 机构职能 is confirmed monthly here: the admin sets it in the form, the periodic check opens the task.
    from orchestrator import freshness
    from orchestrator.models import CatalogEntryRow

    with session_scope() as s:
        b01 = s.scalar(select(CatalogEntryRow.id).where(CatalogEntryRow.code == "B-01"))
    admin.goto(f"/freshness/entries/{b01}")
    admin.fill("#fr-months", "1")
    admin.click("#freshness-form button[type=submit]")
    admin.wait_for_load_state("networkidle")
    assert "已保存" in admin.inner_text(".flash")
    with session_scope() as s:
        assert freshness.run_checks(s)["created"] == 1

    # --- 审计日志 ---------------------------------------------------------------------------------------------------
    admin.goto("/audit")
    assert admin.locator("#audit tbody tr").count() >= 2
    _shot(admin, "audit")
    admin.select_option("#f-action", "user.create")
    admin.click("#audit-filters button[type=submit]")
    admin.wait_for_load_state("networkidle")
    assert admin.locator("#audit tbody tr").count() == 1 and "赵六" in admin.inner_text("#audit")
    with admin.expect_download() as dl:
        admin.click("#export-csv")
    assert dl.value.suggested_filename.startswith("audit-log-") and dl.value.suggested_filename.endswith(".csv")

    # --- 栏目更新情况 -------------------------------------------------------------------------------------------------
    admin.goto("/freshness")
    assert admin.locator('tr[data-state="warning"]').count() >= 1  # 司法行政动态: 12 of 14 days gone
    assert admin.locator('tr[data-state="stale"]').count() >= 1  # 公示公告: 40 days against a 30-day rule
    assert "本局主要职能" not in admin.inner_text("#confirm-tasks") and "机构职能" in admin.inner_text("#confirm-tasks")
    text = admin.inner_text("#freshness")
    assert "司法行政动态" in text and "剩余 2 天" in text and "自 " in text and "某某司法公众号（公众号）" in text
    _shot(admin, "freshness")
