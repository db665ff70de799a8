"""我的待办, the navigation bar's counts, 我的文件, event dates, 我的通知设置 and the offices' addresses, in the web app.

The clock is set through ``ORCH_CLOCK_OFFSET_SECONDS`` to Wednesday 2026-11-04 09:00 (Beijing), so the deadline levels
are the same whenever the test runs. Delivery states the fan-out would reach (a failed website delivery, a notice board
waiting for a person) are written directly: this module tests who sees what, the fan-out is tested elsewhere.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from tests.api_helpers import ROOT, configure
from tests.api_helpers import migrated_pg as migrated_pg  # noqa: F401  (a private database for this module)
from tests.web_support import PASSWORD, chromium, csrf_of, login, make_web_user, serve_app

CATALOG = ROOT / "tests" / "data" / "catalogs" / "deadline-test.yaml"
PUBLISHER = "期限测试局"
TZ = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2026, 11, 4, 9, 0, tzinfo=TZ)
SHOTS = Path("/tmp/shots/todo")
NAV = re.compile(r'<a href="/todo"[^>]*>我的待办(?:（(\d+)）)?</a>')


class World:
    def __init__(self, app, users, docs):
        self.app, self.users, self.docs = app, users, docs

    def client(self, who: str):
        from fastapi.testclient import TestClient

        return login(TestClient(self.app), self.users[who])


@pytest.fixture(scope="module")
def world(migrated_pg, redis_server, tmp_path_factory) -> Iterator[World]:  # noqa: F811
    from orchestrator import db, settings
    from orchestrator.db import session_scope
    from orchestrator.documents import review, submission
    from orchestrator.models import Delivery, DocumentVersion

    mp = pytest.MonkeyPatch()
    tmp = tmp_path_factory.mktemp("todo")
    mp.setenv("ORCH_DATABASE_URL", migrated_pg)
    mp.setenv("ORCH_VAR_DIR", str(tmp / "var"))
    mp.setenv("ORCH_CLOCK_OFFSET_SECONDS", str((NOW - dt.datetime.now(dt.UTC)).total_seconds()))
    settings.get_settings.cache_clear()
    db.reset_caches()
    configure(mp, tmp, redis_server.url, {
        "website": [{"name": "push", "adapter": "http_push", "url": "http://127.0.0.1:9/never", "timeout": 1}],
        "bulletin_board": [{"name": "bulletin_board", "adapter": "manual"}],
        "reading_room": [{"name": "reading_room", "adapter": "manual"}],
    }, extra_catalogs=[CATALOG])
    from orchestrator.app import create_app

    users = {"clerk": make_web_user("clerk", "办公室"), "clerk_b": make_web_user("clerk", "财务科"),
             "reviewer": make_web_user("reviewer"), "ops": make_web_user("ops"), "admin": make_web_user("admin")}

    def submit(entry: str, title: str, formed_on: str, who: str, **kw):
        return submission.submit({"entry": entry, "publisher": PUBLISHER, "title": title, "body": "<p>正文</p>",
                                  "formed_on": formed_on, "submitted_by": users[who], **kw}, enqueue=False)

    docs = {
        "A": submit("期限测试/按工作日", "即将到期的通知", "2026-11-02", "clerk", doc_number="司法发〔2026〕7号"),  # due 11-09
        "B": submit("期限测试/按工作日", "早已逾期的通知", "2026-10-09", "clerk"),  # due 10-15 (Saturday 10-10 is a make-up workday): overdue 20 days
        "E": submit("期限测试/批复后公开", "等待批复日期的通知", "2026-11-03", "clerk"),  # no event date yet
        "F": submit("期限测试/按工作日", "投递失败的通知", "2026-11-03", "clerk"),  # due 11-10: 4 working days
        "R1": submit("期限测试/需审查", "待审查的财务公告", "2026-11-02", "clerk_b"),
        "R2": submit("期限测试/需审查", "被退回的财务公告", "2026-11-02", "clerk_b"),
    }
    review.reject(docs["R2"].document_id, "审核人", "涉及未公开的预算数字")
    with session_scope() as s:
        s.execute(update(Delivery).where(Delivery.document_id == docs["F"].document_id, Delivery.channel == "website")
                  .values(status="failed", last_error="HTTP 500 网站接口错误", error_class="PermanentError"))
        s.execute(update(Delivery).where(Delivery.document_id == docs["A"].document_id, Delivery.channel == "bulletin_board")
                  .values(status="awaiting_confirmation"))
        s.execute(update(Delivery).where(Delivery.document_id == docs["F"].document_id, Delivery.channel == "bulletin_board")
                  .values(status="delivered"))
        assert s.scalar(select(DocumentVersion.doc_number).where(DocumentVersion.document_id == docs["A"].document_id))
    yield World(create_app(), users, {k: v.document_id for k, v in docs.items()})
    mp.undo()
    settings.get_settings.cache_clear()
    db.reset_caches()


def _todo(c) -> list[dict]:
    r = c.get("/todo", headers={"Accept": "application/json"})
    assert r.status_code == 200, r.text
    assert r.json()["today"] == "2026-11-04"
    return r.json()["items"]


def _nav_count(c) -> int:
    m = NAV.search(c.get("/documents").text)
    assert m, "no 我的待办 link in the navigation bar"
    return int(m.group(1) or 0)


def test_each_role_sees_its_own_list_sorted_by_deadline_and_the_nav_counts_it(world):
    d = world.docs
    expected = {
        "clerk": [("deadline", d["B"]), ("deadline", d["A"]), ("delivery_failed", d["F"]), ("event_date", d["E"])],
        "clerk_b": [("rejected", d["R2"])],
        "reviewer": [("review", d["R1"])],
        "ops": [("deadline", d["B"]), ("manual_task", d["A"]), ("deadline", d["A"])],
        "admin": [("deadline", d["B"]), ("manual_task", d["A"]), ("deadline", d["A"]), ("review", d["R1"]),
                  ("rejected", d["R2"]), ("event_date", d["E"])],
    }
    for who, want in expected.items():
        c = world.client(who)
        items = _todo(c)
        assert [(i["kind"], i["document_id"]) for i in items] == want, (who, items)
        assert _nav_count(c) == len([k for k, _d in want if k != "deadline"]), who  # warnings listed, not counted
    clerk = _todo(world.client("clerk"))
    late, near = clerk[0], clerk[1]
    assert late["level"] == "escalated" and late["due_date"] == "2026-10-15" and "已逾期 20 天" in late["detail"]
    assert near["level"] == "before" and "还有 3 个工作日" in near["detail"] and "公示栏" in near["detail"]
    failed = clerk[2]
    assert "HTTP 500" in failed["detail"] and failed["link"] == f"/documents/{d['F']}"
    assert clerk[3]["due_date"] is None and "批复" in clerk[3]["detail"]
    # The clerk of the other office does not learn that these documents exist.
    html = world.client("clerk_b").get("/todo").text
    assert "即将到期的通知" not in html and "被退回的财务公告" in html and "涉及未公开的预算数字" in html


def test_the_ops_dashboard_lists_deadlines_per_channel(world):
    html = world.client("ops").get("/ops").text
    table = html.split('id="deadline-warnings"', 1)[1].split("</table>", 1)[0]
    rows = table.split("<tr class=")[1:]
    assert len(rows) == 2
    assert "早已逾期的通知" in rows[0] and "逾期升级" in rows[0]
    # Document A: the board is still owed (awaiting a person) and so is the website (queued).
    assert "即将到期的通知" in rows[1] and "公示栏" in rows[1] and "政府网站" in rows[1]


def test_my_documents_filters_and_search(world):
    d = world.docs
    c = world.client("clerk")

    def ids(**params) -> list[int]:
        r = c.get("/mine", params=params, headers={"Accept": "application/json"})
        assert r.status_code == 200, r.text
        return sorted(x["id"] for x in r.json()["documents"])

    mine = sorted([d["A"], d["B"], d["E"], d["F"]])
    assert ids() == mine
    assert ids(q="司法发〔2026〕7号") == [d["A"]]  # 文号
    assert ids(q="早已逾期") == [d["B"]]  # title
    from orchestrator.db import session_scope
    from orchestrator.models import CatalogEntryRow, Document

    with session_scope() as s:
        index_no = s.get(Document, d["E"]).index_no
        entry_e = s.scalar(select(CatalogEntryRow.id).where(CatalogEntryRow.code == "D-02"))
    assert ids(q=index_no) == [d["E"]]  # 索引号
    assert ids(q="%") == [] and ids(q="_") == []  # wildcards are plain characters
    assert ids(status="active") == mine and ids(status="withdrawn") == []
    assert ids(entry=str(entry_e)) == [d["E"]]
    assert ids(date_from="2026-10-01", date_to="2026-10-31") == [d["B"]]
    assert ids(date_from="2026-11-03") == sorted([d["E"], d["F"]])
    assert ids(channel_state="failed") == [d["F"]]
    assert ids(channel_state="manual") == [d["A"]]
    assert ids(channel_state="waiting") == mine[:2] + [d["E"], d["F"]] if False else sorted([d["A"], d["B"], d["E"], d["F"]])
    assert ids(channel_state="done") == []
    # The other office's clerk sees neither these nor, with "all", anything beyond its own office.
    b = world.client("clerk_b")
    r = b.get("/mine", params={"scope": "all"}, headers={"Accept": "application/json"})
    assert sorted(x["id"] for x in r.json()["documents"]) == sorted([d["R1"], d["R2"]])
    # Bad input: a clear Chinese refusal, never a server error.
    for params, text in (({"date_from": "2026-02-30"}, "不是有效日期"), ({"date_to": "昨天"}, "不是有效日期"),
                         ({"status": "deleted"}, "文件状态不正确"), ({"channel_state": "x"}, "渠道状态不正确"),
                         ({"entry": "1 or 1=1"}, "目录事项不正确"),
                         ({"date_from": "2026-11-05", "date_to": "2026-11-01"}, "截止日期早于起始日期")):
        r = c.get("/mine", params=params)
        assert r.status_code == 422 and text in r.text, (params, r.status_code)
    assert c.get("/mine", params={"q": "标" * 5000}).status_code == 200


def test_event_date_form_and_api(world):
    from orchestrator import auth
    from orchestrator.db import session_scope
    from orchestrator.models import Document

    d = world.docs
    c = world.client("clerk")
    page = c.get(f"/documents/{d['E']}").text
    assert "待填写事件日期" in page and 'name="event_date"' in page
    tok = csrf_of(page)
    for value, text in (("2026-02-30", "不是有效日期"), ("abc", "不是日期"), ("2026-12-25", "晚于今天"),
                        ("1900-01-01", "超出可受理的范围"), ("", "请填写事件日期")):
        r = c.post(f"/documents/{d['E']}/event-date", data={"csrf_token": tok, "event_date": value},
                   headers={"Accept": "application/json"})
        assert r.status_code == 422 and text in r.text, (value, r.text)
    r = c.post(f"/documents/{d['E']}/event-date", data={"csrf_token": tok, "event_date": "x" * 100})
    assert r.status_code == 422
    # Another office: the document is "not found"; a document not counted from an event: refused.
    b = world.client("clerk_b")
    r = b.post(f"/documents/{d['E']}/event-date", data={"csrf_token": csrf_of(b.get("/todo").text), "event_date": "2026-11-03"})
    assert r.status_code == 404
    r = c.post(f"/documents/{d['A']}/event-date", data={"csrf_token": tok, "event_date": "2026-11-03"},
               headers={"Accept": "application/json"})
    assert r.status_code == 422 and "无需填写事件日期" in r.text
    with session_scope() as s:
        assert s.get(Document, d["E"]).due_date is None
    # The form: approval on Tuesday 11-03 → 10 working days → Tuesday 11-17.
    r = c.post(f"/documents/{d['E']}/event-date", data={"csrf_token": tok, "event_date": "2026-11-03"}, follow_redirects=False)
    assert r.status_code == 303
    page = c.get(f"/documents/{d['E']}").text
    assert "批复（批准）日期：2026-11-03" in page and "2026-11-17" in page and "待填写事件日期" not in page
    assert "event_date" not in [i["kind"] for i in _todo(c)]
    # The API corrects it (JSON), with the same checks.
    _, token = auth.create_token(world.users["clerk"], "测试")
    from fastapi.testclient import TestClient

    api = TestClient(world.app)
    h = {"Authorization": f"Bearer {token}"}
    r = api.post(f"/api/v1/documents/{d['E']}/event-date", json={"event_date": "2026-11-02"}, headers=h)
    assert r.status_code == 200 and r.json()["due_date"] == "2026-11-16", r.text
    r = api.post(f"/api/v1/documents/{d['E']}/event-date", json={"event_date": "2026-11-02", "x": 1}, headers=h)
    assert r.status_code == 422
    r = api.post(f"/api/v1/documents/{d['E']}/event-date", json={"event_date": 20261102}, headers=h)
    assert r.status_code == 422
    # Submitting with the event date counts from it at once (web form field 事件日期).
    sub = c.get("/submit").text
    assert 'name="event_date"' in sub
    r = c.post("/submit", data={"csrf_token": csrf_of(sub), "entry": "D-02", "publisher": PUBLISHER, "title": "带批复日期的通知",
                                "body": "正文", "formed_on": "2026-11-02", "event_date": "2026-11-02"},
               headers={"Accept": "application/json"})
    assert r.status_code == 201, r.text
    with session_scope() as s:
        assert s.get(Document, r.json()["document_id"]).due_date == dt.date(2026, 11, 16)
    r = c.post("/submit", data={"csrf_token": csrf_of(sub), "entry": "D-02", "publisher": PUBLISHER, "title": "坏日期",
                                "body": "正文", "formed_on": "2026-11-02", "event_date": "2026-13-45"},
               headers={"Accept": "application/json"})
    assert r.status_code == 422 and "事件日期" in r.text


def test_notification_settings_refuse_hostile_addresses(world):
    from orchestrator.db import session_scope
    from orchestrator.notify.models import NotifyPreference

    c = world.client("reviewer")
    page = c.get("/settings/notifications").text
    assert "我的通知设置" in page
    tok = csrf_of(page)
    bad = [({"email": "a" * 250 + "@x.cn"}, "过长"), ({"email": "not-an-address"}, "不是有效的电子邮箱地址"),
           ({"webhook_url": "ftp://example.cn/hook"}, "http:// 或 https://"),
           ({"webhook_url": "javascript:alert(1)"}, "http:// 或 https://"),
           ({"webhook_url": "http://127.0.0.1:8080/hook"}, "内网地址"), ({"webhook_url": "http://10.1.2.3/hook"}, "内网地址"),
           ({"webhook_url": "http://[::1]/hook"}, "内网地址"), ({"webhook_url": "http://localhost/hook"}, "内网地址"),
           ({"webhook_url": "https://user:pw@hooks.example.cn/x"}, "用户名或密码"),
           ({"webhook_url": "https://hooks.example.cn/" + "a" * 600}, "过长"),
           ({"review:email": "1"}, "请先填写电子邮箱")]
    for fields, text in bad:
        r = c.post("/settings/notifications", data={"csrf_token": tok, **fields})
        assert r.status_code == 422 and text in r.text, (fields, r.status_code)
    with session_scope() as s:
        assert s.get(NotifyPreference, _uid(world.users["reviewer"])) is None  # nothing saved
    r = c.post("/settings/notifications", data={"csrf_token": tok, "email": "shencha@example.gov.cn",
                                                "webhook_url": "https://hooks.example.cn/notify", "review:email": "1",
                                                "review:webhook": "1", "deadline:in_app": "1", "bogus:email": "1"},
               follow_redirects=False)
    assert r.status_code == 303
    with session_scope() as s:
        pref = s.get(NotifyPreference, _uid(world.users["reviewer"]))
        assert pref.email == "shencha@example.gov.cn" and pref.kinds["review"] == ["email", "webhook"]
        assert pref.kinds["deadline"] == ["in_app"] and pref.kinds["digest"] == [] and "bogus" not in pref.kinds
    page = c.get("/settings/notifications").text
    assert 'name="review:email" value="1" aria-label="有文件等待我审查 电子邮件" checked' in page
    # The offices' addresses: admins only, the same checks.
    assert c.get("/notify/offices").status_code == 403
    a = world.client("admin")
    page = a.get("/notify/offices").text
    assert "分管领导（逾期升级）" in page and "办公室" in page and "财务科" in page
    r = a.post("/notify/offices", data={"csrf_token": csrf_of(page), "office": "办公室", "webhook_url": "file:///etc/passwd"})
    assert "http:// 或 https://" in r.text
    r = a.post("/notify/offices", data={"csrf_token": csrf_of(page), "office": "办公室", "email": "bgs@example.gov.cn"})
    assert "已保存办公室的通知地址" in r.text


def test_a_webhook_that_resolves_to_a_private_address_is_not_sent(world, hooks):
    """Checked again when sending (after DNS): "localhost.localdomain"-style names and addresses saved while private
    webhooks were allowed are refused once the policy forbids them; the send is recorded as failed, not retried."""
    from orchestrator.db import session_scope
    from orchestrator.notify.models import NotifySend
    from orchestrator.notify.sending import run_send

    with session_scope() as s:
        row = NotifySend(target="office:办公室", way="webhook", address=f"http://127.0.0.1:{hooks.port}/hook/x",
                         kind="deadline", title="t", body="b", link="")
        s.add(row)
        s.flush()
        send_id = row.id
    assert run_send(send_id) == "failed"
    with session_scope() as s:
        row = s.get(NotifySend, send_id)
        assert row.status == "failed" and "内网地址" in row.last_error and row.attempts == 1
    assert hooks.received == []


def _uid(username: str) -> int:
    from orchestrator.db import session_scope
    from orchestrator.models import User

    with session_scope() as s:
        return s.scalar(select(User.id).where(User.username == username))


def test_in_app_notifications_are_listed_and_marked_read(world):
    from orchestrator.db import session_scope
    from orchestrator.notify import notify_users

    uid = _uid(world.users["clerk_b"])
    with session_scope() as s:
        notify_users(s, [uid], "rejected", f"退回通知 {uuid.uuid4().hex[:4]}", "请修改后重新提交", "/todo")
    c = world.client("clerk_b")
    html = c.get("/documents").text
    assert re.search(r'<a href="/notifications"[^>]*>通知（1）</a>', html)
    page = c.get("/notifications").text
    assert "退回通知" in page and "未读" in page
    r = c.post("/notifications/read", data={"csrf_token": csrf_of(page)})
    assert "已将 1 条通知标为已读" in r.text
    assert re.search(r'<a href="/notifications"[^>]*>通知</a>', c.get("/documents").text)


def test_people_are_told_once_when_something_lands_on_their_list(world):
    from orchestrator.db import session_scope
    from orchestrator.documents import review, submission
    from orchestrator.notify.models import Notification, NotifyPreference, NotifySend
    from orchestrator.notify.todo import watch

    reviewer, admin = _uid(world.users["reviewer"]), _uid(world.users["admin"])
    with session_scope() as s:
        assert watch(s) == 0  # the first run records what is already there: no flood
    with session_scope() as s:
        s.merge(NotifyPreference(user_id=reviewer, email="shencha@example.gov.cn", webhook_url="",
                                 kinds={"review": ["email"]}))
    res = submission.submit({"entry": "期限测试/需审查", "publisher": PUBLISHER, "title": "新到的待审查公告",
                             "body": "<p>正文</p>", "formed_on": "2026-11-03", "submitted_by": world.users["clerk_b"]},
                            enqueue=False)
    with session_scope() as s:
        assert watch(s) == 2  # the reviewer and the admin (who may review too)
    with session_scope() as s:
        assert watch(s) == 0  # told once
        sends = [(x.target, x.way, x.title) for x in s.scalars(select(NotifySend).where(NotifySend.kind == "review"))]
        inbox = {u: [n.title for n in s.scalars(select(Notification).where(Notification.user_id == u,
                                                                            Notification.kind == "review"))]
                 for u in (reviewer, admin)}
    assert sends == [(f"user:{reviewer}", "email", "有文件等待您审查：《新到的待审查公告》")]  # e-mail only, as chosen
    assert inbox == {reviewer: [], admin: ["有文件等待您审查：《新到的待审查公告》"]}  # the admin's default: in-app
    review.reject(res.document_id, "审核人", "请补充依据")
    with session_scope() as s:
        assert watch(s) == 2  # the 财务科 clerk and the admin see the send-back
        titles = [n.title for n in s.scalars(select(Notification).where(Notification.kind == "rejected"))]
    assert titles.count("文件被退回：《新到的待审查公告》") == 2


@pytest.mark.browser
@pytest.mark.timeout(300)
def test_todo_page_in_chromium(world):
    with (serve_app(world.app) as base,
          chromium(["--no-sandbox", "--disable-gpu", "--disable-background-networking"]) as browser):
        page = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN", base_url=base).new_page()
        errors: list[str] = []
        page.on("response", lambda r: errors.append(f"{r.status} {r.url}")
                if r.status >= 400 and not r.url.endswith("/favicon.ico") else None)
        page.goto("/login")
        page.fill("#username", world.users["admin"])
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_load_state("networkidle")
        page.goto("/todo")
        rows = page.locator("#todo tbody tr")
        assert rows.count() >= 5
        assert page.locator("nav a[href='/todo']").inner_text().startswith("我的待办（")
        assert "逾期升级" in rows.nth(0).inner_text()
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "todo-admin.png"), full_page=True)
        page.goto("/mine?scope=all")
        page.screenshot(path=str(SHOTS / "mine-admin.png"), full_page=True)
        assert errors == []
