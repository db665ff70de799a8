"""The web application: the REST API, the optional routers other parts provide, static channel output, health.

Optional parts are looked up by module, so the app runs with whatever has landed:
- ``orchestrator.web: router`` — the staff web UI (replaces the placeholder home page);
- ``channels.screens_web: router`` — live bulletin-board screen pages;
- ``channels.push_web: router`` — targeted-push unsubscribe pages;
- ``channels.site: site_static_app()`` mounted at ``/site``, ``channels.gazette: gazette_static_app()`` at ``/gazette``;
- ``channels.wechat: handle_publish_event()`` — the WeChat ``PUBLISHJOBFINISH`` callback.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib
import logging
from typing import Any

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from starlette.concurrency import run_in_threadpool

from orchestrator.api import install_error_handlers
from orchestrator.api import router as api_router
from orchestrator.public_headers import PublicHeadersMiddleware

log = logging.getLogger(__name__)

OPTIONAL_ROUTERS = ("orchestrator.web", "channels.screens_web", "channels.push_web")
STATIC_MOUNTS = (("channels.site", "site_static_app", "/site"), ("channels.gazette", "gazette_static_app", "/gazette"))


def _optional(module: str) -> Any | None:
    """Import a module another engineer owns, or None if it has not landed. Errors inside it are not hidden."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise
        return None


def create_app() -> FastAPI:
    app = FastAPI(
        title="政务公开发布编排系统 API",
        version="1",
        description="一次登记，按主动公开目录分发到各发布渠道，并记录每个渠道的投递结果。\n\n"
        "认证：`Authorization: Bearer <令牌>`（`orchestrator token create 用户名 --name 用途` 生成）。",
    )
    install_error_handlers(app)
    # Site, gazette, screens and unsubscribe pages: a strict Content-Security-Policy on every answer.
    app.add_middleware(PublicHeadersMiddleware)
    app.include_router(api_router)
    app.include_router(_health_router())
    app.include_router(_wechat_router())

    web = _optional("orchestrator.web")
    for name in OPTIONAL_ROUTERS:
        mod = web if name == "orchestrator.web" else _optional(name)
        if mod is not None and getattr(mod, "router", None) is not None:
            app.include_router(mod.router)
    if web is None or getattr(web, "router", None) is None:
        app.add_api_route("/", _placeholder_home, methods=["GET"], include_in_schema=False)

    for module, factory, path in STATIC_MOUNTS:
        mod = _optional(module)
        if mod is not None and hasattr(mod, factory):
            app.mount(path, getattr(mod, factory)(), name=path.strip("/"))
    return app


# --- home page until the web UI lands ------------------------------------------------------------

