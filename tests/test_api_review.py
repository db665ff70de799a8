"""Review chains through the REST API, on a real PostgreSQL (a private database: chains and bindings are global) and
Redis: the chain's rule for the current step decides who may act (a named clerk signs off, another office's reviewer
is refused with the step and who may act), approve / send back / reject with a step guard and comments, the
resubmission restarting the chain as configured, hostile bodies refused in Chinese with nothing changed, the review
timeline as JSON and the 审批单 downloads. The last test runs the real fan-out (Celery workers and beat, an HTTP
receiver): no delivery row exists before the final approval made through the API."""

from __future__ import annotations

import datetime as dt
import io
import json
import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.api_helpers import configure, make_user
from tests.api_helpers import migrated_pg as migrated_pg  # noqa: F401  (a private database: bindings are global)
from tests.receiver import Receiver
from tests.review_support import CHAIN_PUBLISHER, OFFICE, OTHER_OFFICE, SECRECY_OFFICE, setup_chains, write_catalog
from tests.test_api import assert_refused


@pytest.fixture
def receiver():
    with Receiver() as r:
        yield r


def _clear_chains() -> None:
    from orchestrator.db import session_scope
    from orchestrator.review.models import ReviewBinding, ReviewChain

    with session_scope() as s:  # each test starts without chains (the module's database is shared by its tests)
        s.query(ReviewBinding).delete()
        for c in s.scalars(select(ReviewChain)):
            s.delete(c)


class Api:
    def __init__(self, client: TestClient, users: dict[str, tuple[str, str]]) -> None:
        self.client = client
        self.users = users

    def name(self, who: str) -> str:
        return self.users[who][0]

    def h(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.users[who][1]}"}

    def submit(self, entry: str = "GZ-01", title: str = "关于规范行政执法的若干规定") -> dict:
        r = self.client.post("/api/v1/documents", headers=self.h("clerk"), json={
            "entry": entry, "publisher": CHAIN_PUBLISHER, "title": title, "body": "<p>第一条 正文</p>",
            "formed_on": "2026-11-02"})
        assert r.status_code == 201, r.text
        return r.json()

    def act(self, who: str, doc_id: int, action: str, **body):
        return self.client.post(f"/api/v1/documents/{doc_id}/{action}", headers=self.h(who), json=body)

    def ok(self, who: str, doc_id: int, action: str, **body) -> dict:
        r = self.act(who, doc_id, action, **body)
        assert r.status_code == 200, r.text
        return r.json()

    def review(self, doc_id: int, who: str = "clerk") -> dict:
        r = self.client.get(f"/api/v1/documents/{doc_id}/review", headers=self.h(who))
        assert r.status_code == 200, r.text
        return r.json()


def _users() -> dict[str, tuple[str, str]]:
    return {
        "clerk": make_user("clerk", OFFICE),
        "named": make_user("clerk", OFFICE),  # a clerk the chain names at 终审
        "clerk_other": make_user("clerk", OTHER_OFFICE),
        "first": make_user("reviewer", OFFICE),
        "other": make_user("reviewer", OTHER_OFFICE),
        "second": make_user("reviewer"),
        "secrecy": make_user("reviewer", SECRECY_OFFICE),
        "ops": make_user("ops"),
    }


@pytest.fixture
def api(orch_env, redis_server, tmp_path, monkeypatch) -> Api:
    configure(monkeypatch, tmp_path, redis_server.url, {
        "website": [{"name": "website", "adapter": "http_push", "url": "http://127.0.0.1:9/never", "timeout": 1}],
        "reading_room": [{"name": "reading_room", "adapter": "manual"}],
    }, extra_catalogs=[write_catalog(tmp_path)])
    from orchestrator.app import create_app

    _clear_chains()
    return Api(TestClient(create_app(), raise_server_exceptions=False), _users())


