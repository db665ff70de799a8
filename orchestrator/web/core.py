"""The web app's plumbing: sessions, CSRF, role guards, templates, HTML error pages.

Every route is declared through :func:`page`, which records the roles it admits in :data:`ACCESS` (the security tests
enumerate the router against it) and attaches the guard: no session → log-in page (or 401 for JSON), wrong role → 403,
POST without the session's CSRF token → 403. Handlers receive a :class:`Ctx` and never check the session themselves.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import yaml
from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.routing import APIRoute
from itsdangerous import BadSignature, URLSafeTimedSerializer
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import delete, select
from starlette.concurrency import run_in_threadpool

from orchestrator import auth
from orchestrator.account_models import AccountSecurity
from orchestrator.api.validation import translate_validation
from orchestrator.auth import Principal, Role
from orchestrator.catalog.channel_map import load_channel_map
from orchestrator.db import session_scope
from orchestrator.documents.deliveries import STATUS_LABELS
from orchestrator.documents.inputs import MAX_ID, NUL_MESSAGE
from orchestrator.models import User, utcnow
from orchestrator.settings import get_settings
from orchestrator.settings import secret_key as settings_secret_key
from orchestrator.web.models import WebSession

log = logging.getLogger(__name__)
TZ = ZoneInfo("Asia/Shanghai")

SESSION_COOKIE = "orch_session"
LOGIN_COOKIE = "orch_login"  # pre-log-in nonce: lets the log-in form carry a CSRF token before any session exists
FLASH_COOKIE = "orch_flash"
SESSION_HOURS = 12
TOUCH_EVERY = dt.timedelta(minutes=1)
ALL_ROLES: tuple[Role, ...] = (Role.clerk, Role.reviewer, Role.ops, Role.admin)


# --- secrets -------------------------------------------------------------------------------------

def secret_key() -> str:
    return settings_secret_key("web-session")


def _signer(salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key(), salt=salt)


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def cookie_secure() -> bool:
    return get_settings().public_url.startswith("https://")


# --- sessions ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Ctx:
    """The signed-in person for one request."""

    user: Principal
    csrf: str
    session_hash: str
    must_change_password: bool = False  # an admin reset the password: 修改密码 before anything else

    @property
    def role_label(self) -> str:
        return auth.ROLE_LABELS[self.user.role]


def start_session(user: Principal, request: Request, response: Response, old_cookie: str | None) -> None:
    """A brand-new session id at every log-in (never reuse what the browser sent: no session fixation)."""
    raw = secrets.token_urlsafe(32)
    now = utcnow()
    with session_scope() as s:
        if old_cookie:
            old = _read_cookie(old_cookie)
            if old:
                s.execute(delete(WebSession).where(WebSession.id_hash == _digest(old)))
        s.execute(delete(WebSession).where(WebSession.expires_at < now))
        s.add(WebSession(
            id_hash=_digest(raw), user_id=user.id, csrf_token=secrets.token_urlsafe(32), created_at=now,
            last_seen_at=now, expires_at=now + dt.timedelta(hours=SESSION_HOURS),
            ip=(request.client.host if request.client else "")[:64],
            user_agent=request.headers.get("user-agent", "")[:300],
        ))
    response.set_cookie(SESSION_COOKIE, _signer("session").dumps(raw), max_age=SESSION_HOURS * 3600,
                        httponly=True, samesite="lax", secure=cookie_secure(), path="/")
    response.delete_cookie(LOGIN_COOKIE, path="/")


def end_session(cookie: str | None, response: Response) -> None:
    raw = _read_cookie(cookie) if cookie else None
    if raw:
        with session_scope() as s:
            s.execute(delete(WebSession).where(WebSession.id_hash == _digest(raw)))
    response.delete_cookie(SESSION_COOKIE, path="/")


def end_user_sessions(user_id: int) -> None:
    with session_scope() as s:
        s.execute(delete(WebSession).where(WebSession.user_id == user_id))


def _read_cookie(value: str) -> str | None:
    try:
        raw = _signer("session").loads(value, max_age=SESSION_HOURS * 3600)
    except BadSignature:
        return None
    return raw if isinstance(raw, str) else None


def load_session(cookie: str | None) -> Ctx | None:
    return session_state(cookie)[0]


IDLE = "idle"  # the reason a session ended: no request for ORCH_SESSION_IDLE_MINUTES


def session_state(cookie: str | None, now: dt.datetime | None = None) -> tuple[Ctx | None, str]:
    """The session behind a cookie, or (None, reason): ``IDLE`` when it expired for lack of activity (the log-in
    page says so), "" otherwise. An idle or expired session is deleted server-side, whatever the cookie says."""
    if not cookie:
        return None, ""
    raw = _read_cookie(cookie)
    if raw is None:
        return None, ""
    h = _digest(raw)
    now = now or utcnow()
    idle = dt.timedelta(minutes=get_settings().session_idle_minutes)
    with session_scope() as s:
        row = s.execute(select(WebSession, User, AccountSecurity.must_change_password)
                        .join(User, User.id == WebSession.user_id)
                        .outerjoin(AccountSecurity, AccountSecurity.user_id == User.id)
                        .where(WebSession.id_hash == h)).first()
        if row is None:
            return None, ""
        sess, user, must_change = row
        expires = sess.expires_at if sess.expires_at.tzinfo else sess.expires_at.replace(tzinfo=dt.UTC)
        if expires < now or not user.active:
            s.delete(sess)
            return None, ""
        seen = sess.last_seen_at if sess.last_seen_at.tzinfo else sess.last_seen_at.replace(tzinfo=dt.UTC)
        if now - seen > idle:
            s.delete(sess)
            return None, IDLE
        if now - seen > min(TOUCH_EVERY, idle / 5):  # written now and then, but often enough for a short timeout
            sess.last_seen_at = now
        principal = Principal(user.id, user.username, user.display_name, Role(user.role), user.office)
        return Ctx(principal, sess.csrf_token, h, bool(must_change)), ""


# --- CSRF for the log-in form (no session yet) ----------------------------------------------------

def login_nonce(request: Request) -> tuple[str, str | None]:
    """The browser's pre-log-in nonce (a new one when missing/forged) and the cookie to set if it is new."""
    cookie = request.cookies.get(LOGIN_COOKIE)
    if cookie:
        try:
            nonce = _signer("login").loads(cookie, max_age=3600 * 4)
            if isinstance(nonce, str):
                return nonce, None
        except BadSignature:
            pass
    nonce = secrets.token_urlsafe(24)
    return nonce, _signer("login").dumps(nonce)


