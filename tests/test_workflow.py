"""Workflow rules through the web app, the REST API and the CLI against a real PostgreSQL (no workers: the
fan-out end of these rules is in test_workflow_fanout.py): a rejected document goes back to review, the admin's
review switch, 生成日期 in the future, the derived document state, per-channel options on the CLI."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest
from sqlalchemy import event, select, update
from typer.testing import CliRunner

from tests.api_helpers import PDF, PUBLISHER, ROOT, make_user
from tests.api_helpers import migrated_pg as migrated_pg  # noqa: F401  (a private database for this module)
from tests.web_support import WebEnv, csrf_of, setup_web


@pytest.fixture
def web(orch_env, redis_server, tmp_path, monkeypatch) -> WebEnv:
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    monkeypatch.setenv("ORCH_CONFIG_DIR", str(config))
    return setup_web(monkeypatch, tmp_path, redis_server.url, {
        "website": [{"name": "website", "adapter": "http_push", "url": "http://127.0.0.1:9/never", "timeout": 1}],
        "reading_room": [{"name": "reading_room", "adapter": "manual"}],
        "wechat": [{"name": "公众号", "adapter": "wechat", "appid": "wx0000000000000000", "secret": "s" * 32,
                    "api_base": "http://127.0.0.1:9"}],
    })


def _submit(c, **fields):
    data = {"csrf_token": csrf_of(c.get("/submit").text), "entry": "03", "publisher": PUBLISHER, "title": "工作动态",
            "body": "正文内容", "formed_on": "2026-11-02", **fields}
    return c.post("/submit", data=data, files=[("files", ("通知.pdf", PDF, "application/pdf"))],
                  headers={"Accept": "application/json"})


def _doc(document_id: int):
    from orchestrator.db import session_scope
    from orchestrator.models import Delivery, Document

    with session_scope() as s:
        doc = s.get(Document, document_id)
        ds = list(s.scalars(select(Delivery).where(Delivery.document_id == document_id).order_by(Delivery.id)))
        s.expunge_all()
        return doc, ds


def _entry_id(code: str, publisher: str) -> int:
    from orchestrator.db import session_scope
    from orchestrator.models import CatalogEntryRow, Publisher

    with session_scope() as s:
        return s.scalar(select(CatalogEntryRow.id).join(Publisher).where(CatalogEntryRow.code == code,
                                                                         Publisher.name == publisher))


# --- a rejected document returns to review ---------------------------------------------------------

def test_new_version_of_a_rejected_document_goes_back_to_review_and_approval_fans_out(web):
    clerk, rev = web.client("clerk"), web.client("reviewer")
    doc_id = _submit(clerk, entry="R-01", publisher="测试审核局", title="任免名单公示").json()["document_id"]
    r = rev.post(f"/documents/{doc_id}/reject", data={"csrf_token": web.token(rev), "reason": "含未脱敏的身份证号"})
    assert "已退回" in r.text
    assert _doc(doc_id)[0].status == "rejected"

    tok = web.token(clerk)
    r = clerk.post(f"/documents/{doc_id}/versions", data={"csrf_token": tok, "title": "任免名单公示（脱敏）",
                                                          "body": "已删除身份证号", "body_format": "markdown",
                                                          "change_note": "删除个人信息", "keep_attachments": "true"})
    assert "已重新提交保密审查" in r.text
    doc, deliveries = _doc(doc_id)
    assert doc.status == "pending_review" and deliveries == []
    assert "含未脱敏的身份证号" in doc.withdraw_reason  # the earlier opinion stays readable
    assert "任免名单公示（脱敏）" in rev.get("/review").text

    r = rev.post(f"/documents/{doc_id}/approve", data={"csrf_token": web.token(rev)})
    assert "保密审查已通过，开始向 2 个渠道发布" in r.text
    doc, deliveries = _doc(doc_id)
    assert doc.status == "active"
    assert sorted((d.channel, d.action, d.version) for d in deliveries) == [("reading_room", "publish", 2),
                                                                           ("website", "publish", 2)]


def test_admin_switches_review_per_entry_and_the_switch_survives_a_catalog_resync(web):
    import yaml

    from orchestrator.catalog.schema import Catalog
    from orchestrator.catalog_sync import sync_all, sync_catalog
    from orchestrator.db import session_scope
    from orchestrator.models import CatalogEntryRow
    from orchestrator.settings import get_settings
    from tests.api_helpers import TEST_CATALOG

    entry_id = _entry_id("03", PUBLISHER)
    admin, clerk = web.client("admin"), web.client("clerk")
    tok = web.token(admin, "/catalog")
    # Only admins may switch it.
    assert clerk.post(f"/catalog/{entry_id}/review", data={"csrf_token": web.token(clerk), "review": "on"}).status_code == 403
    r = admin.post(f"/catalog/{entry_id}/review", data={"csrf_token": tok, "review": "maybe"})
    assert r.status_code == 422

    r = admin.post(f"/catalog/{entry_id}/review", data={"csrf_token": tok, "review": "on"})
    assert "需要保密审查（管理员设置）" in r.text
    res = _submit(clerk).json()
    assert "保密审查" in " ".join(res["warnings"]) and _doc(res["document_id"])[0].status == "pending_review"

    # A re-sync from the catalog files (what `catalog sync` and a web import do) keeps the admin's decision.
    with session_scope() as s:
        sync_all(s, get_settings().catalogs_dir)
        # The test catalog lives outside the config dir: sync it too, as `catalog sync` would.
        sync_catalog(s, Catalog.model_validate(yaml.safe_load(TEST_CATALOG.read_text(encoding="utf-8"))))
        assert s.get(CatalogEntryRow, entry_id).review_override is True
    assert _doc(_submit(clerk).json()["document_id"])[0].status == "pending_review"

    # Off for the review catalog's entry: its next document goes straight out.
    review_entry = _entry_id("R-01", "测试审核局")
    admin.post(f"/catalog/{review_entry}/review", data={"csrf_token": tok, "review": "off"})
    res = _submit(clerk, entry="R-01", publisher="测试审核局").json()
    doc, deliveries = _doc(res["document_id"])
    assert doc.status == "active" and len(deliveries) == 2
    page = admin.get("/catalog", params={"q": "R-01"}).text
    assert "管理员设置（目录文件：需审查）" in page

    # Back to the catalog file.
    r = admin.post(f"/catalog/{entry_id}/review", data={"csrf_token": tok, "review": "catalog"})
    assert "不需要保密审查（按目录文件）" in r.text
    assert _doc(_submit(clerk).json()["document_id"])[0].status == "active"
    admin.post(f"/catalog/{review_entry}/review", data={"csrf_token": tok, "review": "catalog"})


# --- 生成日期 in the future ---------------------------------------------------------------------------

def _future() -> dt.date:
    from orchestrator.documents.inputs import today_local

    return today_local() + dt.timedelta(days=60)


def test_future_formed_on_is_refused_by_service_web_and_api(web):
    from orchestrator.documents import submission
    from orchestrator.documents.inputs import ServiceError, today_local
    from tests.api_helpers import counts

    before = counts()
    future = _future()
    with pytest.raises(ServiceError) as err:
        submission.submit({"entry": "03", "publisher": PUBLISHER, "title": "t", "body": "<p>b</p>",
                        "formed_on": future.isoformat()}, enqueue=False)
    assert "生成日期" in str(err.value) and "定时发布" in str(err.value)

    clerk = web.client("clerk")
    r = _submit(clerk, formed_on=future.isoformat())
    assert r.status_code == 422
    (e,) = [e for e in r.json()["errors"] if e["field"] == "生成日期"]
    assert "晚于今天" in e["message"] and "定时发布" in e["message"]
    assert f'max="{today_local().isoformat()}"' in clerk.get("/submit").text
    r = clerk.get("/submit/due.json", params={"entry": "03", "publisher": PUBLISHER, "formed_on": future.isoformat()})
    assert r.status_code == 422 and "定时发布" in r.json()["error"]

    from fastapi.testclient import TestClient

    from orchestrator.app import create_app

    _, token = make_user("clerk", "办公室")
    api = TestClient(create_app())
    r = api.post("/api/v1/documents", headers={"Authorization": f"Bearer {token}"},
                 json={"entry": "03", "publisher": PUBLISHER, "title": "t", "body": "<p>b</p>",
                       "formed_on": future.isoformat()})
    assert r.status_code == 422 and "定时发布" in r.text
    from orchestrator.cli import app

    body = Path(__file__)  # any readable file will do as a body: the date is refused first
    r = CliRunner().invoke(app, ["submit", "--entry", "03", "--publisher", PUBLISHER, "--title", "t", "--body",
                                 str(body), "--format", "html", "--formed-on", future.isoformat()])
    assert r.exit_code != 0 and "生成日期" in r.output and "定时发布" in r.output and "Traceback" not in r.output
    assert counts() == before  # nothing stored
    # Today is fine, and a future publication time goes through 定时发布.
    r = api.post("/api/v1/documents", headers={"Authorization": f"Bearer {token}"},
                 json={"entry": "03", "publisher": PUBLISHER, "title": "t", "body": "<p>b</p>",
                       "formed_on": today_local().isoformat(),
                       "publish_at": (dt.datetime.now(dt.UTC) + dt.timedelta(days=60)).isoformat()})
    assert r.status_code == 201, r.text


def test_formed_on_rule_at_the_day_boundary():
    from orchestrator.documents.inputs import formed_on_in_future

    today = dt.date(2026, 12, 1)
    assert formed_on_in_future(today, today) == ""
    assert formed_on_in_future(dt.date(2026, 11, 30), today) == ""
    assert "定时发布" in formed_on_in_future(dt.date(2026, 12, 2), today)


# --- the document state ----------------------------------------------------------------------------

def _set(document_id: int, **by_channel: str) -> None:
    from orchestrator.db import session_scope
    from orchestrator.models import Delivery

    with session_scope() as s:
        for channel, status in by_channel.items():
            s.execute(update(Delivery).where(Delivery.document_id == document_id, Delivery.channel == channel)
                      .values(status=status))


def _states(web: WebEnv, document_id: int) -> dict[str, str]:
    """The state as the list, the document page, the page's poll, the dashboard and the API show it."""
    import re

    ops = web.client("ops")
    listing = ops.get("/documents").text
    row = re.search(rf'<a href="/documents/{document_id}">.*?</tr>', listing, re.S).group(0)
    page = ops.get(f"/documents/{document_id}").text
    poll = ops.get(f"/documents/{document_id}/status.json").json()
    dash = next(m for m in ops.get("/ops/data.json").json()["matrix"] if m["id"] == document_id)
    from fastapi.testclient import TestClient

    _, token = make_user("ops")
    api = TestClient(web.app).get(f"/api/v1/documents/{document_id}", headers={"Authorization": f"Bearer {token}"}).json()
    return {
        "list": re.search(r'data-state="(\w+)">([^<]+)<', row).group(2),
        "page": re.search(r'id="doc-status" data-state="\w+">([^<]+)<', page).group(1),
        "poll": poll["document_state_label"],
        "dashboard": dash["state_label"],
        "api": f'{api["state"]}:{api["state_label"]}',
    }


