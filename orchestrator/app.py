"""The web application: the REST API, the optional routers other parts provide, static channel output, health.

- ``orchestrator.web: router`` — the staff web UI;
- every installed channel package's routers and static mounts (:mod:`channels.plugin`: screen pages, unsubscribe pages,
  the WeChat callback, ``/site``, ``/gazette`` …); the app names no channel.
"""

from __future__ import annotations

import logging
from http import HTTPStatus

from fastapi import APIRouter, FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse, Response
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from channels.plugin import load_object
from channels.plugin import plugins as channel_plugins
from channels.staticout import status_page
from orchestrator.api.routes import install_error_handlers
from orchestrator.api.routes import router as api_router
from orchestrator.db import get_engine
from orchestrator.delivery.celery_app import app as celery
from orchestrator.public_headers import PublicHeadersMiddleware
from orchestrator.web import router as web_router

log = logging.getLogger(__name__)


def create_app() -> FastAPI:
    app = FastAPI(
        title="政务公开发布编排系统 API",
        version="1",
        description="一次登记，按主动公开目录分发到各发布渠道，并记录每个渠道的投递结果。\n\n"
        "认证：`Authorization: Bearer <令牌>`（`orchestrator token create 用户名 --name 用途` 生成）。",
    )
    install_error_handlers(app)
    app.add_exception_handler(StarletteHTTPException, _unrouted)  # type: ignore[arg-type]
    # Site, gazette, screens and unsubscribe pages: a strict Content-Security-Policy on every answer.
    app.add_middleware(PublicHeadersMiddleware)
    app.include_router(api_router)
    app.include_router(_health_router())

    app.include_router(web_router)

    for plugin in channel_plugins():
        for target in plugin.routers:
            app.include_router(load_object(target))
        for path, factory in plugin.static_mounts:
            app.mount(path, load_object(factory)(), name=path.strip("/"))
    return app


# Starlette's own refusals (no route, wrong method, a missing static file) carry the English reason phrase as their
# detail; every refusal the product raises itself is already in Chinese and passes through unchanged.
UNROUTED_TEXT = {404: "找不到该地址", 405: "该地址不支持这种请求方法"}


async def _unrouted(request: Request, exc: StarletteHTTPException) -> Response:
    code = exc.status_code
    if not (isinstance(exc.detail, str) and code in UNROUTED_TEXT and exc.detail == HTTPStatus(code).phrase):
        return await http_exception_handler(request, exc)
    message = UNROUTED_TEXT[code]
    if request.url.path.startswith("/api/"):  # the API's error shape: a list of {field, message}
        return JSONResponse({"detail": [{"field": "", "message": message}]}, status_code=code, headers=exc.headers)
    if "text/html" in request.headers.get("accept", ""):
        resp = status_page(code)
        resp.headers.update(exc.headers or {})
        return resp
    return JSONResponse({"detail": message}, status_code=code, headers=exc.headers)


# --- health --------------------------------------------------------------------------------------

def _check_database() -> str | None:
    try:
        with get_engine().connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        log.warning("health: database check failed: %s", exc)
        return "数据库无法连接"
    return None


def _check_broker() -> str | None:
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