def login_csrf(nonce: str) -> str:
    return hmac.new(secret_key().encode(), f"login:{nonce}".encode(), hashlib.sha256).hexdigest()


def check_login_csrf(request: Request, token: str) -> bool:
    cookie = request.cookies.get(LOGIN_COOKIE)
    if not cookie or not token:
        return False
    try:
        nonce = _signer("login").loads(cookie, max_age=3600 * 4)
    except BadSignature:
        return False
    return isinstance(nonce, str) and hmac.compare_digest(login_csrf(nonce), token)


# --- templates -----------------------------------------------------------------------------------

def fmt_time(v: dt.datetime | None, seconds: bool = False) -> str:
    if v is None:
        return ""
    if v.tzinfo is None:  # SQLite returns naive values; they were written as UTC
        v = v.replace(tzinfo=dt.UTC)
    return v.astimezone(TZ).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def fmt_date(v: dt.date | None) -> str:
    return v.isoformat() if v else ""


def fmt_size(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.1f} MB"
    if n >= 1024:
        return f"{n / 1024:.0f} KB"
    return f"{n} 字节"


def fmt_age(seconds: float | None) -> str:
    if seconds is None:
        return ""
    s = int(seconds)
    if s < 60:
        return f"{s} 秒"
    if s < 3600:
        return f"{s // 60} 分钟"
    if s < 86400:
        return f"{s // 3600} 小时 {s % 3600 // 60} 分"
    return f"{s // 86400} 天 {s % 86400 // 3600} 小时"