def _all(label: str, state: str) -> dict[str, str]:
    return {"list": label, "page": label, "poll": label, "dashboard": label, "api": f"{state}:{label}"}


def test_document_state_is_derived_from_deliveries_and_shown_everywhere(web):
    clerk = web.client("clerk")
    doc_id = _submit(clerk).json()["document_id"]
    assert _states(web, doc_id) == _all("发布中", "publishing")  # queued: not 已发布 yet
    _set(doc_id, website="delivered", reading_room="awaiting_confirmation")
    assert _states(web, doc_id) == _all("待人工处理", "manual")
    _set(doc_id, website="failed")
    assert _states(web, doc_id) == _all("部分失败", "partial_failure")
    _set(doc_id, website="verified", reading_room="delivered")
    assert _states(web, doc_id) == _all("已发布", "published")

    tok = web.token(clerk)
    clerk.post(f"/documents/{doc_id}/withdraw", data={"csrf_token": tok, "reason": "文件已废止"})
    assert _states(web, doc_id) == _all("撤回中", "withdrawing")  # withdrawals queued on both destinations
    from orchestrator.db import session_scope
    from orchestrator.models import Delivery

    with session_scope() as s:
        s.execute(update(Delivery).where(Delivery.document_id == doc_id, Delivery.action == "withdraw")
                  .values(status="delivered"))
    assert _states(web, doc_id) == _all("已撤回", "withdrawn")

    later = (dt.datetime.now(dt.UTC) + dt.timedelta(days=3)).isoformat()
    from orchestrator.documents import submission

    sched = submission.submit({"entry": "03", "publisher": PUBLISHER, "title": "定时", "body": "<p>b</p>",
                            "formed_on": "2026-11-02", "publish_at": later}, enqueue=False).document_id
    assert _states(web, sched)["page"] == "定时待发"
    rev = _submit(clerk, entry="R-01", publisher="测试审核局").json()["document_id"]
    assert _states(web, rev)["list"] == "待审查"


