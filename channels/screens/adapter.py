"""Adapter ``screens`` (channel ``bulletin_board``, 公示栏/电子屏): put a document on every screen that shows its entry.

A delivery records the notice for each matching screen (``config/screens.yaml``) with its display period, which the
live page ``/screens/<id>`` picks up on its next poll, and rebuilds the screens' export bundles (PNG slides, manifest,
playlist, zip) incrementally. A withdrawal takes the notice off every screen it was on; screens with a paper copy
(``paper_copy: true``) also need a person to take the paper down, so the receipt asks for one.

Destination settings (``config/channels.yaml``, all optional)::

    adapter: screens
    screens_file: config/screens.yaml   # default: $ORCH_SCREENS_FILE or <config_dir>/screens.yaml
    bundle_dir: var/screens             # default: <var_dir>/screens
    renderer: auto                      # auto | chromium | pillow
    chromium_path: /usr/bin/chromium
    public_url: https://...             # base of the live page links; default: settings.public_url
    screens: [id, ...]                  # only drive these screens (default: all)
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from html import escape
from pathlib import Path
from typing import Any

from channels import preview as previews
from channels.base import (
    Action,
    Capability,
    Channel,
    ChannelConfig,
    ChannelPreview,
    DeliveryContext,
    DocumentPayload,
    NotConfigured,
    PermanentError,
    Receipt,
    TransientError,
    parse_config,
)
from channels.registry import destination_config
from channels.screens.board import BundleResult, ScreenBoardService, sha256_file, utcnow
from channels.screens.config import ScreensConfig, ScreensConfigError, ScreenSpec, load_screens_config
from channels.screens.pages import MEDIA_TYPES
from channels.screens.render import (
    CHROMIUM_PATH,
    SlidesUnavailable,
    make_renderer,
    screen_context,
    seconds_for,
    slide_fragment,
    slide_pages,
    template_env,
)
from orchestrator.settings import get_settings

PAPER_TASK = "撤下纸质公示"
log = logging.getLogger(__name__)


class ScreensDestinationConfig(ChannelConfig):
    screens_file: str = ""  # default: config/screens.yaml
    screens: list[str] = []  # the screens this destination drives (default: all)
    renderer: str = "auto"  # auto, chromium or pillow (checked with its own message)
    chromium_path: str = CHROMIUM_PATH
    bundle_dir: Path | None = None  # default: <var_dir>/screens
    public_url: str = ""  # for QR codes and links (default: ORCH_PUBLIC_URL)


def build_service(config: dict[str, Any] | ScreensDestinationConfig | None = None) -> ScreenBoardService:
    """The board service for a ``screens`` destination's settings (the web app uses the same function)."""
    cfg = config if isinstance(config, ScreensDestinationConfig) else parse_config(ScreensDestinationConfig, config)
    settings = get_settings()
    try:
        screens = load_screens_config(cfg.screens_file or None)
    except ScreensConfigError as exc:
        raise NotConfigured(str(exc)) from None
    renderer_kind = cfg.renderer
    if renderer_kind not in {"auto", "chromium", "pillow"}:
        raise NotConfigured(f"电子屏渠道的 renderer 配置“{renderer_kind}”无效，应为 auto、chromium 或 pillow")
    templates_dir = settings.templates_dir
    # Never NotConfigured for want of a font: without one the renderer refuses slides with its reason, and the live
    # pages (drawn by the screen's own browser) keep working.
    renderer = make_renderer(renderer_kind, templates_dir=templates_dir, executable=cfg.chromium_path or CHROMIUM_PATH)
    bundle_root = cfg.bundle_dir or settings.var_dir / "screens"
    return ScreenBoardService(screens, bundle_root=bundle_root, templates_dir=templates_dir, renderer=renderer)


def service_from_channels_config() -> ScreenBoardService:
    """The board service of the first enabled ``screens`` destination of ``bulletin_board`` (defaults if none)."""
    return build_service(destination_config("bulletin_board", "screens", enabled_only=True) or {})


