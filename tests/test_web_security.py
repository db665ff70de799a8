"""Web app security against real PostgreSQL: CSRF, session fixation and logout, role checks on every route,
XSS in every displayed field, path traversal in uploads."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select, update

from tests.api_helpers import PDF, PUBLISHER
from tests.api_helpers import migrated_pg as migrated_pg  # noqa: F401  (a private database for this module)
from tests.web_support import PASSWORD, WebEnv, csrf_of, login, make_web_user, setup_web

XSS = "<script>alert('x')</script>"
IMG = '<img src=x onerror="alert(1)">'


@pytest.fixture
def web(orch_env, redis_server, tmp_path, monkeypatch) -> WebEnv:
    return setup_web(monkeypatch, tmp_path, redis_server.url, {
        "website": [{"name": "push", "adapter": "http_push", "url": "http://127.0.0.1:9/never", "timeout": 1}],
        "reading_room": [{"name": "reading_room", "adapter": "manual"}],
    })


def _submit(client, **fields):
    tok = csrf_of(client.get("/submit").text)
    data = {"csrf_token": tok, "entry": "03", "publisher": PUBLISHER, "title": "工作动态", "body": "正文内容",
            "formed_on": "2026-11-02", **fields}
    files = fields.pop("files", None) or [("files", ("通知.pdf", PDF, "application/pdf"))]
    data.pop("files", None)
    r = client.post("/submit", data=data, files=files, headers={"Accept": "application/json"})
    assert r.status_code == 201, r.text
    return r.json()["document_id"]


# --- CSRF ----------------------------------------------------------------------------------------

def test_post_without_or_with_wrong_csrf_token_is_refused(web):
    c = web.client("clerk")
    good = web.token(c)
    for data in ({}, {"csrf_token": "wrong"}, {"csrf_token": good[:-2] + "xx"}):
        r = c.post("/submit/preview", data={"body": "x", **data})
        assert r.status_code == 403 and "CSRF" in r.text
    r = c.post("/submit/preview", data={"body": "x"}, headers={"X-CSRF-Token": "nope"})
    assert r.status_code == 403
    assert c.post("/submit/preview", data={"body": "x", "csrf_token": good}).status_code == 200
    # A token belongs to its session: another user's token does not work here.
    other = web.client("clerk_b")
    assert c.post("/submit/preview", data={"body": "x", "csrf_token": web.token(other)}).status_code == 403
    # Log-out and admin forms too.
    assert c.post("/logout", data={}).status_code == 403
    a = web.client("admin")
    r = a.post("/users", data={"username": "evil", "role": "admin", "password": "12345678x"})
    assert r.status_code == 403
    from orchestrator import auth

    with pytest.raises(auth.AuthError):
        auth.get_user("evil")


def test_login_form_needs_its_csrf_token(web):
    c = web.client()
    c.get("/login")
    r = c.post("/login", data={"username": web.users["clerk"], "password": PASSWORD}, follow_redirects=False)
    assert r.status_code == 403 and "orch_session" not in r.cookies
    r = c.post("/login", data={"username": web.users["clerk"], "password": PASSWORD, "csrf_token": "0" * 64},
               follow_redirects=False)
    assert r.status_code == 403


def test_wrong_password_is_generic(web):
    c = web.client()
    tok = csrf_of(c.get("/login").text)
    r1 = c.post("/login", data={"username": web.users["clerk"], "password": "wrong-one", "csrf_token": tok})
    r2 = c.post("/login", data={"username": "nobody-here", "password": "wrong-one", "csrf_token": tok})
    assert r1.status_code == r2.status_code == 401
    assert "用户名或密码不正确" in r1.text and "用户名或密码不正确" in r2.text


# --- sessions ------------------------------------------------------------------------------------

def test_session_id_changes_at_login_and_logout_invalidates(web):
    c = web.client()
    login(c, web.users["clerk"])
    first = c.cookies.get("orch_session")
    assert first
    # A planted cookie (here: a valid session id) is replaced at log-in, never adopted.
    c = web.client()
    tok = csrf_of(c.get("/login").text)
    c.cookies.set("orch_session", first)
    r = c.post("/login", data={"username": web.users["clerk"], "password": PASSWORD, "csrf_token": tok},
               follow_redirects=False)
    assert r.status_code == 303
    second = r.cookies.get("orch_session")
    c.cookies.clear()
    c.cookies.set("orch_session", second)
    assert second and second != first
    stale = web.client()
    stale.cookies.set("orch_session", first)
    r = stale.get("/submit", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")

    r = c.post("/logout", data={"csrf_token": web.token(c)}, follow_redirects=False)
    assert r.status_code == 303
    replay = web.client()
    replay.cookies.set("orch_session", second)
    assert replay.get("/submit", follow_redirects=False).status_code == 303
    from orchestrator.db import session_scope
    from orchestrator.web.models import WebSession

    with session_scope() as s:
        assert all(len(h) == 64 and h != second for h in s.scalars(select(WebSession.id_hash)))


def test_cookie_flags(web):
    c = web.client()
    tok = csrf_of(c.get("/login").text)
    r = c.post("/login", data={"username": web.users["ops"], "password": PASSWORD, "csrf_token": tok}, follow_redirects=False)
    header = [v for k, v in r.headers.multi_items() if k == "set-cookie" and v.startswith("orch_session=")][0].lower()
    assert "httponly" in header and "samesite=lax" in header and "path=/" in header


def test_forged_or_tampered_cookie_is_rejected(web):
    c = web.client("clerk")
    cookie = c.cookies.get("orch_session")
    bad = web.client()
    bad.cookies.set("orch_session", cookie[:-3] + ("AAA" if not cookie.endswith("AAA") else "BBB"))
    assert bad.get("/submit", follow_redirects=False).status_code == 303


def test_deactivated_user_is_logged_out(web):
    name = make_web_user("ops")
    c = web.client()
    login(c, name)
    assert c.get("/ops").status_code == 200
    a = web.client("admin")
    from orchestrator import auth

    uid = auth.get_user(name).id
    r = a.post(f"/users/{uid}", data={"csrf_token": web.token(a), "role": "ops", "office": ""}, follow_redirects=False)
    assert r.status_code == 303
    assert c.get("/ops", follow_redirects=False).status_code == 303


# --- roles on every route ------------------------------------------------------------------------

def _fill(path: str, ids: dict[str, str]) -> str:
    # Any other id in a path (e.g. a freshness confirmation's task_id): "1" — the guard refuses before any look-up.
    return re.sub(r"\{(\w+)\}", lambda m: ids.get(m.group(1), "1"), path)


def test_every_route_denies_anonymous_and_wrong_roles(web):
    from orchestrator.auth import Role
    from orchestrator.db import session_scope
    from orchestrator.models import Attachment, Delivery, DocumentVersion
    from orchestrator.web import ACCESS, router

    clerk = web.client("clerk")
    doc_id = _submit(clerk)
    with session_scope() as s:
        delivery_id = s.scalar(select(Delivery.id).where(Delivery.document_id == doc_id))
        att_id = s.scalar(select(Attachment.id).join(DocumentVersion).where(DocumentVersion.document_id == doc_id))
    from orchestrator import auth

    ids = {"document_id": str(doc_id), "delivery_id": str(delivery_id), "attachment_id": str(att_id),
           "user_id": str(auth.get_user(web.users["ops"]).id), "name": "web.css", "entry_id": "1", "sha256": "0" * 64,
           "problem_id": "1", "report_id": "1",
           "chain_id": "1", "binding_id": "1",  # review chains (admin only)
           "channel_code": "website"}  # the reviewer's per-channel preview
    routes = [(m, r.path) for r in router.routes for m in r.methods]
    assert routes and len(routes) == len(ACCESS)
    clients = {role: web.client(who) for role, who in
               ((Role.clerk, "clerk"), (Role.reviewer, "reviewer"), (Role.ops, "ops"))}
    tokens = {role: web.token(c) for role, c in clients.items()}
    anon = web.client()
    checked = 0
    for method, path in routes:
        assert (method, path) in ACCESS, f"{method} {path} is not declared through page()"
        roles = ACCESS[(method, path)]
        url = _fill(path, ids)
        if roles is None:
            continue  # public: log-in page and static files
        r = anon.request(method, url, follow_redirects=False)
        if method == "GET" and not path.endswith(".json"):
            assert r.status_code == 303 and r.headers["location"].startswith("/login"), (method, path, r.status_code)
        else:
            assert r.status_code == 401, (method, path, r.status_code)
        for role, client in clients.items():
            if role in roles:
                continue
            r = client.request(method, url, data={"csrf_token": tokens[role]} if method == "POST" else None,
                               follow_redirects=False)
            assert r.status_code == 403, (role, method, path, r.status_code)
            assert "权限不足" in r.text
            checked += 1
    assert checked >= 15


def test_clerk_of_another_office_cannot_see_or_act(web):
    clerk = web.client("clerk")
    doc_id = _submit(clerk, title="办公室的文件")
    other = web.client("clerk_b")
    tok = web.token(other)
    assert other.get(f"/documents/{doc_id}").status_code == 404
    assert other.get(f"/documents/{doc_id}/status.json").status_code == 404
    assert "办公室的文件" not in other.get("/documents").text
    assert other.post(f"/documents/{doc_id}/withdraw", data={"csrf_token": tok, "reason": "x"}).status_code == 404
    assert other.post(f"/documents/{doc_id}/versions", data={"csrf_token": tok, "title": "改"}).status_code == 404
    # Submitting for an entry the office is not responsible for.
    r = other.post("/submit", data={"csrf_token": tok, "entry": "03", "publisher": PUBLISHER, "title": "t", "body": "b",
                                    "formed_on": "2026-11-02"}, headers={"Accept": "application/json"})
    assert r.status_code == 403 and "责任科室" in r.json()["error"]
    assert other.get("/submit/due.json", params={"entry": "03", "formed_on": "2026-11-02"}).status_code == 403
    # The tree offers only the clerk's own entries.
    assert '"code": "01-01"' in other.get("/submit").text and '"code": "03"' not in other.get("/submit").text
    for path in ("/users", "/catalog/import", "/ops", "/log"):
        assert other.get(path).status_code == 403


# --- XSS -----------------------------------------------------------------------------------------

def test_every_displayed_field_is_escaped(web):
    from orchestrator.db import session_scope
    from orchestrator.models import Delivery, DeliveryAttempt

    evil_name = make_web_user("clerk", "办公室", display_name=XSS)
    clerk = web.client()
    login(clerk, evil_name)
    doc_id = _submit(clerk, title=f"标题{XSS}", doc_number=IMG, body=f"正文 {XSS} {IMG} [链接](javascript:alert(1))",
                     files=[("files", (f"{XSS}.pdf", PDF, "application/pdf"))])
    with session_scope() as s:
        d = s.scalars(select(Delivery).where(Delivery.document_id == doc_id)).first()
        s.execute(update(Delivery).where(Delivery.id == d.id).values(status="failed", last_error=f"错误{XSS}",
                                                                         receipt={"url": "javascript:alert(1)"}))
        s.add(DeliveryAttempt(delivery_id=d.id, number=1, outcome="permanent", message=f"尝试{IMG}", error_class=XSS))
    pages = {
        "clerk": [f"/documents/{doc_id}", "/documents"],
        "ops": [f"/documents/{doc_id}", "/ops", "/log", "/documents"],
        "admin": ["/users", f"/documents/{doc_id}"],
    }
    for who, paths in pages.items():
        c = clerk if who == "clerk" else web.client(who)
        for p in paths:
            html = c.get(p).text
            assert "<script>alert" not in html, p
            assert not re.search(r"<img[^>]*onerror", html), p
            assert not re.search(r"href=[\"']?javascript:", html, re.I), p
    doc_html = web.client("ops").get(f"/documents/{doc_id}").text
    assert "标题&lt;script&gt;" in doc_html and "&lt;img src=x" in doc_html
    assert "错误&lt;script&gt;" in doc_html and "尝试&lt;img" in doc_html
    ops_json = web.client("ops").get("/ops/data.json").json()
    assert any("<script>" in f["error"] for f in ops_json["failures"])  # data as data; the page sets textContent
    assert "&lt;script&gt;" in web.client("admin").get("/users").text
    # The CSV export keeps the text as text.
    csv_text = web.client("ops").get("/log.csv").content.decode("utf-8-sig")
    assert "尝试<img" in csv_text


def test_upload_names_cannot_traverse(web, tmp_path):
    from orchestrator.db import session_scope
    from orchestrator.models import Attachment, DocumentVersion
    from orchestrator.settings import get_settings

    clerk = web.client("clerk")
    doc_id = _submit(clerk, files=[("files", ("../../x.pdf", PDF, "application/pdf")),
                                   ("files", ("..\\..\\y.pdf", PDF, "application/pdf"))])
    with session_scope() as s:
        names = list(s.scalars(select(Attachment.filename).join(DocumentVersion).where(DocumentVersion.document_id == doc_id)))
    assert sorted(names) == ["x.pdf", "y.pdf"]
    var = get_settings().var_dir
    assert not (var.parent / "x.pdf").exists() and not (var.parent.parent / "x.pdf").exists()
    blobs = [p for p in get_settings().attachments_dir.rglob("*") if p.is_file()]
    assert blobs and all(p.resolve().is_relative_to(get_settings().attachments_dir.resolve()) for p in blobs)
    # Download headers carry the cleaned name only.
    with session_scope() as s:
        att_id = s.scalar(select(Attachment.id).join(DocumentVersion).where(DocumentVersion.document_id == doc_id))
    r = clerk.get(f"/documents/{doc_id}/attachments/{att_id}")
    assert r.status_code == 200 and r.content == PDF and ".." not in r.headers["content-disposition"]
    # Static files: no way out of the static directory.
    for bad in ("..%2Fbase.html", "..%2F..%2F..%2Fpyproject.toml", "%2Fetc%2Fpasswd", "web.css%00.html"):
        assert web.client().get(f"/static/web/{bad}").status_code == 404
    # The log-in redirect never leaves the site.
    c = web.client()
    tok = csrf_of(c.get("/login").text)
    r = c.post("/login", data={"username": web.users["clerk"], "password": PASSWORD, "csrf_token": tok,
                               "next": "//evil.example/x"}, follow_redirects=False)
    assert r.headers["location"] == "/"
