"""The audit log: each kind of administrative action leaves a row (web and CLI), the 审计日志 page filters, pages and
is for admins only, and the CSV/xlsx exports neutralise formula injection; names with markup are shown as text."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import shutil

import pytest
from sqlalchemy import select

from tests.api_helpers import ROOT
from tests.api_helpers import migrated_pg as migrated_pg  # noqa: F401  (a private database for this module)
from tests.web_support import WebEnv, setup_web

SEED = ROOT / "config" / "catalogs" / "sources" / "000_7b423e1979c7eb69.txt"


@pytest.fixture
def web(orch_env, redis_server, tmp_path, monkeypatch) -> WebEnv:
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    monkeypatch.setenv("ORCH_CONFIG_DIR", str(config))
    from orchestrator.catalog.channel_map import _load

    _load.cache_clear()
    yield setup_web(monkeypatch, tmp_path, redis_server.url, {
        "reading_room": [{"name": "reading_room", "adapter": "manual"}],
    })
    _load.cache_clear()


def rows(action: str, target: str | None = None):
    """The audit rows of one action (of one target): the module's database is shared by its tests."""
    from orchestrator.audit import AuditEntry
    from orchestrator.db import session_scope

    q = select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
    if target is not None:
        q = q.where(AuditEntry.target == target)
    with session_scope() as s:
        found = list(s.scalars(q))
        s.expunge_all()
        return found


def _admin(web):
    admin = web.client("admin")
    return admin, web.token(admin, "/users")


def _uid(name: str) -> int:
    from orchestrator import auth

    return auth.get_user(name).id


# --- one test per action type ---------------------------------------------------------------------------------------

def test_user_create(web):
    admin, tok = _admin(web)
    r = admin.post("/users", data={"csrf_token": tok, "username": "zhang.san", "display_name": "张三", "role": "clerk",
                                   "office": "办公室", "password": "Initial-pw-2026"})
    assert "已创建用户" in r.text
    [row] = rows("user.create")
    assert row.actor == web.users["admin"] and row.target == "用户 zhang.san" and row.ip == "testclient"
    assert row.detail["after"] == {"姓名": "张三", "角色": "经办人", "科室": "办公室"}
    assert "Initial-pw-2026" not in str(row.detail)  # never the password


def _t(web, who: str = "clerk") -> str:
    return f"用户 {web.users[who]}"


def _update(web, who: str, **changes):
    admin, tok = _admin(web)
    form = {"csrf_token": tok, "role": "clerk", "office": "办公室", "display_name": "", "active": "true", **changes}
    form = {k: v for k, v in form.items() if v is not None}
    return admin.post(f"/users/{_uid(web.users[who])}", data=form)


def test_user_role_change(web):
    assert "已保存" in _update(web, "clerk", role="reviewer", office="").text
    [row] = rows("user.role", _t(web))
    assert row.detail == {"before": {"角色": "经办人"}, "after": {"角色": "审核人"}}
    assert row.target == f"用户 {web.users['clerk']}"


def test_user_disable_and_enable(web):
    _update(web, "clerk", active=None)  # the checkbox left unticked
    [row] = rows("user.disable", _t(web))
    assert row.detail["after"] == {"状态": "停用"}
    _update(web, "clerk")
    [row] = rows("user.enable", _t(web))
    assert row.detail["before"] == {"状态": "停用"}


def test_user_password_reset(web):
    _update(web, "clerk", password="Reset-by-admin-1")
    [row] = rows("user.password_reset", _t(web))
    assert row.detail == {"下次登录须修改密码": True} and "Reset-by-admin-1" not in str(row.detail)


def test_user_other_fields(web):
    _update(web, "clerk", display_name="王五")
    [row] = rows("user.update", _t(web))
    assert row.detail == {"before": {"姓名": ""}, "after": {"姓名": "王五"}}
    assert rows("user.role", _t(web)) == [] and rows("user.password_reset", _t(web)) == []  # nothing else changed, nothing else logged


def test_lockout_lift(web):
    from orchestrator import throttle

    for _ in range(5):
        throttle.record_failure((throttle.ACCOUNT, "locked.person"))
    admin, tok = _admin(web)
    r = admin.post("/users/lockouts/lift", data={"csrf_token": tok, "scope": "account", "key": "locked.person"})
    assert "已解除" in r.text
    [row] = rows("user.lockout_lift")
    assert "locked.person" in row.target


def test_catalog_review_flag(web):
    from orchestrator.db import session_scope
    from orchestrator.models import CatalogEntryRow

    with session_scope() as s:
        entry_id = s.scalar(select(CatalogEntryRow.id).where(CatalogEntryRow.code == "03"))
    admin, tok = _admin(web)
    r = admin.post(f"/catalog/{entry_id}/review", data={"csrf_token": tok, "review": "on"})
    assert "已保存" in r.text
    [row] = rows("catalog.review_flag")
    assert row.detail["before"] == {"保密审查": "按目录文件"} and row.detail["after"] == {"保密审查": "需要"}