def test_state_rule_table():
    from orchestrator.documents.state import state_from_statuses as f

    assert f("active", ["delivered", "verified"]).label == "已发布"
    assert f("active", ["delivered", "cancelled"]).label == "已发布"  # a cancelled destination is not owed
    assert f("active", ["failed", "not_configured"]).label == "发布失败"
    assert f("active", ["failed", "sending"]).label == "部分失败"
    assert f("active", ["removed", "delivered"]).label == "部分失败"
    assert f("active", ["awaiting_confirmation", "retrying"]).label == "待人工处理"
    assert f("active", ["scheduled", "scheduled"]).label == "定时待发"
    assert f("active", ["awaiting_channel", "delivered"]).label == "发布中"
    assert f("active", []).label == "无投递"
    assert f("withdrawn", ["failed", "delivered"]).label == "撤回未完成"
    assert f("withdrawn", ["cancelled"]).label == "已撤回"
    assert f("rejected", ["delivered"]).label == "审查未通过"


def test_document_list_state_costs_a_fixed_number_of_queries(web):
    from orchestrator.db import get_engine

    clerk = web.client("clerk")
    ops = web.client("ops")

    def statements() -> int:
        seen: list[str] = []

        def count(conn, cursor, statement, *args):
            seen.append(statement)

        engine = get_engine()
        event.listen(engine, "before_cursor_execute", count)
        try:
            assert ops.get("/documents").status_code == 200
        finally:
            event.remove(engine, "before_cursor_execute", count)
        return len(seen)

    _submit(clerk)
    few = statements()
    for _ in range(6):
        _submit(clerk)
    assert statements() == few  # one aggregate for the states, not one query per document


# --- the CLI's per-channel options ---------------------------------------------------------------

