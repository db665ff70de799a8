"""Accounts: the password rules (each refusal's message), 修改密码 through the web client, the forced change after an
admin reset, the idle timeout of web sessions, hostile input on the password forms, and the CLI applying the rules."""

from __future__ import annotations

import datetime as dt
import shutil

import pytest
from sqlalchemy import select, update

from tests.api_helpers import ROOT
from tests.api_helpers import migrated_pg as migrated_pg  # noqa: F401  (a private database for this module)
from tests.web_support import PASSWORD, WebEnv, csrf_of, login, setup_web


@pytest.fixture
def web(orch_env, redis_server, tmp_path, monkeypatch) -> WebEnv:
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    monkeypatch.setenv("ORCH_CONFIG_DIR", str(config))
    return setup_web(monkeypatch, tmp_path, redis_server.url, {
        "reading_room": [{"name": "reading_room", "adapter": "manual"}],
    })


# --- the rules ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("password", "message"), [
    ("Ab-1234", "密码至少 10 个字符（当前 7 个）"),
    ("abcdefghijkl", "至少三类"),
    ("abcdefgh1234", "至少三类"),
    ("Xx-zhang.san-9", "密码不能包含用户名"),
    ("Password123!", "密码过于常见"),
    ("1qaz@WSX3edc", "密码过于常见"),
    ("P" * 201, "密码过长（不超过 200 个字符）"),
])
def test_each_rule_has_its_message(password, message):
    from orchestrator import passwords

    found = passwords.problems(password, "zhang.san")
    assert any(message in p for p in found), found


def test_a_good_password_passes_and_the_current_one_is_refused():
    from orchestrator import auth, passwords

    assert passwords.problems("Zhengwu-2026!", "zhang.san") == []
    assert passwords.problems("长城-Great-wall-9", "li") == []  # Chinese characters count as "other"
    current = auth.hash_password("Zhengwu-2026!")
    with pytest.raises(auth.AuthError, match="新密码不能与当前密码相同"):
        auth.check_password("Zhengwu-2026!", "zhang.san", current)
    for _ in range(20):  # the first admin's random password always satisfies the rules
        assert passwords.problems(passwords.generate(), "admin") == []


def test_a_huge_password_is_refused_without_hashing_it(monkeypatch):
    from orchestrator import auth, passwords

    huge = "Aa1-" * 250_000  # 1 MB
    current = auth.hash_password("Zhengwu-2026!")
    assert passwords.problems(huge) == ["密码过长（不超过 200 个字符）"]

    def never(*_a, **_k):
        raise AssertionError("a 1 MB password reached argon2")

    monkeypatch.setattr(auth, "_hasher", type("Never", (), {"verify": never, "hash": never})())
    with pytest.raises(auth.AuthError, match="密码过长"):
        auth.check_password(huge, "x", current)
    with pytest.raises(auth.AuthError, match="密码过长"):
        auth.hash_password(huge)


# --- 修改密码 ----------------------------------------------------------------------------------------------------------

def _change(c, current, new, repeat=None):
    tok = csrf_of(c.get("/account/password").text)
    return c.post("/account/password", data={"csrf_token": tok, "current": current, "new": new,
                                             "repeat": new if repeat is None else repeat})


def test_password_change_through_the_web(web):
    from orchestrator.audit import AuditEntry
    from orchestrator.db import session_scope

    name = web.users["clerk"]
    c = web.client("clerk")
    page = c.get("/documents").text
    assert 'href="/account/password"' in page  # reachable from every page
    r = _change(c, "wrong-Password-1", "Brand-new-pw-42")
    assert r.status_code == 422 and "当前密码不正确" in r.text
    r = _change(c, PASSWORD, "Brand-new-pw-42", "Brand-new-pw-43")
    assert r.status_code == 422 and "两次输入的新密码不一致" in r.text
    r = _change(c, PASSWORD, "short-1A")
    assert r.status_code == 422 and "密码至少 10 个字符" in r.text
    r = _change(c, PASSWORD, PASSWORD)
    assert r.status_code == 422 and "新密码不能与当前密码相同" in r.text
    r = _change(c, PASSWORD, f"{name}-X9")
    assert r.status_code == 422 and "密码不能包含用户名" in r.text
    r = _change(c, PASSWORD, "Brand-new-pw-42")
    assert r.status_code == 200 and "密码已修改" in r.text
    fresh = web.client()
    page = fresh.get("/login")
    r = fresh.post("/login", data={"username": name, "password": PASSWORD, "csrf_token": csrf_of(page.text)},
                   follow_redirects=False)
    assert r.status_code == 401  # the old password no longer opens a session
    login(web.client(), name, "Brand-new-pw-42")
    with session_scope() as s:
        rows = s.scalars(select(AuditEntry).where(AuditEntry.action == "account.password_change",
                                                  AuditEntry.actor == name)).all()
        assert len(rows) == 1 and rows[0].ip == "testclient"


def test_hostile_input_on_the_password_forms(web):
    c = web.client("clerk")
    tok = csrf_of(c.get("/account/password").text)
    huge = "Aa1-" * 250_000
    r = c.post("/account/password", data={"csrf_token": tok, "current": PASSWORD, "new": huge, "repeat": huge})
    assert r.status_code == 422 and "Traceback" not in r.text and "填写有误" in r.text
    r = c.post("/account/password", data={"csrf_token": tok, "current": PASSWORD, "new": "Aa-1\x00bcdefghij",
                                         "repeat": "Aa-1\x00bcdefghij"})
    assert r.status_code == 422 and "空字符" in r.text
    r = c.post("/account/password", data={"csrf_token": tok, "current": "", "new": "", "repeat": ""})
    assert r.status_code == 422 and "请填写当前密码" in r.text
    # Without the CSRF token nothing changes.
    r = c.post("/account/password", data={"current": PASSWORD, "new": "Brand-new-pw-42", "repeat": "Brand-new-pw-42"})
    assert r.status_code == 403
    login(web.client(), web.users["clerk"], PASSWORD)
    # Guessing through the form counts as failed log-ins: the account locks like the log-in page does.
    for _ in range(5):
        r = _change(c, "wrong-Password-1", "Brand-new-pw-42")
    assert r.status_code == 429 and "锁定" in r.text


