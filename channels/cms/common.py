"""Shared plumbing of the external-CMS adapters (``wagtail``, ``wordpress``).

- :class:`CmsHttp` sends every request with a timeout and turns HTTP failures into the contract's errors:
  connection errors, timeouts, 5xx and 429 are transient (429/503 honour ``Retry-After``); 401/403 are
  :class:`NotConfigured` (a person must fix the credentials or the account's rights); other 4xx are permanent.
- The content hash and its marker: every page we write ends with a line carrying the 索引号 and a short
  content hash (校验码). ``verify`` fetches the public page and looks for the title and that marker, which proves the
  page shows *this* version, not merely that some page exists at the URL.
- Slugs derived from the 索引号, so one document always lands on the same address in a CMS.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from collections.abc import Iterable
from typing import Any

import requests
from pydantic import Field

from channels.base import ChannelConfig, DeliveryContext, DocumentPayload, Receipt, TransientError
from channels.http import error_for_status

DEFAULT_TIMEOUT = 20.0
USER_AGENT = "gov-disclosure-orchestrator/0.1"
_TAGS = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")


def content_hash(doc: DocumentPayload) -> str:
    """A short, stable fingerprint of what readers see: title, body, 文号, 索引号 and attachment bytes."""
    material = json.dumps(
        [doc.title, doc.body_html, doc.doc_number, doc.index_no, [a.sha256 for a in doc.attachments]],
        ensure_ascii=False,
    )
    return hashlib.sha256(material.encode("utf-8")).hexdigest()[:16]


def marker_text(doc: DocumentPayload, digest: str) -> str:
    return f"索引号：{doc.index_no}　校验码：{digest}"


def marker_html(doc: DocumentPayload, digest: str) -> str:
    return f"<p>{html.escape(marker_text(doc, digest))}</p>"


def visible_text(page_html: str) -> str:
    """Tag-free, entity-decoded, whitespace-collapsed text of an HTML page (enough to find a title and a marker)."""
    return _SPACE.sub(" ", html.unescape(_TAGS.sub(" ", page_html)))


def page_carries(page_html: str, title: str, digest: str) -> bool:
    text = visible_text(page_html)
    return _SPACE.sub(" ", title).strip() in text and f"校验码：{digest}" in text


class CmsConfig(ChannelConfig):
    """Settings every CMS adapter shares."""

    base_url: str = ""
    timeout: float = Field(DEFAULT_TIMEOUT, gt=0)
    verify_tls: bool = True
    categories: bool = True  # file each item under a category path built from the catalog entry
    withdraw_mode: str = ""  # empty: the adapter's default (checked with its own message)


def document_ref(ctx: DeliveryContext) -> str:
    """A document-level key (stable across versions and deliveries), used when a receipt was lost."""
    return f"doc-{ctx.document.document_id}"


def slug_for(doc: DocumentPayload) -> str:
    """ASCII slug from the 索引号 (unique per document by design), e.g. ``11150785mb-2026-00012``."""
    slug = re.sub(r"[^a-z0-9]+", "-", doc.index_no.lower()).strip("-")[:80].strip("-")
    return slug or f"doc-{doc.document_id}"


def key_suffix(key: str) -> str:
    return hashlib.sha1(key.encode("utf-8")).hexdigest()[:8]


def _excerpt(resp: requests.Response) -> str:
    return f"{resp.request.method} {resp.url} -> HTTP {resp.status_code}: {resp.text[:1500]}"


def _problem_summary(resp: requests.Response) -> str:
    """The CMS's own explanation of a 4xx, shortened for a staff-facing message (technical text stays in detail)."""
    try:
        data = resp.json()
    except ValueError:
        return ""
    if not isinstance(data, dict):
        return ""
    parts: list[str] = []
    for err in data.get("errors") or []:  # Wagtail v3: RFC 7807 problem with a list of field errors
        if isinstance(err, dict) and err.get("msg"):
            loc = ".".join(str(x) for x in err.get("loc") or [])
            parts.append(f"{loc}: {err['msg']}" if loc else str(err["msg"]))
    if not parts:
        for key in ("message", "detail", "title"):  # WordPress uses "message"; Wagtail "detail"
            if data.get(key):
                parts.append(str(data[key]))
                break
    return "；".join(parts)[:300]