def _snapshot(doc_id: int) -> tuple:
    """Everything a refused request must leave alone: the document, its review row, its actions, its deliveries."""
    from orchestrator.db import session_scope
    from orchestrator.models import Delivery, Document, DocumentVersion
    from orchestrator.review.models import DocumentReview, ReviewAction

    with session_scope() as s:
        doc = s.get(Document, doc_id)
        r = s.get(DocumentReview, doc_id)
        n_actions = s.scalar(select(func.count()).select_from(ReviewAction).where(ReviewAction.document_id == doc_id))
        n_deliveries = s.scalar(select(func.count()).select_from(Delivery).where(Delivery.document_id == doc_id))
        n_versions = s.scalar(select(func.count()).select_from(DocumentVersion)
                              .where(DocumentVersion.document_id == doc_id))
        return (doc.status, doc.current_version, r.state, r.current_step, r.version, r.returned_from, n_actions,
                n_deliveries, n_versions)


def _deliveries(doc_id: int) -> int:
    return _snapshot(doc_id)[7]


def test_the_chain_decides_who_acts_through_the_api_and_the_timeline_lists_every_action(api):
    setup_chains(api.name("named"))  # 初审 (own office) → 复审 → 保密审查 (保密办) → 终审 (the named clerk)
    res = api.submit()
    doc_id = res["document_id"]
    assert res["delivery_ids"] == [] and any("初审→复审→保密审查→终审" in w for w in res["warnings"])

    state = api.review(doc_id)
    assert (state["chain"], state["state"], state["state_label"]) == ("规范性文件四审", "in_review", "审核中")
    assert state["current_step"]["index"] == 0 and state["current_step"]["name"] == "初审"
    assert [s["name"] for s in state["steps"]] == ["初审", "复审", "保密审查", "终审"]
    assert [s["status"] for s in state["steps"]] == ["current", "pending", "pending", "pending"]
    assert state["steps"][3]["users"] == [api.name("named")] and "指定人员" in state["steps"][3]["who"]
    assert state["may_act"] is False and "须由审核人办理" in state["why_not"]  # the clerk may not act at 初审
    assert api.review(doc_id, "first")["may_act"] is True
    assert [a["decision"] for a in state["actions"]] == ["submit"]

    # Not allowed at 初审: another office's reviewer, ops, the named clerk (a clerk, not a reviewer) -- 403 naming
    # the step and who may act, nothing changed.
    before = _snapshot(doc_id)
    r = api.act("other", doc_id, "approve")
    assert_refused(r, 403, "初审", "文件的责任科室（办公室）", OTHER_OFFICE)
    assert_refused(api.act("other", doc_id, "approve", step=0, comment="越权"), 403, "初审")
    assert_refused(api.act("other", doc_id, "send-back", step=0, comment="越权退回"), 403, "初审")
    assert_refused(api.act("other", doc_id, "reject", step=0, reason="越权"), 403, "初审")
    assert_refused(api.act("ops", doc_id, "approve"), 403, "初审", "须由审核人办理", "运维人员")
    assert_refused(api.act("named", doc_id, "approve"), 403, "初审", "须由审核人办理", "经办人")
    # Another office's clerk cannot see it at all (as on the web): not found, for reading and for deciding.
    assert_refused(api.client.get(f"/api/v1/documents/{doc_id}/review", headers=api.h("clerk_other")), 404, "不存在")
    assert_refused(api.act("clerk_other", doc_id, "approve"), 404, "不存在")
    assert _snapshot(doc_id) == before

    # 初审 → 复审 → 保密审查, each through the API; a stale step is 409; nothing is delivered meanwhile.
    out = api.ok("first", doc_id, "approve", step=0, comment="内容准确，同意")
    assert out["delivery_ids"] == [] and out["message"] == "已通过，转入下一步“复审”"
    assert out["status"] == "pending_review" and out["review"]["current_step"]["name"] == "复审"
    assert_refused(api.act("first", doc_id, "approve", step=0), 409, "审核步骤已变化", "复审")
    assert_refused(api.act("second", doc_id, "send-back", step=0, comment="旧页面"), 409, "审核步骤已变化")
    assert_refused(api.act("second", doc_id, "reject", step=0, reason="旧页面"), 409, "审核步骤已变化")
    assert api.ok("second", doc_id, "approve", step=1)["message"] == "已通过，转入下一步“保密审查”"
    assert_refused(api.act("second", doc_id, "approve", step=2), 403, "保密审查", "须由保密办办理")
    assert api.ok("secrecy", doc_id, "approve", step=2, comment="无涉密内容")["message"] == "已通过，转入下一步“终审”"
    # 终审 names one person: a reviewer is refused with the name; the named clerk sends it back to the clerk.
    assert_refused(api.act("secrecy", doc_id, "approve", step=3), 403, "终审", "仅限指定人员", api.name("named"))
    assert _deliveries(doc_id) == 0
    assert_refused(api.act("named", doc_id, "send-back", step=3), 422, "必须填写退回意见")
    out = api.ok("named", doc_id, "send-back", step=3, comment="第一条表述需修改", target="clerk")
    assert out["message"] == "已退回经办人修改（终审）" and out["review"]["state"] == "returned"
    assert out["review"]["returned"] is True and out["review"]["current_step"]["name"] == "终审"
    assert_refused(api.act("named", doc_id, "approve", step=3), 409, "已退回经办人修改")

    # The clerk's new version restarts the chain from the first step (the chain's setting: from_start).
    r = api.client.post(f"/api/v1/documents/{doc_id}/versions", headers=api.h("clerk"),
                        json={"body": "<p>第一条 修改后的正文</p>", "change_note": "按终审意见修改"})
    assert r.status_code == 201 and r.json()["delivery_ids"] == [], r.text
    assert any("已重新提交审核，从“初审”开始" in w for w in r.json()["warnings"])
    state = api.review(doc_id)
    assert (state["state"], state["current_step"]["index"], state["version"]) == ("in_review", 0, 2)
    for who, step in (("first", 0), ("second", 1), ("secrecy", 2)):
        assert api.ok(who, doc_id, "approve", step=step)["delivery_ids"] == []
        assert _deliveries(doc_id) == 0
    # The named clerk -- a clerk by role, allowed by the chain -- gives the final approval through the API.
    out = api.ok("named", doc_id, "approve", step=3, comment="同意发布")
    assert len(out["delivery_ids"]) == 2 and out["message"] == "审核全部通过，开始向 2 个渠道发布"
    assert out["status"] == "active" and out["review"]["state"] == "approved"
    assert _deliveries(doc_id) == 2
    assert_refused(api.act("named", doc_id, "approve", step=3), 409, "不在待审核状态")

    # The timeline: every action in order, with who, when, which step, the decision, the comment and the version;
    # the same rows the web page and the 审批单 read.
    from orchestrator.db import session_scope
    from orchestrator.review import chains

    state = api.review(doc_id, "ops")
    got = [(a["decision"], a["step_name"], a["version"], a["actor"], a["comment"], a["target"])
           for a in state["actions"]]
    clerk, named = api.name("clerk"), api.name("named")
    first, second, secrecy = api.name("first"), api.name("second"), api.name("secrecy")
    assert got == [
        ("submit", "", 1, clerk, "", ""), ("approve", "初审", 1, first, "内容准确，同意", ""),
        ("approve", "复审", 1, second, "", ""), ("approve", "保密审查", 1, secrecy, "无涉密内容", ""),
        ("send_back", "终审", 1, named, "第一条表述需修改", "经办人"), ("resubmit", "", 2, clerk, "", ""),
        ("approve", "初审", 2, first, "", ""), ("approve", "复审", 2, second, "", ""),
        ("approve", "保密审查", 2, secrecy, "", ""), ("approve", "终审", 2, named, "同意发布", "")]
    with session_scope() as s:
        rows = chains.actions_of(s, doc_id)
        assert [a["id"] for a in state["actions"]] == [a.id for a in rows]
        assert [a["step_index"] for a in state["actions"]] == [a.step_index for a in rows]
    ats = [dt.datetime.fromisoformat(a["at"]) for a in state["actions"]]
    assert all(at.tzinfo is not None for at in ats) and ats == sorted(ats)
    assert {a["decision_label"] for a in state["actions"]} == {"提交审核", "通过", "退回", "修改后重新提交"}
    assert [s["status"] for s in state["steps"]] == ["done"] * 4 and state["current_step"] is None

    # The 审批单 through the API: the docx lists every action; the PDF is the web app's print.
    from docx import Document as Docx

    r = api.client.get(f"/api/v1/documents/{doc_id}/approval.docx", headers=api.h("clerk"))
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"], r.text[:300]
    assert r.headers["content-type"].startswith("application/vnd.openxmlformats")
    tables = Docx(io.BytesIO(r.content)).tables
    meta = {row.cells[0].text: row.cells[1].text for row in tables[0].rows}
    assert meta["审核流程"] == "规范性文件四审" and meta["审核状态"] == "审核通过"
    lines = [[c.text for c in row.cells] for row in tables[1].rows][1:]
    assert len(lines) == len(got) and ("终审", "同意发布", "通过", named) == tuple(lines[-1][1:5])
    r = api.client.get(f"/api/v1/documents/{doc_id}/approval.pdf", headers=api.h("clerk"))
    assert r.status_code == 200 and r.content.startswith(b"%PDF"), r.text[:300]
    for path in ("approval.docx", "approval.pdf"):
        assert_refused(api.client.get(f"/api/v1/documents/{doc_id}/{path}", headers=api.h("clerk_other")), 404)
        assert api.client.get(f"/api/v1/documents/{doc_id}/{path}").status_code == 401


