"""Documents in through the web form and the REST API (real PostgreSQL and Redis): upload a Word file, get the
recognised 公文 fields and the body to confirm, submit with the schedule fields, images attached; refusals store
nothing."""

from __future__ import annotations

import datetime as dt
import re
import shutil
from urllib.parse import unquote

import pytest
from sqlalchemy import select

from tests.api_helpers import PUBLISHER, ROOT, blob_count, make_user
from tests.api_helpers import migrated_pg as migrated_pg  # noqa: F401  (a private database for this module)
from tests.docin_support import notice_docx, png_bytes
from tests.web_support import WebEnv, csrf_of, setup_web

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


@pytest.fixture
def web(orch_env, redis_server, tmp_path, monkeypatch) -> WebEnv:
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    monkeypatch.setenv("ORCH_CONFIG_DIR", str(config))
    return setup_web(monkeypatch, tmp_path, redis_server.url, {
        "website": [{"name": "push", "adapter": "http_push", "url": "http://127.0.0.1:9/never", "timeout": 1}],
        "reading_room": [{"name": "reading_room", "adapter": "manual"}],
    })


def _version(document_id: int):
    from orchestrator.db import session_scope
    from orchestrator.models import Document, DocumentVersion

    with session_scope() as s:
        doc = s.get(Document, document_id)
        v = s.scalars(select(DocumentVersion).where(DocumentVersion.document_id == document_id)).one()
        return ({"publish_at": doc.publish_at, "display_from": doc.display_from, "display_until": doc.display_until,
                 "related": doc.related_document_id, "validity": doc.validity, "validity_date": doc.validity_date,
                 "subject_words": doc.subject_words},
                {"body": v.body_html, "doc_number": v.doc_number, "title": v.title, "summary": v.summary,
                 "attachments": [(a.filename, a.sha256, a.content_type) for a in v.attachments]})


def test_upload_prefill_and_submit(web):
    c = web.client("clerk")
    page = c.get("/submit").text
    csrf = csrf_of(page)
    # The form carries the fields the API takes: 定时发布, 展示期, 关联文件, and the rich-text editor.
    for field in ('name="publish_at"', 'name="display_from"', 'name="display_until"', 'name="related_document_id"',
                  'name="validity"', 'name="validity_date"', 'name="subject_words"', 'id="rich-editor"', 'id="import-file"'):
        assert field in page, field
    hdr = {"X-CSRF-Token": csrf, "Accept": "application/json"}
    image = png_bytes((10, 120, 200))
    r = c.post("/submit/import", files={"file": ("通知.docx", notice_docx(image), DOCX)}, headers=hdr)
    assert r.status_code == 200, r.text
    j = r.json()
    assert j["fields"]["doc_number"] == "根司发〔2026〕5号" and j["fields"]["formed_on"] == "2026-03-02"
    assert j["fields"]["title"] == "关于开展2026年法治宣传月活动的通知"
    [img] = j["attachments"]
    # The editor gets the image by its staged URL, and that URL serves the stored bytes.
    m = re.search(r'src="(/submit/staged/[0-9a-f]{64}/[^"]+)"', j["editor_html"])
    assert m and m.group(1) == img["url"]
    got = c.get(m.group(1))
    assert got.status_code == 200 and got.content == image and got.headers["content-type"] == "image/png"

    earlier = c.post("/submit", data={"csrf_token": csrf, "entry": "03", "publisher": PUBLISHER, "title": "政策文件",
                                      "body": "正文", "formed_on": "2026-03-01"}, headers={"Accept": "application/json"})
    assert earlier.status_code == 201, earlier.text
    related = earlier.json()["document_id"]

    form = {"csrf_token": csrf, "entry": "03", "publisher": PUBLISHER, "title": j["fields"]["title"],
            "doc_number": j["fields"]["doc_number"], "formed_on": j["fields"]["formed_on"], "body": j["editor_html"],
            "body_format": "html", "publish_at": "2026-12-20T09:00", "display_from": "2026-12-20T09:00",
            "display_until": "2026-12-31T18:00", "related_document_id": str(related), "summary": j["summary"],
            "validity": "已修订", "validity_date": "2026-03-10", "subject_words": "法治宣传 通知"}
    # The API's checks: the display period must end after it starts; nothing is written, no blob removed.
    blobs = blob_count()
    bad = c.post("/submit", data={**form, "display_until": "2026-12-19T09:00"}, headers={"Accept": "application/json"})
    assert bad.status_code == 422 and "展示结束时间必须晚于开始时间" in bad.text
    assert blob_count() == blobs and c.get(m.group(1)).status_code == 200
    bad = c.post("/submit", data={**form, "related_document_id": "999999"}, headers={"Accept": "application/json"})
    assert bad.status_code == 422 and "关联文件 999999 不存在" in bad.text
    bad = c.post("/submit", data={**form, "validity_date": ""}, headers={"Accept": "application/json"})
    assert bad.status_code == 422 and "有效性为“已修订”时请填写其日期" in bad.text
    bad = c.post("/submit", data={**form, "validity": "作废"}, headers={"Accept": "application/json"})
    assert bad.status_code == 422 and "有效性" in bad.text

    r = c.post("/submit", data=form, headers={"Accept": "application/json"})
    assert r.status_code == 201, r.text
    doc, version = _version(r.json()["document_id"])
    beijing = dt.timezone(dt.timedelta(hours=8))
    assert doc["publish_at"].replace(tzinfo=doc["publish_at"].tzinfo or dt.UTC) == dt.datetime(2026, 12, 20, 9, 0,
                                                                                                 tzinfo=beijing)
    assert doc["display_until"].replace(tzinfo=doc["display_until"].tzinfo or dt.UTC) == dt.datetime(
        2026, 12, 31, 18, 0, tzinfo=beijing)
    assert doc["related"] == related
    assert (doc["validity"], doc["validity_date"], doc["subject_words"]) == ("已修订", dt.date(2026, 3, 10), "法治宣传 通知")
    assert version["doc_number"] == "根司发〔2026〕5号" and version["summary"].startswith("为深入推进")
    # The body refers to the image by its attachment name, and the image is one of the version's attachments.
    assert [(a[0], a[1]) for a in version["attachments"]] == [(unquote(img["filename"]), img["sha256"])]
    assert f'src="{img["filename"]}"' in version["body"] and "/submit/staged/" not in version["body"]
    assert 'rowspan="2"' in version["body"] and '<p class="gw-date">2026年3月2日</p>' in version["body"]


