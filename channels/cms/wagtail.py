"""Publish to a Wagtail site through its v3 write API (``wagtail.api.v3``, Wagtail ≥ 8).

What the site needs (see tests/cms_wagtail.py for a complete, working example):

- ``"wagtail.api.v3"`` in INSTALLED_APPS and ``path("api/v3/", api.urls)`` routed; an API token
  (``manage.py api_tokens create --user=… --name=…``) for a user who may add, change, publish and delete pages under the
  section, and add documents.
- A document page type (default ``disclosure.DisclosurePage``) with writable APIFields: ``body`` (rich text) and
  ``orch_key`` / ``orch_doc`` (CharFields, indexed: the idempotency key and the document reference), plus optionally
  ``index_no``, ``doc_number``, ``publisher``, ``formed_on``, ``category``, ``validity``. Rename or drop optional fields with
  the ``fields`` setting. Wagtail silently ignores unknown keys, so a missing field loses data without an error: declare them.
- A catalog-node page type (default ``disclosure.DisclosureIndexPage``) allowed under the section and under itself, so the
  catalog path (一级/二级/三级事项) becomes a branch of the page tree. ``categories: false`` puts every document directly
  under ``parent_id`` instead.

Destination settings (``config/channels.yaml``)::

    adapter: wagtail
    base_url: https://www.example.gov.cn      # the site; the API is at {base_url}{api_path}
    api_path: /api/v3                          # optional
    token: ${WAGTAIL_TOKEN}
    parent_id: 4                               # the 政府信息公开 section page
    page_type: disclosure.DisclosurePage       # optional
    category_page_type: disclosure.DisclosureIndexPage  # optional
    categories: true                           # optional
    withdraw_mode: unpublish                   # or delete
    timeout: 20                                # seconds, optional

Idempotency: before creating a page the adapter searches ``?type=…&orch_key=<key>`` (then ``orch_doc``); page slugs come from
the 索引号 and Wagtail refuses a duplicate slug under one parent, so even two racing workers cannot create two pages.
``meta.action`` only accepts ``publish`` in the v3 schema; unpublishing goes through ``POST /pages/{id}/actions/unpublish/``.
"""

from __future__ import annotations

import html
from typing import Any, ClassVar

import requests

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
    key_suffix,
    marker_html,
    receipt_key,
    slug_for,
    verify_receipt,
)

# Our name for a value -> the site's field name. A site may rename fields, or map them to "" to leave them out.
DEFAULT_FIELDS: dict[str, str] = {
    "body": "body",
    "orch_key": "orch_key",
    "orch_doc": "orch_doc",
    "index_no": "index_no",
    "doc_number": "doc_number",
    "publisher": "publisher",
    "formed_on": "formed_on",
    "category": "category",
    "validity": "validity",
}
WITHDRAW_MODES = ("unpublish", "delete")


class WagtailConfig(CmsConfig):
    token: str = ""
    parent_id: str = ""  # the section page's id (checked when used, with its own message)
    api_path: str = "/api/v3"
    page_type: str = "disclosure.DisclosurePage"
    category_page_type: str = "disclosure.DisclosureIndexPage"
    fields: dict[str, str] = {}  # our name for a value → the site's field name (DEFAULT_FIELDS)