def test_send_back_to_an_earlier_step_and_a_restart_from_the_sender(api):
    setup_chains(api.name("named"), restart="from_sender")  # GZ-03 skips 复审
    doc_id = api.submit("GZ-03", "通知公告（跳过复审）")["document_id"]
    assert api.ok("first", doc_id, "approve", step=0)["message"] == "已通过，转入下一步“保密审查”"
    state = api.review(doc_id, "secrecy")
    assert [s["status"] for s in state["steps"]] == ["done", "skipped", "current", "pending"]
    assert state["send_back_targets"] == [{"target": "clerk", "label": "经办人"}, {"target": 0, "label": "初审"}]
    # Not to a skipped step, not to itself or a later one, not to a step that does not exist.
    before = _snapshot(doc_id)
    for target in (1, "复审", 2, 3, "终审", 99, "会签"):
        r = api.act("secrecy", doc_id, "send-back", step=2, comment="退回", target=target)
        assert r.status_code == 422 and ("只能退回给经办人或之前的审核步骤" in r.text or "审核步骤不存在" in r.text), r.text
    assert _snapshot(doc_id) == before
    # To 初审 by its name; 初审 signs off again; then back to the clerk (target omitted: the clerk).
    out = api.ok("secrecy", doc_id, "send-back", step=2, comment="请初审核对附件", target="初审")
    assert out["message"] == "已退回“初审”重新审核" and out["review"]["current_step"]["index"] == 0
    assert api.ok("first", doc_id, "approve", step=0, comment="已核对")["review"]["current_step"]["index"] == 2
    assert api.ok("secrecy", doc_id, "send-back", step=2, comment="删去第三段")["review"]["state"] == "returned"
    r = api.client.post(f"/api/v1/documents/{doc_id}/versions", headers=api.h("clerk"),
                        json={"body": "<p>删去第三段后</p>"})
    assert r.status_code == 201 and any("从“保密审查”开始" in w for w in r.json()["warnings"]), r.text
    state = api.review(doc_id)
    assert (state["state"], state["current_step"]["name"]) == ("in_review", "保密审查")  # from_sender
    api.ok("secrecy", doc_id, "approve", step=2)
    assert api.ok("named", doc_id, "approve")["status"] == "active"  # without a step: the current one
    got = [(a["decision"], a["step_name"], a["target"]) for a in api.review(doc_id)["actions"]]
    assert got == [("submit", "", ""), ("approve", "初审", ""), ("skip", "复审", ""), ("send_back", "保密审查", "初审"),
                   ("approve", "初审", ""), ("skip", "复审", ""), ("send_back", "保密审查", "经办人"),
                   ("resubmit", "", ""), ("approve", "保密审查", ""), ("approve", "终审", "")]