@lru_cache(maxsize=4)
def _channel_labels(config_dir: str, channels_path: str) -> dict[str, str]:
    labels: dict[str, str] = {}
    try:
        labels.update(load_channel_map().labels)
    except Exception:  # a broken mapping file must not take the web app down; codes still show
        log.warning("channel map unreadable; showing channel codes", exc_info=True)
    try:
        raw = yaml.safe_load(Path(channels_path).read_text(encoding="utf-8")) or {}
        for code, spec in (raw.get("channels") or {}).items():
            if isinstance(spec, dict) and spec.get("label"):
                labels[str(code)] = str(spec["label"])
    except (OSError, yaml.YAMLError):
        pass
    return labels


def channel_labels() -> dict[str, str]:
    s = get_settings()
    return _channel_labels(str(s.config_dir), str(s.channels_path))


def channel_label(code: str) -> str:
    return channel_labels().get(code, code)


@lru_cache(maxsize=4)
def _destination_labels(channels_path: str) -> dict[tuple[str, str], str]:
    """(channel, destination name) -> the destination's ``label`` in channels.yaml, where one is given."""
    import yaml

    labels: dict[tuple[str, str], str] = {}
    try:
        raw = yaml.safe_load(Path(channels_path).read_text(encoding="utf-8")) or {}
        for code, spec in (raw.get("channels") or {}).items():
            dests = (spec.get("destinations") or []) if isinstance(spec, dict) else []
            for d in dests:
                if isinstance(d, dict) and d.get("name") and d.get("label"):
                    labels[(str(code), str(d["name"]))] = str(d["label"])
    except (OSError, yaml.YAMLError, AttributeError):
        pass
    return labels


def destination_label(channel: str, destination: str) -> str:
    """The 去向 column: the destination's ``label`` from channels.yaml when it has one (the seed destinations do, so a
    clerk never sees codes like ``site``); else a destination named like its channel code reads as the channel's
    Chinese name, and any other named destination keeps its name (it was chosen by the operator)."""
    label = _destination_labels(str(get_settings().channels_path)).get((channel, destination))
    if label:
        return label
    if not destination or destination == channel:
        return channel_label(channel)
    return destination


# What kind of failure, in words (the stored value is the exception's class name, which ops filter on).
ERROR_CLASS_LABELS = {"TransientError": "临时错误（会自动重试）", "PermanentError": "永久错误（需人工处理）",
                      "NotConfigured": "渠道未配置", "TimeLimitExceeded": "处理超时", "SoftTimeLimitExceeded": "处理超时",
                      "ConnectionError": "网络连接失败", "ConnectTimeout": "连接超时", "ReadTimeout": "读取超时",
                      "Timeout": "请求超时", "TimeoutError": "请求超时", "OperationalError": "数据库暂时不可用"}


def error_class_label(name: str) -> str:
    if not name:
        return ""
    return ERROR_CLASS_LABELS.get(name, "程序异常（请查看运行日志）")


ACTION_LABELS = {"publish": "发布", "update": "更新", "withdraw": "撤回"}
OUTCOME_LABELS = {"success": "成功", "transient": "临时错误", "permanent": "永久错误", "pending": "等待渠道",
                  "progress": "临时错误（有进展，不计入重试次数）", "manual": "转人工办理", "stale": "租约过期未采用", "crashed": "中断",
                  "deferred": "渠道要求稍后重试", "verify_failed": "核验未通过", "": "进行中"}
# The stored document status (the list's filter). What a person reads as "the state" is the derived one
# (orchestrator.documents.state): an active document is not yet 已发布 while its channels are still sending.
DOC_STATUS_LABELS = {"pending_review": "待保密审查", "rejected": "审查未通过", "active": "有效（未撤回）", "withdrawn": "已撤回"}