def test_cli_submit_and_version_take_the_wechat_short_title(web, tmp_path):
    from orchestrator.cli import app

    runner = CliRunner()
    body = tmp_path / "正文.html"
    body.write_text("<p>正文</p>", encoding="utf-8")
    long_title = "关于" + "根河市司法局法律援助进社区进农村进牧区活动实施方案" * 2 + "的通知"
    args = ["submit", "--entry", "02", "--publisher", PUBLISHER, "--title", long_title, "--body", str(body),
            "--formed-on", "2026-11-02", "--json"]
    r = runner.invoke(app, args)
    assert r.exit_code != 0 and "32 个字" in r.output and "两微一端" in r.output
    r = runner.invoke(app, [*args, "--wechat-title", "法律援助进社区活动实施方案"])
    assert r.exit_code == 0, r.output
    doc_id = json.loads(r.stdout)["document_id"]
    assert _doc(doc_id)[0].channel_options == {"wechat": {"title": "法律援助进社区活动实施方案"}}

    # A new version with a title WeChat cannot take is refused unless a new short title comes with it.
    r = runner.invoke(app, ["version", str(doc_id), "--wechat-title", "x" * 40])
    assert r.exit_code != 0 and "32 个字" in r.output
    r = runner.invoke(app, ["version", str(doc_id), "--channel-option", "wechat.title=更正后的短标题", "--json"])
    assert r.exit_code == 0, r.output
    assert _doc(doc_id)[0].channel_options == {"wechat": {"title": "更正后的短标题"}}
    r = runner.invoke(app, ["version", str(doc_id), "--channel-option", "wechat-title"])
    assert r.exit_code != 0 and "渠道编码.选项=值" in r.output
    # The same check through the web form's short title field for a new version.
    clerk = web.client("clerk")
    r = clerk.post(f"/documents/{doc_id}/versions", data={"csrf_token": web.token(clerk), "title": long_title,
                                                          "wechat_title": "短" * 33, "body_format": "html"})
    assert "更正未保存" in r.text and "32 个字" in r.text
    assert _doc(doc_id)[0].current_version == 2


# --- smaller things a clerk or ops person hit ------------------------------------------------------

def test_clerk_without_catalog_entries_sees_the_explanation_outside_the_redrawn_tree(web):
    import re

    from tests.web_support import make_web_user

    web.users["stray"] = make_web_user("clerk", "档案室")
    html = web.client("stray").get("/submit").text
    # The page script empties #tree when it draws the catalog: the explanation must not live inside it.
    assert re.search(r'<div class="tree" id="tree"[^>]*></div>', html)
    assert 'id="no-entries"' in html and "您所在科室（档案室）在目录中没有负责的事项" in html


def test_admin_is_warned_about_an_office_no_catalog_entry_names(web):
    from orchestrator import auth

    admin = web.client("admin")
    tok = web.token(admin, "/users")
    new = {"csrf_token": tok, "username": "li.si", "display_name": "李四", "role": "clerk", "office": "不存在的科",
           "password": "Abcdefgh-19"}
    r = admin.post("/users", data=new)
    assert r.status_code == 422 and "不是目录中任何事项的责任科室" in r.text and 'id="nu-confirm-office"' in r.text
    with pytest.raises(auth.AuthError):
        auth.get_user("li.si")  # nothing created
    r = admin.post("/users", data={**new, "confirm_office": "true"})
    assert "已创建用户 li.si" in r.text and auth.get_user("li.si").office == "不存在的科"
    # A known office needs no confirmation.
    r = admin.post("/users", data={**new, "username": "wang.wu", "office": "办公室"})
    assert "已创建用户 wang.wu" in r.text

    uid = auth.get_user("wang.wu").id
    edit = {"csrf_token": tok, "role": "clerk", "office": "另一个不存在的科", "active": "true"}
    r = admin.post(f"/users/{uid}", data=edit)
    assert r.status_code == 422 and "不是目录中任何事项的责任科室" in r.text and 'id="confirm-office"' in r.text
    assert auth.get_user("wang.wu").office == "办公室"
    r = admin.post(f"/users/{uid}", data={**edit, "confirm_office": "true"})
    assert "已保存用户 wang.wu" in r.text and auth.get_user("wang.wu").office == "另一个不存在的科"


def _withdraw_task(web, clerk) -> tuple[int, dict[str, int]]:
    """A document on 02 (website, wechat, bulletin board) and 03 (website, reading room), delivered, then withdrawn."""
    from orchestrator.db import session_scope
    from orchestrator.models import Delivery

    a = _submit(clerk, entry="02", title="部门会议", wechat_title="部门会议").json()["document_id"]
    b = _submit(clerk, entry="03", title="人工渠道").json()["document_id"]
    for doc_id in (a, b):
        with session_scope() as s:
            s.execute(update(Delivery).where(Delivery.document_id == doc_id).values(status="delivered"))
        clerk.post(f"/documents/{doc_id}/withdraw", data={"csrf_token": web.token(clerk), "reason": "已废止"})
    ids = {}
    with session_scope() as s:
        for d in s.scalars(select(Delivery).where(Delivery.document_id.in_([a, b]), Delivery.action == "withdraw")):
            d.status = "awaiting_confirmation"
            if d.channel == "wechat":
                d.receipt = {"data": {"task": "该文件已撤回。请登录 mp.weixin.qq.com 删除该文章",
                                      "article_url": "https://mp.weixin.qq.com/s/abc"}}
            else:
                d.receipt = {"data": {"task": "该文件已撤回，请在该渠道撤下", "packet": {"title": "人工渠道"}}}
            ids[d.channel] = d.id
    return a, ids


