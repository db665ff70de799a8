"""Review chains in Debian's Chromium (Playwright), served by uvicorn, on PostgreSQL and Redis with real Celery
workers: the admin defines a four-step chain on the 审核流程 page, four reviewers sign off with one send-back to the
clerk and a resubmission, the document ends 已发布 through the real fan-out; a step is skipped where the entry allows
it; a reviewer of another office cannot act (no buttons, and a forged post is refused); the 审批单 docx carries every
sign-off. Screenshots go to /tmp/shots/review/."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.fanout_harness import FanoutStack
from tests.receiver import Receiver
from tests.review_support import CHAIN_PUBLISHER, OFFICE, OTHER_OFFICE, SECRECY_OFFICE, write_catalog
from tests.web_support import PASSWORD, chromium, make_web_user, serve_app


@pytest.fixture(scope="module")
def migrated_pg():
    """A database of this module's own (review chains and bindings are global settings)."""
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
SHOTS = Path("/tmp/shots/review")


@pytest.fixture
def stack(orch_env, redis_server, tmp_path) -> Iterator[tuple[FanoutStack, Receiver]]:
    with Receiver() as receiver, FanoutStack(orch_env, tmp_path, redis=redis_server, catalogs=[write_catalog(tmp_path)],
                                             channels={
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
    ctx = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN", base_url=base,
                              accept_downloads=True)
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


def _flash(page) -> str:
    page.wait_for_selector(".flash")
    return page.inner_text(".flash")


def _approve(page, doc_id: int, comment: str = "") -> str:
    page.goto(f"/documents/{doc_id}")
    if comment:
        page.fill('#review-actions form[action$="/review/approve"] input[name=comment]', comment)
    page.click("#approve-btn")
    return _flash(page)


def _define_chain(ad, leader: str) -> None:
    ad.goto("/review-chains")
    form = ad.locator("#new-chain-form")
    form.locator("#chain-name").fill("规范性文件四审")
    form.locator("#chain-restart").select_option("from_start")
    rows = form.locator("tbody tr")
    spec = [("初审", "reviewer", "", "yes", "", "no"), ("复审", "reviewer", "", "no", "", "yes"),
            ("保密审查", "reviewer", SECRECY_OFFICE, "no", "", "no"), ("终审", "", "", "no", leader, "no")]
    for i, (name, role, office, own, users, skip) in enumerate(spec):
        row = rows.nth(i)
        row.locator("input[name=step_name]").fill(name)
        row.locator("select[name=step_role]").select_option(role)
        row.locator("input[name=step_office]").fill(office)
        row.locator("select[name=step_own_office]").select_option(own)
        row.locator("input[name=step_users]").fill(users)
        row.locator("select[name=step_skippable]").select_option(skip)
    _shot(ad, "01-admin-new-chain-form")
    ad.click("#save-chain")
    assert "已保存审核流程“规范性文件四审”" in _flash(ad)
    # A refused definition keeps the page and says why, in Chinese.
    ad.click("#new-chain summary")
    ad.locator("#new-chain-form #chain-name").fill("无人审核")
    ad.locator("#new-chain-form tbody tr").nth(0).locator("input[name=step_name]").fill("初审")
    ad.locator("#new-chain-form tbody tr").nth(0).locator("select[name=step_role]").select_option("")
    ad.click("#save-chain")
    ad.wait_for_selector("#chain-errors")
    assert "未指定由谁审核" in ad.inner_text("#chain-errors")
    _shot(ad, "02-admin-chain-refused")
    for entry, skip in (("", ""), ("GZ-03", "复审")):
        ad.goto("/review-chains")
        ad.select_option("#b-publisher", label=CHAIN_PUBLISHER)
        ad.fill("#b-entry", entry)
        ad.select_option("#b-chain", label="规范性文件四审")
        ad.fill("#b-skip", skip)
        ad.click("#save-binding")
        assert "已设置" in _flash(ad)
    ad.goto("/review-chains")
    ad.select_option("#b-publisher", label=CHAIN_PUBLISHER)
    ad.fill("#b-entry", "GZ-02")
    ad.select_option("#b-chain", label="规范性文件四审")
    ad.fill("#b-skip", "保密审查")
    ad.click("#save-binding")
    ad.wait_for_selector("#chain-errors")
    assert "步骤“保密审查”不允许跳过" in ad.inner_text("#chain-errors")
    ad.goto("/review-chains")
    assert ad.locator("#bindings tbody tr").count() == 2
    _shot(ad, "03-admin-chains-and-bindings")


def test_four_step_chain_in_the_browser(stack, server, browser, tmp_path):
    from orchestrator.documents import deliveries

    st, receiver = stack
    clerk = make_web_user("clerk", OFFICE, display_name="王经办")
    first = make_web_user("reviewer", OFFICE, display_name="赵初审")
    other = make_web_user("reviewer", OTHER_OFFICE, display_name="钱外科室")
    second = make_web_user("reviewer", display_name="孙复审")
    secrecy = make_web_user("reviewer", SECRECY_OFFICE, display_name="李保密")
    leader = make_web_user("reviewer", display_name="周局长")
    admin = make_web_user("admin", display_name="吴管理")

    _define_chain(_page(browser, server, admin), leader)
    res = st.submit(entry="GZ-01", publisher=CHAIN_PUBLISHER, title="关于规范行政执法行为的若干规定",
                    body="<p>第一条 为规范行政执法行为，制定本规定。</p><p>第二条 联系电话 13812345678。</p>",
                    submitted_by=clerk, confirm_personal_data=True)
    doc_id = res.document_id
    assert res.delivery_ids == []

    # --- 初审: the reviewer's page shows every channel, the attachments and the personal-data findings ----------
    p1 = _page(browser, server, first)
    p1.goto("/review")
    p1.click("text=关于规范行政执法行为的若干规定")
    p1.wait_for_selector("#review-panel")
    assert "初审" in p1.inner_text("#current-step")
    p1.click("#open-review")
    p1.wait_for_selector("#channel-previews")
    assert p1.locator("#channel-previews details.channel-preview").count() == 2
    assert "手机号" in p1.inner_text("#personal-findings")
    _shot(p1, "04-reviewer-page-first-step")
    assert "转入下一步“复审”" in _approve(p1, doc_id, "内容准确，同意")

    p2 = _page(browser, server, second)
    assert "转入下一步“保密审查”" in _approve(p2, doc_id, "同意，报保密审查")

    # --- a reviewer of another office: no buttons, and a forged post is refused ------------------------------
    po = _page(browser, server, other)
    po.goto(f"/documents/{doc_id}")
    assert po.locator("#approve-btn").count() == 0
    assert "须由保密办办理" in po.inner_text("#not-your-step")
    _shot(po, "05-other-office-cannot-act")
    r = po.request.post(f"{server}/documents/{doc_id}/review/approve",
                        form={"csrf_token": po.locator("form[action='/logout'] input[name=csrf_token]").input_value(),
                              "step": "2", "comment": "越权"})
    assert r.status == 403 and "须由保密办办理" in r.text()
    r = po.request.post(f"{server}/documents/{doc_id}/review/approve", form={"step": "2"})  # no CSRF token
    assert r.status == 403

    # --- 保密审查, then 终审 sends it back to the clerk -------------------------------------------------------
    p3 = _page(browser, server, secrecy)
    assert "转入下一步“终审”" in _approve(p3, doc_id, "未发现涉密内容")
    p4 = _page(browser, server, leader)
    p4.goto(f"/documents/{doc_id}")
    p4.fill('#review-actions form[action$="/send-back"] input[name=comment]', "第二条不宜公开个人电话，请删除")
    p4.select_option("#send-back-target", "clerk")
    p4.click("#send-back-btn")
    assert "已退回经办人修改（终审）" in _flash(p4)
    _shot(p4, "06-sent-back-to-clerk")
    assert st.deliveries(doc_id) == []

    # --- the clerk corrects and resubmits as a new version: the chain restarts from 初审 -----------------------
    pc = _page(browser, server, clerk)
    pc.goto(f"/documents/{doc_id}")
    assert pc.locator("#returned-note").count() == 1
    assert "第二条不宜公开个人电话" in pc.inner_text("#review-timeline")
    _shot(pc, "07-clerk-sees-send-back")
    pc.click("text=登记新版本（更正）")
    # The correction form's rich editor: the clerk rewrites the second article (the editor syncs the hidden field).
    pc.wait_for_selector("#rich-editor")
    pc.evaluate("""() => { const ed = document.querySelector('#rich-editor');
        ed.innerHTML = '<p>第一条 为规范行政执法行为，制定本规定。</p><p>第二条 咨询请到政务服务大厅。</p>';
        ed.dispatchEvent(new Event('input', {bubbles: true})); }""")
    pc.fill("form[action$='/versions'] input[name=change_note]", "按终审意见删除个人电话")
    pc.click("form[action$='/versions'] button[type=submit]")
    assert "已重新提交审核，从“初审”开始" in _flash(pc)
    assert st.deliveries(doc_id) == []

    for page, comment in ((p1, "已核对修改"), (p2, "同意"), (p3, "同意")):
        _approve(page, doc_id, comment)
        assert st.deliveries(doc_id) == []  # nothing is queued before the last step
    assert "审核全部通过，开始向 2 个渠道发布" in _approve(p4, doc_id, "同意发布")
    rows = st.wait_until(doc_id, lambda ds: {d["channel"]: d["status"] for d in ds} ==
                         {"website": "delivered", "reading_room": "awaiting_confirmation"}, timeout=90,
                         what="published after the final approval")
    assert {r["version"] for r in rows} == {2}
    (key,) = [r["idempotency_key"] for r in rows if r["channel"] == "website"]
    assert "政务服务大厅" in receiver.applied[key]["body_html"] and "13812345678" not in receiver.applied[key]["body_html"]
    deliveries.confirm_delivery(next(r["id"] for r in rows if r["channel"] == "reading_room"), "王经办", "已放置")
    # The clerk's page is still open on this document. Its poller (document.js, every 3 s) reloads the page when new
    # deliveries appear or the document's status changes, so a goto here would race that reload ("interrupted by
    # another navigation"). Wait for the page itself to settle instead: locator assertions retry across reloads.
    expect(pc.locator("#doc-status")).to_have_text("已发布", timeout=30_000)
    expect(pc.locator("#review-timeline li")).to_have_count(10)
    _shot(pc, "08-published-with-timeline")

    # --- the 审批单: docx with every sign-off, and the print view ----------------------------------------------
    with pc.expect_download() as dl:
        pc.click("#approval-docx")
    path = tmp_path / "审批单.docx"
    dl.value.save_as(str(path))
    from docx import Document as Docx

    table = Docx(str(path)).tables[1]
    rows_ = [[c.text for c in row.cells] for row in table.rows][1:]
    approvals = [(r[1], r[4], r[2]) for r in rows_ if r[3] == "通过"]
    assert approvals == [("初审", "赵初审", "内容准确，同意"), ("复审", "孙复审", "同意，报保密审查"),
                         ("保密审查", "李保密", "未发现涉密内容"), ("初审", "赵初审", "已核对修改"),
                         ("复审", "孙复审", "同意"), ("保密审查", "李保密", "同意"), ("终审", "周局长", "同意发布")]
    assert any(r[3] == "退回（退回至经办人）" and r[4] == "周局长" for r in rows_)
    assert [r[6] for r in rows_][-1] == "第 2 版"
    pp = pc.context.new_page()
    pp.goto(f"/documents/{doc_id}/approval")
    assert pp.locator("#signoffs tbody tr").count() == 10
    _shot(pp, "09-approval-form-print-view")

    # --- a step skipped where the entry allows it (GZ-03 skips 复审) ---------------------------------------
    skipped = st.submit(entry="GZ-03", publisher=CHAIN_PUBLISHER, title="关于开展执法检查的通知", body="<p>通知</p>",
                        submitted_by=clerk)
    assert "转入下一步“保密审查”" in _approve(p1, skipped.document_id, "同意")
    p1.goto(f"/documents/{skipped.document_id}")
    assert p1.locator("#chain-progress li.step-skipped").inner_text().startswith("复审")
    assert "跳过（按目录事项设置）" in p1.inner_text("#review-timeline")
    _shot(p1, "10-skipped-step")
    _approve(p3, skipped.document_id)
    assert "审核全部通过" in _approve(p4, skipped.document_id)
    st.wait_until(skipped.document_id, lambda ds: [d["status"] for d in ds] == ["delivered"], timeout=60,
                  what="the skipped-step document published")
    assert re.search(r"/documents/\d+$", p4.url)