def test_catalog_import_apply_on_the_web(web):
    admin, tok = _admin(web)
    text = SEED.read_text(encoding="utf-8").replace("信息产生或变更之日起20个工作日内公开", "信息产生或变更之日起15个工作日内公开", 1)
    r = admin.post("/catalog/import", data={"csrf_token": tok}, files={"file": ("目录.txt", text.encode(), "text/plain")})
    token = re.search(r'name="token" value="([0-9a-f]{32})"', r.text).group(1)
    assert rows("catalog.import_apply") == []  # uploading changes nothing, records nothing
    r = admin.post("/catalog/apply", data={"csrf_token": tok, "token": token})
    assert "目录已更新" in r.text
    [row] = rows("catalog.import_apply")
    assert row.target.startswith("根河市司法局") and row.detail["修改"] and row.detail["来源"] == "目录.txt"


def test_catalog_channel_mapping(web):
    admin, tok = _admin(web)
    page = "\n".join(["某某县农业农村局基层政务公开标准目录", "序号\t一级事项\t二级事项\t公开内容\t公开时限\t公开渠道和载体\t责任科室",
                      "1\t资金信息\t补贴发放\t补贴对象名单\t20个工作日内\t■政府网站 ■征地信息公开平台\t财务股"])
    r = admin.post("/catalog/import", data={"csrf_token": tok, "text": page})
    token = re.search(r'name="token" value="([0-9a-f]{32})"', r.text).group(1)
    r = admin.post("/catalog/import/mapping", data={"csrf_token": tok, "token": token, "wording": "征地信息公开平台",
                                                    "code-征地信息公开平台": "website"})
    assert r.status_code == 200
    [row] = rows("catalog.channel_map")
    assert row.detail["after"] == {"征地信息公开平台": "website"}


def test_holiday_table(web):
    admin, tok = _admin(web)
    r = admin.post("/holidays", data={"csrf_token": tok, "year": "2027", "holidays": "2027-01-01",
                                      "workdays": "2027-01-09", "source": "测试用安排"})
    assert "已保存 2027 年节假日安排" in r.text
    [row] = rows("holidays.save")
    assert row.target == "2027 年节假日安排" and row.detail["after"]["放假"] == ["2027-01-01"]
    assert row.detail["before"]["放假"] == []


def test_agency_profile(web):
    admin, tok = _admin(web)
    r = admin.post("/profile", data={"csrf_token": tok, "name": "某某局", "uscc": "", "address": "某路 1 号", "hours": "",
                                     "phone": "0470-5201234", "email": ""})
    assert "机关信息已保存" in r.text
    [row] = rows("profile.save")
    assert row.detail["after"]["机关名称"] == "某某局" and row.detail["before"]["机关名称"] == ""
    assert "办公时间" not in row.detail["after"]  # only what changed


def test_freshness_rule(web):
    from orchestrator.db import session_scope
    from orchestrator.models import CatalogEntryRow

    with session_scope() as s:
        entry_id = s.scalar(select(CatalogEntryRow.id).where(CatalogEntryRow.code == "03"))
    admin, tok = _admin(web)
    r = admin.post(f"/freshness/entries/{entry_id}", data={"csrf_token": tok, "days": "30", "warn_days": "",
                                                           "confirm_months": "", "keep_current": "yes"})
    assert "已保存" in r.text
    [row] = rows("catalog.freshness")
    assert row.detail["after"] == {"更新周期（天）": 30, "需定期确认内容": True}


