"""Provisional (暂估) due dates through the real stack (PostgreSQL, web app, API): shown as such everywhere, recomputed
once a 2027 schedule arrives (a file, or the admin page), with the change recorded on the document.

The tables are pinned: ``ORCH_CALENDAR_PACKAGE_UNTIL=2026`` hides any 2027 data a newer chinesecalendar may bring, and
``ORCH_HOLIDAYS_DIR`` is a private empty folder, so "2027 has no official schedule" holds on any machine at any date.
"""

from __future__ import annotations

import shutil

import pytest
from sqlalchemy import delete, select

from tests.api_helpers import PUBLISHER, ROOT, make_user
from tests.api_helpers import migrated_pg as migrated_pg  # noqa: F401  (a private database for this module)
from tests.web_support import WebEnv, csrf_of, setup_web

# Test data only (not a real State Council notice): 元旦 plus 01-04/01-05 off, Saturday 01-09 a make-up workday.
TABLE_2027 = "year: 2027\nholidays: [2027-01-01, 2027-01-04, 2027-01-05]\nworkdays: [2027-01-09]\n"
# A 生成日期 in the past (a future one may be refused) whose deadline runs into January 2027: 30 working days from
# Tue 2026-12-01. Provisional (statutory holidays only): 12-02..04 (3), 12-07..11 (8), 12-14..18 (13), 12-21..25 (18),
#   12-28..31 (22), 01-01 元旦 off, 01-04..08 (27), 01-11..13 (30) → Wed 2027-01-13.
# With TABLE_2027: 12-02..31 (22), 01-01/04/05 off, 01-06..08 (25), Sat 01-09 (26), 01-11..14 (30) → Thu 2027-01-14.
FORMED, PROVISIONAL, OFFICIAL = "2026-12-01", "2027-01-13", "2027-01-14"
CAL_PUBLISHER = "日历测试局"
CAL_CATALOG = f"""publisher: {CAL_PUBLISHER}
index_prefix: "CALTEST01"
entries:
  - code: "CAL-01"
    path: [日历测试, 三十个工作日]
    content: 公开期限较长的事项
    time_limit: {{text: 信息形成之日起30个工作日内公开, kind: working_days, days: 30, from: formed}}
    publisher: {CAL_PUBLISHER}
    channels: [website]
    offices: [办公室]
"""


@pytest.fixture
def web(orch_env, redis_server, tmp_path, monkeypatch) -> WebEnv:
    from orchestrator.db import session_scope
    from orchestrator.documents import submission
    from orchestrator.models import DueDateChange, HolidayYear

    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    holidays = tmp_path / "holidays"
    holidays.mkdir()
    monkeypatch.setenv("ORCH_CONFIG_DIR", str(config))
    monkeypatch.setenv("ORCH_HOLIDAYS_DIR", str(holidays))
    monkeypatch.setenv("ORCH_CALENDAR_PACKAGE_UNTIL", "2026")
    env = setup_web(monkeypatch, tmp_path, redis_server.url, {
        "website": [{"name": "push", "adapter": "http_push", "url": "http://127.0.0.1:9/never", "timeout": 1}],
        "reading_room": [{"name": "reading_room", "adapter": "manual"}],
    })
    import yaml

    from orchestrator.catalog.schema import Catalog
    from orchestrator.catalog_sync import sync_catalog

    with session_scope() as s:
        sync_catalog(s, Catalog.model_validate(yaml.safe_load(CAL_CATALOG)))
    env.holidays = holidays
    submission._compute_due.cache_clear()
    yield env
    with session_scope() as s:  # the admin table lives in the module's database: leave none for the next test
        s.execute(delete(DueDateChange))
        s.execute(delete(HolidayYear))
    submission._compute_due.cache_clear()