def test_task_pages_word_the_material_per_channel_and_action(web):
    clerk, ops = web.client("clerk"), web.client("ops")
    _, ids = _withdraw_task(web, clerk)
    wechat = ops.get(f"/deliveries/{ids['wechat']}/task").text
    assert "要删除的微信文章" in wechat and "可打印" not in wechat and "放置于" not in wechat
    assert 'href="https://mp.weixin.qq.com/s/abc"' in wechat
    room = ops.get(f"/deliveries/{ids['reading_room']}/task").text
    assert "要撤下的材料（请从公开查阅点撤下以下文件）" in room and "可打印" not in room
    from orchestrator.web.manual_tasks import packet_heading

    assert packet_heading("reading_room", "publish", "公开查阅点") == ("公开材料（可打印，放置于公开查阅点）", True)
    assert packet_heading("press", "publish", "发布会/听证会")[0] == "公开材料（供发布会/听证会发布使用）"


def test_confirm_forms_and_task_pages_speak_of_the_channel_at_hand(web):
    """The confirm form's example and link field fit each channel; an automatic delivery's task page says there is
    nothing for a person to do; the to-do text names the channel as a channel (“其他” reads as a name, not a word)."""
    from orchestrator.db import session_scope
    from orchestrator.models import Delivery
    from orchestrator.notify import todo

    clerk, ops = web.client("clerk"), web.client("ops")
    doc_id, ids = _withdraw_task(web, clerk)
    page = ops.get(f"/documents/{doc_id}").text
    wechat_form = page[page.index(f'action="/deliveries/{ids["wechat"]}/confirm"'):]
    wechat_form = wechat_form[:wechat_form.index("</form>")]
    assert "如：已在公众号推送" in wechat_form and "公开查阅点" not in wechat_form
    assert "发布后的链接（建议填写，便于核验）" in wechat_form
    with session_scope() as s:
        auto = s.scalar(select(Delivery.id).where(Delivery.document_id == doc_id, Delivery.channel == "website",
                                                  Delivery.action == "publish"))
    task = ops.get(f"/deliveries/{auto}/task").text
    assert 'id="no-manual-work"' in task and "不需要人工操作" in task and "请按该渠道的方式完成发布" not in task
    assert "请按该渠道的方式完成发布" not in ops.get(f"/deliveries/{ids['reading_room']}/task").text  # its own task text
    with session_scope() as s:
        from orchestrator import auth

        items = todo.items_for(s, auth.get_user(web.users["ops"]))
    details = [i.detail for i in items if i.kind == "manual_task"]
    assert "在“两微一端”渠道撤下后确认" in details and "在“公开查阅点”渠道撤下后确认" in details, details


def test_confirmed_completion_time_is_shown(web):
    clerk, ops = web.client("clerk"), web.client("ops")
    doc_id, ids = _withdraw_task(web, clerk)
    r = ops.post(f"/deliveries/{ids['wechat']}/confirm", data={"csrf_token": web.token(ops), "by": "张三",
                                                               "when": "2026-11-20T15:30", "note": "已删除"})
    assert "已确认" in r.text
    page = ops.get(f"/documents/{doc_id}").text
    assert "完成于 2026-11-20 15:30" in page and "确认人：张三" in page
    task = ops.get(f"/deliveries/{ids['wechat']}/task").text
    assert "已由 张三 确认完成，完成时间 2026-11-20 15:30" in task


def test_no_channel_codes_or_cli_jargon_where_a_user_looks(web):
    import re

    clerk = web.client("clerk")
    long_title = "关于" + "根河市司法局法律援助进社区进农村进牧区活动实施方案" * 2 + "的通知"
    r = _submit(clerk, entry="02", title=long_title)
    fields = [e["field"] for e in r.json()["errors"]]
    assert fields == ["渠道“两微一端”"]  # not "渠道 wechat"
    admin = web.client("admin")
    r = admin.post("/users", data={"csrf_token": web.token(admin, "/users"), "username": "zhao.liu", "role": "clerk",
                                   "office": "", "password": "Abcdefgh-19"})
    assert "必须指定所属科室" in r.text and "--office" not in r.text
    doc_id = _submit(clerk).json()["document_id"]
    page = web.client("ops").get(f"/documents/{doc_id}").text
    destinations = re.findall(r'<tr data-id="\d+" data-channel="\w+">\s*<td[^>]*>[^<]*</td>\s*<td class="small">([^<]*)</td>',
                              page)
    assert sorted(destinations) == ["公开查阅点", "政府网站"]  # 去向: Chinese names, not website / reading_room

    from orchestrator.db import session_scope
    from orchestrator.models import Delivery, DeliveryAttempt

    with session_scope() as s:
        d = s.scalars(select(Delivery).where(Delivery.document_id == doc_id, Delivery.channel == "website")).one()
        d.status, d.error_class, d.last_error = "failed", "PermanentError", "接收端拒绝（400）"
        s.add(DeliveryAttempt(delivery_id=d.id, number=1, operation="publish", outcome="permanent",
                              error_class="PermanentError", message="接收端拒绝（400）"))
    ops = web.client("ops")
    page = ops.get(f"/documents/{doc_id}").text
    assert "第 1 次尝试（发布）" in page and "（publish）" not in page
    log = ops.get("/log", params={"q": "接收端拒绝（400）"}).text
    assert "永久错误（需人工处理）" in log and "PermanentError" not in log
    group = next(f for f in ops.get("/ops/data.json").json()["failures"] if f["error_class"] == "PermanentError")
    assert group["error_class_label"] == "永久错误（需人工处理）"


