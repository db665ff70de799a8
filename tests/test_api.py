"""REST API against a real PostgreSQL and Redis: every route, good and bad input, roles, nothing half-written."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.api_helpers import PDF, PNG, PUBLISHER, blob_count, configure, counts, make_user
from tests.api_helpers import migrated_pg as migrated_pg  # noqa: F401  (a private database for this module)
from tests.receiver import Receiver

CJK = __import__("re").compile(r"[\u4e00-\u9fff]")
REVIEW_CATALOG = """
publisher: 测试审核局
index_prefix: "REVIEW01"
entries:
  - code: "R-01"
    path: [审核事项]
    time_limit: {text: 即时公开, kind: immediate}
    channels: [reading_room]
    offices: [办公室]
    options: {review: true}
"""


@pytest.fixture
def receiver():
    with Receiver() as r:
        yield r


@pytest.fixture
def api(orch_env, redis_server, receiver, tmp_path, monkeypatch):
    review = tmp_path / "review.yaml"
    review.write_text(REVIEW_CATALOG, encoding="utf-8")
    configure(monkeypatch, tmp_path, redis_server.url, {
        "website": [{"name": "push", "adapter": "http_push", "url": receiver.url, "secret": receiver.secret, "timeout": 2}],
        "reading_room": [{"name": "reading_room", "adapter": "manual"}],
    }, extra_catalogs=[review])
    from orchestrator.app import create_app

    client = TestClient(create_app(), raise_server_exceptions=False)
    users = {
        "clerk": make_user("clerk", "办公室"),
        "clerk_other": make_user("clerk", "行政执法协调监督办公室"),
        "reviewer": make_user("reviewer"),
        "ops": make_user("ops"),
        "admin": make_user("admin"),
    }

    class Api:
        def __init__(self) -> None:
            self.client = client
            self.users = users
            self.receiver = receiver

        def h(self, who: str = "clerk") -> dict[str, str]:
            return {"Authorization": f"Bearer {users[who][1]}"}

        def submit(self, who: str = "clerk", **fields):
            body = {"entry": "03", "publisher": PUBLISHER, "title": "工作动态", "body": "<p>正文内容</p>",
                    "formed_on": "2026-11-02", **fields}
            return client.post("/api/v1/documents", json=body, headers=self.h(who))

    return Api()


def assert_refused(resp, status: int, *needles: str) -> list[dict]:
    assert resp.status_code == status, resp.text
    detail = resp.json()["detail"]
    assert isinstance(detail, list) and detail, detail
    assert all(set(d) == {"field", "message"} for d in detail)
    text = json.dumps(detail, ensure_ascii=False)
    assert CJK.search(text), f"message is not Chinese: {text}"
    for n in needles:
        assert n in text, f"{n!r} not in {text}"
    return detail


def run(delivery_id: int) -> str | None:
    """Run one delivery through the real fan-out code in this process (no Celery eager mode; the task body itself)."""
    from orchestrator.delivery.engine import run_delivery

    return run_delivery(delivery_id)


# --- auth ----------------------------------------------------------------------------------------

def test_openapi_and_authentication(api):
    spec = api.client.get("/openapi.json").json()
    for path in ("/api/v1/documents", "/api/v1/documents/{document_id}", "/api/v1/deliveries",
                 "/api/v1/deliveries/{delivery_id}/retry", "/api/v1/deliveries/{delivery_id}/cancel",
                 "/api/v1/deliveries/{delivery_id}/confirm", "/api/v1/documents/{document_id}/versions",
                 "/api/v1/documents/{document_id}/withdraw", "/api/v1/catalog/entries", "/api/v1/catalog/due-date"):
        assert path in spec["paths"], path
    assert "multipart/form-data" in spec["paths"]["/api/v1/documents"]["post"]["requestBody"]["content"]

    assert_refused(api.client.get("/api/v1/deliveries"), 401, "缺少 API 令牌")
    assert_refused(api.client.get("/api/v1/deliveries", headers={"Authorization": "Bearer orch_nope"}), 401, "无效")
    assert_refused(api.client.get("/api/v1/deliveries", headers={"Authorization": "Bearer nope"}), 401)
    assert_refused(api.client.get("/api/v1/deliveries", headers={"Authorization": "Basic YTpi"}), 401)
    me = api.client.get("/api/v1/me", headers=api.h("clerk")).json()
    assert me["role"] == "clerk" and me["office"] == "办公室"

    from orchestrator import auth
    from orchestrator.db import session_scope
    from orchestrator.models import ApiToken

    token_id, token = auth.create_token(api.users["ops"][0], "待吊销")
    with session_scope() as s:
        assert s.get(ApiToken, token_id).token_hash == auth.token_digest(token) != token  # only the digest is stored
    assert api.client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    auth.revoke_token(token_id)
    assert_refused(api.client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}), 401, "吊销")


def test_health(api):
    r = api.client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok", "database": "ok", "broker": "ok"}
    assert "政务公开" in api.client.get("/").text


# --- submit --------------------------------------------------------------------------------------

def test_submit_json_and_read_back(api):
    before = counts()
    r = api.submit(title="关于开展普法宣传的通知", doc_number="测司发〔2026〕1号")
    assert r.status_code == 201, r.text
    res = r.json()
    assert res["index_no"].startswith("11150000TEST0001X/2026-")
    preview = api.client.get("/api/v1/catalog/due-date", params={"entry": "03", "formed_on": "2026-11-02",
                                                                 "publisher": PUBLISHER}, headers=api.h()).json()
    assert res["due_date"] == preview["due_date"] and res["due_note"] == preview["explanation"]
    assert len(res["delivery_ids"]) == 2
    after = counts()
    assert after["documents"] == before["documents"] + 1 and after["deliveries"] == before["deliveries"] + 2

    doc = api.client.get(res["url"], headers=api.h("ops")).json()
    assert doc["title"] == "关于开展普法宣传的通知" and doc["publisher"] == PUBLISHER
    assert doc["entry"]["code"] == "03" and doc["submitted_by"] == api.users["clerk"][0]
    assert doc["versions"][0]["doc_number"] == "测司发〔2026〕1号"
    assert sorted(d["channel"] for d in doc["deliveries"]) == ["reading_room", "website"]
    assert all(d["status"] in ("pending", "queued") and d["attempts_log"] == [] for d in doc["deliveries"])
    assert doc["deliveries"][0]["transitions"][0]["to"] == "queued"  # written queued, published after commit

    # The real fan-out task body runs the website delivery: its attempt shows up in the document.
    web = next(d for d in doc["deliveries"] if d["channel"] == "website")
    assert run(web["id"]) == "delivered"
    doc = api.client.get(res["url"], headers=api.h("clerk")).json()
    web = next(d for d in doc["deliveries"] if d["channel"] == "website")
    assert web["status"] == "delivered" and web["status_label"] == "已送达"
    assert [a["outcome"] for a in web["attempts_log"]] == ["success"]
    assert web["idempotency_key"] in api.receiver.applied

    assert_refused(api.client.get("/api/v1/documents/99999999", headers=api.h()), 404, "不存在")
    assert_refused(api.client.get("/api/v1/documents/abc", headers=api.h()), 422, "应为整数")


def test_submit_multipart_with_files_and_hostile_names(api):
    files = [
        ("files", ("../../etc/通知.pdf", PDF, "application/pdf")),
        ("files", ("..\\..\\windows\\图:片?.png", PNG, "image/png")),
    ]
    data = {"entry": "履职依据/规范性文件", "publisher": PUBLISHER, "title": "附件测试", "body": "# 标题\n\n正文",
            "body_format": "markdown", "formed_on": "2026-11-02"}
    before_blobs = blob_count()
    r = api.client.post("/api/v1/documents", data={"data": json.dumps(data, ensure_ascii=False)}, files=files,
                        headers=api.h("clerk_other"))
    assert r.status_code == 201, r.text
    doc = api.client.get(r.json()["url"], headers=api.h("clerk_other")).json()
    atts = doc["versions"][0]["attachments"]
    assert [a["filename"] for a in atts] == ["通知.pdf", "图_片_.png"]
    assert atts[0]["content_type"] == "application/pdf" and atts[0]["size"] == len(PDF)
    assert blob_count() == before_blobs + 2
    assert "<h1>标题</h1>" in doc["versions"][0]["body_html"]
    assert doc["due_date"] == "2026-11-30"


BAD_JSON_SUBMISSIONS = [
    ({"title": None}, 422, "标题"),
    ({"title": ""}, 422, "标题"),
    ({"title": 123}, 422, "标题"),
    ({"body": "   "}, 422, "正文"),
    ({"body": "<script>alert(1)</script>"}, 422, "正文为空"),
    ({"entry": "不存在的事项"}, 422, "找不到目录事项"),
    ({"entry": "05"}, 422, "未标明公开渠道"),
    ({"formed_on": "2026-13-45"}, 422, "日期格式不正确"),
    ({"formed_on": None}, 422, "生成日期"),
    ({"publish_at": "2026-12-01T09:00:00"}, 422, "时区"),
    ({"body": "<p>联系人身份证号 11010519491231002X</p>"}, 422, "个人信息"),
    ({"body": "<p>电话 13912345678</p>"}, 422, "手机号码"),
    ({"unexpected": 1}, 422, "不认识的字段"),
    ({"body_format": "docx"}, 422, ""),
    ({"display_from": "2026-12-02T00:00:00+08:00", "display_until": "2026-12-01T00:00:00+08:00"}, 422, "展示结束"),
]


@pytest.mark.parametrize(("patch", "status", "needle"), BAD_JSON_SUBMISSIONS)
def test_bad_json_submissions_write_nothing(api, patch, status, needle):
    before = counts()
    body = {"entry": "03", "publisher": PUBLISHER, "title": "标题", "body": "<p>正文</p>", "formed_on": "2026-11-02"}
    body.update(patch)
    body = {k: v for k, v in body.items() if v is not None}
    r = api.client.post("/api/v1/documents", json=body, headers=api.h())
    assert_refused(r, status, needle)
    assert counts() == before


def test_malformed_requests_write_nothing(api):
    before = counts()
    h = api.h()
    assert_refused(api.client.post("/api/v1/documents", content=b"{not json", headers={**h, "Content-Type": "application/json"}),
                   400, "JSON")
    assert_refused(api.client.post("/api/v1/documents", json=[1, 2], headers=h), 422, "JSON 对象")
    assert_refused(api.client.post("/api/v1/documents", content=b"title=x", headers={**h, "Content-Type": "text/plain"}),
                   415)
    assert_refused(api.client.post("/api/v1/documents", json={}, headers=h), 422, "必填")
    # Personal data passes once confirmed, with a warning.
    r = api.submit(body="<p>电话 13912345678</p>", confirm_personal_data=True)
    assert r.status_code == 201 and "已确认" in r.json()["warnings"][0]
    before = counts()
    # Oversized JSON body: refused while streaming, nothing stored.
    huge = "<p>" + "字" * 1_300_000 + "</p>"
    assert_refused(api.submit(body=huge), 413, "请求体过大")
    big_but_allowed = "<p>" + "字" * 600_000 + "</p>"  # under the byte limit, over the character limit
    assert_refused(api.submit(body=big_but_allowed), 422, "过长")
    assert counts() == before


def _multipart(api, files, data=None, who="clerk"):
    payload = data if data is not None else {"entry": "03", "publisher": PUBLISHER, "title": "附件", "body": "<p>正文</p>",
                                             "formed_on": "2026-11-02"}
    form = {"data": json.dumps(payload, ensure_ascii=False)} if payload != "omit" else {}
    return api.client.post("/api/v1/documents", data=form, files=files, headers=api.h(who))


def test_bad_attachments_write_nothing(api, monkeypatch):
    from orchestrator import settings

    monkeypatch.setenv("ORCH_MAX_ATTACHMENT_BYTES", "4096")
    settings.get_settings.cache_clear()
    before, blobs = counts(), blob_count()
    cases = [
        ([("files", ("病毒.exe", b"MZ\x90\x00", "application/octet-stream"))], 422, "类型不允许"),
        ([("files", ("改名.pdf", PNG, "application/pdf"))], 422, "内容与扩展名"),
        ([("files", ("空.pdf", b"", "application/pdf"))], 422, "空文件"),
        ([("files", ("大.pdf", PDF + b"0" * 5000, "application/pdf"))], 422, "超过大小上限"),
        ([("files", ("无扩展名", PDF, "application/pdf"))], 422, "类型不允许"),
        ([("attachment", ("a.pdf", PDF, "application/pdf"))], 422, "files"),
        ([("files", (f"f{i}.pdf", PDF, "application/pdf")) for i in range(21)], 413, "附件过多"),
        # A hostile name is cleaned, but a good file next to a bad one stores neither row.
        ([("files", ("../ok.pdf", PDF, "application/pdf")), ("files", ("bad.pdf", b"nope", "application/pdf"))], 422, "bad.pdf"),
    ]
    for files, status, needle in cases:
        assert_refused(_multipart(api, files), status, needle)
    assert_refused(_multipart(api, [("files", ("a.pdf", PDF, "application/pdf"))], data="omit"), 422, "data")
    r = api.client.post("/api/v1/documents", data={"data": "{oops"}, files=[("files", ("a.pdf", PDF, "application/pdf"))],
                        headers=api.h())
    assert_refused(r, 400, "data 字段")
    r = api.client.post("/api/v1/documents", data={"data": "{}", "extra": "x"}, files=[("files", ("a.pdf", PDF, "application/pdf"))],
                        headers=api.h())
    assert_refused(r, 422, "不认识的表单字段")
    # Validation of the fields comes before any file is stored.
    bad_fields = {"entry": "不存在", "title": "x", "body": "<p>x</p>", "formed_on": "2026-11-02"}
    assert_refused(_multipart(api, [("files", ("a.pdf", PDF, "application/pdf"))], data=bad_fields), 422, "找不到目录事项")
    assert counts() == before
    # Not even the good file of the mixed pair stays in the content store.
    assert blob_count() == blobs


def test_oversized_multipart_is_refused_before_storing(api, monkeypatch):
    from orchestrator import settings
    from orchestrator.api import routes as api_module

    monkeypatch.setenv("ORCH_MAX_ATTACHMENT_BYTES", "2048")
    monkeypatch.setenv("ORCH_MAX_BODY_CHARS", "1000")
    monkeypatch.setattr(api_module, "JSON_OVERHEAD", 1024)
    settings.get_settings.cache_clear()
    before, blobs = counts(), blob_count()
    limit = 1000 * 6 + 1024 + 2048 * api_module.MAX_FILES
    r = _multipart(api, [("files", ("big.pdf", PDF + b"0" * (limit + 10), "application/pdf"))])
    assert_refused(r, 413, "请求体过大", "未保存任何内容")
    assert counts() == before and blob_count() == blobs


# --- roles ---------------------------------------------------------------------------------------

def test_roles_and_offices(api):
    before = counts()
    # 01-01 belongs to 行政执法协调监督办公室, not to the clerk's 办公室.
    assert_refused(api.submit("clerk", entry="01-01"), 403, "责任科室")
    assert_refused(api.submit("ops"), 403, "权限不足")
    assert_refused(api.submit("reviewer"), 403, "权限不足")
    assert counts() == before
    assert api.submit("admin", entry="01-01").status_code == 201

    doc = api.submit("clerk").json()
    d = doc["delivery_ids"][0]
    for who in ("clerk", "reviewer"):
        assert_refused(api.client.post(f"/api/v1/deliveries/{d}/retry", headers=api.h(who)), 403, "权限不足")
        assert_refused(api.client.post(f"/api/v1/deliveries/{d}/cancel", headers=api.h(who)), 403)
        assert_refused(api.client.post(f"/api/v1/deliveries/{d}/confirm", json={}, headers=api.h(who)), 403)
    # Another office's clerk may neither correct nor withdraw it: to them it does not exist (as in the web app).
    assert_refused(api.client.post(f"/api/v1/documents/{doc['document_id']}/versions", json={"title": "改"},
                                   headers=api.h("clerk_other")), 404, "不存在")
    assert_refused(api.client.post(f"/api/v1/documents/{doc['document_id']}/withdraw", json={"reason": "x"},
                                   headers=api.h("clerk_other")), 404)
    # Review decisions follow the document's review chain, not a fixed role: a document not in review is 409 for
    # everyone (this asserted the old fixed-role rule: 403 for any clerk).
    assert_refused(api.client.post(f"/api/v1/documents/{doc['document_id']}/approve", headers=api.h("clerk")), 409,
                   "不在待审核状态")


# --- listing -------------------------------------------------------------------------------------

def test_delivery_filters_and_pagination(api):
    ids = [api.submit(title=f"分页{i}").json()["document_id"] for i in range(7)]
    other = api.submit("clerk_other", entry="01-01").json()["document_id"]
    h = api.h("ops")

    def listing(**params):
        r = api.client.get("/api/v1/deliveries", params=params, headers=h)
        assert r.status_code == 200, r.text
        return r.json()

    everything = listing(limit=500)
    mine = [d for d in everything["items"] if d["document_id"] in ids]
    assert len(mine) == 14
    rr = listing(channel="reading_room", entry="03", publisher=PUBLISHER, limit=500)
    assert rr["total"] >= 7 and all(d["channel"] == "reading_room" for d in rr["items"])
    assert {d["document_id"] for d in listing(office="行政执法协调监督办公室", limit=500)["items"]} >= {other}
    assert other not in {d["document_id"] for d in listing(office="办公室", limit=500)["items"]}
    assert listing(entry="履职依据/规范性文件", limit=500)["total"] == listing(entry="01-01", limit=500)["total"] >= 4
    assert listing(document_id=ids[0])["total"] == 2
    assert listing(status="pending,queued", document_id=ids[0])["total"] == 2
    assert listing(status="failed", document_id=ids[0])["total"] == 0

    today = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date()
    assert listing(created_from=today.isoformat(), created_to=today.isoformat(), document_id=ids[1])["total"] == 2
    assert listing(created_to=(today - dt.timedelta(days=1)).isoformat(), document_id=ids[1])["total"] == 0

    # offset pages and cursor pages both walk every row exactly once, newest first.
    total = listing(limit=1)["total"]
    by_offset = [d["id"] for off in range(0, total, 3) for d in listing(limit=3, offset=off)["items"]]
    seen, cursor = [], None
    while True:
        page = listing(limit=4, **({"cursor": cursor} if cursor else {}))
        assert page["total"] == total
        seen += [d["id"] for d in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == by_offset == sorted(by_offset, reverse=True) and len(seen) == total

    bad = [({"status": "lost"}, "不存在的状态"), ({"channel": "网站"}, "渠道编码"), ({"limit": 0}, "不能小于"),
           ({"limit": "x"}, "应为整数"), ({"limit": 501}, "不能大于"), ({"created_from": "2026-02-30"}, "日期格式"),
           ({"created_from": "2026-02-03", "created_to": "2026-02-01"}, "截止日期"), ({"cursor": "###"}, "游标"),
           ({"cursor": "ZDox", "offset": 3}, "只能用一个"), ({"action": "delete"}, "可选"), ({"document_id": -1}, "不能小于")]
    for params, needle in bad:
        assert_refused(api.client.get("/api/v1/deliveries", params=params, headers=h), 422, needle)


def test_catalog_entries_and_due_date(api):
    h = api.h()
    r = api.client.get("/api/v1/catalog/entries", params={"publisher": PUBLISHER}, headers=h).json()
    assert {e["code"] for e in r["items"]} >= {"01-01", "02", "03", "05"}
    mine = api.client.get("/api/v1/catalog/entries", params={"mine": "true", "publisher": PUBLISHER}, headers=h).json()
    assert {e["code"] for e in mine["items"]} == {"02", "03", "05"}
    web = api.client.get("/api/v1/catalog/entries", params={"channel": "gazette", "publisher": PUBLISHER}, headers=h).json()
    assert [e["code"] for e in web["items"]] == ["01-01"]
    due = api.client.get("/api/v1/catalog/due-date", params={"entry": "01-01", "formed_on": "2026-11-02",
                                                             "publisher": PUBLISHER}, headers=h).json()
    assert due["due_date"] == "2026-11-30" and "工作日" in due["explanation"]
    assert_refused(api.client.get("/api/v1/catalog/due-date", params={"entry": "01-01", "formed_on": "11/02/2026"},
                                  headers=h), 422, "日期格式")
    assert_refused(api.client.get("/api/v1/catalog/due-date", params={"formed_on": "2026-11-02"}, headers=h), 422, "必填")
    assert_refused(api.client.get("/api/v1/catalog/due-date", params={"entry": "nope", "formed_on": "2026-11-02"},
                                  headers=h), 422, "找不到目录事项")


# --- operations on deliveries --------------------------------------------------------------------

def _doc(api, doc_id: int) -> dict:
    return api.client.get(f"/api/v1/documents/{doc_id}", headers=api.h()).json()


def test_confirm_manual_delivery(api):
    res = api.submit().json()
    doc = _doc(api, res["document_id"])
    manual = next(d for d in doc["deliveries"] if d["channel"] == "reading_room")
    url = f"/api/v1/deliveries/{manual['id']}/confirm"
    h = api.h("ops")
    # Not yet awaiting confirmation: refused, evidence not stored.
    blobs = blob_count()
    r = api.client.post(url, data={"by": "张三"}, files={"evidence": ("照片.png", PNG, "image/png")}, headers=h)
    assert_refused(r, 409, "无需确认")
    assert blob_count() == blobs
    assert run(manual["id"]) == "awaiting_confirmation"

    before = counts()
    assert_refused(api.client.post(url, data={"url": "javascript:alert(1)"}, headers=h), 422, "链接")
    assert_refused(api.client.post(url, json={"by": 5}, headers=h), 422, "应为文字")
    assert_refused(api.client.post(url, json={"when": "昨天"}, headers=h), 422, "时间格式")
    assert_refused(api.client.post(url, json={"who": "x"}, headers=h), 422, "不认识的字段")
    assert_refused(api.client.post(url, data={"by": "张三"}, files={"evidence": ("x.exe", b"MZ", "application/octet-stream")},
                                   headers=h), 422, "类型不允许")
    assert_refused(api.client.post(url, data={"by": "张三"}, files={"photo": ("照片.png", PNG, "image/png")}, headers=h),
                   422, "evidence")
    assert_refused(api.client.post(url, content=b"by=x", headers={**h, "Content-Type": "text/plain"}), 415)
    assert counts() == before
    assert _doc(api, res["document_id"])["deliveries"][1]["status"] == "awaiting_confirmation"

    r = api.client.post(url, data={"by": "张三", "note": "已放置纸质文件", "url": "https://example.gov.cn/a/1"},
                        files={"evidence": ("../照片.png", PNG, "image/png")}, headers=h)
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["status"] == "delivered" and d["confirmed_by"] == "张三" and d["evidence_filename"] == "照片.png"
    assert d["receipt"]["url"] == "https://example.gov.cn/a/1" and d["confirmation_note"] == "已放置纸质文件"
    assert d["transitions"][-1]["actor"] == "张三"
    assert_refused(api.client.post(url, json={"by": "李四"}, headers=h), 409, "无需确认")
    assert_refused(api.client.post("/api/v1/deliveries/99999999/confirm", json={}, headers=h), 404)
    # JSON confirmation, defaulting to the caller's name.
    res2 = api.submit().json()
    m2 = next(d for d in _doc(api, res2["document_id"])["deliveries"] if d["channel"] == "reading_room")
    run(m2["id"])
    r = api.client.post(f"/api/v1/deliveries/{m2['id']}/confirm", json={"note": "完成"}, headers=h)
    assert r.json()["confirmed_by"] == api.users["ops"][0]


def test_retry_and_cancel(api):
    api.receiver.script("拒收", (400, {}, 0))
    res = api.submit(title="拒收测试").json()
    web = next(d for d in _doc(api, res["document_id"])["deliveries"] if d["channel"] == "website")
    assert run(web["id"]) == "failed"
    h = api.h("ops")
    r = api.client.post(f"/api/v1/deliveries/{web['id']}/retry", headers=h)
    assert r.status_code == 200 and r.json()["status"] in ("pending", "queued")
    assert_refused(api.client.post(f"/api/v1/deliveries/{web['id']}/retry", headers=h), 409, "不能重试")
    assert run(web["id"]) == "delivered"  # the receiver accepts it the second time
    assert_refused(api.client.post(f"/api/v1/deliveries/{web['id']}/cancel", headers=h), 409, "不能取消")

    manual = next(d for d in _doc(api, res["document_id"])["deliveries"] if d["channel"] == "reading_room")
    r = api.client.post(f"/api/v1/deliveries/{manual['id']}/cancel", json={"reason": "该查阅点已撤销"}, headers=h)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert r.json()["transitions"][-1]["reason"] == "该查阅点已撤销"
    assert_refused(api.client.post(f"/api/v1/deliveries/{manual['id']}/cancel", headers=h), 409)
    assert_refused(api.client.post(f"/api/v1/deliveries/{manual['id']}/cancel", json={"reason": 1}, headers=h), 422)
    assert_refused(api.client.post(f"/api/v1/deliveries/{manual['id']}/cancel", json={"why": "x"}, headers=h), 422)
    assert_refused(api.client.post("/api/v1/deliveries/99999999/retry", headers=h), 404, "不存在")
    assert_refused(api.client.post("/api/v1/deliveries/abc/retry", headers=h), 422)
    # A cancelled delivery may be retried.
    assert api.client.post(f"/api/v1/deliveries/{manual['id']}/retry", headers=h).json()["status"] in ("pending", "queued")
    single = api.client.get(f"/api/v1/deliveries/{manual['id']}", headers=h).json()
    steps = [t["to"] for t in single["transitions"]]
    assert steps[0] == "queued" and steps[steps.index("cancelled") + 1] == "pending"


# --- versions, withdrawal, review ----------------------------------------------------------------

def test_new_version_and_withdraw(api):
    res = api.submit(title="原标题").json()
    doc_id = res["document_id"]
    web = next(d for d in _doc(api, doc_id)["deliveries"] if d["channel"] == "website")
    assert run(web["id"]) == "delivered"
    url = f"/api/v1/documents/{doc_id}/versions"
    before = counts()
    assert_refused(api.client.post(url, json={"title": ""}, headers=api.h()), 422, "标题")
    assert_refused(api.client.post(url, json={"body": "<p>13912345678</p>"}, headers=api.h()), 422, "个人信息")
    assert_refused(api.client.post(url, json={"nonsense": True}, headers=api.h()), 422, "不认识的字段")
    assert_refused(api.client.post("/api/v1/documents/99999999/versions", json={"title": "x"}, headers=api.h()), 404)
    assert counts() == before

    r = api.client.post(url, data={"data": json.dumps({"body": "<p>第二版</p>", "change_note": "更正笔误"})},
                        files=[("files", ("补充.pdf", PDF, "application/pdf"))], headers=api.h())
    assert r.status_code == 201, r.text
    doc = _doc(api, doc_id)
    assert doc["current_version"] == 2 and doc["versions"][1]["change_note"] == "更正笔误"
    assert [a["filename"] for a in doc["versions"][1]["attachments"]] == ["补充.pdf"]
    update = next(d for d in doc["deliveries"] if d["action"] == "update")
    assert update["channel"] == "website" and update["follows_id"] == web["id"]
    assert run(update["id"]) == "delivered"

    wurl = f"/api/v1/documents/{doc_id}/withdraw"
    assert_refused(api.client.post(wurl, json={}, headers=api.h()), 422, "原因")
    assert_refused(api.client.post(wurl, json={"reason": "   "}, headers=api.h()), 422, "原因")
    assert_refused(api.client.post(wurl, headers=api.h()), 422, "原因")
    r = api.client.post(wurl, json={"reason": "文件已废止"}, headers=api.h())
    assert r.status_code == 200 and len(r.json()["delivery_ids"]) == 1
    doc = _doc(api, doc_id)
    assert doc["status"] == "withdrawn" and doc["withdraw_reason"] == "文件已废止"
    assert {d["status"] for d in doc["deliveries"] if d["channel"] == "reading_room"} == {"cancelled"}
    assert_refused(api.client.post(wurl, json={"reason": "再次"}, headers=api.h()), 409, "已撤回")
    assert_refused(api.client.post(url, json={"title": "x"}, headers=api.h()), 409, "已撤回")


def test_review_approve_and_reject(api):
    r = api.submit(entry="R-01", publisher="测试审核局")
    assert r.status_code == 201 and r.json()["delivery_ids"] == [] and "保密审查" in r.json()["warnings"][0]
    doc_id = r.json()["document_id"]
    assert _doc(api, doc_id)["status"] == "pending_review"
    assert_refused(api.client.post(f"/api/v1/documents/{doc_id}/approve", headers=api.h("ops")), 403, "审核人")
    ok = api.client.post(f"/api/v1/documents/{doc_id}/approve", headers=api.h("reviewer"))
    assert ok.status_code == 200 and len(ok.json()["delivery_ids"]) == 1
    assert_refused(api.client.post(f"/api/v1/documents/{doc_id}/approve", headers=api.h("reviewer")), 409, "不在待审核")

    doc2 = api.submit(entry="R-01", publisher="测试审核局").json()["document_id"]
    assert_refused(api.client.post(f"/api/v1/documents/{doc2}/reject", json={}, headers=api.h("reviewer")), 422, "原因")
    r = api.client.post(f"/api/v1/documents/{doc2}/reject", json={"reason": "含不宜公开内容"}, headers=api.h("reviewer"))
    assert r.status_code == 200 and _doc(api, doc2)["status"] == "rejected"
    assert_refused(api.client.post("/api/v1/documents/99999999/approve", headers=api.h("reviewer")), 404)


def test_openapi_file_is_served_without_auth(api, tmp_path: Path):
    r = api.client.get("/openapi.json")
    assert r.status_code == 200 and r.json()["info"]["title"].startswith("政务公开")


def test_wechat_publish_callback(api, tmp_path, monkeypatch, redis_server):
    import hashlib

    import redis as redis_lib
    from sqlalchemy import update

    from orchestrator import settings
    from orchestrator.db import session_scope
    from orchestrator.models import Delivery
    from tests.api_helpers import write_channels

    path = write_channels(tmp_path / "channels-wechat.yaml", {
        "wechat": [{"name": "gzh", "adapter": "wechat", "appid": "wx1", "secret": "s", "callback_token": "tok",
                    "mode": "manual"}],
        "website": [{"name": "w", "adapter": "manual"}],
    })
    monkeypatch.setenv("ORCH_CHANNELS_FILE", str(path))
    settings.get_settings.cache_clear()
    res = api.submit(entry="02", title="会议通知")
    assert res.status_code == 201, res.text
    doc = _doc(api, res.json()["document_id"])
    wx = next(d for d in doc["deliveries"] if d["channel"] == "wechat")
    # As after freepublish/submit: the delivery waits for the channel with a publish_id in its receipt.
    with session_scope() as s:
        s.execute(update(Delivery).where(Delivery.id == wx["id"]).values(
            status="awaiting_channel", receipt={"pending": True, "data": {"publish_id": "2247483999"}}))

    def signed(ts: str = "1700000000", nonce: str = "n1", token: str = "tok") -> dict[str, str]:
        sig = hashlib.sha1("".join(sorted([token, ts, nonce])).encode()).hexdigest()
        return {"signature": sig, "timestamp": ts, "nonce": nonce}

    url = "/channels/wechat/gzh/callback"
    assert api.client.get(url, params={**signed(), "echostr": "hello"}).text == "hello"
    assert api.client.get(url, params={**signed(token="bad"), "echostr": "x"}).status_code == 403
    assert api.client.get("/channels/wechat/nope/callback", params=signed()).status_code == 404
    xml = (b"<xml><ToUserName>gh_1</ToUserName><Event>PUBLISHJOBFINISH</Event><PublishEventInfo>"
           b"<publish_id>2247483999</publish_id><publish_status>0</publish_status><article_id>A1</article_id>"
           b"</PublishEventInfo></xml>")
    assert api.client.post(url, params=signed(token="bad"), content=xml).status_code == 403
    queue = redis_lib.Redis.from_url(redis_server.url.rsplit("/", 1)[0] + "/9")
    before = queue.llen("deliver.wechat")
    r = api.client.post(url, params=signed(), content=xml)
    assert r.status_code == 200 and r.text == "success"
    assert queue.llen("deliver.wechat") == before + 1  # the poll of that delivery was sent now
    other = b"<xml><Event>subscribe</Event></xml>"
    assert api.client.post(url, params=signed(), content=other).text == "success"
    assert queue.llen("deliver.wechat") == before + 1


def test_a_body_image_on_another_site_is_refused_at_submission_for_wechat(api, tmp_path, monkeypatch):
    """WeChat strips images it does not host: the clerk hears it when submitting, not from a failed delivery later."""
    from orchestrator import settings
    from tests.api_helpers import write_channels

    path = write_channels(tmp_path / "channels-wechat.yaml", {
        "wechat": [{"name": "gzh", "adapter": "wechat", "appid": "wx1", "secret": "s", "mode": "manual"}],
        "website": [{"name": "w", "adapter": "manual"}],
    })
    monkeypatch.setenv("ORCH_CHANNELS_FILE", str(path))
    settings.get_settings.cache_clear()
    before = counts()
    body = '<p>执法公示图：</p><p><img src="http://www.genhe.gov.cn/uploads/2026/zhifa.png"></p>'
    detail = assert_refused(api.submit(entry="02", title="会议通知", body=body), 422, "www.genhe.gov.cn", "zhifa.png")
    assert any(d["field"].startswith("渠道“") and "外部网站" in d["message"] for d in detail), detail
    assert counts() == before
    assert api.submit(entry="02", title="会议通知", body="<p>执法公示图见附件。</p>").status_code == 201
