"""Input a fuzzer found to cause server errors: each gets a 4xx with a Chinese message and writes nothing.

Huge ids (beyond PostgreSQL's ``integer``), dates near the end of the calendar, JSON nested 100,000 levels, NUL
characters (which PostgreSQL cannot store: refused as a validation rule on every database), and a refused file in a
multi-file upload (no stored file left behind). The web form routes apply the same rules.
"""

from __future__ import annotations

import json

import pytest

from tests.api_helpers import PDF, PUBLISHER, blob_count, counts
from tests.api_helpers import migrated_pg as migrated_pg  # noqa: F401  (a private database for this module)
from tests.test_api import api as api  # noqa: F401  (the API fixture: real PostgreSQL and Redis)
from tests.test_api import assert_refused, receiver  # noqa: F401
from tests.web_support import WebEnv, setup_web

BIG = [2**31, 2**63, 2**64 + 1, 10**30]
NESTED = "[" * 100_000 + "]" * 100_000
NESTED_OBJ = '{"a":' * 100_000 + "1" + "}" * 100_000


def _ok_doc(api) -> dict:
    r = api.submit()
    assert r.status_code == 201, r.text
    return r.json()


def test_huge_ids_in_paths_and_queries(api):
    doc = _ok_doc(api)
    d = doc["delivery_ids"][0]
    before = counts()
    for n in BIG:
        for method, path in (("GET", f"/api/v1/documents/{n}"), ("GET", f"/api/v1/deliveries/{n}"),
                             ("POST", f"/api/v1/deliveries/{n}/retry"), ("POST", f"/api/v1/deliveries/{n}/cancel"),
                             ("POST", f"/api/v1/documents/{n}/approve"), ("POST", f"/api/v1/documents/{n}/withdraw")):
            r = api.client.request(method, path, headers=api.h("admin"), json={"reason": "x"} if "withdraw" in path else None)
            assert_refused(r, 422, "不能大于 2147483647")
        assert_refused(api.client.get("/api/v1/deliveries", params={"document_id": n}, headers=api.h("ops")), 422, "不能大于")
    # The largest id that fits is just "not found".
    assert_refused(api.client.get(f"/api/v1/documents/{2**31 - 1}", headers=api.h("admin")), 404, "不存在")
    # A forged cursor with a huge id.
    import base64

    cursor = base64.urlsafe_b64encode(f"d:{2**64}".encode()).decode().rstrip("=")
    assert_refused(api.client.get("/api/v1/deliveries", params={"cursor": cursor}, headers=api.h("ops")), 422, "游标无效")
    assert api.client.get(f"/api/v1/deliveries/{d}", headers=api.h("ops")).status_code == 200
    assert counts() == before


@pytest.mark.parametrize(("patch", "needle"), [
    ({"related_document_id": 2**63}, "不能大于 2147483647"),
    ({"related_document_id": 2**31}, "不能大于 2147483647"),
    ({"related_document_id": 0}, "不能小于 1"),
    ({"formed_on": "9999-12-31"}, "超出可受理的范围"),
    ({"formed_on": "0001-01-01"}, "超出可受理的范围"),
    ({"publish_at": "9999-12-31T23:59:59-12:00"}, "超出可受理的范围"),
    ({"display_until": "9999-12-31T23:59:59+14:00"}, "超出可受理的范围"),
    ({"title": "标题\x00注入"}, "空字符"),
    ({"body": "<p>正文\x00</p>"}, "空字符"),
    ({"doc_number": "\x00"}, "空字符"),
    ({"channel_options": {"wechat": {"title": "短\x00"}}}, "空字符"),
])
def test_bad_values_in_submissions(api, patch, needle):
    before, blobs = counts(), blob_count()
    r = api.submit(**patch)
    assert_refused(r, 422, needle)
    assert counts() == before and blob_count() == blobs


def test_bad_values_in_queries_and_other_bodies(api):
    doc = _ok_doc(api)
    d = doc["delivery_ids"][0]
    h = api.h("admin")
    for params in ({"created_to": "9999-12-31"}, {"created_from": "0001-01-01"}):
        assert_refused(api.client.get("/api/v1/deliveries", params=params, headers=h), 422, "超出可受理的范围")
    assert_refused(api.client.get("/api/v1/catalog/due-date", params={"entry": "03", "formed_on": "9999-12-31"}, headers=h),
                   422, "超出可受理的范围")
    for params in ({"office": "办\x00公室"}, {"publisher": "\x00"}, {"entry": "0\x003"}, {"channel": "\x00"}):
        assert_refused(api.client.get("/api/v1/deliveries", params=params, headers=h), 422, "空字符")
    assert_refused(api.client.get("/api/v1/catalog/entries", params={"q": "\x00"}, headers=h), 422, "空字符")
    assert_refused(api.client.get("/api/v1/catalog/due-date", params={"entry": "0\x003", "formed_on": "2026-11-02"},
                                  headers=h), 422, "空字符")
    before = counts()
    assert_refused(api.client.post(f"/api/v1/documents/{doc['document_id']}/withdraw", json={"reason": "撤\x00回"},
                                   headers=h), 422, "空字符")
    assert_refused(api.client.post(f"/api/v1/documents/{doc['document_id']}/versions", json={"title": "改\x00"},
                                   headers=h), 422, "空字符")
    assert_refused(api.client.post(f"/api/v1/deliveries/{d}/confirm", data={"note": "已\x00放置"}, headers=h), 422, "空字符")
    assert_refused(api.client.post(f"/api/v1/deliveries/{d}/confirm", json={"when": "9999-12-31T23:59:59-12:00"},
                                   headers=h), 422, "完成时间")
    assert counts() == before