def test_excel_export_has_real_times_widths_and_a_frozen_header(web):
    import io

    from openpyxl import load_workbook

    from orchestrator.db import session_scope
    from orchestrator.models import Delivery, DeliveryAttempt

    doc_id = _submit(web.client("clerk")).json()["document_id"]
    started = dt.datetime(2026, 11, 2, 1, 2, 3, tzinfo=dt.UTC)  # 09:02:03 in Beijing
    with session_scope() as s:
        d = s.scalars(select(Delivery).where(Delivery.document_id == doc_id, Delivery.channel == "website")).one()
        s.add(DeliveryAttempt(delivery_id=d.id, number=1, outcome="transient", message="超时", started_at=started,
                              ended_at=started + dt.timedelta(seconds=5)))
    r = web.client("ops").get("/log.xlsx", params={"q": "超时"})
    ws = load_workbook(io.BytesIO(r.content)).active
    assert ws.freeze_panes == "A2"
    assert ws.cell(1, 1).value == "尝试开始" and ws.cell(1, 1).font.b
    cell = ws.cell(2, 1)
    assert cell.is_date and cell.value == dt.datetime(2026, 11, 2, 9, 2, 3)
    assert ws.cell(2, 2).value == dt.datetime(2026, 11, 2, 9, 2, 8) and "yy" in cell.number_format
    assert ws.column_dimensions["A"].width >= 19 and ws.column_dimensions["D"].width >= 30
    assert ws.cell(2, 8).value == "政府网站"  # 去向 in Chinese


# --- the agency profile ----------------------------------------------------------------------------

VALID_USCC = "11152100MB0165432F"  # check digit computed by hand from GB 32100-2015's weights


def test_agency_profile_validates_the_uscc_and_sets_the_index_prefix(web):
    import yaml

    from orchestrator.catalog.schema import Catalog
    from orchestrator.catalog_sync import sync_catalog
    from orchestrator.db import session_scope
    from tests.api_helpers import TEST_CATALOG

    admin = web.client("admin")
    assert web.client("clerk").get("/profile").status_code == 403
    tok = web.token(admin, "/profile")
    good = {"csrf_token": tok, "name": PUBLISHER, "uscc": VALID_USCC, "address": "根河市好里堡街道 1 号",
            "hours": "工作日 8:30—17:30", "phone": "0470-5201234", "email": "gk@example.gov.cn"}
    for uscc, message in (("11152100MB0165432A", "校验位不正确"), ("11152100MB016543", "应为 18 位"),
                          ("11152100MB0165432I", "不允许的字符")):
        r = admin.post("/profile", data={**good, "uscc": uscc})
        assert r.status_code == 422 and message in r.text, uscc
    r = admin.post("/profile", data={**good, "name": "", "email": "not-an-address"})
    assert r.status_code == 422 and "请填写机关名称" in r.text and "电子邮箱格式不正确" in r.text

    r = admin.post("/profile", data={**good, "uscc": VALID_USCC.lower()})  # typed in lower case: accepted, stored upper
    assert f"索引号以 {VALID_USCC} 开头" in r.text
    assert f'value="{VALID_USCC}"' in admin.get("/profile").text
    res = _submit(web.client("clerk")).json()
    assert res["index_no"].startswith(f"{VALID_USCC}/2026-")
    # The catalog file pins another prefix; a sync keeps the profile's.
    with session_scope() as s:
        sync_catalog(s, Catalog.model_validate(yaml.safe_load(TEST_CATALOG.read_text(encoding="utf-8"))))
    assert _submit(web.client("clerk")).json()["index_no"].startswith(f"{VALID_USCC}/2026-")

    r = admin.post("/profile", data={**good, "name": "不在目录中的机关"})
    assert "目录中没有名为“不在目录中的机关”的发布机构" in r.text
    admin.post("/profile", data=good)


