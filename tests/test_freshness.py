"""栏目更新情况 (issue 15, freshness) with a controlled clock: a column and a new-media account going from fresh to
"about to go stale" to stale after real publications (submitted, delivered through the manual adapter, confirmed); the
alerts the periodic check records once; rules from the catalog YAML and from the admin form; the "内容仍准确吗?"
confirmation cycle (created, confirmed by the responsible office, due again, overdue, answered by new content);
hostile input on the form and in names."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from tests.api_helpers import ROOT
from tests.api_helpers import migrated_pg as migrated_pg  # noqa: F401  (a private database for this module)
from tests.web_support import WebEnv, csrf_of, setup_web

PUBLISHER = "新鲜度测试局"
CATALOG = f"""
publisher: {PUBLISHER}
entries:
  - code: "F-01"
    path: [机构信息, 机构职能]
    time_limit: {{text: 即时公开, kind: immediate}}
    channels: [website]
    offices: [办公室]
  - code: "F-02"
    path: [工作动态, 日常工作]
    time_limit: {{text: 即时公开, kind: immediate}}
    channels: [website, wechat]
    offices: [办公室]
  - code: "F-03"
    path: [通知公告, "<script>alert(1)</script>栏目"]
    time_limit: {{text: 即时公开, kind: immediate}}
    channels: [reading_room]
    offices: [行政执法协调监督办公室]
    freshness: {{days: 30, warn_days: 5}}
  - code: "F-04"
    path: [领导信息, 领导简介]
    time_limit: {{text: 即时公开, kind: immediate}}
    channels: [website]
    offices: [办公室]