def test_deeply_nested_json(api):
    before = counts()
    for raw in (NESTED, NESTED_OBJ):
        r = api.client.post("/api/v1/documents", content=raw, headers={**api.h(), "Content-Type": "application/json"})
        assert_refused(r, 400, "嵌套层次过深")
        r = api.client.post("/api/v1/documents", data={"data": raw}, files=[("files", ("a.pdf", PDF, "application/pdf"))],
                            headers=api.h())
        assert_refused(r, 400, "嵌套层次过深")
    doc = _ok_doc(api)
    r = api.client.post(f"/api/v1/documents/{doc['document_id']}/withdraw", content=NESTED_OBJ,
                        headers={**api.h(), "Content-Type": "application/json"})
    assert_refused(r, 400, "嵌套层次过深")
    assert api.client.get(f"/api/v1/documents/{doc['document_id']}", headers=api.h()).json()["status"] != "withdrawn"
    assert counts()["documents"] == before["documents"] + 1


def test_refused_file_in_a_multi_file_request_stores_nothing(api):
    # A file already in the store (another document uses it) stays; new good files of the refused request do not.
    shared = PDF + b"%shared\n"
    r = api.client.post("/api/v1/documents", data={"data": json.dumps(
        {"entry": "03", "publisher": PUBLISHER, "title": "已有附件", "body": "<p>正文</p>", "formed_on": "2026-11-02"},
        ensure_ascii=False)}, files=[("files", ("共用.pdf", shared, "application/pdf"))], headers=api.h())
    assert r.status_code == 201, r.text
    before, blobs = counts(), blob_count()
    data = {"data": json.dumps({"entry": "03", "publisher": PUBLISHER, "title": "多附件", "body": "<p>正文</p>",
                                "formed_on": "2026-11-02"}, ensure_ascii=False)}
    files = [("files", ("新的.pdf", PDF + b"%new-1\n", "application/pdf")),
             ("files", ("共用.pdf", shared, "application/pdf")),
             ("files", ("另一个.pdf", PDF + b"%new-2\n", "application/pdf")),
             ("files", ("坏的.pdf", b"not a pdf", "application/pdf"))]
    assert_refused(api.client.post("/api/v1/documents", data=data, files=files, headers=api.h()), 422, "坏的.pdf")
    assert counts() == before and blob_count() == blobs
    # The shared file is still there for the first document.
    import hashlib

    from orchestrator.documents.attachments import blob_path
    from orchestrator.settings import get_settings

    assert blob_path(get_settings(), hashlib.sha256(shared).hexdigest()).is_file()


def test_openapi_documents_the_refusals(api):
    spec = api.client.get("/openapi.json").json()
    for path, ops in spec["paths"].items():
        if not path.startswith("/api/"):
            continue
        for method, op in ops.items():
            codes = set(op["responses"])
            assert {"400", "401", "403", "404", "409", "413", "422", "429"} <= codes, (method, path, codes)
    param = next(p for p in spec["paths"]["/api/v1/documents/{document_id}"]["get"]["parameters"] if p["name"] == "document_id")
    assert param["schema"]["maximum"] == 2**31 - 1 and param["schema"]["minimum"] == 1


def test_nul_is_a_validation_rule_not_a_database_error():
    """The same refusal whatever the database: it happens while parsing, before any session exists."""
    from orchestrator.documents import inputs

    with pytest.raises(inputs.ServiceError) as exc:
        inputs.parse_submit({"entry": "03", "title": "a\x00", "body": "b", "formed_on": "2026-11-02"})
    assert any("空字符" in e.message for e in exc.value.errors)
    with pytest.raises(inputs.ServiceError):
        inputs.parse_version({"change_note": "\x00"})


# --- the web app ---------------------------------------------------------------------------------

@pytest.fixture
def web(orch_env, redis_server, tmp_path, monkeypatch) -> WebEnv:
    return setup_web(monkeypatch, tmp_path, redis_server.url, {
        "reading_room": [{"name": "reading_room", "adapter": "manual"}],
    })


