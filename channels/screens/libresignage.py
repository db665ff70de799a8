"""Adapter ``libresignage`` (channel ``bulletin_board``): a LibreSignage 0.9 signage server over its REST API.

The document becomes one image slide (rendered from the same templates as the screens' export bundle, at the size of
the configured screen), uploaded with ``POST /api/v1/media`` (``expires_on`` = the last day of its display period, so
LibreSignage stops playing it by itself) and added to a playlist. A withdrawal first moves ``expires_on`` into the
past (players drop it even if a later step fails), then deletes the playlist entry and the media.

Destination settings (``config/channels.yaml``)::

    adapter: libresignage
    base_url: http://signage.example:5000
    token: ${LIBRESIGNAGE_TOKEN}        # a personal access token (ls_pat_…) of an editor or admin
    screen: sfj-lobby                   # a screen of config/screens.yaml: which entries, slide size, seconds per slide
    playlist: 政务公开                  # playlist name, created when missing (or playlist_id: N)
    timeout: 15
    renderer: auto                      # auto | chromium | pillow

Idempotency: every upload carries a tag derived from the delivery's idempotency key; a retry looks for it before
uploading, and LibreSignage's own duplicate check (same bytes → "already exists as media N") is treated as success.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from typing import Any

import requests
from pydantic import Field

from channels.base import (
    Action,
    Capability,
    Channel,
    ChannelConfig,
    DeliveryContext,
    NotConfigured,
    PermanentError,
    Receipt,
    TransientError,
)
from channels.http import error_for_status
from channels.screens.board import utcnow
from channels.screens.config import ScreensConfig, ScreensConfigError, ScreenSpec, load_screens_config
from channels.screens.render import (
    CHROMIUM_PATH,
    RenderJob,
    SlideNotice,
    cn_date,
    html_to_text,
    make_renderer,
    period_text,
)
from orchestrator.settings import get_settings

_DUPLICATE = re.compile(r"already exists as media (\d+)")
TAG_APP = "gov-disclosure"


class LibreSignageConfig(ChannelConfig):
    base_url: str = ""
    token: str = ""  # a personal access token (ls_pat_…) of an editor or admin account
    screen: str = ""  # the screen id in config/screens.yaml whose layout the slide uses
    screens_file: str = ""  # default: config/screens.yaml
    timeout: float = Field(15, gt=0)
    renderer: str = "auto"
    chromium_path: str = CHROMIUM_PATH
    playlist_id: int | None = None
    playlist: str = "政务公开"  # looked up (or created) by name when playlist_id is not set


class LibreSignageChannel(Channel):
    adapter = "libresignage"
    capabilities = frozenset({Capability.update, Capability.delete, Capability.verify})
    config_model = LibreSignageConfig
    settings: LibreSignageConfig

    # --- configuration ------------------------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return self.settings.base_url.rstrip("/")

    def _where(self) -> str:
        return f"config/channels.yaml 中公示栏目标“{self.name}”"

    def _screens(self) -> ScreensConfig:
        try:
            return load_screens_config(self.settings.screens_file or None)
        except ScreensConfigError as exc:
            raise NotConfigured(str(exc)) from None

    def _screen(self) -> tuple[ScreensConfig, ScreenSpec]:
        self.require("base_url", "token", "screen")
        if not re.match(r"^https?://", self.base_url):
            raise NotConfigured(f"{self._where()}的 base_url“{self.base_url}”无效，应以 http:// 或 https:// 开头")
        screens = self._screens()
        screen = screens.screen(self.settings.screen)
        if screen is None:
            known = "、".join(s.id for s in screens.screens) or "（尚无屏幕）"
            raise NotConfigured(
                f"{self._where()}的 screen“{self.settings.screen}”在 config/screens.yaml 中不存在，现有屏幕：{known}"
            )
        return screens, screen

    # --- HTTP ---------------------------------------------------------------------------------------------------------

    def _request(self, method: str, path: str, *, ok_404: bool = False, **kw: Any) -> requests.Response | None:
        url = f"{self.base_url}/api/v1{path}"
        headers = {"Authorization": f"Bearer {self.settings.token}", "Accept": "application/json"}
        try:
            r = requests.request(method, url, headers=headers, timeout=self.settings.timeout, **kw)
        except requests.Timeout as exc:
            raise TransientError(f"电子屏管理服务器（LibreSignage）响应超时：{self.base_url}", detail=repr(exc)) from exc
        except requests.ConnectionError as exc:
            # Refused or unresolvable: almost always a wrong address or a server that is not running. Staff must fix
            # it, so fail now with the address to check rather than retrying for hours.
            raise PermanentError(
                f"无法连接电子屏管理服务器（LibreSignage）{self.base_url}：请检查{self._where()}的 base_url 是否正确、"
                "该服务是否已启动，修正后在运维页面重试",
                detail=repr(exc),
            ) from exc
        if ok_404 and r.status_code == 404:
            return None
        if r.status_code >= 400:
            status = r.status_code
            raise error_for_status(
                status, detail=r.text, retry_after=r.headers.get("Retry-After"),
                transient=f"电子屏管理服务器（LibreSignage）暂时不可用（HTTP {status}）",
                unauthorized=f"电子屏管理服务器（LibreSignage）拒绝了访问令牌：请在{self._where()}配置有效的 token（ls_pat_ 开头）",
                forbidden=f"电子屏管理服务器（LibreSignage）的令牌没有发布权限：请使用编辑或管理员账号的令牌（{self._where()}）",
                refused=f"电子屏管理服务器（LibreSignage）拒绝了请求（HTTP {status}）：{_error_message(r) if status < 500 else ''}",
            )
        return r

    # --- slide --------------------------------------------------------------------------------------------------------

    def _window(self, screens: ScreensConfig, screen: ScreenSpec, ctx: DeliveryContext) -> tuple[dt.datetime, dt.datetime]:
        doc = ctx.document
        return screens.display_period(
            screen,
            entry_code=doc.entry_code,
            entry_path=doc.entry_path,
            start=doc.published_at or doc.updated_at or utcnow(),
            display_from=doc.display_from,
            display_until=doc.display_until,
        )

    def _render(self, screens: ScreensConfig, screen: ScreenSpec, ctx: DeliveryContext, start: dt.datetime,
                end: dt.datetime) -> bytes:
        doc = ctx.document
        tz = screens.tz
        notice = SlideNotice(
            document_id=doc.document_id,
            version=doc.version,
            title=doc.title,
            doc_number=doc.doc_number,
            publisher=doc.publisher,
            category="/".join(doc.entry_path),
            date_text=cn_date(doc.published_at, tz) if doc.published_at else cn_date(doc.formed_on),
            period_text=period_text(start, end, tz),
            index_no=doc.index_no,
            excerpt=doc.summary.strip() or html_to_text(doc.body_html),
            site_url=doc.site_url,
        )
        renderer = make_renderer(
            self.settings.renderer,
            templates_dir=get_settings().templates_dir,
            executable=self.settings.chromium_path,
        )
        [png] = renderer.render([RenderJob(screen, notice)])
        return png

    @staticmethod
    def _key_tag(ctx: DeliveryContext) -> str:
        return "ik-" + hashlib.sha256(ctx.idempotency_key.encode()).hexdigest()[:24]

    def _find_media_by_tag(self, tag: str) -> int | None:
        page = 1
        while True:
            r = self._request("GET", "/media", params={"page": page, "per_page": 100})
            body = r.json()
            for item in body.get("data", []):
                if tag in (item.get("tags") or []):
                    return int(item["id"])
            meta = body.get("meta", {})
            if page * int(meta.get("per_page", 100)) >= int(meta.get("total", 0)):
                return None
            page += 1

    def _playlist_id(self) -> int:
        if self.settings.playlist_id:
            return self.settings.playlist_id
        name = self.settings.playlist
        page = 1
        while True:
            body = self._request("GET", "/playlists", params={"page": page, "per_page": 100}).json()
            for p in body.get("data", []):
                if p.get("name") == name:
                    return int(p["id"])
            meta = body.get("meta", {})
            if page * int(meta.get("per_page", 100)) >= int(meta.get("total", 0)):
                break
            page += 1
        created = self._request(
            "POST", "/playlists", json={"name": name, "description": "政务公开信息（由发布系统自动维护）", "loop": True}
        )
        return int(created.json()["data"]["id"])

    # --- actions ------------------------------------------------------------------------------------------------------

    def publish(self, ctx: DeliveryContext) -> Receipt:
        screens, screen = self._screen()
        doc = ctx.document
        if not screen.shows(publisher=doc.publisher, entry_code=doc.entry_code, entry_path=doc.entry_path):
            return Receipt(data={"skipped": f"屏幕“{screen.name}”不展示该目录事项，未上传", "screen": screen.id})
        start, end = self._window(screens, screen, ctx)
        expires_on = (end.astimezone(screens.tz) - dt.timedelta(microseconds=1)).date()
        checkpoint = dict(ctx.checkpoint)
        tag = self._key_tag(ctx)

        media_id = checkpoint.get("media_id") or self._find_media_by_tag(tag)
        if not media_id:
            png = self._render(screens, screen, ctx, start, end)
            fields = {
                "title": doc.title[:200],
                "kind": "image",
                "duration_seconds": str(screen.slide_seconds),
                "expires_on": expires_on.isoformat(),
                "tags": ",".join([TAG_APP, f"doc-{doc.document_id}", f"v{doc.version}", tag]),
            }
            try:
                r = self._request(
                    "POST", "/media", data=fields,
                    files={"file": (f"notice-{doc.document_id}-v{doc.version}.png", png, "image/png")},
                )
                media_id = int(r.json()["data"]["id"])
            except PermanentError as exc:
                # The same bytes were uploaded before (a retry after a lost response): that media is ours.
                m = _DUPLICATE.search(exc.detail)
                if not m:
                    raise
                media_id = int(m.group(1))
            checkpoint["media_id"] = media_id
            ctx.save_checkpoint(checkpoint)
        media_id = int(media_id)
        # Title, duration and expiry follow this version even when the media was reused.
        self._request(
            "PATCH", f"/media/{media_id}",
            json={"title": doc.title[:200], "duration_seconds": screen.slide_seconds, "expires_on": expires_on.isoformat()},
        )

        playlist_id = int(checkpoint.get("playlist_id") or self._playlist_id())
        entry_id = checkpoint.get("entry_id")
        if not entry_id:
            detail = self._request("GET", f"/playlists/{playlist_id}").json()["data"]
            entry_id = next((e["id"] for e in detail.get("entries", []) if e["media"]["id"] == media_id), None)
        if not entry_id:
            r = self._request(
                "POST", f"/playlists/{playlist_id}/entries",
                json={"media_id": media_id, "duration_override": screen.slide_seconds},
            )
            entry_id = r.json()["data"]["id"]
        checkpoint.update({"playlist_id": playlist_id, "entry_id": int(entry_id)})
        ctx.save_checkpoint(checkpoint)
        return Receipt(
            external_id=str(media_id),
            url=f"{self.base_url}/api/v1/media/{media_id}",
            data={
                "media_id": media_id,
                "playlist_id": playlist_id,
                "entry_id": int(entry_id),
                "screen": screen.id,
                "expires_on": expires_on.isoformat(),
                "start": start.astimezone(screens.tz).isoformat(),
            },
        )

    def update(self, ctx: DeliveryContext) -> Receipt:
        # Image media cannot be replaced in place: upload the new slide, then remove the old one.
        receipt = self.publish(ctx)
        old = ctx.previous_receipt.data if ctx.previous_receipt else {}
        if old.get("media_id") and old.get("media_id") != receipt.data.get("media_id"):
            self._take_down(old)
        return receipt

    def _take_down(self, data: dict[str, Any]) -> None:
        media_id, playlist_id, entry_id = data.get("media_id"), data.get("playlist_id"), data.get("entry_id")
        if media_id:
            # First make it expire, so players stop showing it even if a later step fails.
            yesterday = (dt.date.today() - dt.timedelta(days=1)).isoformat()
            self._request("PATCH", f"/media/{media_id}", ok_404=True, json={"expires_on": yesterday})
        if playlist_id and entry_id:
            self._request("DELETE", f"/playlists/{playlist_id}/entries/{entry_id}", ok_404=True)
        if media_id:
            self._request("DELETE", f"/media/{media_id}", ok_404=True)

    def withdraw(self, ctx: DeliveryContext) -> Receipt:
        self._screen()
        data = ctx.previous_receipt.data if ctx.previous_receipt else {}
        targets: list[dict[str, Any]] = []
        if data.get("media_id"):
            targets.append(data)
        else:
            # No receipt to go by: find everything this system uploaded for the document.
            tag = f"doc-{ctx.document.document_id}"
            body = self._request("GET", "/media", params={"per_page": 100}).json()
            targets += [{"media_id": m["id"]} for m in body.get("data", []) if tag in (m.get("tags") or [])]
            if targets:
                pid = self._playlist_id()
                detail = self._request("GET", f"/playlists/{pid}").json()["data"]
                by_media = {e["media"]["id"]: e["id"] for e in detail.get("entries", [])}
                for t in targets:
                    if t["media_id"] in by_media:
                        t.update({"playlist_id": pid, "entry_id": by_media[t["media_id"]]})
        for t in targets:
            self._take_down(t)
        return Receipt(
            external_id=str(data.get("media_id") or ""),
            data={"removed_media": [int(t["media_id"]) for t in targets]},
        )

    def verify(self, ctx: DeliveryContext, receipt: Receipt) -> bool:
        if receipt.data.get("skipped"):
            return True
        if ctx.action is Action.withdraw:
            return all(
                self._request("GET", f"/media/{mid}", ok_404=True) is None for mid in receipt.data.get("removed_media", [])
            )
        media_id, playlist_id = receipt.data.get("media_id"), receipt.data.get("playlist_id")
        if not media_id or self._request("GET", f"/media/{media_id}", ok_404=True) is None:
            return False
        detail = self._request("GET", f"/playlists/{playlist_id}", ok_404=True)
        return detail is not None and any(e["media"]["id"] == media_id for e in detail.json()["data"].get("entries", []))


def _error_message(r: requests.Response) -> str:
    try:
        return str(r.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return r.text[:200]