"""


@pytest.fixture
def web(orch_env, redis_server, tmp_path, monkeypatch) -> WebEnv:
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    monkeypatch.setenv("ORCH_CONFIG_DIR", str(config))
    env = setup_web(monkeypatch, tmp_path, redis_server.url, {
        "website": [{"name": "site-desk", "adapter": "manual", "label": "门户网站（人工发布）"}],
        "wechat": [{"name": "wx-account", "adapter": "manual", "label": "某某发布公众号"}],
        "reading_room": [{"name": "reading_room", "adapter": "manual"}],
    })
    _sync(tmp_path)
    return env


def _sync(tmp_path: Path) -> None:
    from orchestrator.catalog.schema import Catalog
    from orchestrator.catalog_sync import sync_catalog
    from orchestrator.db import session_scope

    with session_scope() as s:
        sync_catalog(s, Catalog.model_validate(yaml.safe_load(CATALOG)))


def publish(code: str, title: str = "栏目内容", publisher: str = PUBLISHER) -> dt.datetime:
    """Submit a document for an entry and deliver it: the manual adapter hands each delivery to a person, who
    confirms it (the real path a delivered row takes). Returns when it was delivered."""
    from orchestrator.db import session_scope
    from orchestrator.delivery import engine
    from orchestrator.documents import deliveries, submission
    from orchestrator.models import Delivery

    res = submission.submit({"entry": code, "publisher": publisher, "title": title, "body": "<p>正文</p>",
                             "formed_on": dt.date.today().isoformat()}, enqueue=False)
    for delivery_id in res.delivery_ids:
        assert engine.run_delivery(delivery_id) == "awaiting_confirmation"
        deliveries.confirm_delivery(delivery_id, "张三", "已发布")
    with session_scope() as s:
        return max(s.scalars(select(Delivery.delivered_at).where(Delivery.document_id == res.document_id)))


def rows_at(now: dt.datetime) -> dict[str, object]:
    from orchestrator import freshness
    from orchestrator.db import session_scope

    with session_scope() as s:
        return {r.subject if r.kind != "entry" else r.code: r for r in freshness.freshness_rows(s, now)}


def stale_at(now: dt.datetime, **kw) -> set[str]:
    from orchestrator import freshness
    from orchestrator.db import session_scope

    with session_scope() as s:
        return {r.code or r.subject for r in freshness.stale_columns(s, now, **kw)}


def checks_at(now: dt.datetime) -> dict[str, int]:
    from orchestrator import freshness
    from orchestrator.db import session_scope

    with session_scope() as s:
        return freshness.run_checks(s, now)


def test_a_column_and_an_account_go_stale(web):
    from orchestrator import freshness
    from orchestrator.db import session_scope

    t0 = publish("F-01")  # a website column: no wechat, so the account has never published
    rows = rows_at(t0)
    assert rows["home:site-desk"].state == "fresh" and rows["newmedia:wx-account"].state == "never"
    assert rows["newmedia:wx-account"].label == "某某发布公众号（公众号）"
    assert rows["F-02"].state == "never" and "F-02" not in stale_at(t0) and "F-02" in stale_at(t0, include_never=True)

    t = publish("F-02")  # news-like: 2 weeks; reaches the site and the WeChat account
    day = dt.timedelta(days=1)
    r = rows_at(t + 10 * day)["F-02"]
    assert (r.state, r.days_left, r.rule_days, r.rule_source) == ("fresh", 4, 14, "默认：动态类栏目 2 周")
    r = rows_at(t + 12 * day)["F-02"]
    assert (r.state, r.days_left) == ("warning", 2)
    assert rows_at(t + 12 * day)["newmedia:wx-account"].state == "warning"
    r = rows_at(t + 14 * day)["F-02"]
    local = t.astimezone(freshness.TZ).date()
    assert (r.state, r.stale_on, r.days_left) == ("stale", local + 14 * day, 0)
    assert {"F-02", "newmedia:wx-account", "home:site-desk"} <= stale_at(t + 14 * day)
    assert "F-02" not in stale_at(t + 13 * day)
    # 机构职能 follows the notice/policy default (six months): not stale after two weeks.
    assert rows_at(t + 14 * day)["F-01"].rule_days == 183 and rows_at(t + 14 * day)["F-01"].state == "fresh"

    # The periodic check records the warning once, then the stale notice once.
    first = checks_at(t + 12 * day)
    assert first["warnings"] >= 3  # the column, the homepage, the account
    assert checks_at(t + 12 * day)["warnings"] == 0
    assert checks_at(t + 13 * day)["warnings"] == 0  # same episode
    later = checks_at(t + 15 * day)
    assert later["stale"] >= 3
    with session_scope() as s:
        kinds = {(a.subject, a.kind) for a in freshness.alerts(s)}
    entry_id = rows_at(t)["F-02"].entry_id
    assert {(f"entry:{entry_id}", "warning"), (f"entry:{entry_id}", "stale"), ("newmedia:wx-account", "stale")} <= kinds

    # A new publication starts a new period.
    t2 = publish("F-02", "又一条动态")
    assert rows_at(t2 + 15 * day)["F-02"].state == "stale" and rows_at(t2 + day)["F-02"].state == "fresh"


def test_rules_from_the_catalog_file_and_the_admin(web, tmp_path):
    from orchestrator.catalog.errors import CatalogError
    from orchestrator.catalog.loader import load_catalog

    now = dt.datetime.now(dt.UTC)
    r = rows_at(now)["F-03"]
    assert (r.rule_days, r.warn_days, r.rule_source) == (30, 5, "目录文件")
    t = publish("F-03")
    assert rows_at(t + dt.timedelta(days=25))["F-03"].state == "warning"
    assert rows_at(t + dt.timedelta(days=24))["F-03"].state == "fresh"

    admin = web.client("admin")
    tok = web.token(admin, "/freshness")
    form = {"csrf_token": tok, "days": "7", "warn_days": "1", "confirm_months": "", "keep_current": ""}
    r = admin.post(f"/freshness/entries/{rows_at(now)['F-03'].entry_id}", data=form)
    assert "已保存" in r.text
    r = rows_at(now)["F-03"]
    assert (r.rule_days, r.warn_days, r.rule_source) == (7, 1, "管理员设置")
    # Blank again: back to the file's rule.
    admin.post(f"/freshness/entries/{r.entry_id}", data={**form, "days": "", "warn_days": ""})
    assert rows_at(now)["F-03"].rule_source == "目录文件"

    # The YAML field is checked like every other field.
    bad = tmp_path / "bad-freshness.yaml"
    bad.write_text(CATALOG.replace("days: 30, warn_days: 5", "days: 0, often: yes"), encoding="utf-8")
    with pytest.raises(CatalogError) as err:
        load_catalog(bad)
    assert "F-03" in str(err.value) and "freshness" in str(err.value)


def test_admin_form_refuses_bad_values_and_non_admins(web):
    entry_id = rows_at(dt.datetime.now(dt.UTC))["F-03"].entry_id
    admin = web.client("admin")
    tok = web.token(admin, "/freshness")
    for days in ("abc", "0", "9" * 50, "-3", "3651", "１２", "1e3"):
        message = "更新周期（天）应为 1 到 3650 之间的整数"
        r = admin.post(f"/freshness/entries/{entry_id}", data={"csrf_token": tok, "days": days})
        assert r.status_code == 422 and message in r.text, days
    r = admin.post(f"/freshness/entries/{entry_id}", data={"csrf_token": tok, "keep_current": "maybe"})
    assert r.status_code == 422 and "需定期确认内容" in r.text
    r = admin.post("/freshness/entries/999999", data={"csrf_token": tok, "days": "5"})
    assert r.status_code == 404
    clerk = web.client("clerk")
    assert clerk.get(f"/freshness/entries/{entry_id}").status_code == 403
    r = clerk.post(f"/freshness/entries/{entry_id}", data={"csrf_token": web.token(clerk, "/freshness"), "days": "5"})
    assert r.status_code == 403


def test_the_page_shows_every_column_and_escapes_names(web):
    t = publish("F-02")
    page = web.client("clerk").get("/freshness").text
    assert "栏目更新情况" in page and "日常工作" in page and "某某发布公众号（公众号）" in page
    assert "门户网站（人工发布）（首页）" in page and "从未发布" in page and "剩余 14 天" in page
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;栏目" in page
    assert 'href="/freshness/entries/' not in page  # the rule links are for admins
    admin_page = web.client("admin").get("/freshness", params={"state": "never"}).text
    assert 'href="/freshness/entries/' in admin_page and "日常工作" not in admin_page
    assert web.client("admin").get("/freshness", params={"state": "<x>", "kind": "nonsense"}).status_code == 200
    assert t is not None


def open_task(code: str) -> int | None:
    from orchestrator import freshness
    from orchestrator.db import session_scope

    entry_id = rows_at(dt.datetime.now(dt.UTC))[code].entry_id
    with session_scope() as s:
        return s.scalar(select(freshness.FreshnessConfirmation.id).where(
            freshness.FreshnessConfirmation.entry_id == entry_id, freshness.FreshnessConfirmation.status == "open"))


OTHER = """
publisher: 确认测试局
entries:
  - code: "G-01"
    path: [办事服务, 办事指南]
    time_limit: {text: 即时公开, kind: immediate}
    channels: [website]
    offices: [办公室]
