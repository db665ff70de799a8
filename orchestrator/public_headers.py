"""Security headers for the public pages (website column, gazette, live screens, push unsubscribe) and HTML-safe JSON.

Public pages show text typed by staff (titles, bodies) to everyone, so they get a strict Content-Security-Policy:
scripts only from our own origin (no inline scripts, no eval), nothing loaded from elsewhere, no framing. Inline
``<style>`` and ``style=""`` are allowed (the gazette's and screens' layouts use them; styles cannot run code).

One middleware (:class:`PublicHeadersMiddleware`) sets the headers on every response under the public prefixes;
routers that may also be served alone (the screens router in tests and players) add them through :data:`PUBLIC_HEADERS`.
"""

from __future__ import annotations

from typing import Any

from jinja2.utils import htmlsafe_json_dumps
from markupsafe import Markup
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PUBLIC_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: https:; "
    "font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
PUBLIC_HEADERS = {
    "Content-Security-Policy": PUBLIC_CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
}
PUBLIC_PREFIXES = ("/site", "/gazette", "/screens", "/push")


def inline_json(value: Any) -> Markup:
    """JSON safe to put inside ``<script type="application/json">`` or an attribute, as Jinja's ``tojson`` makes it.

    ``<``, ``>``, ``&`` and ``'`` become ``\\u003c`` … , so a title such as ``<!--<script>`` or ``</script>`` cannot end
    or re-open the element: the browser's HTML parser never sees markup in the data.
    """
    return htmlsafe_json_dumps(value, ensure_ascii=False)


def is_public(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in PUBLIC_PREFIXES)


class PublicHeadersMiddleware:
    """Adds :data:`PUBLIC_HEADERS` to every response under :data:`PUBLIC_PREFIXES` (keeps a stricter one already set)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_public(scope.get("path", "")):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for k, v in PUBLIC_HEADERS.items():
                    if k not in headers:
                        headers[k] = v
            await send(message)

        await self.app(scope, receive, send_with_headers)
