"""One read rule for the web app and the REST API, checked on every read route they have, for every role.

A clerk of another office must get from every GET route exactly what a missing document gives (404 for one
document, nothing in a list), and the document's title and body never appear in any answer to them; the owning clerk,
reviewers, ops and admins read it. The routes are enumerated from the app, so a read route added later is covered.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import select

from tests.api_helpers import PDF, PUBLISHER
from tests.api_helpers import migrated_pg as migrated_pg  # noqa: F401  (a private database for this module)
from tests.web_support import WebEnv, setup_web

SECRET_TITLE = "科室甲的内部通知"
SECRET_BODY = "尚未公开的正文XQ7"
ROLES = ("clerk", "clerk_b", "reviewer", "ops", "admin")


@pytest.fixture
def env(orch_env, redis_server, tmp_path, monkeypatch):
    web = setup_web(monkeypatch, tmp_path, redis_server.url, {
        "website": [{"name": "push", "adapter": "http_push", "url": "http://127.0.0.1:9/never", "timeout": 1}],
        "reading_room": [{"name": "reading_room", "adapter": "manual"}],
    })
    return web, _seed(web)


def _seed(web: WebEnv) -> dict[str, str]:
    """An embargoed document of the clerk's office, with an attachment and a manual-task delivery."""
    from orchestrator import auth
    from orchestrator.db import session_scope
    from orchestrator.models import Attachment, Delivery, DocumentVersion

    tokens = {who: auth.create_token(web.users[who], "访问规则测试")[1] for who in ROLES}
    c = web.client()
    publish_at = (dt.datetime.now(dt.UTC) + dt.timedelta(days=30)).isoformat()
    data = {"entry": "03", "publisher": PUBLISHER, "title": SECRET_TITLE, "body": f"<p>{SECRET_BODY}</p>",
            "formed_on": "2026-11-02", "publish_at": publish_at}
    import json

    r = c.post("/api/v1/documents", data={"data": json.dumps(data, ensure_ascii=False)},
               files=[("files", ("内部.pdf", PDF, "application/pdf"))],
               headers={"Authorization": f"Bearer {tokens['clerk']}"})
    assert r.status_code == 201, r.text
    doc_id = r.json()["document_id"]
    with session_scope() as s:
        delivery_id, channel = s.execute(select(Delivery.id, Delivery.channel).where(Delivery.document_id == doc_id)
                                         .order_by(Delivery.id)).first()
        att_id = s.scalar(select(Attachment.id).join(DocumentVersion).where(DocumentVersion.document_id == doc_id))
        statuses = set(s.scalars(select(Delivery.status).where(Delivery.document_id == doc_id)))
    assert statuses == {"scheduled"}, statuses  # embargoed: nothing public yet
    return {"document_id": str(doc_id), "delivery_id": str(delivery_id), "attachment_id": str(att_id),
            "name": "web.css", "user_id": "1",
            "channel_code": channel, **{f"token:{w}": t for w, t in tokens.items()}}


def _fill(path: str, ids: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], path)


def _missing(ids: dict[str, str]) -> dict[str, str]:
    return {**ids, "document_id": "99999999", "delivery_id": "99999999", "attachment_id": "99999999"}


def _api_get_routes(app) -> list[str]:
    """Every GET route of the API, as its schema announces them (every API route is in the schema)."""
    return sorted(p for p, ops in app.openapi()["paths"].items() if p.startswith("/api/") and "get" in ops)


def _leaks(text: str) -> bool:
    return SECRET_TITLE in text or SECRET_BODY in text


