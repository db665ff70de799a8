"""Publish to a WordPress site through its REST API, authenticated with an Application Password.

What the site needs:

- WordPress ≥ 5.6 (Application Passwords), served over HTTPS (WordPress only offers Application Passwords over HTTPS,
  or with ``WP_ENVIRONMENT_TYPE = 'local'``); a user with the Editor role or above, and an Application Password for it
  (用户 → 个人资料 → 应用程序密码).
- Recommended: the ``orch_key``/``orch_doc`` post meta registered with ``show_in_rest`` (a ten-line must-use plugin; see
  ``MU_PLUGIN`` in tests/cms_wordpress.py). Without it the adapter still finds its posts by slug and by the 索引号 line it
  writes into every post, but cannot tell two deliveries of one document apart.

Destination settings (``config/channels.yaml``)::

    adapter: wordpress
    base_url: https://www.example.gov.cn
    username: ${WORDPRESS_USER}
    app_password: ${WORDPRESS_APP_PASSWORD}
    category_root: 政府信息公开        # optional: a top category above the catalog path
    categories: true                   # optional
    meta: true                         # optional: write orch_key/orch_doc post meta
    withdraw_mode: draft               # draft | private | delete (delete = permanently, not to the trash)
    timeout: 20

Routes are addressed as ``/?rest_route=/wp/v2/…``, which works whatever the site's permalink settings are.
"""

from __future__ import annotations

import html
import mimetypes
from pathlib import PurePath
from typing import Any, ClassVar

from channels.base import (
    AttachmentInfo,
    Capability,
    Channel,
    DeliveryContext,
    NotConfigured,
    PermanentError,
    Receipt,
)
from channels.cms.common import (
    CmsConfig,
    CmsHttp,
    content_hash,
    document_ref,
    marker_html,
    receipt_key,
    slug_for,
    verify_receipt,
)

WITHDRAW_MODES = ("draft", "private", "delete")
# Every status a post we wrote may be in, except the trash ("status=any" is not accepted by the REST API).
ALL_STATUSES = "publish,future,draft,pending,private"


class WordPressConfig(CmsConfig):
    username: str = ""
    app_password: str = ""  # an Application Password, not the login password
    meta: bool = True  # write the disclosure fields as post meta
    category_root: str = ""