"""


def test_confirmation_cycle(web, monkeypatch):
    """办事指南 must be kept current: a confirmation task is opened, goes overdue (stale), is confirmed by the
    responsible office, is opened again after the period, and is answered by new content. The clock is moved for the
    checks, the page and the confirmation alike (freshness.clock)."""
    from orchestrator import freshness
    from orchestrator.catalog.schema import Catalog
    from orchestrator.catalog_sync import sync_catalog
    from orchestrator.db import session_scope

    with session_scope() as s:
        sync_catalog(s, Catalog.model_validate(yaml.safe_load(OTHER)))
    real = dt.datetime.now(dt.UTC)
    base = real - dt.timedelta(days=400)
    day = dt.timedelta(days=1)
    assert rows_at(base)["G-01"].keep_current and not rows_at(base)["F-02"].keep_current
    assert open_task("G-01") is None
    checks_at(base)  # never confirmed, never published: ask now
    task_id = open_task("G-01")
    assert task_id is not None
    assert checks_at(base)["created"] == 0  # not twice
    assert not rows_at(base + 13 * day)["G-01"].confirmation_overdue
    row = rows_at(base + 15 * day)["G-01"]
    assert row.confirmation_overdue and row.is_stale and row.state_label == "内容确认逾期"
    assert "G-01" in stale_at(base + 15 * day)

    # Another office cannot answer for this entry; the responsible office sees it on the page and confirms.
    monkeypatch.setattr(freshness, "clock", lambda: base + 20 * day)
    other = web.client("clerk_b")
    assert "办事指南" not in other.get("/freshness").text.split("全部栏目")[0]
    r = other.post(f"/freshness/confirm/{task_id}", data={"csrf_token": web.token(other, "/freshness")})
    assert r.status_code == 403 and "只有责任科室" in r.text
    clerk = web.client("clerk")
    page = clerk.get("/freshness").text
    top = page.split("全部栏目")[0]
    assert "内容仍准确吗" in top and "办事指南" in top and "（已逾期）" in top
    r = clerk.post(f"/freshness/confirm/{task_id}", data={"csrf_token": csrf_of(page), "note": "已核对"})
    assert "内容仍然准确" in r.text
    r = clerk.post(f"/freshness/confirm/{task_id}", data={"csrf_token": csrf_of(page)})
    assert r.status_code == 409 and "已处理" in r.text
    assert open_task("G-01") is None and "G-01" not in stale_at(base + 20 * day)

    checks_at(base + 20 * day + 150 * day)
    assert open_task("G-01") is None  # confirmed: quiet for six months
    again = freshness.add_months(base + 20 * day, 6) + dt.timedelta(hours=1)
    checks_at(again)
    assert open_task("G-01") is not None
    # New content answers the question: the task closes as "updated" on the next check.
    published = publish("G-01", "办事指南（修订）", publisher="确认测试局")
    assert published > again
    assert checks_at(published + dt.timedelta(minutes=1))["resolved"] >= 1
    assert open_task("G-01") is None
    with session_scope() as s:
        statuses = list(s.scalars(select(freshness.FreshnessConfirmation.status)
                                  .where(freshness.FreshnessConfirmation.entry_id == row.entry_id)
                                  .order_by(freshness.FreshnessConfirmation.id)))
    assert statuses == ["confirmed", "updated"]


def test_keep_current_flag_and_months_from_the_admin(web):
    from orchestrator import freshness

    now = dt.datetime.now(dt.UTC)
    entry_id = rows_at(now)["F-02"].entry_id
    admin = web.client("admin")
    tok = web.token(admin, "/freshness")
    admin.post(f"/freshness/entries/{entry_id}", data={"csrf_token": tok, "keep_current": "yes", "confirm_months": "2"})
    assert rows_at(now)["F-02"].keep_current
    checks_at(freshness.add_months(now, 3))  # the last publication is older than two months by then
    assert open_task("F-02") is not None
    page = web.client("admin").get(f"/freshness/entries/{entry_id}").text
    assert "每 2 个月一次" in page
    assert freshness.add_months(dt.datetime(2026, 8, 31, tzinfo=dt.UTC), 6) == dt.datetime(2027, 2, 28, tzinfo=dt.UTC)


def test_beat_runs_the_check():
    from orchestrator.delivery.celery_app import app

    entry = app.conf.beat_schedule["freshness-check"]
    assert entry["task"] == "orchestrator.freshness_check"
