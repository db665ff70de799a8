"""Live screen pages (公示栏/电子屏): a FastAPI router the web app includes.

- ``GET /screens``                    list of screens with links (for staff setting up players)
- ``GET /screens/{id}``               the full-screen kiosk page a player's browser shows
- ``GET /screens/{id}/feed.json``     what the page polls: current and upcoming notices with their slide HTML
- ``GET /screens/{id}/bundle.zip``    the export bundle for LED controllers / USB sticks (brought up to date first)
- ``GET /screens/_media/{sha}.{ext}`` a body image of a notice on a screen (from the attachment store; only images
                                      that an active notice shows)

The service (screens file, bundle directory, renderer) comes from the ``screens`` destination of ``bulletin_board``
in ``config/channels.yaml``, so the page and the adapter always agree.
"""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from sqlalchemy import select

from channels.base import NotConfigured
from channels.screens.adapter import service_from_channels_config
from channels.screens.board import ScreenBoardService
from channels.screens.config import ScreenSpec
from channels.screens.models import NoticeStatus, ScreenNotice
from channels.screens.pages import MEDIA_EXTENSIONS, MEDIA_REF, MEDIA_SCHEME
from channels.screens.render import SlidesUnavailable, screen_context, template_env
from orchestrator.channel_api import PUBLIC_HEADERS, blob_path, inline_json, session_scope
from orchestrator.settings import get_settings

# Screen pages are public: the strict CSP comes with every answer, also when this router is served on its own.
NO_STORE = {"Cache-Control": "no-store", **PUBLIC_HEADERS}
SCRIPT = "screen.js"


def _message_page(title: str, message: str, status: int) -> HTMLResponse:
    body = (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title></head>"
        '<body style="font-family:\'WenQuanYi Zen Hei\',\'Noto Sans CJK SC\',sans-serif;padding:3em;font-size:20px">'
        f"<h1>{escape(title)}</h1><p>{escape(message)}</p></body></html>"
    )
    return HTMLResponse(body, status_code=status, headers=NO_STORE)


