"""Web pages against a real PostgreSQL (no workers needed): submit refusals and the personal-data acknowledgement,
review, correction and withdrawal, exports, catalog import with a diff, user management, the first admin."""

from __future__ import annotations

import csv
import io
import re
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.api_helpers import PDF, PUBLISHER, ROOT
from tests.api_helpers import migrated_pg as migrated_pg  # noqa: F401  (a private database for this module)
from tests.web_support import PASSWORD, WebEnv, csrf_of, login, setup_web

SEED = Path(__file__).resolve().parent.parent / "config" / "catalogs" / "sources" / "000_7b423e1979c7eb69.txt"


@pytest.fixture
def web(orch_env, redis_server, tmp_path, monkeypatch) -> WebEnv:
    # A private config dir: the catalog import test writes catalogs, never into the repository's config/.
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    monkeypatch.setenv("ORCH_CONFIG_DIR", str(config))
    return setup_web(monkeypatch, tmp_path, redis_server.url, {
        "website": [{"name": "push", "adapter": "http_push", "url": "http://127.0.0.1:9/never", "timeout": 1}],
        "reading_room": [{"name": "reading_room", "adapter": "manual"}],
    })


def _post_submit(c, **fields):
    data = {"csrf_token": csrf_of(c.get("/submit").text), "entry": "03", "publisher": PUBLISHER, "title": "工作动态",
            "body": "正文内容", "formed_on": "2026-11-02", **fields}
    return c.post("/submit", data=data, files=[("files", ("通知.pdf", PDF, "application/pdf"))],
                  headers={"Accept": "application/json"})


def test_submit_refusals_keep_the_form_and_personal_data_needs_acknowledgement(web):
    from tests.api_helpers import counts

    c = web.client("clerk")
    before = counts()
    r = _post_submit(c, title="", body="")
    assert r.status_code == 422
    fields = {e["field"] for e in r.json()["errors"]}
    assert {"标题", "正文"} <= fields
    r = _post_submit(c, body="联系人身份证 110101199003074514")
    assert r.status_code == 422 and r.json()["personal_data"] == ["身份证号码 110***********4514"]
    assert counts() == before  # nothing half-written
    # Without JavaScript the page comes back with the fields filled and the checkbox shown.
    data = {"csrf_token": csrf_of(c.get("/submit").text), "entry": "03", "publisher": PUBLISHER, "title": "保留的标题",
            "body": "身份证 110101199003074514", "formed_on": "2026-11-02"}
    html = c.post("/submit", data=data).text
    assert "保留的标题" in html and "confirm_personal_data" in html and "110***********4514" in html
    r = _post_submit(c, body="联系人身份证 110101199003074514", confirm_personal_data="true")
    assert r.status_code == 201, r.text
    page = c.get(r.json()["redirect"]).text
    assert "已确认可以公开" in page and "通知.pdf" in page
    # Bad attachment type: refused server-side whatever the browser checked.
    r = c.post("/submit", data={**data, "body": "正文", "csrf_token": csrf_of(c.get("/submit").text)},
               files=[("files", ("病毒.exe", b"MZ", "application/octet-stream"))], headers={"Accept": "application/json"})
    assert r.status_code == 422 and "类型不允许" in r.text


def test_due_preview_and_body_preview(web):
    c = web.client("clerk")
    r = c.get("/submit/due.json", params={"entry": "03", "publisher": PUBLISHER, "formed_on": "2026-09-30"})
    j = r.json()
    # 即时公开 from the last day before National Day: the next working day is after the holiday.
    assert j["due_date"] == "2026-10-08" and [ch["code"] for ch in j["channels"]] == ["website", "reading_room"]
    assert all(ch["configured"] for ch in j["channels"])
    r = c.get("/submit/due.json", params={"entry": "nope", "formed_on": "2026-09-30"})
    assert r.status_code == 422 and "找不到目录事项" in r.json()["error"]
    r = c.post("/submit/preview", data={"body": "**粗体** <iframe src=x></iframe>", "csrf_token": web.token(c)})
    assert "<strong>粗体</strong>" in r.json()["html"] and "<iframe" not in r.json()["html"]