def test_hostile_bodies_are_refused_in_chinese_and_change_nothing(api):
    setup_chains(api.name("named"))
    doc_id = api.submit()["document_id"]
    url = f"/api/v1/documents/{doc_id}"
    h = api.h("first")
    before = _snapshot(doc_id)

    def raw(action: str, content: bytes | str, ctype: str = "application/json"):
        return api.client.post(f"{url}/{action}", content=content, headers={**h, "Content-Type": ctype})

    for action in ("approve", "send-back", "reject"):
        text = "reason" if action == "reject" else "comment"  # the decision's comment field (reject: its reason)
        assert_refused(raw(action, "step=0", "text/plain"), 415, "application/json")
        assert_refused(raw(action, "step=0&comment=x", "application/x-www-form-urlencoded"), 415)
        assert_refused(raw(action, "{", ), 400, "不是有效的 JSON")
        assert_refused(raw(action, "[0]"), 422, "必须是 JSON 对象")
        assert_refused(raw(action, '"同意"'), 422, "必须是 JSON 对象")
        assert_refused(raw(action, b'{"comment": "\xc3\x28"}'), 400, "不是有效的 JSON")  # not UTF-8
        assert_refused(raw(action, '{"a":' * 2000 + "1" + "}" * 2000), 400, "嵌套层次过深")
        assert_refused(api.act("first", doc_id, action, step=0, stepp=1, **{text: "x"}), 422, "不认识的字段", "stepp")
        assert_refused(api.act("first", doc_id, action, step=0, **{text: "x", "<script>": 1}), 422, "不认识的字段")
        for step in (True, 1.5, [0], {"i": 0}, "x" * 11):
            assert_refused(api.act("first", doc_id, action, step=step, **{text: "x"}), 422, "审核步骤")
        for step in ("abc", "-1", -1, 99, 2**70, "0x1"):
            assert_refused(api.act("first", doc_id, action, step=step, **{text: "x"}), 422, "审核步骤不存在")
        for comment in (5, ["同意"], {"a": "b"}, True):
            assert_refused(api.act("first", doc_id, action, step=0, **{text: comment}), 422, "应为文字")
        assert_refused(api.act("first", doc_id, action, step=0, **{text: "长" * 2001}), 422,
                       "过长（上限 2000 字，当前 2001 字）")
        assert_refused(api.act("first", doc_id, action, step=0, **{text: "长" * 20_000}), 413, "请求体过大")
        assert_refused(api.act("first", doc_id, action, step=0, **{text: "同意\x00"}), 422, "空字符")
        r = api.client.post(f"{url}/{action}", json={"step": 0, text: "x"})  # no token
        assert_refused(r, 401, "API 令牌")
        assert_refused(api.act("first", 99_999_999, action, step=0, **{text: "x"}), 404, "不存在")
        assert_refused(api.client.post(f"/api/v1/documents/0/{action}", headers=h, json={}), 422, "不能小于 1")
    assert_refused(api.act("first", doc_id, "send-back", step=0), 422, "必须填写退回意见")
    assert_refused(api.act("first", doc_id, "send-back", step=0, comment="   "), 422, "必须填写退回意见")
    assert_refused(raw("send-back", ""), 422, "必须填写退回意见")  # JSON type, empty body
    for target in (True, {"to": 0}, [0], "经" * 61):
        assert_refused(api.act("first", doc_id, "send-back", step=0, comment="x", target=target), 422, "退回给")
    assert_refused(api.act("first", doc_id, "send-back", step=0, comment="x", target="../../etc"), 422, "审核步骤不存在")
    assert_refused(api.act("first", doc_id, "send-back", step=0, comment="x", target=0), 422, "之前的审核步骤")
    assert_refused(api.act("first", doc_id, "reject", step=0), 422, "必须填写原因")
    assert_refused(api.client.post(f"{url}/reject", headers=h), 422, "必须填写原因")
    assert_refused(api.act("first", doc_id, "reject", step=0, reason="甲", comment="乙"), 422, "只能填写一个")
    assert _snapshot(doc_id) == before  # nothing of all that was written

    # A reject through the API with the step guard: the document is not published, the timeline says why.
    out = api.ok("first", doc_id, "reject", step=0, comment="含有不宜公开的内容")
    assert out["status"] == "rejected" and out["review"]["state"] == "rejected"
    last = out["review"]["actions"][-1]
    assert (last["decision"], last["step_name"], last["comment"], last["actor"], last["version"]) == (
        "reject", "初审", "含有不宜公开的内容", api.name("first"), 1)
    assert _deliveries(doc_id) == 0
    assert_refused(api.act("first", doc_id, "approve", step=0), 409, "不在待审核状态")
    assert_refused(api.act("first", doc_id, "send-back", step=0, comment="x"), 409, "不在待审核状态")
    # A document that never was in review reads as such (GZ-02 bound to 不审核 for this).
    from orchestrator.db import session_scope
    from orchestrator.review import chains
    from orchestrator.review.config import parse_binding

    with session_scope() as s:
        chains.set_binding(s, parse_binding({"publisher": CHAIN_PUBLISHER, "entry": "GZ-02", "chain": None}), "test")
    plain = api.submit("GZ-02", "机关动态")["document_id"]
    state = api.review(plain)
    assert (state["reviewed"], state["state"], state["state_label"], state["actions"]) == (False, None, "未经审核", [])
    assert_refused(api.act("first", plain, "approve"), 409, "不在待审核状态")


