"""WeChat's ``PUBLISHJOBFINISH`` server callback: parsing the event, and the route that receives it."""

from __future__ import annotations

import hashlib
import hmac
import logging
import xml.etree.ElementTree as ET
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse
from starlette.concurrency import run_in_threadpool
from wechatpy.crypto import WeChatCrypto

from channels.base import NotConfigured, parse_config
from channels.registry import destination_config
from channels.wechat.client import PUBLISH_STATUS_TEXT
from channels.wechat.config import WeChatConfig
from orchestrator import channel_api

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------------------------------
# The PUBLISHJOBFINISH callback
# ------------------------------------------------------------------------------------------------------------
def handle_publish_event(xml_bytes: bytes) -> dict[str, Any]:
    """Parse WeChat's ``PUBLISHJOBFINISH`` event (wechatpy 1.8.18 parses it as ``UnknownMessage``, so read the XML).

    Returns ``{"event", "publish_id", "publish_status", "status_text", "final", "ok", "article_id", "article_urls",
    "fail_idx", "account"}``. The caller (the callback route, after signature check and decryption in safe mode) finds the
    delivery whose receipt has this ``publish_id`` and runs its poll now; ``freepublish/get`` stays the authority.
    Raises ``ValueError`` (Chinese message) for anything that is not this event.
    """
    if b"<!DOCTYPE" in xml_bytes.upper() or b"<!ENTITY" in xml_bytes.upper():
        raise ValueError("回调内容包含 DTD/实体声明，已拒绝")
    try:
        root = ET.fromstring(xml_bytes)
    except ET.ParseError as exc:
        raise ValueError(f"回调内容不是有效的 XML：{exc}") from exc
    event = (root.findtext("Event") or "").strip()
    info = root.find("PublishEventInfo")
    if event.upper() != "PUBLISHJOBFINISH" or info is None:
        raise ValueError(f"不是发表结果事件（Event={event or '空'}）")
    publish_id = (info.findtext("publish_id") or "").strip()
    if not publish_id:
        raise ValueError("发表结果事件缺少 publish_id")
    try:
        status = int((info.findtext("publish_status") or "").strip())
    except ValueError as exc:
        raise ValueError("发表结果事件的 publish_status 无效") from exc
    urls = [(item.findtext("article_url") or "").strip() for item in info.findall("./article_detail/item")]
    fail_idx = [int(x.text) for x in info.findall("fail_idx") if (x.text or "").strip().isdigit()]
    return {
        "event": "PUBLISHJOBFINISH",
        "account": (root.findtext("ToUserName") or "").strip(),
        "publish_id": publish_id,
        "publish_status": status,
        "status_text": PUBLISH_STATUS_TEXT.get(status, f"未知状态 {status}"),
        "final": status != 1,
        "ok": status == 0,
        "article_id": (info.findtext("article_id") or "").strip() or None,
        "article_urls": [u for u in urls if u],
        "fail_idx": fail_idx,
    }


# ------------------------------------------------------------------------------------------------------------
# The route: /channels/wechat/{destination}/callback (URL verification by GET, events by POST)
# ------------------------------------------------------------------------------------------------------------
def _destination_config(name: str) -> WeChatConfig | None:
    config = destination_config("wechat", "wechat", name)
    return parse_config(WeChatConfig, config, name) if config is not None else None


def _signature_ok(token: str, signature: str, timestamp: str, nonce: str) -> bool:
    expected = hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode()).hexdigest()
    return hmac.compare_digest(expected, signature or "")


def _poll_publish(destination: str, publish_id: str) -> int:
    """Poll now the delivery waiting on this publish_id; freepublish/get stays the authority on the outcome."""
    ids = [rid for rid, receipt in channel_api.awaiting_deliveries("wechat", destination)
           if str((receipt.get("data") or {}).get("publish_id", "")) == publish_id]
    return channel_api.request_poll(ids) if ids else 0


def _config_or_404(destination: str) -> WeChatConfig | PlainTextResponse:
    try:
        config = _destination_config(destination)
    except NotConfigured as exc:
        return PlainTextResponse(exc.message, status_code=404)
    if config is None or not config.callback_token:
        return PlainTextResponse("未配置该公众号的服务器回调（callback_token）", status_code=404)
    return config


router = APIRouter(tags=["wechat"])


@router.get("/channels/wechat/{destination}/callback", include_in_schema=False)
async def verify(destination: str, signature: str = "", timestamp: str = "", nonce: str = "",
                 echostr: str = "") -> PlainTextResponse:
    config = await run_in_threadpool(_config_or_404, destination)
    if isinstance(config, PlainTextResponse):
        return config
    if not _signature_ok(config.callback_token, signature, timestamp, nonce):
        return PlainTextResponse("签名校验失败", status_code=403)
    return PlainTextResponse(echostr)


@router.post("/channels/wechat/{destination}/callback", include_in_schema=False)
async def event(destination: str, request: Request, signature: str = "", timestamp: str = "", nonce: str = "",
                msg_signature: str = "", encrypt_type: str = Query("")) -> PlainTextResponse:
    config = await run_in_threadpool(_config_or_404, destination)
    if isinstance(config, PlainTextResponse):
        return config
    token = config.callback_token
    if not _signature_ok(token, signature, timestamp, nonce):
        return PlainTextResponse("签名校验失败", status_code=403)
    body = await request.body()
    if len(body) > 64 * 1024:
        return PlainTextResponse("回调内容过大", status_code=413)
    if encrypt_type == "aes":  # 安全模式: decrypt with the account's EncodingAESKey
        try:
            body = WeChatCrypto(token, config.encoding_aes_key, config.appid) \
                .decrypt_message(body, msg_signature, timestamp, nonce).encode("utf-8")
        except Exception:
            return PlainTextResponse("回调解密失败", status_code=403)
    try:
        info = handle_publish_event(body)
    except ValueError:
        return PlainTextResponse("success")  # other events: acknowledged, nothing to do
    polled = await run_in_threadpool(_poll_publish, destination, info["publish_id"])
    log.info("wechat callback publish_id=%s status=%s polled=%d", info["publish_id"], info["publish_status"], polled)
    return PlainTextResponse("success")
