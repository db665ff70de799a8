"""Checking the addresses people type (e-mail, webhook URL) and turning them into Apprise URLs.

Webhooks: http(s) only, no credentials in the URL, at most 500 characters. A webhook at a loopback, private, link-local
or otherwise non-public address is refused unless ``ORCH_NOTIFY_WEBHOOK_ALLOW_PRIVATE`` is set (an intranet
deployment whose receivers live on private addresses): checked when the address is saved and again, after DNS
resolution, when a message is sent, so a name re-pointed later cannot reach an internal service.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from orchestrator.settings import get_settings

MAX_EMAIL = 254
MAX_URL = 500
_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")


class AddressError(ValueError):
    """A typed address that cannot be used; the message is Chinese and says why."""


def check_email(raw: str) -> str:
    addr = (raw or "").strip()
    if not addr:
        return ""
    if len(addr) > MAX_EMAIL:
        raise AddressError(f"电子邮箱地址过长（最多 {MAX_EMAIL} 个字符）")
    if not _EMAIL.match(addr):
        raise AddressError(f"“{addr[:60]}”不是有效的电子邮箱地址")
    return addr


def _private(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return not ip.is_global or ip.is_multicast


def check_webhook(raw: str) -> str:
    url = (raw or "").strip()
    if not url:
        return ""
    if len(url) > MAX_URL:
        raise AddressError(f"Webhook 地址过长（最多 {MAX_URL} 个字符）")
    if any(c.isspace() or ord(c) < 32 for c in url):
        raise AddressError("Webhook 地址不能含空格或控制字符")
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        raise AddressError("Webhook 地址须以 http:// 或 https:// 开头")
    if not parts.hostname:
        raise AddressError("Webhook 地址缺少主机名")
    if parts.username or parts.password:
        raise AddressError("Webhook 地址不能包含用户名或密码")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise AddressError("Webhook 地址的端口不正确") from None
    if not get_settings().notify_webhook_allow_private:
        host = parts.hostname.lower()
        if host == "localhost" or host.endswith((".localhost", ".local", ".internal")):
            raise AddressError("不允许向本机或内网地址发送 Webhook（如确需，请由管理员设置 ORCH_NOTIFY_WEBHOOK_ALLOW_PRIVATE）")
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            ip = None
        if ip is not None and _private(ip):
            raise AddressError("不允许向本机或内网地址发送 Webhook（如确需，请由管理员设置 ORCH_NOTIFY_WEBHOOK_ALLOW_PRIVATE）")
    return url


def resolves_public(url: str) -> bool:
    """At send time: every address the host resolves to is public (or private ones are allowed)."""
    if get_settings().notify_webhook_allow_private:
        return True
    parts = urlsplit(url)
    try:
        infos = socket.getaddrinfo(parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80))
    except (OSError, UnicodeError):
        return False
    return bool(infos) and not any(_private(ipaddress.ip_address(i[4][0].split("%")[0])) for i in infos)


def mail_server() -> str:
    s = get_settings()
    server = s.notify_mail_server or os.environ.get("ORCH_PUSH_SMTP_URL", "")
    if not server:
        server = f"mailto://127.0.0.1:{s.outbox_smtp_port}?from={s.notify_mail_from}&mode=insecure"
    return server


def apprise_url(way: str, address: str) -> str:
    """The Apprise URL for one address: the mail server with ``to=``, or json(s):// for a webhook."""
    if way == "email":
        server = mail_server()
        return f"{server}{'&' if '?' in server else '?'}to={quote(address, safe='@')}"
    parts = urlsplit(address)
    scheme = "jsons" if parts.scheme.lower() == "https" else "json"
    # The receiver's own query parameters (a token, say) pass through Apprise as "-name=value".
    query = urlencode([(f"-{k}", v) for k, v in parse_qsl(parts.query, keep_blank_values=True)])
    return f"{scheme}://{parts.netloc}{parts.path or '/'}" + (f"?{query}" if query else "")