class WordPressChannel(Channel):
    adapter: ClassVar[str] = "wordpress"
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.update, Capability.delete, Capability.verify})
    config_model = WordPressConfig
    settings: WordPressConfig

    def __init__(self, config: dict[str, Any] | None = None, *, name: str = ""):
        super().__init__(config, name=name)
        cfg = self.settings
        self.base_url = cfg.base_url.rstrip("/")
        self.withdraw_mode = cfg.withdraw_mode or "draft"
        self.use_categories = cfg.categories
        self.use_meta = cfg.meta
        self.category_root = cfg.category_root.strip()
        self.http = CmsHttp(
            label=f"WordPress 网站“{self.name}”",
            name=self.name,
            timeout=cfg.timeout,
            verify_tls=cfg.verify_tls,
            auth_hint="用户名或应用程序密码不正确、已撤销，或站点未启用 HTTPS。请管理员在 WordPress 后台"
            "“用户 → 个人资料 → 应用程序密码”中为发布账号新建应用程序密码，并更新该发布目标的 username、app_password 配置",
            permission_hint="请管理员把发布账号的角色设为“编辑”或“管理员”，使其能发布、修改、删除文章、管理分类并上传媒体文件",
        )
        self.http.session.auth = (cfg.username, cfg.app_password)
        self._category_cache: dict[tuple[int, str], int] = {}

    # --- configuration --------------------------------------------------------
    def _check_config(self) -> None:
        self.require("base_url", "username", "app_password")
        if self.withdraw_mode not in WITHDRAW_MODES:
            raise NotConfigured(
                f"渠道“{self.name}”的 withdraw_mode 只能是 draft（转为草稿）、private（转为私密）或 delete（删除）"
            )

    def _call(self, method: str, route: str, *, params: dict[str, Any] | None = None, **kwargs: Any):
        return self.http.request(method, f"{self.base_url}/", params={"rest_route": route, **(params or {})}, **kwargs)

    # --- the four actions -----------------------------------------------------
    def publish(self, ctx: DeliveryContext) -> Receipt:
        self._check_config()
        existing = self._find_post(ctx.checkpoint.get("post_id"), ctx.idempotency_key, None, ctx)
        ours = existing and self._meta(existing).get("orch_key", ctx.idempotency_key) == ctx.idempotency_key
        if existing and ours and existing.get("status") == "publish":
            # An earlier attempt of this delivery created the post and its answer was lost: nothing to create.
            return self._receipt(ctx, existing, ctx.checkpoint.get("media") or {})
        if existing is None:
            existing = self._find_post(None, None, document_ref(ctx), ctx)
        categories = self._ensure_categories(ctx)
        media = self._upload_attachments(ctx, ctx.checkpoint.get("media") or {})
        payload = self._payload(ctx, categories, media)
        if existing:
            post = self._call("POST", f"/wp/v2/posts/{int(existing['id'])}", json=payload).json()
        else:
            payload["slug"] = slug_for(ctx.document)
            if self.use_meta:
                payload["meta"] = {"orch_key": ctx.idempotency_key, "orch_doc": document_ref(ctx)}
            post = self._call("POST", "/wp/v2/posts", json=payload).json()
        ctx.save_checkpoint({**ctx.checkpoint, "post_id": post["id"], "media": media})
        return self._receipt(ctx, post, media)

    def update(self, ctx: DeliveryContext) -> Receipt:
        self._check_config()
        prev = ctx.previous_receipt
        post = self._find_post(
            (prev.external_id if prev else None) or ctx.checkpoint.get("post_id"), receipt_key(ctx), document_ref(ctx), ctx
        )
        if post is None:
            # Deleted in WordPress by hand: publishing again is what "bring it up to date" means.
            return self.publish(ctx)
        categories = self._ensure_categories(ctx)
        known = dict((prev.data.get("media") if prev else None) or {})
        media = self._upload_attachments(ctx, {**known, **(ctx.checkpoint.get("media") or {})})
        post = self._call("POST", f"/wp/v2/posts/{int(post['id'])}", json=self._payload(ctx, categories, media)).json()
        ctx.save_checkpoint({**ctx.checkpoint, "post_id": post["id"], "media": media})
        return self._receipt(ctx, post, media, orch_key=receipt_key(ctx))

    def withdraw(self, ctx: DeliveryContext) -> Receipt:
        self._check_config()
        prev = ctx.previous_receipt
        post = self._find_post(prev.external_id if prev else None, receipt_key(ctx), document_ref(ctx), ctx)
        data: dict[str, Any] = {"withdrawn": self.withdraw_mode, "orch_key": receipt_key(ctx)}
        if prev:
            data["content_hash"] = prev.data.get("content_hash", "")
        if post is None:
            data["already_absent"] = True
            return Receipt(external_id=prev.external_id if prev else None, url=prev.url if prev else None, data=data)
        post_id = int(post["id"])
        if self.withdraw_mode == "delete":
            # force=true deletes for good; the trash would keep the slug reserved and the page reachable by admins only.
            self._call("DELETE", f"/wp/v2/posts/{post_id}", params={"force": "true"}, ok=(404, 410))
        elif post.get("status") != self.withdraw_mode:
            self._call("POST", f"/wp/v2/posts/{post_id}", json={"status": self.withdraw_mode})
        return Receipt(external_id=str(post_id), url=(prev.url if prev else None) or post.get("link"), data=data)

    def verify(self, ctx: DeliveryContext, receipt: Receipt) -> bool:
        return verify_receipt(self.http, ctx, receipt)

    # --- posts ------------------------------------------------------------------
    @staticmethod
    def _meta(post: dict[str, Any]) -> dict[str, Any]:
        meta = post.get("meta")
        return meta if isinstance(meta, dict) else {}  # WordPress sends [] when no meta is registered

    def _get_post(self, post_id: Any) -> dict[str, Any] | None:
        resp = self._call("GET", f"/wp/v2/posts/{int(post_id)}", params={"context": "edit"}, ok=(404, 410))
        if resp.status_code in (404, 410):
            return None
        post = resp.json()
        return None if post.get("status") == "trash" else post

    def _find_post(
        self, post_id: Any, key: str | None, doc_ref: str | None, ctx: DeliveryContext
    ) -> dict[str, Any] | None:
        """The post by id, else a post carrying ``key`` (or, when given, ``doc_ref``) among the document's candidates.

        The REST API cannot query post meta, so candidates are the posts with the document's slug, then posts whose text
        contains its 索引号 (every post we write carries it); the registered meta then says which one is ours.
        """
        if post_id:
            post = self._get_post(post_id)
            if post is not None:
                return post
        if not (key or doc_ref):
            return None
        candidates: list[dict[str, Any]] = []
        slug = slug_for(ctx.document)
        for params in ({"slug": slug}, {"search": ctx.document.index_no}):
            if "search" in params and not ctx.document.index_no:
                continue
            resp = self._call(
                "GET", "/wp/v2/posts", params={**params, "status": ALL_STATUSES, "context": "edit", "per_page": 20}
            )
            candidates.extend(resp.json() or [])
            for post in candidates:
                meta = self._meta(post)
                if key and meta.get("orch_key") == key:
                    return post
                if doc_ref and meta.get("orch_doc") == doc_ref:
                    return post
                if not meta and post.get("slug") == slug:
                    return post  # no meta registered on this site: the document's own slug is the best evidence
        return None

    def _payload(self, ctx: DeliveryContext, categories: list[int], media: dict[str, dict[str, Any]]) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "title": ctx.document.title,
            "content": self._body(ctx, media),
            "status": "publish",
        }
        if ctx.document.summary:
            payload["excerpt"] = ctx.document.summary
        if categories:
            payload["categories"] = categories
        return payload

    def _body(self, ctx: DeliveryContext, media: dict[str, dict[str, Any]]) -> str:
        doc = ctx.document
        info = [("索引号", doc.index_no), ("信息分类", " / ".join(doc.entry_path)), ("发布机构", doc.publisher),
                ("生成日期", doc.formed_on.isoformat()), ("文号", doc.doc_number), ("有效性", doc.validity)]
        rows = "".join(f"<tr><th>{k}</th><td>{html.escape(v)}</td></tr>" for k, v in info if v)
        parts = [f'<table class="orch-info">{rows}</table>', doc.body_html]
        if doc.attachments:
            items = "".join(
                f'<li><a href="{html.escape(str(media[a.sha256]["url"]), quote=True)}">{html.escape(a.filename)}</a></li>'
                for a in doc.attachments
            )
            parts.append(f"<p><strong>附件：</strong></p><ul>{items}</ul>")
        parts.append(marker_html(doc, content_hash(doc)))
        return "\n".join(parts)

    def _receipt(
        self, ctx: DeliveryContext, post: dict[str, Any], media: dict[str, dict[str, Any]], orch_key: str | None = None
    ) -> Receipt:
        return Receipt(
            external_id=str(post["id"]),
            url=post.get("link"),
            data={
                "orch_key": orch_key or self._meta(post).get("orch_key") or ctx.idempotency_key,
                "orch_doc": document_ref(ctx),
                "content_hash": content_hash(ctx.document),
                "status": post.get("status"),
                "categories": post.get("categories") or [],
                "media": media,
            },
        )

    # --- catalog path -> hierarchical categories ------------------------------
    def _ensure_categories(self, ctx: DeliveryContext) -> list[int]:
        if not self.use_categories:
            return []
        names = [n.strip() for n in ((self.category_root,) + tuple(ctx.document.entry_path)) if n and n.strip()]
        parent = 0
        for name in names:
            cached = self._category_cache.get((parent, name))
            if cached is None:
                cached = self._find_category(parent, name) or self._create_category(parent, name)
                self._category_cache[(parent, name)] = cached
            parent = cached
        # Only the leaf: WordPress lists a post under the parents' archives through the hierarchy anyway.
        return [parent] if parent else []

    def _find_category(self, parent: int, name: str) -> int | None:
        resp = self._call("GET", "/wp/v2/categories", params={"parent": parent, "search": name, "per_page": 100})
        for cat in resp.json() or []:
            if html.unescape(str(cat.get("name", ""))) == name and int(cat.get("parent", 0)) == parent:
                return int(cat["id"])
        return None

    def _create_category(self, parent: int, name: str) -> int:
        resp = self._call("POST", "/wp/v2/categories", json={"name": name, "parent": parent}, ok=(400,))
        body = resp.json()
        if resp.status_code == 400:
            if body.get("code") == "term_exists":
                # Another worker created it a moment ago (WordPress keeps names unique per parent): use theirs.
                return int((body.get("data") or {}).get("term_id"))
            raise self.http.error_for(resp)
        return int(body["id"])

    # --- attachments -> media library ------------------------------------------
    def _upload_attachments(self, ctx: DeliveryContext, known: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        uploaded = dict(known)
        for att in ctx.document.attachments:
            if att.sha256 in uploaded:
                continue
            uploaded[att.sha256] = self._upload(att)
            ctx.save_checkpoint({**ctx.checkpoint, "media": uploaded})
        return uploaded

    def _upload(self, att: AttachmentInfo) -> dict[str, Any]:
        # WordPress sanitises non-ASCII file names unpredictably, so the stored file gets an ASCII name derived from
        # the content hash; the person-given name becomes the media title and the link text.
        suffix = PurePath(att.filename).suffix.lower() or (mimetypes.guess_extension(att.content_type) or "")
        stored_name = f"attachment-{att.sha256[:12]}{suffix}"
        try:
            data = att.path.read_bytes()
        except OSError as exc:
            raise PermanentError(f"附件“{att.filename}”的文件已丢失，无法上传", detail=repr(exc)) from exc
        resp = self._call(
            "POST",
            "/wp/v2/media",
            params={"title": att.filename},
            data=data,
            headers={"Content-Disposition": f'attachment; filename="{stored_name}"', "Content-Type": att.content_type},
        )
        media = resp.json()
        return {"id": int(media["id"]), "url": media.get("source_url")}