def test_site_gazette_and_screens_use_the_agency_profile_and_show_the_correction_note(web, tmp_path):
    import datetime as _dt

    from channels.base import Action
    from channels.gazette import GazetteChannel
    from channels.site import SiteChannel
    from orchestrator.documents import profile
    from tests.static_channel_helpers import context, payload

    profile.save(profile.Profile(name="根河市司法局", uscc=VALID_USCC, address="根河市好里堡街道 1 号",
                                 hours="工作日 8:30—17:30", phone="0470-5201234", email="gk@example.gov.cn"))
    site = SiteChannel({"output_dir": str(tmp_path / "site"), "public_base_url": "http://127.0.0.1:9/"}, name="site")
    site.publish(context(payload(7)))
    corrected = payload(7, version=2, title="更正后的通知", extra={"change_note": "更正第二段的日期"},
                        updated_at=_dt.datetime(2026, 3, 5, 9, 0, tzinfo=_dt.timezone(_dt.timedelta(hours=8))))
    site.update(context(corrected, Action.update))
    article = (tmp_path / "site" / "art" / "7.html").read_text(encoding="utf-8")
    assert "主办单位：根河市司法局" in article
    assert "更正说明" in article and "更正第二段的日期" in article and "2026年03月05日更正" in article
    guide = (tmp_path / "site" / "guide.html").read_text(encoding="utf-8")
    for text in ("根河市好里堡街道 1 号", "工作日 8:30—17:30", "0470-5201234", "gk@example.gov.cn"):
        assert text in guide

    gazette = GazetteChannel({"output_dir": str(tmp_path / "gazette"), "public_base_url": "http://127.0.0.1:9/"},
                             name="gazette")
    gazette.publish(context(payload(8)))
    index = (tmp_path / "gazette" / "index.html").read_text(encoding="utf-8")
    assert "主办：根河市司法局" in index and "电话：0470-5201234" in index

    from channels.screens.render import screen_context

    class _Screen:
        size = (1920, 1080)
        orientation = "landscape"
        heading = "公示"

    assert screen_context(_Screen())["agency"]["name"] == "根河市司法局"


def test_site_list_pages_name_the_publisher_in_the_footer_without_a_profile(web, tmp_path):
    from channels.site import SiteChannel
    from orchestrator.documents import profile
    from tests.static_channel_helpers import context, payload

    profile.save(profile.Profile())  # no agency profile, and no org_name in the channel's configuration
    site = SiteChannel({"output_dir": str(tmp_path / "site"), "public_base_url": "http://127.0.0.1:9/"}, name="site")
    site.publish(context(payload(9)))
    lists = list((tmp_path / "site" / "list").rglob("index.html"))
    assert lists
    for page in lists:
        assert "主办单位：根河市司法局" in page.read_text(encoding="utf-8"), page


def test_withdrawal_cancels_a_delivery_that_was_never_configured(web):
    """A channel that was never configured never showed the document: withdrawing cancels that row, so the document
    reaches 已撤回 (not 撤回未完成 for good) and an ops retry cannot publish the withdrawn text later."""
    clerk = web.client("clerk")
    doc_id = _submit(clerk).json()["document_id"]
    _set(doc_id, website="verified", reading_room="not_configured")
    assert _states(web, doc_id) == _all("部分失败", "partial_failure")
    r = clerk.post(f"/documents/{doc_id}/withdraw", data={"csrf_token": web.token(clerk), "reason": "文件已废止"})
    assert r.status_code in (200, 303)
    _, ds = _doc(doc_id)
    by_key = {(d.channel, d.action): d.status for d in ds}
    assert by_key == {("website", "publish"): "verified", ("website", "withdraw"): "queued",
                      ("reading_room", "publish"): "cancelled"}
    from orchestrator.db import session_scope
    from orchestrator.models import Delivery

    with session_scope() as s:
        s.execute(update(Delivery).where(Delivery.document_id == doc_id, Delivery.action == "withdraw")
                  .values(status="verified"))
    assert _states(web, doc_id) == _all("已撤回", "withdrawn")
    ops = web.client("ops")
    reading_room = next(d for d in ds if d.channel == "reading_room")
    doc_page = ops.get(f"/documents/{doc_id}").text
    assert f'action="/deliveries/{reading_room.id}/retry"' not in doc_page  # no button that can only be refused
    page = ops.post(f"/deliveries/{reading_room.id}/retry", data={"csrf_token": web.token(ops)}).text
    assert "未重试" in page
    _, after = _doc(doc_id)
    assert next(d for d in after if d.id == reading_room.id).status == "cancelled"


def test_seed_destinations_show_chinese_names_and_adapters_never_see_the_label(tmp_path, monkeypatch):
    """The 去向 column: every destination of the seed channels.yaml has a Chinese label (a clerk never reads `site`,
    `screens`, `subscribers`, `official-account`); the label stays out of the adapter's settings."""
    import re

    import yaml

    from channels.registry import ChannelRegistry
    from orchestrator.settings import get_settings
    from orchestrator.web.core import destination_label

    seed = ROOT / "config" / "channels.yaml"
    monkeypatch.setenv("ORCH_CHANNELS_FILE", str(seed))
    get_settings.cache_clear()
    try:
        raw = yaml.safe_load(seed.read_text(encoding="utf-8"))
        named = [(code, d["name"]) for code, spec in raw["channels"].items() for d in spec.get("destinations") or []]
        assert ("website", "site") in named and ("targeted_push", "subscribers") in named
        labels = {key: destination_label(*key) for key in named}
        assert labels[("website", "site")] == "政府信息公开专栏（本系统）"
        assert all(re.search(r"[\u4e00-\u9fff]", label) for label in labels.values()), labels
        assert destination_label("reading_room", "reading_room") == "公开查阅点"  # shorthand channel: its own name
        assert destination_label("website", "my-cms") == "my-cms"  # an unlabelled destination keeps its name
    finally:
        get_settings.cache_clear()
    reg = ChannelRegistry.load(seed)
    assert all("label" not in d.config for dests in reg.channels.values() for d in dests)