def test_web_refusals_store_nothing(web):
    c = web.client("clerk")
    hdr = {"X-CSRF-Token": csrf_of(c.get("/submit").text), "Accept": "application/json"}
    before = blob_count()
    r = c.post("/submit/import", files={"file": ("通知.docm", notice_docx(png_bytes()), DOCX)}, headers=hdr)
    assert r.status_code == 422 and "宏" in r.json()["error"]
    r = c.post("/submit/import", files={"file": ("通知.exe", b"MZ", "application/octet-stream")}, headers=hdr)
    assert r.status_code == 422 and "不能导入" in r.json()["error"]
    r = c.post("/submit/image", files={"file": ("照片.png", b"<svg onload=alert(1)>", "image/png")}, headers=hdr)
    assert r.status_code == 422 and "不符" in r.json()["error"]
    assert blob_count() == before
    # A pasted image that is what it says is stored and can be shown in the editor.
    r = c.post("/submit/image", files={"file": ("粘贴.png", png_bytes((1, 2, 3)), "image/png")}, headers=hdr)
    assert r.status_code == 200 and c.get(r.json()["url"]).content == png_bytes((1, 2, 3))
    # Word paste goes through the server's cleaner (the preview endpoint the editor posts to).
    r = c.post("/submit/preview", data={"body": '<p class=MsoNormal style="mso-x:1">甲<o:p></o:p></p>',
                                        "body_format": "html"}, headers=hdr)
    assert r.json()["html"] == "<p>甲</p>"


def test_api_import_then_submit(web):
    from fastapi.testclient import TestClient

    _, token = make_user("clerk", "办公室")
    api = TestClient(web.app, raise_server_exceptions=False)
    h = {"Authorization": f"Bearer {token}"}
    r = api.post("/api/v1/documents/import", files={"file": ("通知.docx", notice_docx(png_bytes((9, 9, 9))), DOCX)},
                 headers=h)
    assert r.status_code == 200, r.text
    j = r.json()
    assert j["fields"]["doc_number"] == "根司发〔2026〕5号" and len(j["staged_attachments"]) == 1
    name = j["attachments"][0]["filename"]
    assert f'src="{name}"' in j["body_html"]
    r = api.post("/api/v1/documents", headers=h, json={
        "entry": "03", "publisher": PUBLISHER, "title": j["fields"]["title"], "body": j["body_html"],
        "doc_number": j["fields"]["doc_number"], "formed_on": j["fields"]["formed_on"],
        "staged_attachments": j["staged_attachments"]})
    assert r.status_code == 201, r.text
    doc, version = _version(r.json()["document_id"])
    assert [a[0] for a in version["attachments"]] == [name]
    assert doc["validity"] == "有效" and doc["subject_words"] == ""
    shown = api.get(f"/api/v1/documents/{r.json()['document_id']}", headers=h).json()
    assert shown["validity"] == "有效" and shown["validity_date"] is None
    before = blob_count()
    r = api.post("/api/v1/documents/import", files={"file": ("宏.docm", notice_docx(), DOCX)}, headers=h)
    assert r.status_code == 422 and "宏" in r.text and blob_count() == before


@pytest.mark.timeout(600)
def test_pdf_only_document_is_attached_with_its_text(web, tmp_path):
    from tests.test_docimport import _soffice_convert

    pdf = _soffice_convert(tmp_path, notice_docx(), "pdf")
    c = web.client("clerk")
    csrf = csrf_of(c.get("/submit").text)
    r = c.post("/submit/import", files={"file": ("通知.pdf", pdf, "application/pdf")},
               headers={"X-CSRF-Token": csrf, "Accept": "application/json"})
    assert r.status_code == 200, r.text
    j = r.json()
    assert j["kind"] == "pdf" and len(j["staged"]) == 1 and "为深入推进法治宣传教育" in j["summary"]
    r = c.post("/submit", data={"csrf_token": csrf, "entry": "03", "publisher": PUBLISHER, "title": j["fields"]["title"],
                                "doc_number": j["fields"]["doc_number"], "formed_on": j["fields"]["formed_on"],
                                "body": j["editor_html"], "body_format": "html", "summary": j["summary"],
                                "staged": j["staged"]}, headers={"Accept": "application/json"})
    assert r.status_code == 201, r.text
    _, version = _version(r.json()["document_id"])
    assert [(a[0], a[2]) for a in version["attachments"]] == [("通知.pdf", "application/pdf")]
    assert "为深入推进法治宣传教育" in version["summary"] and "为深入推进法治宣传教育" in version["body"]
