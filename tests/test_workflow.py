"""Workflow rules through the web app, the REST API and the CLI against a real PostgreSQL (no workers: the
fan-out end of these rules is in test_workflow_fanout.py): a rejected document goes back to review, the admin's
review switch, 生成日期 in the future, the derived document state, per-channel options on the CLI."""

from __future__ import annotations

import datetime as dt
import json
import shutil

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
    from orchestrator.service import today_local

    return today_local() + dt.timedelta(days=60)


def test_future_formed_on_is_refused_by_service_web_and_api(web):
    from orchestrator import service
    from orchestrator.service import ServiceError, today_local
    from tests.api_helpers import counts

    before = counts()
    future = _future()
    with pytest.raises(ServiceError) as err:
        service.submit({"entry": "03", "publisher": PUBLISHER, "title": "t", "body": "<p>b</p>",
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
    assert counts() == before  # nothing stored
    # Today is fine, and a future publication time goes through 定时发布.
    r = api.post("/api/v1/documents", headers={"Authorization": f"Bearer {token}"},
                 json={"entry": "03", "publisher": PUBLISHER, "title": "t", "body": "<p>b</p>",
                       "formed_on": today_local().isoformat(),
                       "publish_at": (dt.datetime.now(dt.UTC) + dt.timedelta(days=60)).isoformat()})
    assert r.status_code == 201, r.text


def test_formed_on_rule_at_the_day_boundary():
    from orchestrator.service import formed_on_in_future

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
    from orchestrator import service

    sched = service.submit({"entry": "03", "publisher": PUBLISHER, "title": "定时", "body": "<p>b</p>",
                            "formed_on": "2026-11-02", "publish_at": later}, enqueue=False).document_id
    assert _states(web, sched)["page"] == "定时待发"
    rev = _submit(clerk, entry="R-01", publisher="测试审核局").json()["document_id"]
    assert _states(web, rev)["list"] == "待审查"


def test_state_rule_table():
    from orchestrator.docstate import state_from_statuses as f

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
