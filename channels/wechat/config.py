"""A WeChat destination's settings (its block in ``config/channels.yaml``; see :mod:`channels.wechat.adapter`)."""

from __future__ import annotations

from pydantic import Field

from channels.base import ChannelConfig
from channels.wechat.client import DEFAULT_API_BASE


class WeChatConfig(ChannelConfig):
    mode: str = "api"  # or "manual": a person publishes from paste-ready HTML
    appid: str = ""
    secret: str = ""
    api_base: str = DEFAULT_API_BASE
    token_mode: str = "stable"  # or "client_credential"
    timeout: float | None = Field(None, gt=0)  # default: ORCH_HTTP_TIMEOUT_SECONDS
    call_retries: int = Field(3, ge=0)
    retry_backoff: float = Field(0.3, ge=0)
    publish_settle_seconds: float = Field(10, ge=0)
    redis_url: str = ""  # default: the broker URL
    author: str = ""  # default: the publisher's name
    default_cover: str = ""
    default_covers: dict[str, str] = {}  # publisher → cover image path
    image_hosts: list[str] = []
    image_roots: list[str] = []
    open_comment: bool = False
    delete_old_on_update: bool = False
    notify: bool = False
    account_type: str = "subscription"  # or "service"
    mass_quota: int | None = Field(None, ge=0)  # default: 1 a day (subscription), 4 a month (service)
    manual_on_48001: bool = True
    callback_token: str = ""  # the server callback's Token (enables /channels/wechat/<name>/callback)
    encoding_aes_key: str = ""  # 安全模式 EncodingAESKey