def test_api_read_routes_follow_the_office_rule(env):
    web, ids = env
    c = web.client()
    routes = _api_get_routes(web.app)
    assert "/api/v1/documents/{document_id}" in routes and "/api/v1/deliveries/{delivery_id}" in routes
    assert "/api/v1/deliveries" in routes
    checked = 0
    for path in routes:
        for who in ROLES:
            h = {"Authorization": f"Bearer {ids['token:' + who]}"}
            params = {"entry": "03", "formed_on": "2026-11-02"} if path.endswith("due-date") else None
            r = c.get(_fill(path, ids), headers=h, params=params)
            if who == "clerk_b":
                missing = c.get(_fill(path, _missing(ids)), headers=h, params=params)
                assert r.status_code == missing.status_code, (path, r.status_code, missing.status_code)
                assert not _leaks(r.text), (path, r.text[:300])
                if "{" in path:
                    assert r.status_code == 404, path
                    assert "不存在" in r.json()["detail"][0]["message"]
            else:
                assert r.status_code == 200, (who, path, r.text[:300])
            checked += 1
    assert checked >= len(ROLES) * 4
    # The owner sees the body (the document's own detail) and the list carries its deliveries; the other clerk's
    # list is filtered, not just the detail routes.
    owner = {"Authorization": f"Bearer {ids['token:clerk']}"}
    other = {"Authorization": f"Bearer {ids['token:clerk_b']}"}
    assert SECRET_BODY in c.get(f"/api/v1/documents/{ids['document_id']}", headers=owner).text
    mine = c.get("/api/v1/deliveries", params={"document_id": ids["document_id"]}, headers=owner).json()
    theirs = c.get("/api/v1/deliveries", params={"document_id": ids["document_id"]}, headers=other).json()
    assert mine["total"] >= 2 and theirs["total"] == 0 and theirs["items"] == []
    assert int(ids["document_id"]) not in {d["document_id"] for d in
                                           c.get("/api/v1/deliveries", headers=other).json()["items"]}


def test_web_read_routes_follow_the_office_rule(env):
    from orchestrator.web import ACCESS

    web, ids = env
    clients = {who: web.client(who) for who in ROLES}
    reads = sorted(p for (m, p), roles in ACCESS.items() if m == "GET" and roles is not None
                   and any(k in p for k in ("{document_id}", "{delivery_id}", "{attachment_id}")))
    assert {"/documents/{document_id}", "/documents/{document_id}/attachments/{attachment_id}",
            "/deliveries/{delivery_id}/task"} <= set(reads)
    for path in reads:
        other = clients["clerk_b"].get(_fill(path, ids), follow_redirects=False)
        missing = clients["clerk_b"].get(_fill(path, _missing(ids)), follow_redirects=False)
        assert other.status_code == missing.status_code == 404, (path, other.status_code, missing.status_code)
        assert not _leaks(other.text), path
    for who in ("clerk", "reviewer", "ops", "admin"):
        c = clients[who]
        page = c.get(f"/documents/{ids['document_id']}")
        assert page.status_code == 200 and SECRET_TITLE in page.text, who
        att = c.get(f"/documents/{ids['document_id']}/attachments/{ids['attachment_id']}")
        assert att.status_code == 200 and att.content == PDF, who
        assert c.get(f"/documents/{ids['document_id']}/status.json").status_code == 200, who
    # Every other page a clerk may open (lists, forms, catalog, previews): nothing of the document shows.
    for (method, path), roles in sorted(ACCESS.items()):
        if method != "GET" or roles is None or "{" in path:
            continue
        r = clients["clerk_b"].get(path, params={"entry": "01-01", "formed_on": "2026-11-02"}, follow_redirects=False)
        assert r.status_code in (200, 303, 403, 422), (path, r.status_code)
        assert not _leaks(r.text), path
    # Exports and dashboards are for ops: a clerk gets 403, ops see the document there.
    for path in ("/ops/data.json", "/log", "/log.csv"):
        assert clients["clerk_b"].get(path).status_code == 403, path
        assert clients["clerk"].get(path).status_code == 403, path
    # Lists: the other office's clerk does not find it, the owner does.
    assert SECRET_TITLE not in clients["clerk_b"].get("/documents").text
    link = f'href="/documents/{ids["document_id"]}"'
    assert link not in clients["clerk_b"].get("/documents", params={"q": "内部通知"}).text
    assert link in clients["clerk"].get("/documents", params={"q": "内部通知"}).text
    assert SECRET_TITLE in clients["clerk"].get("/documents").text
    assert SECRET_TITLE in clients["reviewer"].get("/documents").text


def test_one_rule_behind_both(env):
    """The API and the web app ask the same function: a clerk with no office sees nothing through either."""
    from orchestrator import access, auth
    from orchestrator.db import session_scope
    from orchestrator.models import Document

    web, ids = env
    doc_id = int(ids["document_id"])
    with session_scope() as s:
        for who in ROLES:
            p = auth.get_user(web.users[who])
            assert access.may_read(s, p, doc_id) is (who != "clerk_b"), who
        nobody = auth.Principal(0, "x", "", auth.Role.clerk, "")
        assert access.readable_document(s, nobody, doc_id) is None
        assert s.scalars(select(Document.id).where(access.document_filter(s, nobody))).all() == []
