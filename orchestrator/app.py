"""The web application: the REST API, the optional routers other parts provide, static channel output, health.

- ``orchestrator.web: router`` — the staff web UI (replaces the placeholder home page), looked up by module;
- every installed channel package's routers and static mounts (:mod:`channels.plugin`: screen pages, unsubscribe pages,
  the WeChat callback, ``/site``, ``/gazette`` …); the app names no channel.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.concurrency import run_in_threadpool

from channels.plugin import load_object
from channels.plugin import plugins as channel_plugins
from orchestrator.api.routes import install_error_handlers
from orchestrator.api.routes import router as api_router
from orchestrator.public_headers import PublicHeadersMiddleware

log = logging.getLogger(__name__)


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

    web = _optional("orchestrator.web")
    if web is not None and getattr(web, "router", None) is not None:
        app.include_router(web.router)
    else:
        app.add_api_route("/", _placeholder_home, methods=["GET"], include_in_schema=False)

    for plugin in channel_plugins():
        for target in plugin.routers:
            app.include_router(load_object(target))
        for path, factory in plugin.static_mounts:
            app.mount(path, load_object(factory)(), name=path.strip("/"))
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
    from orchestrator.delivery.celery_app import app as celery

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