@lru_cache(maxsize=4)
def _env(directory: str) -> Environment:
    env = Environment(loader=FileSystemLoader(directory), autoescape=select_autoescape(default=True, default_for_string=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.globals.update(status_labels={str(k): v for k, v in STATUS_LABELS.items()}, action_labels=ACTION_LABELS,
                       outcome_labels=OUTCOME_LABELS, doc_status_labels=DOC_STATUS_LABELS,
                       role_labels={r.value: auth.ROLE_LABELS[r] for r in Role}, channel_label=channel_label,
                       destination_label=destination_label, error_class_label=error_class_label,
                       Role=Role)
    env.filters.update(time=fmt_time, date=fmt_date, size=fmt_size, age=fmt_age)
    return env


def templates() -> Environment:
    return _env(str(get_settings().templates_dir / "web"))


class PersonNames:
    """``person(username)`` in templates: the person's display name (张三), else the user name; one query per page."""

    def __init__(self) -> None:
        self._names: dict[str, str] | None = None

    def __call__(self, username: str | None) -> str:
        if not username:
            return ""
        if self._names is None:
            with session_scope() as s:
                self._names = {u: d for u, d in s.execute(select(User.username, User.display_name)) if d and d.strip()}
        return self._names.get(username, username)


def render(request: Request, name: str, ctx: Ctx | None, status_code: int = 200, **values: Any) -> HTMLResponse:
    flash = _take_flash(request)
    nav = nav_for(ctx, request.url.path) if ctx else []
    html = templates().get_template(name).render(request=request, ctx=ctx, user=ctx.user if ctx else None,
                                                  csrf=ctx.csrf if ctx else "", flash=flash, nav=nav,
                                                  path=request.url.path, person=PersonNames(), **values)
    resp = HTMLResponse(html, status_code=status_code)
    if flash:
        resp.delete_cookie(FLASH_COOKIE, path="/")
    # Pages show names, bodies and errors typed by people: no framing, no sniffing, no third-party anything.
    resp.headers["X-Frame-Options"] = "DENY"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Content-Security-Policy"] = ("default-src 'self'; img-src 'self' data:; style-src 'self'; "
                                               "script-src 'self'; frame-ancestors 'none'; form-action 'self'")
    resp.headers["Cache-Control"] = "no-store"
    return resp


# Items put first in the navigation bar, computed per request by page modules (我的待办 with its count …).
NAV_HOOKS: list[Callable[[Ctx], list[tuple[str, str]]]] = []


# The pages each group of the navigation bar stands for (a group's hub lists them, with a line on what each is for).
# (href, label, what it is for, the role that may open it)
HUB_PAGES: dict[str, list[tuple[str, str, str, Role]]] = {
    "/compliance": [
        ("/compliance/inspection", "自查报告", "按国家检查指标自查：超期文件、链接问题、栏目更新、内容检查，导出整改清单", Role.ops),
        ("/freshness", "栏目更新情况", "每个栏目和新媒体账号的最近发布、更新周期和“内容仍准确吗？”确认", Role.clerk),
        ("/compliance/links", "链接检查", "网站和公报页面的错链、暗链和附件变化", Role.ops),
        ("/content-checks/history", "历史内容检查", "词库变化后对已公开内容的错敏词、错别字扫描结果", Role.reviewer),
        ("/compliance/annual", "年度报告", "政府信息公开工作年度报告第二部分的四张表及其依据，导出 Word/Excel", Role.ops),
    ],
    "/admin": [
        ("/users", "用户管理", "账号、角色、科室、重置密码和登录锁定", Role.admin),
        ("/review-chains", "审核流程", "初审、复审、保密审查、终审等步骤及其适用的机关和目录事项", Role.admin),
        ("/content-checks", "内容检查词库", "错敏词、错别字、机构更名和领导姓名职务", Role.admin),
        ("/notify/offices", "通知地址", "各科室和分管领导接收预警、汇总的电子邮件和 Webhook 地址", Role.admin),
        ("/compliance/annual/tags", "年度报告事项标记", "哪些目录事项计入规章、规范性文件、许可、处罚、强制", Role.admin),
        ("/profile", "机关信息", "机关名称、地址、联系方式等公开页面显示的信息", Role.admin),
        ("/holidays", "节假日安排", "计算工作日时限所用的国务院节假日安排", Role.admin),
        ("/audit", "审计日志", "谁在何时做了哪些管理操作，可导出", Role.admin),
    ],
}


def hub_pages(hub: str, user: Principal) -> list[tuple[str, str, str]]:
    return [(href, label, what) for href, label, what, role in HUB_PAGES[hub] if user.has_role(role)]


def _nav(ctx: Ctx) -> list[tuple[str, str, tuple[str, ...]]]:
    """(href, label, the path prefixes that mark it as the current section)."""
    u = ctx.user
    items: list[tuple[str, str, tuple[str, ...]]] = []
    if u.has_role(Role.clerk):
        items.append(("/submit", "登记文件", ("/submit",)))
    items.append(("/documents", "文件列表", ("/documents",)))
    if u.has_role(Role.reviewer):
        items.append(("/review", "待审核", ("/review",)))
    if u.has_role(Role.ops):
        items += [("/ops", "投递监控", ("/ops",)), ("/log", "投递日志", ("/log",))]
    items.append(("/catalog", "公开目录", ("/catalog",)))
    # The compliance group: ops see the hub; others go straight to the page they may open.
    if u.has_role(Role.ops):
        items.append(("/compliance", "合规监测", ("/compliance", "/freshness", "/content-checks/history")))
    else:
        items.append(("/freshness", "栏目更新", ("/freshness",)))
    if u.has_role(Role.admin):
        admin_paths = tuple(href for href, *_ in HUB_PAGES["/admin"])
        items.append(("/admin", "系统管理", ("/admin", *admin_paths)))
    hooked = [(href, label, (href,)) for hook in NAV_HOOKS for href, label in hook(ctx)]
    return hooked + items


def nav_for(ctx: Ctx, path: str) -> list[tuple[str, str, bool]]:
    """The navigation bar for ``path``: (href, label, current). The longest matching prefix wins."""
    items = _nav(ctx)
    best, best_len = -1, 0
    for i, (_href, _label, prefixes) in enumerate(items):
        for p in prefixes:
            if (path == p or path.startswith(p.rstrip("/") + "/")) and len(p) > best_len:
                best, best_len = i, len(p)
    return [(href, label, i == best) for i, (href, label, _p) in enumerate(items)]


def redirect(url: str, flash: str = "", kind: str = "ok") -> RedirectResponse:
    resp = RedirectResponse(url, status_code=303)
    if flash:
        resp.set_cookie(FLASH_COOKIE, _signer("flash").dumps([kind, flash[:500]]), max_age=60, httponly=True,
                        samesite="lax", secure=cookie_secure(), path="/")
    return resp


def _take_flash(request: Request) -> tuple[str, str] | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    try:
        kind, text = _signer("flash").loads(raw, max_age=120)
        return str(kind), str(text)
    except (BadSignature, ValueError, TypeError):
        return None


# --- routes and guards ---------------------------------------------------------------------------

class WebError(HTTPException):
    """A refusal shown to a person as an HTML page (or JSON for the scripts' endpoints)."""


def _wants_json(request: Request) -> bool:
    return (request.url.path.endswith(".json") or request.headers.get("x-requested-with") == "fetch"
            or "application/json" in request.headers.get("accept", ""))


class WebRoute(APIRoute):
    """Turns refusals anywhere in a web route (guards included) into a Chinese page instead of FastAPI's JSON."""

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def wrapped(request: Request) -> Response:
            refused = await _refuse_bad_input(request)
            if refused is not None:
                return _error(request, *refused)
            try:
                return await handler(request)
            except RequestValidationError as exc:
                return _error(request, 422, _validation_text(list(exc.errors())))
            except HTTPException as exc:
                if exc.status_code in (301, 302, 303, 307) and exc.headers:
                    return RedirectResponse(exc.headers["Location"], status_code=exc.status_code)
                return _error(request, exc.status_code, str(exc.detail), exc.headers)

        return wrapped


_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


async def _refuse_bad_input(request: Request) -> tuple[int, str] | None:
    """The API's input rules on every web route: ids beyond what the database holds are "not found", NUL characters
    in the address, query or form text are refused (on SQLite and PostgreSQL alike) before any handler runs."""
    for key, value in request.path_params.items():
        text = str(value)
        if "\x00" in text:
            return 404, "找不到该地址（地址中含有空字符）"
        if key.endswith("_id") and text.isdigit() and int(text) > MAX_ID:
            return 404, f"编号 {text[:30]} 不存在"
    if any("\x00" in k or "\x00" in v for k, v in request.query_params.multi_items()):
        return 422, f"查询参数{NUL_MESSAGE}"
    if request.method == "POST" and request.headers.get("content-type", "").split(";")[0].strip() in _FORM_TYPES:
        try:
            # Parsed with the same (default) limits FastAPI applies, and cached: the route reuses this form.
            form = await request.form()
        except HTTPException as exc:
            too_big = "maximum size" in str(exc.detail) or "Too many" in str(exc.detail)
            return (413, "表单内容过大或文件过多") if too_big else (400, "表单格式不正确")
        for key, value in form.multi_items():
            if "\x00" in key or (isinstance(value, str) and "\x00" in value):
                return 422, f"表单内容{NUL_MESSAGE}"
    return None


def _validation_text(errors: list[dict[str, Any]]) -> str:
    return "；".join(f"{e['field']}：{e['message']}" if e["field"] else e["message"] for e in translate_validation(errors))


def _error(request: Request, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    if _wants_json(request):
        return JSONResponse({"error": message}, status_code=status, headers=headers)
    ctx = getattr(request.state, "web_ctx", None)
    titles = {401: "请先登录", 403: "没有权限", 404: "找不到页面", 409: "操作未执行", 413: "内容过大", 422: "填写有误"}
    resp = render(request, "error.html", ctx, status_code=status, title=titles.get(status, "出错了"), message=message)
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


IDLE_MESSAGE = "由于超过 {minutes} 分钟未操作，登录已失效，请重新登录"
PASSWORD_PAGE = "/account/password"
# What a person whose password an admin reset may still do before choosing a new one.
PASSWORD_CHANGE_PATHS = {("GET", PASSWORD_PAGE), ("POST", PASSWORD_PAGE), ("POST", "/logout")}

router = APIRouter(route_class=WebRoute, include_in_schema=False)
# (method, path) → roles admitted; None means public. Admin is admitted wherever any role is.
ACCESS: dict[tuple[str, str], tuple[Role, ...] | None] = {}


def _guard(roles: tuple[Role, ...], method: str) -> Callable:
    async def guard(request: Request) -> Ctx:
        ctx, reason = await run_in_threadpool(session_state, request.cookies.get(SESSION_COOKIE))
        if ctx is None:
            if _wants_json(request) or method != "GET":
                raise WebError(401, IDLE_MESSAGE.format(minutes=get_settings().session_idle_minutes) if reason == IDLE
                               else "登录已失效，请重新登录")
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            why = "&reason=idle" if reason == IDLE else ""
            raise WebError(303, "", headers={"Location": f"/login?next={quote(target)}{why}"})
        request.state.web_ctx = ctx
        if ctx.must_change_password and (method, request.url.path) not in PASSWORD_CHANGE_PATHS:
            if _wants_json(request) or method != "GET":
                raise WebError(403, "管理员已重置您的密码，请先修改密码后再继续操作")
            raise WebError(303, "", headers={"Location": PASSWORD_PAGE})
        if not ctx.user.has_role(*roles):
            need = "、".join(auth.ROLE_LABELS[r] for r in roles if r != Role.admin) or auth.ROLE_LABELS[Role.admin]
            raise WebError(403, f"权限不足：此页面仅限{need}使用（您的角色：{ctx.role_label}）")
        if method != "GET":
            sent = request.headers.get("x-csrf-token", "")
            if not sent and request.headers.get("content-type", "").split(";")[0] in (
                    "application/x-www-form-urlencoded", "multipart/form-data"):
                form = await request.form()
                sent = str(form.get("csrf_token") or "")
            if not sent or not hmac.compare_digest(sent, ctx.csrf):
                raise WebError(403, "表单已过期或来源不明（CSRF 校验失败），请刷新页面后重试")
        return ctx

    return guard


def page(method: str, path: str, roles: Sequence[Role] | None, **kwargs: Any) -> Callable:
    """Declare a web route and the roles it admits (``None``: public, no session needed)."""

    def deco(fn: Callable) -> Callable:
        ACCESS[(method, path)] = tuple(roles) if roles is not None else None
        deps = [] if roles is None else [Depends(_guard(tuple(roles), method))]
        router.add_api_route(path, fn, methods=[method], dependencies=deps, **kwargs)
        return fn

    return deco


def ctx_of(request: Request) -> Ctx:
    return request.state.web_ctx


def client_ip(request: Request) -> str:
    """The client address as the server sees it (recorded in the audit log)."""
    return (request.client.host if request.client else "")[:64]