def test_review_correction_withdrawal(web):
    clerk = web.client("clerk")
    r = _post_submit(clerk, entry="R-01", publisher="测试审核局", title="任免名单公示")
    doc = r.json()["document_id"]
    assert "保密审查" in " ".join(r.json()["warnings"])
    rev = web.client("reviewer")
    assert "任免名单公示" in rev.get("/review").text
    r = rev.post(f"/documents/{doc}/reject", data={"csrf_token": web.token(rev), "reason": ""})
    assert "请填写" in r.text
    r = rev.post(f"/documents/{doc}/approve", data={"csrf_token": web.token(rev)})
    assert "保密审查已通过" in r.text
    assert "任免名单公示" not in rev.get("/review").text
    r = rev.post(f"/documents/{doc}/approve", data={"csrf_token": web.token(rev)})
    assert "不在待审核状态" in r.text

    tok = web.token(clerk)
    r = clerk.post(f"/documents/{doc}/versions", data={"csrf_token": tok, "title": "更正后的标题", "body": "更正后的正文",
                                                       "body_format": "markdown", "change_note": "更正日期",
                                                       "keep_attachments": "true"})
    assert "已登记第 2 版" in r.text and "更正后的标题" in r.text
    r = clerk.post(f"/documents/{doc}/withdraw", data={"csrf_token": tok, "reason": ""})
    assert "必须填写撤回原因" in r.text
    r = clerk.post(f"/documents/{doc}/withdraw", data={"csrf_token": tok, "reason": "文件已废止"})
    assert "已撤回" in r.text