class WagtailChannel(Channel):
    adapter: ClassVar[str] = "wagtail"
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.update, Capability.delete, Capability.verify})
    config_model = WagtailConfig
    settings: WagtailConfig

    def __init__(self, config: dict[str, Any] | None = None, *, name: str = ""):
        super().__init__(config, name=name)
        cfg = self.settings
        self.base_url = cfg.base_url.rstrip("/")
        self.api_url = self.base_url + "/" + cfg.api_path.strip("/")
        self.page_type = cfg.page_type
        self.category_page_type = cfg.category_page_type
        self.use_categories = cfg.categories
        self.withdraw_mode = cfg.withdraw_mode or "unpublish"
        self.fields = {**DEFAULT_FIELDS, **cfg.fields}
        self.http = CmsHttp(
            label=f"Wagtail 网站“{self.name}”",
            name=self.name,
            timeout=cfg.timeout,
            verify_tls=cfg.verify_tls,
            auth_hint="API 令牌无效、已吊销或未填写。请管理员在 Wagtail 服务器上执行 "
            "“manage.py api_tokens create --user=账号 --name=orchestrator”生成新令牌，并更新该发布目标的 token 配置",
            permission_hint="请管理员在 Wagtail 后台为令牌所属账号授予信息公开栏目下页面的新增、修改、发布、删除权限和文档上传权限",
        )
        self.http.session.headers["Authorization"] = f"Bearer {cfg.token}"
        self._category_cache: dict[tuple[int, str], int] = {}

    # --- configuration --------------------------------------------------------
    def _check_config(self) -> int:
        self.require("base_url", "token", "parent_id")
        if self.withdraw_mode not in WITHDRAW_MODES:
            raise NotConfigured(f"渠道“{self.name}”的 withdraw_mode 只能是 unpublish（取消发布）或 delete（删除）")
        if not self.fields.get("orch_key"):
            raise NotConfigured(f"渠道“{self.name}”必须把幂等键写入页面字段（fields.orch_key 不能为空）")
        try:
            return int(self.settings.parent_id)
        except (TypeError, ValueError) as exc:
            raise NotConfigured(f"渠道“{self.name}”的 parent_id 必须是页面编号（整数）") from exc

    # --- the four actions -----------------------------------------------------
    def publish(self, ctx: DeliveryContext) -> Receipt:
        root_id = self._check_config()
        existing = self._find_page(ctx.checkpoint.get("page_id"), ctx.idempotency_key, None)
        if existing and existing.get(self.fields["orch_key"], ctx.idempotency_key) == ctx.idempotency_key:
            # An earlier attempt of this very delivery created the page (its answer was lost): nothing to create.
            return self._receipt(ctx, existing, uploaded=ctx.checkpoint.get("documents") or {})
        if existing is None:
            # The same document may be here from an earlier delivery whose receipt is gone: update it, never duplicate.
            existing = self._find_page(None, None, document_ref(ctx))
        parent_id = self._ensure_category(ctx, root_id)
        uploaded = self._upload_attachments(ctx, ctx.checkpoint.get("documents") or {})
        if existing:
            page = self._write_existing(ctx, existing, parent_id, uploaded)
        else:
            page = self._create(ctx, parent_id, uploaded)
        ctx.save_checkpoint({**ctx.checkpoint, "page_id": page["id"], "documents": uploaded})
        return self._receipt(ctx, page, uploaded)

    def update(self, ctx: DeliveryContext) -> Receipt:
        root_id = self._check_config()
        prev = ctx.previous_receipt
        page = self._find_page(
            (prev.external_id if prev else None) or ctx.checkpoint.get("page_id"), receipt_key(ctx), document_ref(ctx)
        )
        if page is None:
            # The page was removed in the CMS by hand: publishing again is what "bring it up to date" means.
            return self.publish(ctx)
        parent_id = self._ensure_category(ctx, root_id)
        known = dict((prev.data.get("documents") if prev else None) or {})
        uploaded = self._upload_attachments(ctx, {**known, **(ctx.checkpoint.get("documents") or {})})
        page = self._write_existing(ctx, page, parent_id, uploaded)
        ctx.save_checkpoint({**ctx.checkpoint, "page_id": page["id"], "documents": uploaded})
        return self._receipt(ctx, page, uploaded, orch_key=receipt_key(ctx))

    def withdraw(self, ctx: DeliveryContext) -> Receipt:
        self._check_config()
        prev = ctx.previous_receipt
        page = self._find_page(prev.external_id if prev else None, receipt_key(ctx), document_ref(ctx))
        data: dict[str, Any] = {"withdrawn": self.withdraw_mode, "orch_key": receipt_key(ctx)}
        if prev:
            data["content_hash"] = prev.data.get("content_hash", "")
        if page is None:
            # Already gone (deleted by hand, or an earlier attempt succeeded): the goal state holds.
            data["already_absent"] = True
            return Receipt(external_id=prev.external_id if prev else None, url=prev.url if prev else None, data=data)
        page_id = int(page["id"])
        if self.withdraw_mode == "delete":
            self.http.request("DELETE", f"{self.api_url}/pages/{page_id}/", ok=(404,))
        elif self._is_public(page_id):
            # Wagtail answers 403 to unpublishing a page that is not live, so a retried withdrawal checks first.
            self.http.request("POST", f"{self.api_url}/pages/{page_id}/actions/unpublish/", json={"recursive": False})
        return Receipt(external_id=str(page_id), url=page["meta"].get("html_url") or (prev.url if prev else None), data=data)

    def verify(self, ctx: DeliveryContext, receipt: Receipt) -> bool:
        return verify_receipt(self.http, ctx, receipt)

    # --- pages ------------------------------------------------------------------
    def _get_page(self, page_id: Any) -> dict[str, Any] | None:
        # version=draft: with a token this returns the latest revision, so unpublished pages are found too.
        resp = self.http.request("GET", f"{self.api_url}/pages/{int(page_id)}/", params={"version": "draft"}, ok=(404,))
        if resp.status_code == 404:
            return None
        page = resp.json()
        if page.get("meta", {}).get("type") != self.page_type:
            raise PermanentError(
                f"Wagtail 网站“{self.name}”中编号 {page_id} 的页面不是信息公开文档页面（类型 {page.get('meta', {}).get('type')}），"
                "请核对该投递的回执",
                detail=str(page)[:1000],
            )
        return page

    def _is_public(self, page_id: int) -> bool:
        """Whether anonymous readers can get the page (the v3 API shows anonymous callers live pages only)."""
        resp = self.http.request(
            "GET", f"{self.api_url}/pages/{page_id}/", headers={"Authorization": None}, ok=(404,)
        )
        return resp.status_code == 200

    def _find_page(self, page_id: Any, key: str | None, doc_ref: str | None) -> dict[str, Any] | None:
        """The page by id, else by idempotency key, else by document reference (each only when given)."""
        if page_id:
            page = self._get_page(page_id)
            if page is not None:
                return page
        for field, value in ((self.fields["orch_key"], key), (self.fields.get("orch_doc"), doc_ref)):
            if not (field and value):
                continue
            resp = self.http.request(
                "GET", f"{self.api_url}/pages/", params={"type": self.page_type, field: value, "limit": 2}
            )
            items = resp.json().get("items") or []
            if items:
                return self._get_page(items[0]["id"])
        return None

    def _fields_for(self, ctx: DeliveryContext, uploaded: dict[str, dict[str, Any]]) -> dict[str, Any]:
        doc = ctx.document
        values: dict[str, Any] = {
            "body": {"format": "db_html", "content": self._body(ctx, uploaded)},
            "index_no": doc.index_no,
            "doc_number": doc.doc_number,
            "publisher": doc.publisher,
            "formed_on": doc.formed_on.isoformat(),
            "category": " / ".join(doc.entry_path),
            "validity": doc.validity,
            "orch_doc": document_ref(ctx),
        }
        return {self.fields[k]: v for k, v in values.items() if self.fields.get(k)}

    def _create(self, ctx: DeliveryContext, parent_id: int, uploaded: dict[str, dict[str, Any]]) -> dict[str, Any]:
        slug = slug_for(ctx.document)
        payload = {
            "meta": {"type": self.page_type, "parent_id": parent_id, "action": "publish"},
            "title": ctx.document.title,
            "slug": slug,
            self.fields["orch_key"]: ctx.idempotency_key,
            **self._fields_for(ctx, uploaded),
        }
        resp = self.http.request("POST", f"{self.api_url}/pages/", json=payload, ok=(422,))
        if resp.status_code == 422 and _slug_conflict(resp):
            # Either a racing attempt created our page a moment ago, or another page owns the slug.
            found = self._find_page(None, ctx.idempotency_key, None)
            if found:
                return found
            payload["slug"] = f"{slug}-{key_suffix(ctx.idempotency_key)}"
            resp = self.http.request("POST", f"{self.api_url}/pages/", json=payload)
        elif resp.status_code == 422:
            raise self.http.error_for(resp)
        return resp.json()

    def _write_existing(
        self, ctx: DeliveryContext, page: dict[str, Any], parent_id: int, uploaded: dict[str, dict[str, Any]]
    ) -> dict[str, Any]:
        page_id = int(page["id"])
        current_parent = (page.get("meta", {}).get("parent") or {}).get("id")
        if self.use_categories and current_parent and int(current_parent) != parent_id:
            # The document moved to another catalog entry: move the page so the tree still mirrors the catalog.
            self.http.request(
                "POST", f"{self.api_url}/pages/{page_id}/actions/move/", json={"destination_id": parent_id}
            )
        payload = {"meta": {"action": "publish"}, "title": ctx.document.title, **self._fields_for(ctx, uploaded)}
        resp = self.http.request("PATCH", f"{self.api_url}/pages/{page_id}/", json=payload)
        return resp.json()

    def _body(self, ctx: DeliveryContext, uploaded: dict[str, dict[str, Any]]) -> str:
        doc = ctx.document
        parts = [doc.body_html]
        if doc.attachments:
            # linktype="document" is Wagtail's own document link: it keeps working if the file's URL changes.
            items = "".join(
                f'<li><a linktype="document" id="{int(uploaded[a.sha256]["id"])}">{html.escape(a.filename)}</a></li>'
                for a in doc.attachments
            )
            parts.append(f"<p><b>附件：</b></p><ul>{items}</ul>")
        parts.append(marker_html(doc, content_hash(doc)))
        return "".join(parts)

    def _receipt(
        self,
        ctx: DeliveryContext,
        page: dict[str, Any],
        uploaded: dict[str, dict[str, Any]],
        orch_key: str | None = None,
    ) -> Receipt:
        meta = page.get("meta") or {}
        return Receipt(
            external_id=str(page["id"]),
            url=meta.get("html_url"),
            data={
                "orch_key": orch_key or page.get(self.fields["orch_key"]) or ctx.idempotency_key,
                "orch_doc": document_ref(ctx),
                "content_hash": content_hash(ctx.document),
                "api_url": meta.get("detail_url"),
                "parent_id": (meta.get("parent") or {}).get("id"),
                "documents": uploaded,
            },
        )

    # --- catalog path -> page tree ---------------------------------------------
    def _ensure_category(self, ctx: DeliveryContext, root_id: int) -> int:
        parent = root_id
        if not self.use_categories:
            return parent
        for title in ctx.document.entry_path:
            title = title.strip()
            if not title:
                continue
            cached = self._category_cache.get((parent, title))
            if cached is None:
                cached = self._find_category(parent, title) or self._create_category(parent, title)
                self._category_cache[(parent, title)] = cached
            parent = cached
        return parent

    def _find_category(self, parent: int, title: str) -> int | None:
        resp = self.http.request(
            "GET",
            f"{self.api_url}/pages/",
            params={"child_of": parent, "type": self.category_page_type, "title": title, "limit": 2},
        )
        items = resp.json().get("items") or []
        return int(items[0]["id"]) if items else None

    def _create_category(self, parent: int, title: str) -> int:
        payload = {
            "meta": {"type": self.category_page_type, "parent_id": parent, "action": "publish"},
            "title": title,
            "slug": _category_slug(title),
        }
        resp = self.http.request("POST", f"{self.api_url}/pages/", json=payload, ok=(422,))
        if resp.status_code == 422 and _slug_conflict(resp):
            # The slug under one parent is the lock: a racing worker made the node first, so use theirs.
            found = self._find_category(parent, title)
            if found:
                return found
            payload["slug"] = f"{_category_slug(title)}-{key_suffix(title)}"
            resp = self.http.request("POST", f"{self.api_url}/pages/", json=payload)
        elif resp.status_code == 422:
            raise self.http.error_for(resp)
        return int(resp.json()["id"])

    # --- attachments -> Wagtail documents --------------------------------------
    def _upload_attachments(
        self, ctx: DeliveryContext, known: dict[str, dict[str, Any]]
    ) -> dict[str, dict[str, Any]]:
        """Upload each attachment once (keyed by sha256), saving progress after each so a retry resumes."""
        uploaded = dict(known)
        for att in ctx.document.attachments:
            if att.sha256 in uploaded:
                continue
            uploaded[att.sha256] = self._upload(att)
            ctx.save_checkpoint({**ctx.checkpoint, "documents": uploaded})
        return uploaded

    def _upload(self, att: AttachmentInfo) -> dict[str, Any]:
        try:
            fh = att.path.open("rb")
        except OSError as exc:
            raise PermanentError(f"附件“{att.filename}”的文件已丢失，无法上传", detail=repr(exc)) from exc
        with fh:
            resp = self.http.request(
                "POST",
                f"{self.api_url}/documents/",
                files={"file": (att.filename, fh, att.content_type)},
                data={"title": att.filename},
            )
        doc = resp.json()
        return {"id": int(doc["id"]), "url": (doc.get("meta") or {}).get("download_url")}


def _slug_conflict(resp: requests.Response) -> bool:
    try:
        errors = resp.json().get("errors") or []
    except ValueError:
        return False
    return any("slug" in [str(x) for x in (e.get("loc") or [])] for e in errors if isinstance(e, dict))


def _category_slug(title: str) -> str:
    # Unicode slugs are valid in Wagtail: keep the catalog wording readable in the URL, minus punctuation.
    slug = "".join(ch if ch.isalnum() else "-" for ch in title.lower())
    slug = "-".join(filter(None, slug.split("-")))[:50]
    return slug or f"c-{key_suffix(title)}"