def test_timeline_names_system_actors_in_chinese():
    """The delivery timeline a clerk reads: 系统巡检 and 工作进程 <pid>, not `sweeper` or `host:pid`; people stay as they are."""
    from orchestrator.delivery.engine import worker_id
    from orchestrator.web.documents import actor_label

    pid = worker_id().rsplit(":", 1)[1]
    assert actor_label(worker_id()) == f"工作进程 {pid}"
    assert actor_label("vm-01.example:2811") == "工作进程 2811"
    assert actor_label("sweeper") == "系统巡检" and actor_label("recheck") == "定期复查"
    assert actor_label("zhangsan") == "zhangsan" and actor_label("") == ""


def test_registrant_shows_as_the_persons_name_and_cancelled_rows_drop_their_old_error(web):
    """登记人 reads 张三 (display name), not the login name, on the document page, its version history and the review
    list; a delivery's red error shows while it is failing and not once it is cancelled."""
    from orchestrator.db import session_scope
    from orchestrator.models import Delivery
    from tests.web_support import OFFICE_A, login, make_web_user

    zhang = make_web_user("clerk", OFFICE_A, name="zhangsan", display_name="张三")
    clerk = login(web.client(), zhang)
    doc_id = _submit(clerk).json()["document_id"]
    page = clerk.get(f"/documents/{doc_id}").text
    registrant = page.split("<dt>登记人</dt>", 1)[1].split("</dd>", 1)[0]
    assert "张三" in registrant and "zhangsan" not in registrant
    review_doc = _submit(clerk, entry="R-01", publisher="测试审核局", title="任免名单公示").json()["document_id"]
    queue = web.client("reviewer").get("/review").text
    assert "任免名单公示" in queue and "张三" in queue and "zhangsan" not in queue
    assert review_doc

    _, ds = _doc(doc_id)
    room = next(d for d in ds if d.channel == "reading_room")

    def error_cell() -> str:
        html = clerk.get(f"/documents/{doc_id}").text
        row = html.split(f'data-id="{room.id}"', 1)[1].split("</tr>", 1)[0]
        return row.split('data-role="error">', 1)[1].split("</div>", 1)[0]

    with session_scope() as s:
        s.execute(update(Delivery).where(Delivery.id == room.id).values(status="failed", last_error="旧的错误：对方拒收"))
    assert "旧的错误：对方拒收" in error_cell()
    with session_scope() as s:
        s.execute(update(Delivery).where(Delivery.id == room.id).values(status="cancelled"))
    assert error_cell().strip() == ""

    r = clerk.post(f"/documents/{doc_id}/versions", data={"csrf_token": web.token(clerk), "title": "工作动态（更正）",
                                                          "body": "更正后的正文", "body_format": "markdown",
                                                          "change_note": "更正错字", "keep_attachments": "true"})
    assert r.status_code == 200
    history = clerk.get(f"/documents/{doc_id}").text.split("<th>登记人</th>", 1)[1]
    assert history.count("<td>张三</td>") == 2 and "zhangsan" not in history


def test_saving_the_agency_profile_rebuilds_the_site_guide_and_gazette_index(web, tmp_path, monkeypatch):
    """The 机关信息 form: once saved, /site/guide.html and the gazette index show the new address and phone at once
    (not only after the next publication). The web app reaches the pages through the channel registry."""
    import yaml

    from channels.gazette import GazetteChannel
    from channels.site import SiteChannel
    from orchestrator.documents import profile
    from orchestrator.settings import get_settings
    from tests.static_channel_helpers import context, payload

    site_cfg = {"output_dir": str(tmp_path / "site"), "public_base_url": "http://127.0.0.1:9/"}
    gazette_cfg = {"output_dir": str(tmp_path / "gazette"), "public_base_url": "http://127.0.0.1:9/"}
    channels = tmp_path / "channels-profile.yaml"
    channels.write_text(yaml.safe_dump({"channels": {
        "website": {"destinations": [{"name": "site", "adapter": "site", **site_cfg}]},
        "gazette": {"destinations": [{"name": "gazette", "adapter": "gazette", **gazette_cfg}]},
    }}, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("ORCH_CHANNELS_FILE", str(channels))
    get_settings.cache_clear()

    profile.save(profile.Profile(name="根河市司法局"))
    SiteChannel(site_cfg, name="site").publish(context(payload(11)))
    GazetteChannel(gazette_cfg, name="gazette").publish(context(payload(12)))
    guide = tmp_path / "site" / "guide.html"
    assert "根河市好里堡街道 9 号" not in guide.read_text(encoding="utf-8")

    admin = web.client("admin")
    r = admin.post("/profile", data={"csrf_token": web.token(admin, "/profile"), "name": "根河市司法局",
                                     "address": "根河市好里堡街道 9 号", "phone": "0470-5209999",
                                     "hours": "工作日 8:30—17:30", "email": "gk@example.gov.cn"})
    assert r.status_code == 200 and "机关信息已保存" in r.text
    text = guide.read_text(encoding="utf-8")
    assert "根河市好里堡街道 9 号" in text and "0470-5209999" in text
    assert "电话：0470-5209999" in (tmp_path / "gazette" / "index.html").read_text(encoding="utf-8")
