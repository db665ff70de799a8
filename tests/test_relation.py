"""Relation kinds (政策解读 ↔ 政策文件) through the web form and the REST API (real PostgreSQL and Redis): the related
document must exist and be readable by the submitter, a 解读 must point at a live policy (not at another
interpretation), and both directions show on the staff document pages."""

from __future__ import annotations

import shutil

import pytest

from tests.api_helpers import PUBLISHER, ROOT, make_user
from tests.api_helpers import migrated_pg as migrated_pg  # noqa: F401  (a private database for this module)
from tests.web_support import OFFICE_A, OFFICE_B, WebEnv, csrf_of, setup_web

JSON = {"Accept": "application/json"}


@pytest.fixture
def web(orch_env, redis_server, tmp_path, monkeypatch) -> WebEnv:
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    monkeypatch.setenv("ORCH_CONFIG_DIR", str(config))
    return setup_web(monkeypatch, tmp_path, redis_server.url, {
        "website": [{"name": "push", "adapter": "http_push", "url": "http://127.0.0.1:9/never", "timeout": 1}],
        "reading_room": [{"name": "reading_room", "adapter": "manual"}],
    })


def _kind(document_id: int) -> tuple[int | None, str]:
    from orchestrator.db import session_scope
    from orchestrator.models import Document

    with session_scope() as s:
        d = s.get(Document, document_id)
        return d.related_document_id, d.related_kind


def test_relation_kinds_are_checked_and_shown_both_ways(web: WebEnv) -> None:
    a = web.client("clerk")  # 办公室: entry 03
    b = web.client("clerk_b")  # 行政执法协调监督办公室: entry 01-01
    csrf_a, csrf_b = csrf_of(a.get("/submit").text), csrf_of(b.get("/submit").text)

    def form(csrf: str, entry: str, title: str, **extra: str) -> dict[str, str]:
        return {"csrf_token": csrf, "entry": entry, "publisher": PUBLISHER, "title": title, "body": "正文",
                "formed_on": "2026-03-01", **extra}

    policy = a.post("/submit", data=form(csrf_a, "03", "政策文件甲"), headers=JSON).json()["document_id"]
    hidden = b.post("/submit", data=form(csrf_b, "01-01", "他科室的文件"), headers=JSON).json()["document_id"]

    r = a.post("/submit", data=form(csrf_a, "03", "政策文件甲的解读", related_document_id=str(policy),
                                    related_kind="解读"), headers=JSON)
    assert r.status_code == 201, r.text
    interp = r.json()["document_id"]
    assert _kind(interp) == (policy, "解读")

    # A document the submitter may not read answers like a missing one.
    bad = a.post("/submit", data=form(csrf_a, "03", "越权关联", related_document_id=str(hidden)), headers=JSON)
    assert bad.status_code == 422 and f"关联文件 {hidden} 不存在" in bad.text
    # A 解读 of a 解读 is refused; "相关" to the same document is fine.
    bad = a.post("/submit", data=form(csrf_a, "03", "解读的解读", related_document_id=str(interp),
                                      related_kind="解读"), headers=JSON)
    assert bad.status_code == 422 and "本身是政策解读" in bad.text
    ok = a.post("/submit", data=form(csrf_a, "03", "相关通知", related_document_id=str(interp),
                                     related_kind="相关"), headers=JSON)
    assert ok.status_code == 201 and _kind(ok.json()["document_id"]) == (interp, "相关")
    # An unknown kind is refused with the field's name.
    bad = a.post("/submit", data=form(csrf_a, "03", "乱写", related_document_id=str(policy),
                                      related_kind="附件"), headers=JSON)
    assert bad.status_code == 422 and "关联方式" in bad.text

    # Both directions on the staff pages.
    page = a.get(f"/documents/{policy}").text
    assert "政策解读" in page and f'href="/documents/{interp}"' in page
    page = a.get(f"/documents/{interp}").text
    assert "解读的政策文件" in page and f'href="/documents/{policy}"' in page
    assert "相关文件" in page  # the 相关通知 points at the interpretation

    # The REST API: the same checks, and the kind in the document's JSON.
    _, token = make_user("clerk", OFFICE_A)
    auth = {"Authorization": f"Bearer {token}"}
    base = {"entry": "03", "publisher": PUBLISHER, "title": "接口提交的解读", "body": "<p>正文</p>",
            "formed_on": "2026-03-02"}
    r = a.post("/api/v1/documents", json={**base, "related_document_id": policy}, headers=auth)
    assert r.status_code == 201, r.text
    doc = a.get(f"/api/v1/documents/{r.json()['document_id']}", headers=auth).json()
    assert (doc["related_document_id"], doc["related_kind"]) == (policy, "解读")  # 解读 is the default kind
    r = a.post("/api/v1/documents", json={**base, "related_document_id": hidden}, headers=auth)
    assert r.status_code == 422 and f"关联文件 {hidden} 不存在" in r.text
    r = a.post("/api/v1/documents", json={**base, "related_kind": "解读"}, headers=auth)
    assert r.status_code == 422 and "请填写关联文件编号" in r.text
    _, token_b = make_user("clerk", OFFICE_B)
    r = a.post("/api/v1/documents", json={**base, "entry": "01-01", "related_document_id": policy},
               headers={"Authorization": f"Bearer {token_b}"})
    assert r.status_code == 422 and f"关联文件 {policy} 不存在" in r.text

    # A withdrawn policy gets no new interpretation.
    from orchestrator.documents import versions

    versions.withdraw(policy, "已废止", actor="ops")
    r = a.post("/api/v1/documents", json={**base, "related_document_id": policy}, headers=auth)
    assert r.status_code == 422 and "已撤销" in r.text