def _submit(c, formed_on: str = FORMED, entry: str = "CAL-01", publisher: str = CAL_PUBLISHER) -> dict:
    data = {"csrf_token": csrf_of(c.get("/submit").text), "entry": entry, "publisher": publisher, "title": "部门会议纪要",
            "body": "会议内容", "formed_on": formed_on}
    r = c.post("/submit", data=data, headers={"Accept": "application/json"})
    assert r.status_code == 201, r.text
    return r.json()


def _api_doc(c, doc_id: int) -> dict:
    from orchestrator.api.views import document_json, load_document
    from orchestrator.db import session_scope

    with session_scope() as s:
        return document_json(load_document(s, doc_id))


def test_provisional_due_date_is_marked_everywhere_and_recomputed_from_a_file(web):
    from orchestrator.db import session_scope
    from orchestrator.documents.deadlines import recompute_due_dates
    from orchestrator.models import DueDateChange

    c = web.client("clerk")
    preview = c.get("/submit/due.json", params={"entry": "CAL-01", "publisher": CAL_PUBLISHER, "formed_on": FORMED}).json()
    assert preview["due_date"] == PROVISIONAL and preview["due_date_provisional"] is True
    assert "暂估" in preview["explanation"]
    official = c.get("/submit/due.json", params={"entry": "02", "publisher": PUBLISHER, "formed_on": "2026-11-02"}).json()
    assert official["due_date"] == "2026-11-30" and official["due_date_provisional"] is False

    doc_id = _submit(c)["document_id"]
    doc = _api_doc(c, doc_id)
    assert doc["due_date"] == PROVISIONAL and doc["due_date_provisional"] is True
    _, token = make_user("clerk", "办公室")
    api = c.get(f"/api/v1/documents/{doc_id}", headers={"Authorization": f"Bearer {token}"}).json()
    assert api["due_date"] == PROVISIONAL and api["due_date_provisional"] is True
    api = c.get("/api/v1/catalog/due-date", params={"entry": "CAL-01", "formed_on": FORMED},
                headers={"Authorization": f"Bearer {token}"}).json()
    assert api["due_date"] == PROVISIONAL and api["due_date_provisional"] is True
    page = c.get(f"/documents/{doc_id}").text
    assert 'id="due-provisional"' in page and "暂估" in page
    listing = c.get("/documents").text
    assert PROVISIONAL in listing and 'class="badge provisional"' in listing
    ops = web.client("ops")
    data = ops.get("/ops/data.json").json()
    assert [r["provisional"] for r in data["matrix"] if r["id"] == doc_id] == [True]

    assert recompute_due_dates() == []  # nothing published yet: nothing changes, nothing recorded

    (web.holidays / "2027.yaml").write_text(TABLE_2027, encoding="utf-8")
    changes = recompute_due_dates()
    assert [(ch["document_id"], ch["old"].isoformat(), ch["new"].isoformat(), ch["provisional"]) for ch in changes] == [
        (doc_id, PROVISIONAL, OFFICIAL, False)]
    doc = _api_doc(c, doc_id)
    assert doc["due_date"] == OFFICIAL and doc["due_date_provisional"] is False and "暂估" not in doc["due_note"]
    page = c.get(f"/documents/{doc_id}").text
    assert "截止日期由暂估 2027-01-13 更新为 2027-01-14（已发布 2027 年节假日安排，来源：节假日文件" in page
    assert 'id="due-provisional"' not in page
    assert recompute_due_dates() == []  # idempotent: a second run writes nothing
    with session_scope() as s:
        assert len(list(s.scalars(select(DueDateChange).where(DueDateChange.document_id == doc_id)))) == 1