def test_ops_actions_and_exports(web):
    from orchestrator.db import session_scope
    from orchestrator.models import Delivery, DeliveryAttempt

    clerk = web.client("clerk")
    doc = _post_submit(clerk, title="=HYPERLINK(\"http://x\")").json()["document_id"]
    with session_scope() as s:
        ds = {d.channel: d for d in s.scalars(select(Delivery).where(Delivery.document_id == doc))}
        ds["website"].status, ds["website"].last_error, ds["website"].error_class = "failed", "接收端拒绝了该文件（400）", "PermanentError"
        ds["reading_room"].status = "awaiting_confirmation"
        s.add(DeliveryAttempt(delivery_id=ds["website"].id, number=1, outcome="permanent", message="接收端拒绝了该文件（400）"))
        web_id, manual_id = ds["website"].id, ds["reading_room"].id
    ops = web.client("ops")
    data = ops.get("/ops/data.json").json()
    group = next(f for f in data["failures"] if f["channel"] == "website")
    assert group["count"] >= 1 and data["cards"]["manual"] >= 1
    assert any(m["id"] == doc and m["cells"]["website"]["label"] == "失败" for m in data["matrix"])
    tok = web.token(ops)
    r = ops.post("/ops/retry", data={"channel": "website", "status": "failed", "error_class": group["error_class"],
                                     "error": group["error"]}, headers={"X-CSRF-Token": tok})
    assert r.json()["retried"] >= 1
    r = ops.post(f"/deliveries/{web_id}/retry", data={"csrf_token": tok})
    assert "不能重试" in r.text  # already pending again
    r = ops.post(f"/deliveries/{manual_id}/confirm", data={"csrf_token": tok, "by": "张三", "url": "ftp://x"})
    assert "链接应以 http" in r.text
    r = ops.post(f"/deliveries/{manual_id}/confirm", data={"csrf_token": tok, "by": "张三", "note": "已放置",
                                                          "when": "2026-11-02T10:00"},
                 files={"evidence": ("../../照片.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 32, "image/png")})
    assert "已确认" in r.text
    with session_scope() as s:
        d = s.get(Delivery, manual_id)
        assert d.status == "delivered" and d.confirmed_by == "张三" and d.evidence_filename == "照片.png"
    r = ops.get(f"/deliveries/{manual_id}/evidence")  # the evidence can be opened again from the document page
    assert r.status_code == 200 and r.content == b"\x89PNG\r\n\x1a\n" + b"\0" * 32
    assert r.headers["content-type"] == "image/png" and r.headers["x-content-type-options"] == "nosniff"
    assert ops.get(f"/deliveries/{web_id}/evidence").status_code == 404  # no evidence on that one

    r = ops.get("/log", params={"channel": "website", "outcome": "permanent"})
    assert "接收端拒绝了该文件" in r.text
    r = ops.get("/log", params={"date_from": "2026-13-01"})
    assert "起始日期格式不正确" in r.text
    r = ops.get("/log.csv", params={"channel": "website"})
    assert r.content.startswith(b"\xef\xbb\xbf") and "attachment" in r.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0][0] == "尝试开始" and len(rows) >= 2
    assert any(row[3].startswith("'=HYPERLINK") for row in rows[1:])  # formula injection neutralised
    r = ops.get("/log.xlsx")
    from openpyxl import load_workbook

    ws = load_workbook(io.BytesIO(r.content)).active
    assert ws.cell(1, 1).value == "尝试开始" and ws.max_row >= 2


def test_catalog_import_shows_a_diff_and_applies(web):
    from orchestrator.db import session_scope
    from orchestrator.models import CatalogEntryRow, Publisher
    from orchestrator.settings import get_settings

    admin = web.client("admin")
    tok = web.token(admin)
    r = admin.post("/catalog/import", data={"csrf_token": tok}, files={"file": ("x.exe", b"MZ", "application/octet-stream")})
    assert r.status_code == 422 and "格式" in r.text
    # Change one time limit in the seed, so the diff has something to show against the reviewed catalog.
    text = SEED.read_text(encoding="utf-8")
    changed = text.replace("信息产生或变更之日起20个工作日内公开", "信息产生或变更之日起15个工作日内公开", 1)
    assert changed != text
    r = admin.post("/catalog/import", data={"csrf_token": tok}, files={"file": ("目录.txt", changed.encode(), "text/plain")})
    assert r.status_code == 200, r.text
    assert "修改的事项" in r.text and "15个工作日" in r.text and "genhe-sfj.yaml" in r.text
    token = re.search(r'name="token" value="([0-9a-f]{32})"', r.text).group(1)
    before = (get_settings().catalogs_dir / "genhe-sfj.yaml").read_text(encoding="utf-8")
    assert "15个工作日" not in before  # uploading changed nothing
    r = admin.post("/catalog/apply", data={"csrf_token": tok, "token": token})
    assert "目录已更新" in r.text
    assert "15个工作日" in (get_settings().catalogs_dir / "genhe-sfj.yaml").read_text(encoding="utf-8")
    with session_scope() as s:
        texts = s.scalars(select(CatalogEntryRow.time_limit).join(Publisher).where(Publisher.name == "根河市司法局")).all()
        assert any("15个工作日" in (t or {}).get("text", "") for t in texts)
    r = admin.post("/catalog/apply", data={"csrf_token": tok, "token": token})
    assert r.status_code == 404
    r = admin.post("/catalog/apply", data={"csrf_token": tok, "token": "../../etc/passwd"})
    assert r.status_code == 422
    page = admin.get("/catalog", params={"review_only": "true"}).text
    assert "needs-review" in page


def test_user_management(web):
    admin = web.client("admin")
    tok = web.token(admin)
    r = admin.post("/users", data={"csrf_token": tok, "username": "zhang.san", "display_name": "张三", "role": "clerk",
                                   "office": "", "password": "Abcdefgh-19"})
    assert "必须指定所属科室" in r.text and "zhang.san" in r.text
    r = admin.post("/users", data={"csrf_token": tok, "username": "zhang.san", "display_name": "张三", "role": "clerk",
                                   "office": "办公室", "password": "Abcdefgh-19"})
    assert "已创建用户 zhang.san" in r.text
    c = web.client()
    login(c, "zhang.san", "Abcdefgh-19")
    assert c.get("/submit").status_code == 200
    from orchestrator import auth

    me = auth.get_user(web.users["admin"]).id
    r = admin.post(f"/users/{me}", data={"csrf_token": tok, "role": "ops", "active": "true"})
    assert "不能取消自己的管理员角色" in r.text
    uid = auth.get_user("zhang.san").id
    r = admin.post(f"/users/{uid}", data={"csrf_token": tok, "role": "ops", "office": "", "active": "true",
                                          "password": "New-password9"})
    assert "已保存" in r.text
    assert c.get("/ops", follow_redirects=False).status_code == 303  # role changed: logged out
    login(c, "zhang.san", "New-password9")
    # An admin reset: the person must choose their own password before anything else.
    r = c.get("/ops", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/account/password"
    r = c.post("/account/password", data={"csrf_token": csrf_of(c.get("/account/password").text),
                                          "current": "New-password9", "new": "Own-choice-77", "repeat": "Own-choice-77"})
    assert "密码已修改" in r.text
    assert c.get("/ops").status_code == 200


def test_first_admin_for_the_embedded_default(web, monkeypatch):
    from sqlalchemy import delete

    from orchestrator.db import session_scope
    from orchestrator.models import ApiToken, User
    from orchestrator.settings import get_settings
    from orchestrator.web.bootstrap import ensure_first_admin
    from orchestrator.web.models import WebSession

    assert ensure_first_admin() is None  # users exist: nothing happens
    with session_scope() as s:
        for model in (WebSession, ApiToken, User):
            s.execute(delete(model))
    name, password = ensure_first_admin()
    assert name == "admin"
    f = get_settings().var_dir / "initial-admin.txt"
    assert password in f.read_text(encoding="utf-8") and (f.stat().st_mode & 0o777) == 0o600
    c = web.client()
    login(c, "admin", password)
    assert c.get("/users").status_code == 200
    assert ensure_first_admin() is None
    # The fixture's users were deleted above: their password no longer opens a session (this test runs last in its
    # module on purpose).
    gone = web.client()
    r = gone.post("/login", data={"username": web.users["clerk"], "password": PASSWORD,
                                  "csrf_token": csrf_of(gone.get("/login").text)}, follow_redirects=False)
    assert r.status_code != 303 and gone.get("/documents", follow_redirects=False).status_code == 303


def test_manual_confirmation_form_is_chinese_and_takes_a_typed_time(web):
    """The 人工确认 form: no browser-language controls (datetime-local's mm/dd/yyyy, the file input's "Choose File"
    shown bare); the completion time is typed as 2026-12-01 14:30 (Beijing time) and parsed on the server; a time that
    is not one is refused in Chinese and nothing is confirmed."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    from orchestrator.db import session_scope
    from orchestrator.models import Delivery

    clerk = web.client("clerk")
    doc = _post_submit(clerk, title="人工渠道确认").json()["document_id"]
    with session_scope() as s:
        manual = next(d for d in s.scalars(select(Delivery).where(Delivery.document_id == doc))
                      if d.channel == "reading_room")
        manual.status = "awaiting_confirmation"
        manual_id = manual.id
    ops = web.client("ops")
    page = ops.get(f"/documents/{doc}").text
    form = page.split(f'action="/deliveries/{manual_id}/confirm"', 1)[1].split("</form>", 1)[0]
    assert "datetime-local" not in form
    assert 'name="when"' in form and 'placeholder="如 2026-12-01 14:30"' in form
    assert "选择文件…" in form and "未选择文件" in form and 'class="visually-hidden" data-file-names' in form

    tok = web.token(ops)
    r = ops.post(f"/deliveries/{manual_id}/confirm", data={"csrf_token": tok, "by": "张三", "when": "明天下午"})
    assert "完成时间格式不正确" in r.text and "2026-12-01 14:30" in r.text
    with session_scope() as s:
        assert s.get(Delivery, manual_id).status == "awaiting_confirmation"
    r = ops.post(f"/deliveries/{manual_id}/confirm", data={"csrf_token": tok, "by": "张三", "when": "2026/11/2 14：30"})
    assert "已确认" in r.text
    with session_scope() as s:
        d = s.get(Delivery, manual_id)
        assert d.status == "delivered"
        at = d.confirmed_at if d.confirmed_at.tzinfo else d.confirmed_at.replace(tzinfo=dt.UTC)
        assert at.astimezone(ZoneInfo("Asia/Shanghai")).replace(tzinfo=None) == dt.datetime(2026, 11, 2, 14, 30)
