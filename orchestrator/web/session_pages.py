"""Log-in, log-out, the home redirect and the static files (CSS/JS, served locally: no CDN, no internet)."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import Form, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from orchestrator import auth
from orchestrator.auth import Role
from orchestrator.settings import get_settings
from orchestrator.web.core import (
    ALL_ROLES,
    IDLE,
    IDLE_MESSAGE,
    LOGIN_COOKIE,
    PASSWORD_PAGE,
    SESSION_COOKIE,
    WebError,
    check_login_csrf,
    cookie_secure,
    ctx_of,
    end_session,
    load_session,
    login_csrf,
    login_nonce,
    page,
    redirect,
    render,
    start_session,
)

_STATIC_NAME = re.compile(r"^[A-Za-z0-9_-]+\.[a-z]+$")
STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}


def _safe_next(target: str) -> str:
    """Only local paths: an attacker's ``next=https://evil`` must not turn our log-in into a redirector."""
    parts = urlsplit(target or "")
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _login_page(request: Request, status: int = 200, error: str = "", username: str = "", next_: str = "/",
                notice: str = "") -> Response:
    nonce, new_cookie = login_nonce(request)
    s = get_settings()
    resp = render(request, "login.html", None, status_code=status, title="登录", error=error, username=username, notice=notice,
                  next=_safe_next(next_), login_csrf=login_csrf(nonce), max_failures=s.login_max_failures,
                  lock_minutes=max(1, s.login_lock_seconds // 60))
    if new_cookie:
        resp.set_cookie(LOGIN_COOKIE, new_cookie, max_age=3600 * 4, httponly=True, samesite="lax",
                        secure=cookie_secure(), path="/")
    return resp


@page("GET", "/login", None)
def login_form(request: Request, next: str = "/", reason: str = "") -> Response:  # noqa: A002 (the query parameter's name)
    if load_session(request.cookies.get(SESSION_COOKIE)) is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    notice = IDLE_MESSAGE.format(minutes=get_settings().session_idle_minutes) if reason == IDLE else ""
    return _login_page(request, next_=next, notice=notice)


@page("POST", "/login", None)
async def login(request: Request, username: str = Form("", max_length=80), password: str = Form("", max_length=200),
                csrf_token: str = Form(""), next: str = Form("/")) -> Response:  # noqa: A002
    if not check_login_csrf(request, csrf_token):
        return _login_page(request, 403, "登录页面已过期（CSRF 校验失败），请重新输入后登录", username, next)
    address = (request.client.host if request.client else "")[:200]
    try:
        principal = await run_in_threadpool(auth.authenticate_password, username, password, address)
    except auth.Throttled as exc:
        resp = _login_page(request, 429, str(exc), username, next)
        resp.headers["Retry-After"] = str(exc.retry_after)
        return resp
    except auth.AuthError as exc:
        return _login_page(request, 401, str(exc), username, next)
    target = _safe_next(next) if next != "/" else _home_for(principal.role)
    if await run_in_threadpool(auth.must_change_password, principal.id):
        target = PASSWORD_PAGE  # an admin reset the password: the person chooses their own first
    resp = RedirectResponse(target, status_code=303)
    await run_in_threadpool(start_session, principal, request, resp, request.cookies.get(SESSION_COOKIE))
    return resp


@page("POST", "/logout", ALL_ROLES)
def logout(request: Request) -> Response:
    resp = redirect("/login", "您已安全退出")
    end_session(request.cookies.get(SESSION_COOKIE), resp)
    return resp


def _home_for(role: Role) -> str:
    return {Role.clerk: "/submit", Role.reviewer: "/review", Role.ops: "/ops", Role.admin: "/ops"}[role]


@page("GET", "/", ALL_ROLES)
def home(request: Request) -> Response:
    return RedirectResponse(_home_for(ctx_of(request).user.role), status_code=303)


@page("GET", "/static/web/{name}", None)
def static_file(name: str) -> Response:
    # A flat whitelist by suffix inside one directory: no path separators, so no traversal.
    if not _STATIC_NAME.match(name):
        raise WebError(404, "文件不存在")
    base = (get_settings().templates_dir / "web" / "static").resolve()
    path = (base / name).resolve()
    if path.parent != base or path.suffix not in STATIC_TYPES or not path.is_file():
        raise WebError(404, "文件不存在")
    return FileResponse(Path(path), media_type=STATIC_TYPES[path.suffix], headers={"Cache-Control": "max-age=300"})