def test_web_routes_refuse_the_same_input(web):
    clerk = web.client("clerk")
    tok = web.token(clerk)
    r = clerk.post("/submit", data={"csrf_token": tok, "entry": "03", "publisher": PUBLISHER, "title": "网页登记",
                                    "body": "正文", "formed_on": "2026-11-02"}, headers={"Accept": "application/json"})
    assert r.status_code == 201, r.text
    doc_id = r.json()["document_id"]
    before = counts()
    for n in BIG:
        for path in (f"/documents/{n}", f"/documents/{n}/status.json", f"/documents/{doc_id}/attachments/{n}",
                     f"/deliveries/{n}/task"):
            r = clerk.get(path)
            assert r.status_code == 404 and "不存在" in r.text, (path, r.status_code)
        r = clerk.post(f"/documents/{n}/withdraw", data={"csrf_token": tok, "reason": "x"})
        assert r.status_code == 404
    for path, params in (("/documents", {"q": "\x00"}), ("/submit/due.json", {"entry": "03", "formed_on": "2026-11-02",
                                                                              "publisher": "\x00"})):
        r = clerk.get(path, params=params)
        assert r.status_code == 422 and "空字符" in r.text, (path, r.status_code, r.text[:200])
    r = clerk.get("/submit/due.json", params={"entry": "03", "formed_on": "9999-12-31"})
    assert r.status_code == 422 and "超出可受理的范围" in r.json()["error"]
    for data in ({"title": "标\x00题"}, {"body": "正\x00文"}):
        r = clerk.post("/submit", data={"csrf_token": tok, "entry": "03", "publisher": PUBLISHER, "title": "t",
                                        "body": "b", "formed_on": "2026-11-02", **data}, headers={"Accept": "application/json"})
        assert r.status_code == 422 and "空字符" in r.json()["error"], r.text
    r = clerk.post("/submit", data={"csrf_token": tok, "entry": "03", "publisher": PUBLISHER, "title": "t", "body": "b",
                                    "formed_on": "9999-12-31"}, headers={"Accept": "application/json"})
    assert r.status_code == 422 and "超出可受理的范围" in r.text
    r = clerk.post(f"/documents/{doc_id}/withdraw", data={"csrf_token": tok, "reason": "撤\x00回"})
    assert r.status_code == 422 and "空字符" in r.text
    ops = web.client("ops")
    r = ops.get("/log", params={"date_to": "9999-12-31"})
    assert r.status_code == 200 and "超出范围" in r.text
    assert ops.get("/log.csv", params={"date_from": "0001-01-01"}).status_code == 422
    admin = web.client("admin")
    r = admin.post("/users", data={"csrf_token": web.token(admin), "username": "nul-user", "role": "admin",
                                   "password": "12345678\x00", "display_name": "x"})
    assert r.status_code == 422 and "空字符" in r.text
    assert counts() == before
    # The form was parsed once and reused by the route: a normal POST still works after the check.
    r = clerk.post(f"/documents/{doc_id}/withdraw", data={"csrf_token": tok, "reason": "文件已废止"}, follow_redirects=False)
    assert r.status_code == 303


def test_unknown_addresses_are_refused_in_chinese(web):
    """No route, a wrong method, a missing public page: Starlette's English "Not Found" never reaches a person."""
    clerk = web.client("clerk")
    html = {"Accept": "text/html,application/xhtml+xml"}
    for path in ("/no-such-page", "/site/art/999.html", "/gazette/nope.html", "/site/no/such/dir/"):
        r = clerk.get(path, headers=html)
        assert r.status_code == 404 and r.headers["content-type"].startswith("text/html"), (path, r.status_code)
        assert "找不到页面" in r.text and "Not Found" not in r.text, (path, r.text[:200])
    # The public column's page links back to the column, not to the staff app.
    assert 'href="/site/"' in clerk.get("/site/art/999.html", headers=html).text
    assert 'href="/gazette/"' in clerk.get("/gazette/nope.html", headers=html).text
    r = clerk.get("/no-such-page", headers={"Accept": "application/json"})
    assert r.status_code == 404 and r.json() == {"detail": "找不到该地址"}
    r = clerk.get("/api/v1/no-such-thing")
    assert r.status_code == 404 and r.json() == {"detail": [{"field": "", "message": "找不到该地址"}]}
    r = clerk.delete("/healthz")
    assert r.status_code == 405 and "不支持这种请求方法" in r.text and "Allow" in r.headers
    # The product's own refusals keep their words.
    r = clerk.get("/documents/99999999")
    assert r.status_code == 404 and "不存在" in r.text


def test_web_form_title_limit_is_the_documents_own(web):
    """However long the title, the form answers with the document's limit (200) and keeps what was typed."""
    clerk = web.client("clerk")
    tok = web.token(clerk, "/submit")
    before = counts()
    for n in (201, 313, 5000):
        r = clerk.post("/submit", data={"csrf_token": tok, "entry": "03", "publisher": PUBLISHER, "title": "长" * n,
                                        "body": "正文要保留", "formed_on": "2026-11-02"})
        assert r.status_code == 422, (n, r.status_code)
        assert "上限 200 字" in r.text and "上限 500" not in r.text, (n, r.text[:300])
        assert "正文要保留" in r.text  # the form comes back filled in
    assert counts() == before