def test_admin_reset_forces_a_change_at_next_login(web):
    from orchestrator import auth
    from orchestrator.audit import AuditEntry
    from orchestrator.db import session_scope

    name = web.users["clerk"]
    uid = auth.get_user(name).id
    victim = web.client("clerk")
    admin = web.client("admin")
    tok = web.token(admin, "/users")
    form = {"csrf_token": tok, "role": "clerk", "office": "办公室", "display_name": "", "active": "true"}
    r = admin.post(f"/users/{uid}", data={**form, "password": "password123"})
    assert "未保存" in r.text and "密码过于常见" in r.text
    r = admin.post(f"/users/{uid}", data={**form, "password": "Temp-reset-2026"})
    assert "已保存用户" in r.text
    assert victim.get("/documents", follow_redirects=False).status_code == 303  # the old session ended
    c = web.client()
    page = c.get("/login")
    r = c.post("/login", data={"username": name, "password": "Temp-reset-2026", "csrf_token": csrf_of(page.text)},
               follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/account/password"
    r = c.get("/documents", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/account/password"
    assert "管理员已重置您的密码" in c.get("/account/password").text
    r = c.get("/documents", headers={"Accept": "application/json"})
    assert r.status_code == 403 and "请先修改密码" in r.json()["error"]
    r = _change(c, "Temp-reset-2026", "Mine-at-last-77")
    assert "密码已修改" in r.text
    assert c.get("/documents", follow_redirects=False).status_code == 200
    with session_scope() as s:
        actions = [a for (a,) in s.execute(select(AuditEntry.action).where(AuditEntry.target == f"用户 {name}"))]
    assert "user.password_reset" in actions and "account.password_change" in actions


# --- idle timeout ---------------------------------------------------------------------------------------------------

def _age_sessions(minutes: float) -> None:
    from orchestrator.db import session_scope
    from orchestrator.models import utcnow
    from orchestrator.web.models import WebSession

    with session_scope() as s:
        s.execute(update(WebSession).values(last_seen_at=utcnow() - dt.timedelta(minutes=minutes)))


def test_idle_session_expires_server_side(web, monkeypatch):
    from orchestrator.db import session_scope
    from orchestrator.settings import get_settings
    from orchestrator.web.models import WebSession

    c = web.client("clerk")
    _age_sessions(29)  # within the default 30 minutes: still signed in (and touched)
    assert c.get("/documents", follow_redirects=False).status_code == 200
    _age_sessions(31)
    r = c.get("/documents", follow_redirects=False)
    assert r.status_code == 303 and "reason=idle" in r.headers["location"]
    page = c.get(r.headers["location"]).text
    assert "由于超过 30 分钟未操作，登录已失效，请重新登录" in page
    from orchestrator import auth

    with session_scope() as s:  # deleted server-side
        assert s.scalar(select(WebSession).where(WebSession.user_id == auth.get_user(web.users["clerk"]).id)) is None
    # The row is gone: the cookie alone opens nothing, even after the clock is "turned back".
    assert c.get("/documents", follow_redirects=False).status_code == 303
    # A shorter setting applies to the next request; a form post of an idle session gets 401 with the reason.
    monkeypatch.setenv("ORCH_SESSION_IDLE_MINUTES", "5")
    get_settings.cache_clear()
    c2 = web.client("ops")
    tok = web.token(c2)
    _age_sessions(6)
    r = c2.post("/ops/retry", data={"csrf_token": tok})
    assert r.status_code == 401 and "超过 5 分钟未操作" in r.text


def test_idle_setting_is_validated(monkeypatch):
    from pydantic import ValidationError

    from orchestrator.settings import Settings

    monkeypatch.setenv("ORCH_SESSION_IDLE_MINUTES", "0")
    with pytest.raises(ValidationError):
        Settings()


# --- the CLI and the first admin ------------------------------------------------------------------------------------

def test_cli_applies_the_rules_and_resets(web):
    from typer.testing import CliRunner

    from orchestrator import auth
    from orchestrator.cli import app

    runner = CliRunner()
    r = runner.invoke(app, ["user", "add", "wei.liu", "--role", "ops", "--password-stdin"], input="abcdefghijk\n")
    assert r.exit_code == 1 and "至少三类" in r.stderr
    r = runner.invoke(app, ["user", "add", "wei.liu", "--role", "ops", "--password-stdin"], input="Cli-made-pw-2026\n")
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["user", "password", "wei.liu"], input="Cli-made-pw-2026\n")
    assert r.exit_code == 1 and "新密码不能与当前密码相同" in r.stderr
    r = runner.invoke(app, ["user", "password", "wei.liu"], input="Cli-reset-pw-2027\n")
    assert r.exit_code == 0 and "下次登录时须修改密码" in r.stdout
    assert auth.must_change_password(auth.get_user("wei.liu").id)
    c = web.client()
    page = c.get("/login")
    r = c.post("/login", data={"username": "wei.liu", "password": "Cli-reset-pw-2027", "csrf_token": csrf_of(page.text)},
               follow_redirects=False)
    assert r.headers["location"] == "/account/password"