def test_openapi_describes_the_review_routes_in_chinese(api):
    spec = api.client.get("/openapi.json").json()["paths"]
    for path, method in (("/api/v1/documents/{document_id}/review", "get"),
                         ("/api/v1/documents/{document_id}/approve", "post"),
                         ("/api/v1/documents/{document_id}/send-back", "post"),
                         ("/api/v1/documents/{document_id}/reject", "post"),
                         ("/api/v1/documents/{document_id}/approval.docx", "get"),
                         ("/api/v1/documents/{document_id}/approval.pdf", "get")):
        op = spec[path][method]
        assert any("\u4e00" <= c <= "\u9fff" for c in op["summary"]), op["summary"]
        assert "403" in op["responses"] and "409" in op["responses"]
    body = spec["/api/v1/documents/{document_id}/send-back"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["required"] == ["comment"] and body["schema"]["additionalProperties"] is False
    assert "application/pdf" in spec["/api/v1/documents/{document_id}/approval.pdf"]["get"]["responses"]["200"]["content"]
    assert "审核人" not in json.dumps(spec["/api/v1/documents/{document_id}/approve"], ensure_ascii=False)


def test_no_delivery_before_the_final_api_approval_through_the_real_fan_out(orch_env, redis_server, receiver,
                                                                              tmp_path):
    from tests.fanout_harness import FanoutStack

    channels = {"website": [{"name": "push", "adapter": "http_push", "url": receiver.url, "secret": receiver.secret,
                             "timeout": 5}],
                "reading_room": [{"name": "reading_room", "adapter": "manual"}]}
    with FanoutStack(orch_env, tmp_path, channels=channels, catalogs=[write_catalog(tmp_path)],
                     redis=redis_server) as stack:
        from orchestrator.app import create_app

        _clear_chains()
        api = Api(TestClient(create_app(), raise_server_exceptions=False), _users())
        setup_chains(api.name("named"))
        doc_id = api.submit(title="规范性文件（经 API 四审）")["document_id"]

        def nothing_delivered(seconds: float = 2.5) -> None:
            # Workers and the beat sweeper (every second) run meanwhile: still no delivery row, nothing received.
            time.sleep(seconds)
            assert stack.deliveries(doc_id) == [] and receiver.applied == {}

        nothing_delivered()
        for who, step in (("first", 0), ("second", 1), ("secrecy", 2)):
            assert api.ok(who, doc_id, "approve", step=step)["delivery_ids"] == []
        nothing_delivered(1)
        api.ok("named", doc_id, "send-back", step=3, comment="请修改第二段")
        nothing_delivered(1)
        r = api.client.post(f"/api/v1/documents/{doc_id}/versions", headers=api.h("clerk"), json={"body": "<p>修改稿</p>"})
        assert r.status_code == 201 and r.json()["delivery_ids"] == [], r.text
        for who, step in (("first", 0), ("second", 1), ("secrecy", 2)):
            assert api.ok(who, doc_id, "approve", step=step)["delivery_ids"] == []
        nothing_delivered(1)
        out = api.ok("named", doc_id, "approve", step=3, comment="同意")
        assert len(out["delivery_ids"]) == 2
        rows = stack.wait_until(doc_id, lambda ds: {d["channel"]: d["status"] for d in ds} ==
                                {"website": "delivered", "reading_room": "awaiting_confirmation"},
                                timeout=90, what="website delivered after the final API approval")
        assert {r_["version"] for r_ in rows} == {2}
        (key,) = [r_["idempotency_key"] for r_ in rows if r_["channel"] == "website"]
        assert receiver.applied[key]["body_html"] == "<p>修改稿</p>"  # only the approved version went out
