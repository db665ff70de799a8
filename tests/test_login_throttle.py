"""Log-in and API-token throttling against real PostgreSQL: per account, per address, lifted by an admin, shared by
every process (the counts live in the database)."""

from __future__ import annotations

import datetime as dt
import os
import random
import subprocess
import sys
import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.api_helpers import ROOT
from tests.api_helpers import migrated_pg as migrated_pg  # noqa: F401  (a private database for this module)
from tests.web_support import PASSWORD, WebEnv, csrf_of, login, setup_web

LOCKED = "登录失败次数过多，已暂时锁定"


@pytest.fixture
def web(orch_env, redis_server, tmp_path, monkeypatch) -> WebEnv:
    monkeypatch.setenv("ORCH_LOGIN_MAX_FAILURES", "5")
    monkeypatch.setenv("ORCH_LOGIN_ADDRESS_MAX_FAILURES", "8")
    monkeypatch.setenv("ORCH_LOGIN_LOCK_SECONDS", "600")
    return setup_web(monkeypatch, tmp_path, redis_server.url, {})


def _address() -> str:
    return f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"


def client_at(web: WebEnv, address: str | None = None) -> TestClient:
    return TestClient(web.app, client=(address or _address(), 40000))


def attempt(c: TestClient, username: str, password: str):
    tok = csrf_of(c.get("/login").text)
    return c.post("/login", data={"username": username, "password": password, "csrf_token": tok}, follow_redirects=False)


def test_account_locks_after_five_failures_even_for_the_right_password(web):
    name = web.users["clerk"]
    c = client_at(web)
    page = c.get("/login").text
    assert "连续输错密码 5 次后该账号将被暂时锁定" in page and "联系系统管理员" in page
    for i in range(4):
        r = attempt(c, name, f"wrong-{i}")
        assert r.status_code == 401 and "用户名或密码不正确" in r.text
    r = attempt(c, name, "wrong-5")
    assert r.status_code == 429 and LOCKED in r.text and "10 分钟" in r.text
    # The right password does not get through while locked, not even from another address.
    for other in (c, client_at(web)):
        r = attempt(other, name, PASSWORD)
        assert r.status_code == 429 and LOCKED in r.text, r.text
        assert "orch_session" not in r.cookies
        assert 500 <= int(r.headers["retry-after"]) <= 600
    # Another account from the same address is not affected by this account's lock.
    assert attempt(c, web.users["reviewer"], PASSWORD).status_code == 303


def test_lock_does_not_tell_whether_the_account_exists(web):
    c = client_at(web)
    answers = {}
    for name in (web.users["ops"], "no-such-person"):
        for i in range(5):
            r = attempt(c, name, f"wrong-{i}")
        answers[name] = (r.status_code, r.text.replace(name, "NAME"))
    assert answers[web.users["ops"]] == answers["no-such-person"]
    assert answers["no-such-person"][0] == 429


def test_admin_lifts_the_lock_out(web):
    name = web.users["clerk"]
    c = client_at(web)
    for i in range(5):
        attempt(c, name, f"wrong-{i}")
    assert attempt(c, name, PASSWORD).status_code == 429
    admin = web.client("admin")
    users = admin.get("/users").text
    assert "登录锁定" in users and "解除锁定" in users and name.lower() in users and "已锁定" in users
    r = admin.post("/users/lockouts/lift", data={"csrf_token": csrf_of(users), "scope": "account", "key": name.lower()},
                   follow_redirects=False)
    assert r.status_code == 303
    assert "已解除账号" in admin.get("/users").text
    assert attempt(c, name, PASSWORD).status_code == 303
    # Lifting a lock that does not exist says so; another role cannot lift.
    r = admin.post("/users/lockouts/lift", data={"csrf_token": web.token(admin), "scope": "account", "key": "nobody"})
    assert "当前没有被锁定" in r.text
    ops = web.client("ops")
    r = ops.post("/users/lockouts/lift", data={"csrf_token": web.token(ops), "scope": "account", "key": name.lower()})
    assert r.status_code == 403