def make_router(service_factory: Callable[[], ScreenBoardService] = service_from_channels_config) -> APIRouter:
    """A router over the given service factory (called per request, so configuration edits apply without restart)."""
    router = APIRouter(tags=["screens"])

    def _service_and_screen(screen_id: str) -> tuple[ScreenBoardService, ScreenSpec | None]:
        service = service_factory()
        return service, service.config.screen(screen_id)

    def _unknown(service: ScreenBoardService, screen_id: str) -> str:
        known = "、".join(s.id for s in service.config.screens) or "（尚无屏幕）"
        return f"屏幕“{screen_id}”不存在。请检查地址，或在 config/screens.yaml 中添加该屏幕。现有屏幕：{known}"

    # Sync handlers on purpose: FastAPI runs them in its thread pool, away from the event loop, which the database
    # calls and the Playwright renderer (bundle.zip) need.
    @router.get("/screens", response_class=HTMLResponse)
    def screens_index(request: Request) -> Response:
        try:
            service = service_factory()
        except NotConfigured as exc:
            return _message_page("电子屏尚未配置", exc.message, 503)
        rows = "".join(
            f'<tr><td><a href="{escape(str(request.url_for("screen_page", screen_id=s.id)))}">{escape(s.id)}</a></td>'
            f"<td>{escape(s.name)}</td><td>{escape(s.location)}</td><td>{s.width}×{s.height}</td>"
            f"<td>{'横屏' if s.orientation == 'landscape' else '竖屏'}</td>"
            f'<td><a href="{escape(str(request.url_for("screen_bundle", screen_id=s.id)))}">下载导出包</a></td></tr>'
            for s in service.config.screens
        )
        body = (
            '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>电子屏与公示栏</title></head>'
            '<body style="font-family:\'WenQuanYi Zen Hei\',\'Noto Sans CJK SC\',sans-serif;padding:2em">'
            "<h1>电子屏与公示栏</h1><p>在屏幕播放器的浏览器中以全屏（kiosk）方式打开对应屏幕的地址。</p>"
            '<table border="1" cellpadding="6" style="border-collapse:collapse">'
            "<tr><th>编号</th><th>名称</th><th>位置</th><th>分辨率</th><th>方向</th><th>导出包</th></tr>"
            f"{rows}</table></body></html>"
        )
        return HTMLResponse(body, headers=NO_STORE)

    @router.get("/screens/_static/" + SCRIPT, name="screen_script", include_in_schema=False)
    def screen_script() -> Response:
        try:
            templates = Path(service_factory().templates_dir)
        except NotConfigured:
            templates = get_settings().templates_dir
        path = templates / "screens" / "static" / SCRIPT
        return FileResponse(path, media_type="text/javascript; charset=utf-8",
                            headers={"Cache-Control": "max-age=300", **PUBLIC_HEADERS})

    @router.get("/screens/_media/{ref}", name="screen_media", include_in_schema=False)
    def screen_media(ref: str) -> Response:
        m = MEDIA_REF.match(ref)
        if not m:
            return Response(status_code=404, headers=NO_STORE)
        with session_scope() as session:
            # Only what a notice on a screen shows: the store also holds images of unpublished documents.
            shown = session.scalar(select(ScreenNotice.id).where(
                ScreenNotice.status == NoticeStatus.active,
                ScreenNotice.excerpt.contains(f"{MEDIA_SCHEME}{ref}"),
            ).limit(1))
        path = blob_path(get_settings(), m.group(1))
        if shown is None or not path.is_file():
            return Response(status_code=404, headers=NO_STORE)
        return FileResponse(path, media_type=MEDIA_EXTENSIONS[m.group(2)],
                            headers={"Cache-Control": "max-age=86400", **PUBLIC_HEADERS})

    def _media_base(request: Request) -> str:
        return str(request.url_for("screen_media", ref="x"))[:-1]

    @router.get("/screens/{screen_id}", response_class=HTMLResponse, name="screen_page")
    def screen_page(screen_id: str, request: Request) -> Response:
        try:
            service, screen = _service_and_screen(screen_id)
        except NotConfigured as exc:
            return _message_page("电子屏尚未配置", exc.message, 503)
        if screen is None:
            return _message_page("未找到屏幕", _unknown(service, screen_id), 404)
        feed = service.feed(screen, media_base=_media_base(request))
        env = template_env(str(service.templates_dir))
        html = env.get_template("screens/screen.html").render(
            feed_url=str(request.url_for("screen_feed", screen_id=screen.id)),
            # Inside <script>: no "<", ">" or "&" at all (a title like "<!--<script>" must stay data).
            feed_json=inline_json(feed),
            script_url=str(request.url_for("screen_script")),
            **screen_context(screen),
        )
        return HTMLResponse(html, headers=NO_STORE)

    @router.get("/screens/{screen_id}/feed.json", name="screen_feed")
    def screen_feed(screen_id: str, request: Request) -> Response:
        try:
            service, screen = _service_and_screen(screen_id)
        except NotConfigured as exc:
            return JSONResponse({"error": exc.message}, status_code=503, headers=NO_STORE)
        if screen is None:
            return JSONResponse({"error": _unknown(service, screen_id)}, status_code=404, headers=NO_STORE)
        return JSONResponse(service.feed(screen, media_base=_media_base(request)), headers=NO_STORE)

    @router.get("/screens/{screen_id}/bundle.zip", name="screen_bundle")
    def screen_bundle(screen_id: str) -> Response:
        try:
            service, screen = _service_and_screen(screen_id)
        except NotConfigured as exc:
            return _message_page("电子屏尚未配置", exc.message, 503)
        if screen is None:
            return _message_page("未找到屏幕", _unknown(service, screen_id), 404)
        # Bring it up to date first (drops expired notices); unchanged slides are not re-rendered.
        try:
            result = service.rebuild_bundle(screen)
        except SlidesUnavailable as exc:
            return _message_page("幻灯片无法生成", exc.message, 503)
        return FileResponse(
            result.zip_path, media_type="application/zip", filename=f"{screen.id}.zip", headers=NO_STORE
        )

    return router


router = make_router()