def test_admin_enters_the_2027_schedule_and_due_dates_follow(web):
    c = web.client("clerk")
    doc_id = _submit(c)["document_id"]

    ops = web.client("ops")
    # Any day from 2026-11-01 on, this or next year (≥ 2027) has no schedule here: the dashboard says so.
    assert "节假日安排尚未录入" in ops.get("/ops").text
    admin = web.client("admin")
    page = admin.get("/holidays")
    assert page.status_code == 200 and "暂估" in page.text and "节假日安排" in page.text
    assert c.get("/holidays").status_code in (403, 404)  # admins only

    r = admin.post("/holidays", data={"csrf_token": csrf_of(page.text), "year": "2027",
                                      "holidays": "2027-01-01\n2027-01-04 至 2027-01-05",
                                      "workdays": "2027-01-09", "source": "测试用安排"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    doc = _api_doc(c, doc_id)
    assert doc["due_date"] == OFFICIAL and doc["due_date_provisional"] is False
    assert "截止日期由暂估 2027-01-13 更新为 2027-01-14（已发布 2027 年节假日安排，来源：管理员录入）" in \
        c.get(f"/documents/{doc_id}").text
    follow = admin.get("/holidays")
    assert "测试用安排" in follow.text and "2027-01-04、2027-01-05" in follow.text
    # The save flash warns that the statutory Spring Festival days are missing from this (made-up) table.
    assert "未列入放假日期" in follow.text
    assert "2027 年节假日安排尚未录入" not in ops.get("/ops").text


@pytest.mark.parametrize(("fields", "message"), [
    ({"year": "二〇二七"}, "不是数字"),
    ({"year": "1999"}, "2004—2099"),
    ({"holidays": "2027-13-01"}, "不是有效日期"),
    ({"holidays": "1月1日"}, "不是日期"),
    ({"holidays": "2026-12-31"}, "不在 2027 年内"),
    ({"holidays": ""}, "请填写放假日期"),
    ({"workdays": "2027-01-01"}, "同时出现在放假日期和调休上班日期中"),
    ({"workdays": "2027-01-06"}, "应为星期六或星期日"),
    ({"workdays": "2027-06-05"}, "没有放假日"),
    ({"holidays": "2027-01-01 至 2027-01-20"}, "连续"),
])
def test_admin_schedule_validation(web, fields, message):
    from orchestrator.db import session_scope
    from orchestrator.models import HolidayYear

    admin = web.client("admin")
    data = {"csrf_token": csrf_of(admin.get("/holidays").text), "year": "2027", "holidays": "2027-01-01",
            "workdays": "", "source": "", **fields}
    r = admin.post("/holidays", data=data)
    assert r.status_code == 422 and message in r.text, r.text[-2000:]
    assert 'id="holiday-errors"' in r.text and data["holidays"] in r.text  # the form keeps what was typed
    with session_scope() as s:
        assert s.scalar(select(HolidayYear).where(HolidayYear.year == 2027)) is None  # nothing stored


def test_cli_submit_and_status_mark_a_provisional_date(web, tmp_path):
    import json

    from typer.testing import CliRunner

    from orchestrator.cli import app

    body = tmp_path / "正文.html"
    body.write_text("<p>会议内容</p>", encoding="utf-8")
    runner = CliRunner()
    args = ["submit", "--entry", "CAL-01", "--publisher", CAL_PUBLISHER, "--title", "部门会议", "--body", str(body),
            "--formed-on", FORMED]
    r = runner.invoke(app, args, catch_exceptions=False)
    assert r.exit_code == 0, r.output
    out = "".join(r.stdout.split())
    assert f"公开期限：{PROVISIONAL}（暂估）" in out and "尚未公布" in out
    r = runner.invoke(app, [*args, "--json"], catch_exceptions=False)
    res = json.loads(r.stdout)
    assert res["due_date"] == PROVISIONAL and res["due_date_provisional"] is True
    r = runner.invoke(app, ["status", str(res["document_id"])], catch_exceptions=False)
    assert f"公开期限{PROVISIONAL}（暂估）" in "".join(r.stdout.split())  # rich wraps at the terminal width


def test_beat_recomputes_once_a_year_file_appears(orch_env, redis_server, tmp_path):
    """Real beat and worker processes: a 2027 file dropped in the holidays folder turns the provisional date official."""
    import time

    from orchestrator.db import session_scope
    from orchestrator.documents import submission
    from orchestrator.models import Document, DueDateChange
    from tests.api_helpers import TEST_CATALOG
    from tests.fanout_harness import FanoutStack

    holidays = tmp_path / "holidays"
    holidays.mkdir()
    cal_catalog = tmp_path / "calendar-test.yaml"
    cal_catalog.write_text(CAL_CATALOG, encoding="utf-8")
    settings = {"ORCH_CALENDAR_RECOMPUTE_SECONDS": "1", "ORCH_CALENDAR_PACKAGE_UNTIL": "2026",
                "ORCH_HOLIDAYS_DIR": str(holidays)}
    with FanoutStack(orch_env, tmp_path, redis=redis_server, catalogs=[TEST_CATALOG, cal_catalog],
                     settings=settings) as st:
        submission._compute_due.cache_clear()
        res = submission.submit({"entry": "CAL-01", "publisher": CAL_PUBLISHER, "title": "规范性文件", "body": "<p>正文</p>",
                              "formed_on": FORMED}, enqueue=False)
        assert res.due_date.isoformat() == PROVISIONAL and res.due_date_provisional
        time.sleep(3)  # beat runs the task every second: with no 2027 table yet it changes nothing
        with session_scope() as s:
            assert s.get(Document, res.document_id).due_date_provisional
            assert not list(s.scalars(select(DueDateChange).where(DueDateChange.document_id == res.document_id)))
        (holidays / "2027.yaml").write_text(TABLE_2027, encoding="utf-8")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with session_scope() as s:
                doc = s.get(Document, res.document_id)
                if not doc.due_date_provisional:
                    break
            time.sleep(0.5)
        with session_scope() as s:
            doc = s.get(Document, res.document_id)
            assert doc.due_date.isoformat() == OFFICIAL and not doc.due_date_provisional, st.tmp
            notes = [c.note for c in s.scalars(select(DueDateChange).where(DueDateChange.document_id == doc.id))]
        assert len(notes) == 1 and notes[0].startswith(f"截止日期由暂估 {PROVISIONAL} 更新为 {OFFICIAL}")
    submission._compute_due.cache_clear()


def test_a_newer_calendar_package_turns_provisional_dates_official(web, monkeypatch):
    """As if chinesecalendar's 2026 data had not been released yet, then arrived (ORCH_CALENDAR_PACKAGE_UNTIL 2025 → 2026)."""
    from orchestrator.documents.deadlines import recompute_due_dates
    from orchestrator.settings import get_settings

    monkeypatch.setenv("ORCH_CALENDAR_PACKAGE_UNTIL", "2025")
    get_settings.cache_clear()
    c = web.client("clerk")
    doc_id = _submit(c, "2026-01-19", "02", PUBLISHER)["document_id"]
    # Provisional 2026 (statutory only): 01-20..23 (4), 01-26..30 (9), 02-02..06 (14), 02-09..13 (19);
    # 02-16..19 除夕..初三 off → Fri 02-20 (20).
    assert (_api_doc(c, doc_id)["due_date"], _api_doc(c, doc_id)["due_date_provisional"]) == ("2026-02-20", True)
    monkeypatch.setenv("ORCH_CALENDAR_PACKAGE_UNTIL", "2026")
    get_settings.cache_clear()
    # The package's 2026 schedule has Saturday 02-14 as a make-up workday: 02-09..13 (19), 02-14 (20) → 02-14.
    assert [ch["new"].isoformat() for ch in recompute_due_dates()] == ["2026-02-14"]
    assert (_api_doc(c, doc_id)["due_date"], _api_doc(c, doc_id)["due_date_provisional"]) == ("2026-02-14", False)
    assert "截止日期由暂估 2026-02-20 更新为 2026-02-14（已发布 2026 年节假日安排，来源：chinesecalendar 包数据）" in \
        c.get(f"/documents/{doc_id}").text
