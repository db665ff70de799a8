"""Generic signed HTTP push (like Superdesk's http_push): POST the document as JSON to a receiving endpoint.

Headers: ``X-Orch-Idempotency-Key`` (stable across retries — the receiver applies each key at most once),
``X-Orch-Signature: sha256=<hex HMAC-SHA256 of the raw body with the shared secret>``, ``X-Orch-Timestamp``.
The receiver answers 2xx with JSON ``{"id": ..., "url": ...}``; 409 means "already applied" and is a success.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import requests

from channels.base import (
    Action,
    Capability,
    Channel,
    ChannelConfig,
    DeliveryContext,
    PermanentError,
    Receipt,
    TransientError,
)
from channels.http import error_for_status
from channels.plugin import ChannelPlugin

SIGNATURE_HEADER = "X-Orch-Signature"
KEY_HEADER = "X-Orch-Idempotency-Key"


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(secret: str, body: bytes, header: str) -> bool:
    return hmac.compare_digest(sign(secret, body), header or "")


class HttpPushConfig(ChannelConfig):
    url: str = ""
    secret: str = ""  # HMAC-SHA256 key for the X-Orch-Signature header (none: unsigned)
    timeout: float = 15
    inline_attachments: bool = False
    inline_limit: int = 5 * 1024 * 1024


class HttpPushChannel(Channel):
    adapter = "http_push"
    capabilities = frozenset({Capability.update, Capability.delete})
    config_model = HttpPushConfig
    settings: HttpPushConfig

    def _payload(self, ctx: DeliveryContext) -> dict[str, Any]:
        doc = ctx.document
        attachments = []
        for a in doc.attachments:
            item: dict[str, Any] = {"filename": a.filename, "content_type": a.content_type, "size": a.size, "sha256": a.sha256}
            if self.settings.inline_attachments and a.size <= self.settings.inline_limit:
                item["content_base64"] = base64.b64encode(a.path.read_bytes()).decode()
            attachments.append(item)
        return {
            "action": ctx.action.value,
            "idempotency_key": ctx.idempotency_key,
            "document_id": doc.document_id,
            "version": doc.version,
            "index_no": doc.index_no,
            "title": doc.title,
            "doc_number": doc.doc_number,
            "publisher": doc.publisher,
            "category": list(doc.entry_path),
            "formed_on": doc.formed_on.isoformat(),
            "body_html": doc.body_html if ctx.action is not Action.withdraw else "",
            "attachments": attachments,
            "previous": ctx.previous_receipt.to_dict() if ctx.previous_receipt else None,
        }

    def _send(self, ctx: DeliveryContext) -> Receipt:
        self.require("url")
        body = json.dumps(self._payload(ctx), ensure_ascii=False).encode()
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            KEY_HEADER: ctx.idempotency_key,
            "X-Orch-Timestamp": str(int(time.time())),
        }
        if self.settings.secret:
            headers[SIGNATURE_HEADER] = sign(self.settings.secret, body)
        timeout = self.settings.timeout
        try:
            resp = requests.post(self.settings.url, data=body, headers=headers, timeout=(min(timeout, 5), timeout))
        except requests.Timeout as exc:
            raise TransientError("接收端响应超时", detail=str(exc)) from exc
        except requests.ConnectionError as exc:
            raise TransientError("无法连接接收端", detail=str(exc)) from exc
        excerpt = resp.text[:500]
        if resp.status_code == 409 or 200 <= resp.status_code < 300:
            try:
                data = resp.json() if resp.content else {}
            except ValueError:
                data = {}
            return Receipt(external_id=str(data.get("id") or ctx.idempotency_key), url=data.get("url"), data={"status": resp.status_code})
        status = resp.status_code
        raise error_for_status(
            status, detail=excerpt, code=str(status), retry_after=resp.headers.get("Retry-After"), auth_error=PermanentError,
            throttled="接收端限流（429），稍后重试", transient=f"接收端服务器错误（{status}）",
            unauthorized=f"接收端拒绝认证（{status}），请检查密钥配置", refused=f"接收端拒绝了该文件（{status}）")

    def publish(self, ctx: DeliveryContext) -> Receipt:
        return self._send(ctx)

    def update(self, ctx: DeliveryContext) -> Receipt:
        return self._send(ctx)

    def withdraw(self, ctx: DeliveryContext) -> Receipt:
        return self._send(ctx)


plugin = ChannelPlugin(name="http_push", adapters={"http_push": "channels.http_push:HttpPushChannel"})