def test_one_address_across_many_accounts(web):
    addr = _address()
    c = client_at(web, addr)
    # 8 failures spread over 8 names (one each: no account reaches its own limit).
    for i in range(7):
        assert attempt(c, f"guess-{i}", "wrong").status_code == 401
    r = attempt(c, "guess-7", "wrong")
    assert r.status_code == 429 and LOCKED in r.text
    # Now even a real account with its right password is refused from that address, but not from another one.
    assert attempt(c, web.users["reviewer"], PASSWORD).status_code == 429
    assert attempt(client_at(web), web.users["reviewer"], PASSWORD).status_code == 303
    admin = web.client("admin")
    assert addr in admin.get("/users").text
    admin.post("/users/lockouts/lift", data={"csrf_token": web.token(admin), "scope": "address", "key": addr})
    assert attempt(c, web.users["reviewer"], PASSWORD).status_code == 303


def test_lock_doubles_after_each_further_failure(web, monkeypatch):
    from orchestrator import settings, throttle
    from orchestrator.db import session_scope
    from orchestrator.models import AuthThrottle

    monkeypatch.setenv("ORCH_LOGIN_LOCK_SECONDS", "1")
    settings.get_settings.cache_clear()
    name = web.users["ops"]
    c = client_at(web)

    def lock_length() -> float:
        with session_scope() as s:
            row = s.scalar(select(AuthThrottle).where(AuthThrottle.scope == "account",
                                                      AuthThrottle.key == throttle.account_key(name)))
            return (row.locked_until - row.last_failure_at).total_seconds()

    for i in range(5):
        attempt(c, name, f"wrong-{i}")
    assert lock_length() == pytest.approx(1, abs=0.01)
    for expected in (2, 4):
        time.sleep(expected / 2 + 0.3)  # the previous lock has run out
        r = attempt(c, name, "still-wrong")
        assert r.status_code == 429 and LOCKED in r.text  # this failure locks again, twice as long
        assert lock_length() == pytest.approx(expected, abs=0.01)
    # While locked, attempts are refused without being counted: the lock does not grow.
    assert attempt(c, name, "again-wrong").status_code == 429
    assert lock_length() == pytest.approx(4, abs=0.01)
    # The right password after the lock runs out logs in and clears the account's count.
    time.sleep(4.3)
    assert attempt(c, name, PASSWORD).status_code == 303
    assert throttle.locked(("account", throttle.account_key(name))) is None


def test_lock_out_holds_across_processes(web, orch_env):
    """Failures counted by another process (a second web worker) lock the account here too."""
    name = web.users["reviewer"]
    code = (
        "from orchestrator import auth\n"
        "for i in range(5):\n"
        "    try:\n"
        f"        auth.authenticate_password({name!r}, 'wrong', '192.0.2.7')\n"
        "    except auth.AuthError as e:\n"
        "        last = e\n"
        "print(type(last).__name__)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "Throttled"
    r = attempt(client_at(web), name, PASSWORD)
    assert r.status_code == 429 and LOCKED in r.text


def test_bad_api_tokens_are_throttled_per_address(web):
    from orchestrator import auth

    _, good = auth.create_token(web.users["ops"], "集成")
    addr = _address()
    c = client_at(web, addr)
    for i in range(7):
        r = c.get("/api/v1/me", headers={"Authorization": f"Bearer orch_guess{i}"})
        assert r.status_code == 401
    r = c.get("/api/v1/me", headers={"Authorization": "Bearer orch_guess7"})
    assert r.status_code == 429 and "无效令牌尝试次数过多" in r.json()["detail"][0]["message"]
    r = c.get("/api/v1/me", headers={"Authorization": f"Bearer {good}"})
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    assert client_at(web).get("/api/v1/me", headers={"Authorization": f"Bearer {good}"}).status_code == 200
    # Bad tokens and bad passwords are separate counts: the address may still log in.
    assert attempt(c, web.users["ops"], PASSWORD).status_code == 303


def test_successful_login_clears_the_account_count(web):
    name = web.users["clerk"]
    for _ in range(2):
        c = client_at(web)  # a new address each round: the address limit (8) is not what this test is about
        for i in range(4):
            assert attempt(c, name, f"wrong-{i}").status_code == 401
        login(client_at(web), name)
    assert attempt(client_at(web), name, "wrong").status_code == 401  # 9 failures in all, never 5 in a row


def test_lockout_is_shown_with_time(web):
    from orchestrator import throttle

    lock = throttle.record_failure(*[("account", "x-someone")] * 1)
    assert lock is None
    for _ in range(4):
        lock = throttle.record_failure(("account", "x-someone"))
    assert lock is not None and lock.locked_until > dt.datetime.now(dt.UTC)
    assert 590 <= lock.seconds_left <= 600
