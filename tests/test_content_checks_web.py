"""Content checks through the product on PostgreSQL: the admin's 内容检查词库 (CRUD, import/export, malformed and
hostile files), block/warn/note at submission (web form and REST API) and at review, the history scan through a real
Celery worker, and screenshots of the admin page and a blocked submission in Chromium."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.api_helpers import PUBLISHER, ROOT, counts, make_user
from tests.api_helpers import migrated_pg as migrated_pg  # noqa: F401  (a private database for this module)
from tests.conftest import ARTIFACTS
from tests.fanout_harness import FanoutStack
from tests.receiver import Receiver
from tests.web_support import PASSWORD, WebEnv, chromium, csrf_of, serve_app, setup_web

SHOTS = ARTIFACTS / "screenshots"
CHANNELS = {
    "website": [{"name": "push", "adapter": "http_push", "url": "http://127.0.0.1:9/never", "timeout": 1}],
    "reading_room": [{"name": "reading_room", "adapter": "manual"}],
}


def _reset_dictionary() -> None:
    from sqlalchemy import delete

    from orchestrator.checks import dictionary as dic
    from orchestrator.checks.models import ContentCheckRun, ContentCheckTerm
    from orchestrator.db import session_scope

    with session_scope() as s:
        s.execute(delete(ContentCheckTerm))
        s.execute(delete(ContentCheckRun))
        dic.bump_version(s)


@pytest.fixture
def web(orch_env, redis_server, tmp_path, monkeypatch) -> WebEnv:
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    monkeypatch.setenv("ORCH_CONFIG_DIR", str(config))
    env = setup_web(monkeypatch, tmp_path, redis_server.url, CHANNELS)
    _reset_dictionary()
    return env


def _term_count() -> int:
    from orchestrator.checks.models import ContentCheckTerm
    from orchestrator.db import session_scope

    with session_scope() as s:
        return s.scalar(select(func.count()).select_from(ContentCheckTerm)) or 0


def _add(c: TestClient, **fields):
    data = {"csrf_token": csrf_of(c.get("/content-checks").text), "category": "typo", "term": "", "suggestion": "",
            "severity": "", "since": "", "note": "", "variants": "", **fields}
    return c.post("/content-checks", data=data)


def _import(c: TestClient, name: str, data: bytes, **fields):
    token = csrf_of(c.get("/content-checks").text)
    return c.post("/content-checks/import", data={"csrf_token": token, "mode": "merge", **fields},
                  files=[("file", (name, data, "application/octet-stream"))])


def test_admin_page_crud_import_export(web):
    admin = web.client("admin")
    assert "内容检查词库" in admin.get("/content-checks").text
    assert web.client("clerk").get("/content-checks").status_code == 403

    r = _add(admin, category="leader", term="张三", suggestion="市长", severity="warn", variants="张叁、章三")
    assert r.status_code == 200 and "已新增领导姓名职务“张三”" in r.text
    r = _add(admin, category="leader", term="王五")  # no title: a clear refusal, the form kept
    assert r.status_code == 422 and "未填写职务" in r.text and 'value="王五"' in r.text
    r = _add(admin, category="leader", term="张三", suggestion="市长")
    assert r.status_code == 422 and "已有" in r.text
    r = _add(admin, category="typo", term="测", suggestion="x")
    assert r.status_code == 422 and "太短" in r.text
    assert _term_count() == 1

    from orchestrator.checks.models import ContentCheckTerm
    from orchestrator.db import session_scope

    with session_scope() as s:
        entry_id = s.scalar(select(ContentCheckTerm.id))
    edit = admin.get(f"/content-checks/{entry_id}/edit")
    assert "张叁、章三" in edit.text
    r = admin.post(f"/content-checks/{entry_id}", data={"csrf_token": csrf_of(edit.text), "category": "leader",
                                                         "term": "张三", "suggestion": "市委书记", "severity": "block",
                                                         "variants": "张叁"})
    assert "已保存“张三”" in r.text and "市委书记" in r.text
    r = admin.post(f"/content-checks/{entry_id}", data={"csrf_token": csrf_of(edit.text), "category": "火星", "term": "张三"})
    assert r.status_code == 422 and "类别“火星”不正确" in r.text

    # Import: YAML, CSV and plain text; then malformed and hostile files change nothing.
    r = _import(admin, "a.yaml", "terms:\n  - {category: 错别字, term: 既使, suggestion: 即使}\n"
                "  - {category: renamed, term: 国土资源部, suggestion: 自然资源部, since: 2018-03-17}\n".encode())
    assert "新增 2 条" in r.text
    r = _import(admin, "b.csv", "category,term,suggestion,severity\ntypo,按装,安装,note\ntypo,既使,即使,warn\n".encode())
    assert "新增 1 条，更新 1 条" in r.text
    r = _import(admin, "c.txt", "违禁词一\n违禁词二\n".encode(), category="sensitive", severity="block")
    assert "新增 2 条" in r.text
    assert _term_count() == 6
    version_before = admin.get("/content-checks").text.split("词库版本 ")[1].split("，")[0]
    hostile = [
        ("bad.yaml", b"terms:\n  - {category: typo, term: ok\xe6\xb5\x8b\xe8\xaf\x95}\n  - {category: nope, term: x}\n", "类别“nope”不正确"),
        ("bomb.yaml", b"a: &a [x, x]\nb: &b [*a, *a]\nterms: *b\n", "锚点或别名"),
        ("bin.csv", b"\x00\x01PK\x03\x04", "空字符"),
        ("big.txt", b"x" * (8 * 1024 * 1024 + 1), "文件过大"),
        ("evil.html", b"<script>alert(1)</script>", "只能导入"),
        ("x.csv", b"category,term\ntypo,<script>alert(1)</script>\ntypo,\n", "第 3 行：词语不能为空"),
    ]
    for name, data, expected in hostile:
        r = _import(admin, name, data, category="typo")
        assert r.status_code == 422, name
        assert expected in r.text and "未导入任何词条" in r.text, (name, r.text[:2000])
        assert "<script>alert(1)</script>" not in r.text  # escaped where echoed
    assert _term_count() == 6
    assert admin.get("/content-checks").text.split("词库版本 ")[1].split("，")[0] == version_before

    exported = admin.get("/content-checks/export.yaml")
    assert exported.status_code == 200 and "attachment" in exported.headers["content-disposition"]
    assert "国土资源部" in exported.text and "2018-03-17" in exported.text
    csv_text = admin.get("/content-checks/export.csv").text
    assert csv_text.startswith("\ufeffcategory,term")
    # Replace with the exported file: the same six entries.
    token = csrf_of(admin.get("/content-checks").text)
    r = admin.post("/content-checks/import", data={"csrf_token": token, "mode": "replace"},
                   files=[("file", ("all.yaml", exported.content, "application/x-yaml"))])
    assert "新增 6 条" in r.text and "原有 6 条已清除" in r.text and _term_count() == 6

    r = admin.post(f"/content-checks/{entry_id}/delete", data={"csrf_token": token})
    assert r.status_code == 404  # replaced: the old id is gone
    with session_scope() as s:
        new_id = s.scalar(select(ContentCheckTerm.id).where(ContentCheckTerm.term == "张三"))
    r = admin.post(f"/content-checks/{new_id}/delete", data={"csrf_token": token})
    assert "已删除“张三”" in r.text and _term_count() == 5

    r = admin.post("/content-checks/starter", data={"csrf_token": token})
    assert "已载入内置词库" in r.text
    assert "国家工商行政管理总局" in admin.get("/content-checks", params={"q": "工商"}).text
    # Every change queued a history scan; older unfinished ones were superseded.
    history = admin.get("/content-checks/history").text
    assert "已被新扫描取代" in history and "载入内置词库" in history


def _seed(*rows: dict) -> None:
    from orchestrator.checks import dictionary as dic

    entries = [dic.validate(r)[0] for r in rows]
    assert all(entries)
    dic.import_entries(entries, "test")


SEED = ({"category": "sensitive", "term": "违禁词语", "severity": "block"},
        {"category": "typo", "term": "既使", "suggestion": "即使", "severity": "warn"},
        {"category": "typo", "term": "帐号", "suggestion": "账号", "severity": "note"},
        {"category": "leader", "term": "张三", "suggestion": "市长", "severity": "warn"})


def _web_submit(c: TestClient, **fields):
    data = {"csrf_token": csrf_of(c.get("/submit").text), "entry": "03", "publisher": PUBLISHER, "title": "工作动态",
            "body": "正文内容", "body_format": "markdown", "formed_on": "2026-11-02", **fields}
    return c.post("/submit", data=data, headers={"Accept": "application/json"})


def test_block_warn_note_through_the_web_form(web):
    from orchestrator.checks.models import ContentCheckAck
    from orchestrator.db import session_scope

    _seed(*SEED)
    c = web.client("clerk")
    before = counts()
    r = _web_submit(c, body="本文含有违禁 词语，既使如此。")
    assert r.status_code == 422
    messages = [e["message"] for e in r.json()["errors"]]
    assert any("内容检查不通过" in m and "违禁 词语" in m for m in messages)
    assert {h["severity"] for h in r.json()["content_hits"]} == {"block", "warn"}
    # Acknowledging the warnings does not lift a block.
    assert _web_submit(c, body="本文含有违禁词语。", confirm_content_warnings="true").status_code == 422
    r = _web_submit(c, title="张三副市长调研", body="既使如此，帐号照旧。")
    assert r.status_code == 422
    assert any("张三的职务为市长" in e["message"] for e in r.json()["errors"])
    assert any(e["field"] == "内容检查" and "已核对内容检查警告" in e["message"] for e in r.json()["errors"])
    assert counts() == before  # nothing written by a refusal
    # Without JavaScript the page comes back with the hits and the confirmation box.
    data = {"csrf_token": csrf_of(c.get("/submit").text), "entry": "03", "publisher": PUBLISHER, "title": "工作动态",
            "body": "既使如此", "body_format": "markdown", "formed_on": "2026-11-02"}
    html = c.post("/submit", data=data).text
    assert 'id="content-hits"' in html and 'name="confirm_content_warnings"' in html and "【既使】如此" in html
    r = _web_submit(c, title="张三副市长调研", body="既使如此，帐号照旧。", confirm_content_warnings="true")
    assert r.status_code == 201, r.text
    warnings = " ".join(r.json()["warnings"])
    assert "提交人已核对 2 处内容检查警告" in warnings and "内容检查提示 1 处" in warnings and "帐号" in warnings
    doc_id = r.json()["document_id"]
    with session_scope() as s:
        ack = s.scalars(select(ContentCheckAck).where(ContentCheckAck.document_id == doc_id)).one()
        assert ack.version == 1 and {h["term"] for h in ack.hits} == {"张三副市长", "既使"}
    # The live preview shows the hits while the clerk types.
    r = c.post("/submit/preview", data={"csrf_token": web.token(c), "title": "张三副市长", "body": "既使", "body_format": "markdown"})
    assert [(h["field"], h["term"]) for h in r.json()["content_hits"]] == [("标题", "张三副市长"), ("正文", "既使")]
    # A note alone never refuses.
    assert _web_submit(c, body="帐号管理").status_code == 201
    # A correction is checked the same way (web form: refused with the reason in the flash, then confirmed).
    tok = web.token(c)
    r = c.post(f"/documents/{doc_id}/versions", data={"csrf_token": tok, "body": "既使更正", "body_format": "markdown"})
    assert "更正未保存" in r.text and "既使" in r.text
    r = c.post(f"/documents/{doc_id}/versions", data={"csrf_token": tok, "body": "既使更正", "body_format": "markdown",
                                                      "confirm_content_warnings": "true"})
    assert "已登记第 2 版" in r.text


def test_block_warn_through_the_api(web):
    _seed(*SEED)
    clerk = make_user("clerk", "办公室")
    h = {"Authorization": f"Bearer {clerk[1]}"}
    c = TestClient(web.app)
    body = {"entry": "03", "publisher": PUBLISHER, "title": "工作动态", "body": "<p>违禁<b>词语</b></p>",
            "formed_on": "2026-11-02"}
    r = c.post("/api/v1/documents", json=body, headers=h)
    assert r.status_code == 422
    (err,) = r.json()["detail"]
    assert err["field"] == "正文" and "【阻止·错敏词】“违禁词语”" in err["message"] and "（【违禁词语】）" in err["message"]
    r = c.post("/api/v1/documents", json={**body, "body": "<p>既使如此</p>"}, headers=h)
    assert r.status_code == 422 and any("confirm_content_warnings" in e["message"] for e in r.json()["detail"])
    r = c.post("/api/v1/documents", json={**body, "body": "<p>既使如此</p>", "confirm_content_warnings": True}, headers=h)
    assert r.status_code == 201 and any("已核对" in w for w in r.json()["warnings"])
    doc = r.json()["document_id"]
    r = c.post(f"/api/v1/documents/{doc}/versions", json={"title": "张三副市长"}, headers=h)
    assert r.status_code == 422 and "张三的职务为市长" in r.text
    r = c.post(f"/api/v1/documents/{doc}/versions", json={"title": "张三市长", "confirm_content_warnings": True}, headers=h)
    assert r.status_code == 201, r.text  # the body's warning is acknowledged again; the title is right now


def test_review_page_shows_hits_and_a_block_stops_approval(web):
    c = web.client("clerk")
    r = _web_submit(c, entry="R-01", publisher="测试审核局", title="待审文件", body="原国土资源部的通知")
    assert r.status_code == 201
    doc = r.json()["document_id"]
    rev = web.client("reviewer")
    assert "未发现问题" in rev.get("/review").text
    # The dictionary changes after submission: the review step checks again.
    _seed({"category": "renamed", "term": "国土资源部", "suggestion": "自然资源部", "severity": "block"})
    page = rev.get("/review").text
    assert "国土资源部" in page and "自然资源部" in page and "sev-block" in page
    r = rev.post(f"/documents/{doc}/approve", data={"csrf_token": web.token(rev)})
    assert "内容检查不通过" in r.text and "国土资源部" in r.text
    from orchestrator.db import session_scope
    from orchestrator.models import Document

    with session_scope() as s:
        assert s.get(Document, doc).status == "pending_review"


@pytest.mark.slow
def test_a_dictionary_change_finds_history_through_a_real_worker(orch_env, redis_server, tmp_path, monkeypatch):
    from orchestrator.checks import history
    from orchestrator.checks.models import ContentCheckHit, ContentCheckRun
    from orchestrator.db import session_scope

    _reset_dictionary()
    with Receiver() as receiver, FanoutStack(
            orch_env, tmp_path, redis=redis_server, beat=False,
            channels={"website": [{"name": "push", "adapter": "http_push", "url": receiver.url,
                                   "secret": receiver.secret, "timeout": 2}]},
            catalogs=[ROOT / "tests" / "data" / "catalogs" / "test-publisher.yaml"],
            settings={"ORCH_CONTENT_CHECK_BATCH": "2"}) as stack:
        titles = ["张三副市长调研农业", "市长张三出席会议", "国家工商行政管理总局通知转发", "无关的文件", "张叁讲话"]
        ids = []
        for t in titles:
            res = stack.submit(entry="工作动态/人工渠道", title=t, body=f"<p>{t}。正文。</p>")
            ids.append(res.document_id)
        stack.wait_until(ids, lambda ds: {d["document_id"] for d in ds if d["status"] in ("delivered", "verified")}
                         == set(ids), what="published")
        withdrawn = stack.submit(entry="工作动态/人工渠道", title="张三副市长（已撤回）", body="<p>x</p>")
        stack.wait_until(withdrawn.document_id, lambda ds: any(d["status"] == "delivered" for d in ds))
        from orchestrator.documents import versions
        versions.withdraw(withdrawn.document_id, "测试撤回", "test")

        # A leader's title and a renamed body enter the dictionary: the change starts a run the worker completes.
        _seed({"category": "leader", "term": "张三", "suggestion": "市长", "severity": "warn", "variants": ["张叁"]},
              {"category": "renamed", "term": "国家工商行政管理总局", "suggestion": "国家市场监督管理总局",
               "severity": "warn"})
        run_id = history.start_run("测试：词库变更", send=False)
        # Half-done first (as if a worker had died after one batch): the worker resumes after the cursor.
        assert history.run_history(run_id, max_batches=1) == "running"
        assert history.send_run(run_id)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with session_scope() as s:
                run = s.get(ContentCheckRun, run_id)
                if run.status in ("done", "failed"):
                    break
            time.sleep(0.3)
        with session_scope() as s:
            run = s.get(ContentCheckRun, run_id)
            assert run.status == "done", (run.status, run.error, stack.logs_tail())
            assert run.documents_scanned == 5  # the withdrawn one is not public any more
            hits = list(s.scalars(select(ContentCheckHit).where(ContentCheckHit.run_id == run_id)
                                  .order_by(ContentCheckHit.document_id, ContentCheckHit.position)))
        found = sorted({(h.document_id, h.term) for h in hits})
        assert found == sorted([(ids[0], "张三副市长"), (ids[2], "国家工商行政管理总局"), (ids[4], "张叁")])
        assert len(hits) == len(set((h.document_id, h.field, h.position) for h in hits))  # no batch twice
        assert {h.field for h in hits} == {"标题", "正文"}  # each title is repeated in its body
        assert len(hits) == 6 and run.documents_with_hits == 3 and run.counts == {"warn": 6}

        # The page lists them with links to the documents.
        from orchestrator.app import create_app
        from tests.web_support import login, make_web_user

        c = login(TestClient(create_app()), make_web_user("reviewer"))
        page = c.get("/content-checks/history").text
        assert f'href="/documents/{ids[0]}"' in page and "张三的职务为市长" in page and "已完成" in page
        assert f'href="/documents/{ids[3]}"' not in page


# --- screenshots in Chromium ----------------------------------------------------------------------------

@pytest.fixture
def server(orch_env, redis_server, tmp_path, monkeypatch) -> Iterator[tuple[str, WebEnv]]:
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    monkeypatch.setenv("ORCH_CONFIG_DIR", str(config))
    env = setup_web(monkeypatch, tmp_path, redis_server.url, CHANNELS)
    _reset_dictionary()
    with serve_app(env.app) as url:
        yield url, env


@pytest.mark.browser
@pytest.mark.timeout(300)
def test_admin_page_and_a_blocked_submission_in_the_browser(server):
    base, env = server
    _seed(*SEED)
    with chromium(["--no-sandbox", "--disable-gpu", "--disable-background-networking"]) as browser:
        def logged_in(who: str):
            page = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN", base_url=base).new_page()
            page.set_default_timeout(30_000)
            page.goto("/login")
            page.fill("#username", env.users[who])
            page.fill("#password", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_load_state("networkidle")
            return page

        SHOTS.mkdir(parents=True, exist_ok=True)
        admin = logged_in("admin")
        admin.goto("/content-checks")
        admin.click("#starter-btn")
        admin.wait_for_load_state("networkidle")
        assert "已载入内置词库" in admin.inner_text("body")
        assert admin.locator("#entries tbody tr").count() >= 50
        admin.screenshot(path=str(SHOTS / "content-checks-admin.png"), full_page=False)

        clerk = logged_in("clerk")
        errors: list[str] = []
        # The refusal itself is a 422 the browser logs; any other console error is a script failure.
        clerk.on("console", lambda m: errors.append(m.text) if m.type == "error" and "status of 422" not in m.text else None)
        clerk.goto("/submit")
        clerk.fill("#entry-search", "人工")
        clerk.locator(".tree .ent", has_text="人工渠道").first.click()
        clerk.fill("#title", "张三副市长调研国家工商行政管理总局")
        clerk.check("#mode-markdown")
        clerk.fill("#body", "本文含有违禁词语。既使如此，帐号照旧。")
        clerk.click("#submit-btn")
        clerk.wait_for_selector("#client-errors:not([hidden])")
        assert "内容检查不通过" in clerk.inner_text("#client-errors")
        clerk.wait_for_selector("#content-hits:not([hidden])")
        rows = clerk.inner_text("#content-hits-rows")
        assert "违禁词语" in rows and "既使" in rows and "张三的职务为市长" in rows and "国家市场监督管理总局" in rows
        assert clerk.is_visible("#confirm_content_warnings")
        clerk.screenshot(path=str(SHOTS / "content-checks-blocked.png"), full_page=True)
        assert errors == []