_HOME = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>政务公开发布编排系统</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font-family:system-ui,"Microsoft YaHei",sans-serif;max-width:46rem;margin:3rem auto;padding:0 1rem;line-height:1.7;color:#222}
h1{color:#b00000;font-size:1.6rem}code{background:#f3f3f3;padding:.1rem .3rem}</style></head>
<body><h1>政务公开发布编排系统</h1>
<p>系统已启动。工作人员网页界面即将上线；目前可通过以下方式使用：</p>
<ul>
<li><a href="/docs">接口文档（REST API）</a>，机器可读说明见 <a href="/openapi.json">/openapi.json</a>；</li>
<li>命令行：<code>orchestrator submit</code>、<code>orchestrator status</code>、<code>orchestrator deliveries</code>；</li>
<li><a href="/site/">政府信息公开专栏</a>（内置网站渠道的输出）；</li>
<li><a href="/healthz">运行状态</a>（数据库与消息队列）。</li>
</ul></body></html>"""


async def _placeholder_home() -> HTMLResponse:
    return HTMLResponse(_HOME)


# --- health --------------------------------------------------------------------------------------

def _check_database() -> str | None:
    from sqlalchemy import text

    from orchestrator.db import get_engine

    try:
        with get_engine().connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        log.warning("health: database check failed: %s", exc)
        return "数据库无法连接"
    return None


def _check_broker() -> str | None:
    from orchestrator.celery_app import app as celery

    try:
        with celery.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, timeout=3)
    except Exception as exc:
        log.warning("health: broker check failed: %s", exc)
        return "消息队列（Redis）无法连接"
    return None


def _health_router() -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/healthz", summary="运行状态：数据库与消息队列")
    async def healthz() -> JSONResponse:
        db_err = await run_in_threadpool(_check_database)
        broker_err = await run_in_threadpool(_check_broker)
        body = {
            "status": "ok" if not (db_err or broker_err) else "error",
            "database": db_err or "ok",
            "broker": broker_err or "ok",
        }
        return JSONResponse(body, status_code=200 if body["status"] == "ok" else 503)

    return router


# --- WeChat PUBLISHJOBFINISH callback ------------------------------------------------------------

def _wechat_destination(name: str) -> dict[str, Any] | None:
    from orchestrator.fanout import registry

    for dest in registry().channels.get("wechat", []):
        if dest.name == name and dest.adapter == "wechat":
            return dest.config
    return None


def _signature_ok(token: str, signature: str, timestamp: str, nonce: str) -> bool:
    expected = hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode()).hexdigest()
    return hmac.compare_digest(expected, signature or "")


def _poll_publish(destination: str, publish_id: str) -> int:
    """Poll now the delivery waiting on this publish_id; freepublish/get stays the authority on the outcome."""
    from sqlalchemy import select

    from orchestrator.db import session_scope
    from orchestrator.fanout import enqueue
    from orchestrator.models import Delivery, DeliveryStatus

    with session_scope() as session:
        rows = session.execute(
            select(Delivery.id, Delivery.receipt).where(
                Delivery.channel == "wechat", Delivery.destination == destination,
                Delivery.status == DeliveryStatus.awaiting_channel)
        ).all()
    ids = [rid for rid, receipt in rows if str(((receipt or {}).get("data") or {}).get("publish_id", "")) == publish_id]
    return enqueue(ids, poll=True) if ids else 0


def _wechat_router() -> APIRouter:
    router = APIRouter(tags=["wechat"])

    def _config_or_404(destination: str) -> dict[str, Any] | PlainTextResponse:
        config = _wechat_destination(destination)
        if not config or not config.get("callback_token"):
            return PlainTextResponse("未配置该公众号的服务器回调（callback_token）", status_code=404)
        return config

    @router.get("/channels/wechat/{destination}/callback", include_in_schema=False)
    async def verify(destination: str, signature: str = "", timestamp: str = "", nonce: str = "",
                     echostr: str = "") -> PlainTextResponse:
        config = await run_in_threadpool(_config_or_404, destination)
        if isinstance(config, PlainTextResponse):
            return config
        if not _signature_ok(str(config["callback_token"]), signature, timestamp, nonce):
            return PlainTextResponse("签名校验失败", status_code=403)
        return PlainTextResponse(echostr)

    @router.post("/channels/wechat/{destination}/callback", include_in_schema=False)
    async def event(destination: str, request: Request, signature: str = "", timestamp: str = "", nonce: str = "",
                    msg_signature: str = "", encrypt_type: str = Query("")) -> PlainTextResponse:
        wechat = _optional("channels.wechat")
        if wechat is None or not hasattr(wechat, "handle_publish_event"):
            return PlainTextResponse("微信渠道未安装", status_code=404)
        config = await run_in_threadpool(_config_or_404, destination)
        if isinstance(config, PlainTextResponse):
            return config
        token = str(config["callback_token"])
        if not _signature_ok(token, signature, timestamp, nonce):
            return PlainTextResponse("签名校验失败", status_code=403)
        body = await request.body()
        if len(body) > 64 * 1024:
            return PlainTextResponse("回调内容过大", status_code=413)
        if encrypt_type == "aes":  # 安全模式: decrypt with the account's EncodingAESKey
            try:
                from wechatpy.crypto import WeChatCrypto

                body = WeChatCrypto(token, str(config.get("encoding_aes_key", "")), str(config.get("appid", ""))) \
                    .decrypt_message(body, msg_signature, timestamp, nonce).encode("utf-8")
            except Exception:
                return PlainTextResponse("回调解密失败", status_code=403)
        try:
            info = wechat.handle_publish_event(body)
        except ValueError:
            return PlainTextResponse("success")  # other events: acknowledged, nothing to do
        polled = await run_in_threadpool(_poll_publish, destination, info["publish_id"])
        log.info("wechat callback publish_id=%s status=%s polled=%d", info["publish_id"], info["publish_status"], polled)
        return PlainTextResponse("success")

    return router