def test_cli_actions(web, tmp_path, monkeypatch):
    """CLI: user creation, token create/revoke, catalog sync and catalog import each leave a row naming the operator."""
    from typer.testing import CliRunner

    from orchestrator.cli import app
    from orchestrator.settings import get_settings

    monkeypatch.setenv("ORCH_OPERATOR", "运维员老王")
    runner = CliRunner()
    r = runner.invoke(app, ["user", "add", "li.si", "--role", "ops"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["token", "create", "li.si", "--name", "OA 对接", "--json"])
    token_id = __import__("json").loads(r.stdout)["id"]
    r = runner.invoke(app, ["token", "revoke", str(token_id)])
    assert r.exit_code == 0
    r = runner.invoke(app, ["catalog", "sync"])
    assert r.exit_code == 0, r.output
    out = tmp_path / "imported.yaml"
    r = runner.invoke(app, ["catalog", "import", str(SEED), "--out", str(out)])
    assert r.exit_code == 0, r.output
    for action in ("user.create", "token.create", "token.revoke", "catalog.sync", "catalog.import_file"):
        found = rows(action)
        assert found and found[-1].actor == "命令行:运维员老王", action
    assert rows("catalog.sync")[-1].target == str(get_settings().catalogs_dir)
    assert rows("catalog.import_file")[-1].detail["事项数"] > 10


# --- the page -------------------------------------------------------------------------------------------------------

def _seed(n: int, **kw):
    from orchestrator import audit
    from orchestrator.db import session_scope

    with session_scope() as s:
        for i in range(n):
            audit.record(s, kw.get("actor", "admin-x"), kw.get("action", "user.create"), kw.get("target", f"用户 u{i}"),
                         kw.get("detail", {"after": {"i": i}}), ip="10.0.0.1", at=kw.get("at"))


def test_audit_page_filters_pages_and_is_for_admins(web):
    from orchestrator.models import utcnow

    _seed(120, actor="pager-admin")
    _seed(3, action="holidays.save", actor="pager-admin", at=utcnow() - dt.timedelta(days=40), target="2020 年节假日安排")
    _seed(2, action="holidays.save", actor="someone-else")
    for who in ("clerk", "reviewer", "ops"):
        assert web.client(who).get("/audit").status_code == 403
        assert web.client(who).get("/audit.csv").status_code == 403
    admin = web.client("admin")
    assert 'href="/audit"' in admin.get("/admin").text  # listed under 系统管理
    page = admin.get("/audit", params={"actor": "pager-admin"}).text
    assert "共 123 条" in page and "第 1/3 页" in page and "page_no=2" in page
    assert "2020 年节假日安排" not in page  # the oldest rows are on the last page
    page3 = admin.get("/audit", params={"actor": "pager-admin", "page_no": 3}).text
    assert "2020 年节假日安排" in page3 and "第 3/3 页" in page3
    r = admin.get("/audit", params={"action": "holidays.save", "actor": "pager-admin"}).text
    assert "共 3 条" in r and "保存节假日安排" in r
    r = admin.get("/audit", params={"action": "holidays.save", "actor": "someone-else"}).text
    assert "共 2 条" in r
    today = utcnow().date()
    r = admin.get("/audit", params={"actor": "pager-admin", "date_from": (today - dt.timedelta(days=1)).isoformat()}).text
    assert "共 120 条" in r
    r = admin.get("/audit", params={"actor": "pager-admin", "date_to": (today - dt.timedelta(days=30)).isoformat()}).text
    assert "共 3 条" in r
    r = admin.get("/audit", params={"date_from": "2026-13-45", "action": "<script>"})
    assert r.status_code == 200 and "起始日期格式不正确" in r.text and "操作类型不正确" in r.text
    assert "<script>" not in r.text
    r = admin.get("/audit", params={"date_from": "2026-05-01", "date_to": "2026-04-01"})
    assert "截止日期不能早于起始日期" in r.text
    r = admin.get("/audit.csv", params={"date_from": "nonsense"})
    assert r.status_code == 422
    r = admin.get("/audit.csv", params={"actor": "pager-admin"})
    assert len(list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))) == 124  # header + every row, not a page


def test_export_neutralises_formulas_and_pages_escape_markup(web):
    from openpyxl import load_workbook

    evil = ["=HYPERLINK(\"http://evil.example\",\"点我\")", "+1+1", "-2+3", "@SUM(A1:A2)", "\tTAB", "＝全角"]
    for value in evil:
        _seed(1, actor=value, target=value, detail={"after": {"姓名": value}}, action="user.update")
    _seed(1, target="<script>alert(1)</script><img src=x onerror=alert(2)>", actor="<b>x</b>", action="user.create")
    admin = web.client("admin")
    page = admin.get("/audit").text
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<b>x</b>" not in page
    r = admin.get("/audit.csv", params={"action": "user.update"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    table = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert table[0][0] == "时间（北京时间）"
    cells = [c for row in table[1:] for c in row]
    for value in evil:
        assert "'" + value in cells, value
    assert not any(c.startswith(("=", "+", "-", "@", "\t", "＝")) for c in cells)
    r = admin.get("/audit.xlsx", params={"action": "user.update"})
    assert r.status_code == 200
    ws = load_workbook(io.BytesIO(r.content)).active
    values = [c.value for row in ws.iter_rows(min_row=2) for c in row if c.value]
    assert len(list(ws.iter_rows(min_row=2))) >= len(evil)
    assert all(not str(v).startswith(("=", "+", "-", "@")) for v in values)
    assert all(c.data_type == "s" for row in ws.iter_rows(min_row=2) for c in row if c.value)


def test_hostile_detail_is_bounded():
    from orchestrator import audit

    big = audit._jsonable({"x": "长" * 100_000, "when": dt.date(2026, 1, 1), "who": {"a"}})
    assert big["truncated"] is True and len(big["text"]) == audit.MAX_DETAIL_CHARS
    assert audit._jsonable({"when": dt.date(2026, 1, 1)}) == {"when": "2026-01-01"}
    assert audit.safe_cell("\x00=x") == "\x00=x" and audit.safe_cell("=1") == "'=1"


def test_login_required(web):
    c = web.client()
    for path in ("/audit", "/audit.csv", "/audit.xlsx"):
        r = c.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login")