def refresh_all_bundles() -> list[str]:
    """Periodic job (beat, e.g. every minute): rebuild every screen's export bundle so notices whose display period
    ended (or started) are dropped (or added) without waiting for the next delivery. Unchanged slides are not
    re-rendered, so a quiet run only hashes files. Returns the ids of the screens whose bundle changed."""
    service = service_from_channels_config()
    try:
        with service.renderer.session():
            return [r.screen_id for r in service.refresh_bundles() if r.changed]
    except SlidesUnavailable as exc:
        log.warning("screen bundles not refreshed: %s", exc.message)
        return []


class ScreensChannel(Channel):
    adapter = "screens"
    capabilities = frozenset({Capability.update, Capability.delete, Capability.verify})
    config_model = ScreensDestinationConfig
    settings: ScreensDestinationConfig
    preview_caption = "电子屏幻灯片预览（逐屏显示，按屏幕尺寸缩小）"
    preview_frame = "slides"

    def housekeeping(self) -> None:
        refresh_all_bundles()

    def __init__(self, config: dict[str, Any] | None = None, *, name: str = ""):
        super().__init__(config, name=name)
        self._service: ScreenBoardService | None = None

    @property
    def service(self) -> ScreenBoardService:
        if self._service is None:
            self._service = build_service(self.settings)
        return self._service

    @property
    def screens(self) -> ScreensConfig:
        return self.service.config

    def _public_url(self) -> str:
        return (self.settings.public_url or get_settings().public_url).rstrip("/")

    # --- which screens ------------------------------------------------------------------------------------------------

    def _allowed(self) -> list[ScreenSpec]:
        """Screens this destination drives; an id that is not in the screens file is a configuration error."""
        wanted = self.settings.screens
        if not wanted:
            return list(self.screens.screens)
        known = {s.id: s for s in self.screens.screens}
        unknown = [str(w) for w in wanted if str(w) not in known]
        if unknown:
            raise NotConfigured(
                f"config/channels.yaml 中公示栏目标“{self.name}”的 screens 列出了不存在的屏幕：{'、'.join(unknown)}。"
                f"请改为屏幕配置中已有的编号：{'、'.join(known) or '（尚无屏幕）'}"
            )
        return [known[str(w)] for w in wanted]

    def _targets(self, ctx: DeliveryContext) -> list[ScreenSpec]:
        return self._targets_for(ctx.document)

    def _targets_for(self, doc: DocumentPayload) -> list[ScreenSpec]:
        allowed = self._allowed()
        requested = doc.extra.get("screens")
        if requested:
            # The submitter named screens for this document: they must exist, and must be screens this destination drives.
            known = {s.id: s for s in allowed}
            unknown = [str(r) for r in requested if str(r) not in known]
            if unknown:
                raise PermanentError(
                    f"文件指定的屏幕不存在：{'、'.join(unknown)}。现有屏幕：{'、'.join(known) or '（无）'}，"
                    "请修改文件的屏幕选择或在 config/screens.yaml 中添加该屏幕"
                )
            return [known[str(r)] for r in requested]
        targets = [
            s
            for s in allowed
            if s.shows(publisher=doc.publisher, entry_code=doc.entry_code, entry_path=doc.entry_path)
        ]
        if not targets:
            path = "/".join(doc.entry_path) or doc.entry_code
            # The clerk reads the message; the file and keys to change go to the ops-only detail (attempt log).
            raise NotConfigured(
                f"目录事项“{path}”尚未安排在任何电子屏或公示栏展示，请联系系统管理员在屏幕配置中添加后重试",
                detail=(
                    f"config/screens.yaml：在相应屏幕的 entries 里加上“{path}”"
                    f"（或编码 {doc.entry_code}），publishers 里加上“{doc.publisher}”"
                ),
                code="screens_entry_not_shown",
            )
        return targets

    # --- actions ------------------------------------------------------------------------------------------------------

    def _rebuild(self, screen_ids: list[str], now: dt.datetime) -> dict[str, BundleResult]:
        """Rebuild the bundles of these screens (one browser for all of them).

        The notices are already recorded, so the live pages are right whatever happens here; a failure to write or
        render is transient and the retried delivery rebuilds (placing again changes nothing).
        """
        results: dict[str, BundleResult] = {}
        try:
            with self.service.renderer.session():
                for sid in screen_ids:
                    screen = self.screens.screen(sid)
                    if screen is None:  # removed from the screens file since the notice was placed
                        continue
                    results[sid] = self.service.rebuild_bundle(screen, now=now)
        except SlidesUnavailable as exc:
            # The notice is recorded: the live pages show it. Only the exported PNG slides are missing.
            raise SlidesUnavailable(f"公告已显示在电子屏实时页面，但导出幻灯片未能生成。{exc.message}") from None
        except OSError as exc:
            raise TransientError("电子屏导出包写入失败（磁盘或权限），将自动重试", detail=repr(exc)) from exc
        except Exception as exc:
            if type(exc).__module__.startswith("playwright"):
                raise TransientError("电子屏幻灯片渲染失败（浏览器），将自动重试", detail=repr(exc)) from exc
            raise
        return results

    def _place(self, ctx: DeliveryContext, *, prune: bool) -> Receipt:
        now = utcnow()
        targets = self._targets(ctx)
        placement = self.service.place(ctx.document, targets, delivery_key=ctx.idempotency_key, now=now, prune=prune)
        shown = placement.shown
        affected = sorted({s.id for s in targets} | set(placement.pruned))
        bundles = self._rebuild(affected, now)
        tz = self.screens.tz
        base = self._public_url()
        screens_data = []
        for n in shown:
            spec = self.screens.screen(n.screen_id)
            slides = bundles[n.screen_id].manifest.get("slides", []) if n.screen_id in bundles else []
            manifest_entry = next((e for e in slides if e["document"] == n.document_id), None)
            screens_data.append(
                {
                    "id": n.screen_id,
                    "name": spec.name if spec else n.screen_id,
                    "url": f"{base}/screens/{n.screen_id}",
                    "start": n.start.astimezone(tz).isoformat(),
                    "end": n.end.astimezone(tz).isoformat(),
                    "slide": manifest_entry["file"] if manifest_entry else None,
                    "sha256": manifest_entry["sha256"] if manifest_entry else None,
                    "bundle": str(bundles[n.screen_id].zip_path) if n.screen_id in bundles else None,
                }
            )
        first = screens_data[0]["url"] if screens_data else None
        return Receipt(
            external_id=f"screens:{ctx.document.document_id}",
            url=first,
            data={"screens": screens_data, "version": ctx.document.version},
        )

    def publish(self, ctx: DeliveryContext) -> Receipt:
        return self._place(ctx, prune=False)

    def preview(self, document: DocumentPayload, urls: Mapping[str, str] | None = None) -> ChannelPreview:
        """Every slide of the document on the first screen that will show it, cut by the same pagination and drawn
        with the same templates as the live page and the exported PNGs (scaled down to fit the review page); body
        images from ``urls``. Notes name the other screens, or say that no screen shows the entry yet."""
        urls = urls or {}
        notes: list[str] = []
        try:
            targets = self._targets_for(document)
        except PermanentError as exc:  # no screen shows the entry (yet), or the screens file is wrong
            notes.append(f"注意：{exc.message}。")
            try:
                targets = self._allowed()[:1]
            except PermanentError:
                targets = []
            if targets:
                notes.append("以下按第一块屏幕的尺寸示意。")
        if not targets:
            notes.append("尚未配置任何电子屏（config/screens.yaml），无法按屏幕尺寸预览，以下为通用预览。")
            return previews.generic(document, urls, caption=self.preview_caption, notes=notes)
        screen = targets[0]
        if len(targets) > 1:
            notes.append("将同时显示在：" + "、".join(s.name for s in targets) + f"；以下为“{screen.name}”上的样子。")
        notice = self.service.preview_notice(document, screen)
        media = {f"{a.sha256}.{MEDIA_TYPES[a.content_type]}": urls[a.filename] for a in document.attachments
                 if a.content_type in MEDIA_TYPES and a.filename in urls}
        pages = slide_pages(screen, notice, lambda ref: media.get(ref, ""))
        env = template_env(str(self.service.templates_dir))
        context = screen_context(screen)
        css = env.get_template("screens/_slide_css.html").render(**context)
        width, height = screen.size
        scale = min(1.0, 720 / width, 720 / height)
        slides = []
        for pg in pages:
            fragment = slide_fragment(env, screen, notice, pg)
            slides.append(
                f'<figure class="preview-slide" data-page="{pg.index}">'
                f'<figcaption>第 {pg.index} / {pg.count} 屏 · 显示约 {seconds_for(screen, pg)} 秒</figcaption>'
                f'<div style="width:{width * scale:.0f}px;height:{height * scale:.0f}px;overflow:hidden;">'
                f'<div style="width:{width}px;height:{height}px;transform:scale({scale:.4f});transform-origin:0 0;">'
                f"{fragment}</div></div></figure>")
        head = (f'<p class="preview-screen">{escape(screen.name)}（{width}×{height}，'
                f'{"竖屏" if screen.orientation == "portrait" else "横屏"}），共 {len(pages)} 屏</p>')
        style = (".preview-screen, .preview-slide figcaption { color: #fff; font-size: 14px; margin: 8px 0 4px; "
                 "font-family: 'Noto Sans CJK SC', 'Microsoft YaHei', sans-serif; }"
                 " .preview-wrap { padding: 8px 12px 16px; } .preview-slide { margin: 0 0 14px; }")
        body = f'{css}<div class="preview-wrap">{head}{"".join(slides)}</div>'
        html = previews.page(document.title, body, css=style)
        return ChannelPreview(caption=self.preview_caption, html=html, content="".join(slides), notes=tuple(notes))

    def update(self, ctx: DeliveryContext) -> Receipt:
        # A new version replaces the old one in place (same slot, same file name); screens that no longer show the
        # entry drop it.
        return self._place(ctx, prune=True)

    def withdraw(self, ctx: DeliveryContext) -> Receipt:
        now = utcnow()
        screen_ids = self.service.remove(ctx.document.document_id, delivery_key=ctx.idempotency_key, now=now)
        self._rebuild(screen_ids, now)
        specs = [s for s in (self.screens.screen(sid) for sid in screen_ids) if s is not None]
        paper = [s for s in specs if s.paper_copy]
        data: dict[str, Any] = {"screens": [s.id for s in specs], "removed_from": [s.name for s in specs]}
        if not paper:
            return Receipt(external_id=f"screens:{ctx.document.document_id}", data=data)
        doc = ctx.document
        data.update(
            {
                "task": PAPER_TASK,
                "instructions": (
                    f"文件《{doc.title}》已撤回，电子屏已自动撤下。请到以下公示栏撤下纸质公示，完成后在系统中确认"
                    "（填写经办人、时间，可上传撤下后的照片）："
                ),
                "boards": [{"id": s.id, "name": s.name, "location": s.location} for s in paper],
                "packet": {
                    "index_no": doc.index_no,
                    "title": doc.title,
                    "doc_number": doc.doc_number,
                    "publisher": doc.publisher,
                },
            }
        )
        return Receipt(external_id=f"screens:{doc.document_id}", data=data, needs_person=True)

    def verify(self, ctx: DeliveryContext, receipt: Receipt) -> bool:
        """Live = the notice is active on every screen in the receipt and, once its period has started, its slide is in
        the bundle with a matching sha256. For a withdrawal: on no screen and in no bundle."""
        now = utcnow()
        doc_id = ctx.document.document_id
        if ctx.action is Action.withdraw:
            for screen in self.screens.screens:
                if any(n.document_id == doc_id for n in self.service.notices(screen.id, now=now)):
                    return False
                manifest = self.service.read_manifest(screen.id) or {}
                if any(e.get("document") == doc_id for e in manifest.get("slides", [])):
                    return False
            return True
        for item in receipt.data.get("screens", []):
            sid = item["id"]
            notice = next((n for n in self.service.notices(sid, now=now) if n.document_id == doc_id), None)
            if notice is None or notice.version < ctx.document.version:
                return False
            if not notice.is_live(now):
                continue
            manifest = self.service.read_manifest(sid) or {}
            entry = next((e for e in manifest.get("slides", []) if e.get("document") == doc_id), None)
            if entry is None:
                return False
            path = self.service.bundle_dir(sid) / entry["file"]
            if not path.exists() or sha256_file(path) != entry["sha256"]:
                return False
        return True