def _effective_status(resp: requests.Response) -> int:
    """The status that explains the failure.

    WordPress treats a wrong Application Password as an anonymous caller, and then refuses parameters such as
    ``status=draft`` with a 400 whose per-parameter details carry the real 401/403: report that, so staff are told to
    fix the credentials rather than the document.
    """
    if resp.status_code != 400:
        return resp.status_code
    try:
        details = (resp.json() or {}).get("data", {}).get("details") or {}
    except (ValueError, AttributeError):
        return 400
    for item in details.values() if isinstance(details, dict) else ():
        inner = (item or {}).get("data") if isinstance(item, dict) else None
        if isinstance(inner, dict) and inner.get("status") in (401, 403):
            return int(inner["status"])
    return 400


class CmsHttp:
    """A requests session bound to one CMS destination, with timeouts and the contract's error mapping."""

    def __init__(
        self,
        *,
        label: str,
        name: str,
        timeout: float = DEFAULT_TIMEOUT,
        verify_tls: bool = True,
        auth_hint: str,
        permission_hint: str,
    ) -> None:
        self.label = label  # e.g. "Wagtail 网站“门户网站”"
        self.name = name
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        self.session.verify = verify_tls
        self.auth_hint = auth_hint
        self.permission_hint = permission_hint

    def request(self, method: str, url: str, *, ok: Iterable[int] = (), **kwargs: Any) -> requests.Response:
        """Send one request. Statuses in ``ok`` are returned to the caller as they are (e.g. 404 on a lookup)."""
        kwargs.setdefault("timeout", self.timeout)
        try:
            resp = self.session.request(method, url, **kwargs)
        except requests.Timeout as exc:
            raise TransientError(f"{self.label}响应超时，稍后自动重试", detail=f"{method} {url}: {exc!r}") from exc
        except requests.ConnectionError as exc:
            raise TransientError(f"无法连接{self.label}，稍后自动重试", detail=f"{method} {url}: {exc!r}") from exc
        except requests.RequestException as exc:
            raise TransientError(f"访问{self.label}时出错，稍后自动重试", detail=f"{method} {url}: {exc!r}") from exc
        if resp.status_code < 400 or resp.status_code in ok:
            return resp
        raise self.error_for(resp)

    def error_for(self, resp: requests.Response) -> Exception:
        status = _effective_status(resp)
        summary = _problem_summary(resp) if status < 500 and status not in (401, 403, 429) else ""
        reason = f"：{summary}" if summary else ""
        return error_for_status(
            status, detail=_excerpt(resp), code=f"http_{status}", retry_after=resp.headers.get("Retry-After"),
            throttled=f"{self.label}请求过于频繁（HTTP {status}），稍后自动重试",
            transient=f"{self.label}服务器暂时出错（HTTP {status}），稍后自动重试",
            unauthorized=f"{self.label}拒绝了登录凭据（HTTP 401）：{self.auth_hint}",
            forbidden=f"{self.label}的账号权限不足（HTTP 403）：{self.permission_hint}",
            refused=f"{self.label}拒绝了请求（HTTP {status}）{reason}。请检查稿件内容或渠道配置后重试",
        )

    def fetch_public(self, url: str) -> requests.Response:
        """GET a public page as an anonymous reader would (no credentials), without raising on 404/410."""
        try:
            resp = requests.get(url, timeout=self.timeout, headers={"User-Agent": USER_AGENT}, verify=self.session.verify)
        except requests.RequestException as exc:
            raise TransientError(f"无法访问{self.label}的公开页面，稍后再核验", detail=f"GET {url}: {exc!r}") from exc
        if resp.status_code == 429 or resp.status_code >= 500:
            raise self.error_for(resp)
        return resp


def verify_receipt(http: CmsHttp, ctx: DeliveryContext, receipt: Receipt) -> bool:
    """Shared ``verify``: the public page shows this version (publish/update), or is gone (withdraw by unpublish/delete).

    Network trouble raises :class:`TransientError` ("cannot tell yet"); False means the page is demonstrably not as expected.
    """
    if not receipt.url:
        return False
    resp = http.fetch_public(receipt.url)
    if receipt.data.get("withdrawn"):
        # A withdrawn page must not be readable by the public any more.
        return resp.status_code in (404, 410) or not page_carries(
            resp.text, ctx.document.title, str(receipt.data.get("content_hash", ""))
        )
    if resp.status_code != 200:
        return False
    return page_carries(resp.text, ctx.document.title, str(receipt.data.get("content_hash") or content_hash(ctx.document)))


def receipt_key(ctx: DeliveryContext) -> str | None:
    """The idempotency key the CMS item was created with, from the receipt this delivery follows."""
    prev = ctx.previous_receipt
    if prev and prev.data.get("orch_key"):
        return str(prev.data["orch_key"])
    return None
