"""Unsubscribe pages for targeted push: ``router`` is included by the web app.

``GET /push/unsubscribe/{token}`` shows a Chinese confirmation page with one button; ``POST`` to the same address records
the unsubscription and shows that it is done. Two steps because mail security scanners (and link previews) open every
link in a message: a GET that unsubscribed would silently drop recipients who never asked. Mail clients that support
RFC 8058 one-click unsubscribe POST ``List-Unsubscribe=One-Click`` to the same address (the email carries the
``List-Unsubscribe`` and ``List-Unsubscribe-Post`` headers) and get the same result.

Recording is idempotent (one row per publisher × member); later pushes of that publisher skip the member.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from fastapi import APIRouter, Form
from fastapi.responses import HTMLResponse
from jinja2 import Environment, select_autoescape
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from channels.push.config import SubscribersConfigError, load_subscribers, subscribers_path
from channels.push.models import PushUnsubscription
from channels.push.tokens import UnsubscribeClaim, read_token, resolve_secret
from channels.registry import destination_config
from channels.templating import environment
from orchestrator.channel_api import get_sessionmaker
from orchestrator.settings import get_settings

router = APIRouter(prefix="/push", tags=["精准推送"])


def _push_config() -> dict[str, Any]:
    """The targeted_push destination's settings, so links are checked with the key the adapter signed them with."""
    try:
        return destination_config("targeted_push", "push") or {}
    except (OSError, ValueError):
        return {}


def _member_name(config: dict[str, Any], claim: UnsubscribeClaim) -> str:
    try:
        pub = load_subscribers(subscribers_path(config)).for_publisher(claim.publisher)
    except SubscribersConfigError:
        pub = None
    return pub.member_name(claim.member) if pub else claim.member


@lru_cache
def _templates() -> Environment:
    return environment(get_settings().templates_dir, trim=False,
                       autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=True))


def _page(state: str, *, status_code: int = 200, claim: UnsubscribeClaim | None = None, member_name: str = "") -> HTMLResponse:
    heading = {"confirm": "确认退订", "done": "退订成功", "invalid": "退订链接无效"}[state]
    html = (
        _templates()
        .get_template("push/web/unsubscribe.html.j2")
        .render(
            state=state,
            heading=heading,
            publisher=claim.publisher if claim else "",
            member_name=member_name,
        )
    )
    # Pages behind a secret link: keep them out of caches and referrers.
    headers = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
    return HTMLResponse(html, status_code=status_code, headers=headers)


def _claim(token: str) -> tuple[UnsubscribeClaim | None, dict[str, Any]]:
    config = _push_config()
    return read_token(resolve_secret(config), token), config


@router.get("/unsubscribe/{token}", response_class=HTMLResponse, summary="退订确认页")
def unsubscribe_page(token: str) -> HTMLResponse:
    claim, config = _claim(token)
    if claim is None:
        return _page("invalid", status_code=400)
    if is_unsubscribed(claim.publisher, claim.member):
        return _page("done", claim=claim, member_name=_member_name(config, claim))
    return _page("confirm", claim=claim, member_name=_member_name(config, claim))


@router.post("/unsubscribe/{token}", response_class=HTMLResponse, summary="确认退订（含 RFC 8058 一键退订）")
def unsubscribe_confirm(
    token: str, one_click: str | None = Form(default=None, alias="List-Unsubscribe")
) -> HTMLResponse:
    claim, config = _claim(token)
    if claim is None:
        return _page("invalid", status_code=400)
    record_unsubscription(claim, method="one-click" if one_click == "One-Click" else "link")
    return _page("done", claim=claim, member_name=_member_name(config, claim))


def is_unsubscribed(publisher: str, member: str) -> bool:
    with get_sessionmaker()() as s:
        return (
            s.scalar(
                select(PushUnsubscription.id).where(
                    PushUnsubscription.publisher == publisher, PushUnsubscription.member == member
                )
            )
            is not None
        )


def record_unsubscription(claim: UnsubscribeClaim, *, method: str = "link") -> bool:
    """Record it once; True when this call recorded it, False when it was already there."""
    if is_unsubscribed(claim.publisher, claim.member):
        return False
    try:
        with get_sessionmaker().begin() as s:
            s.add(
                PushUnsubscription(
                    publisher=claim.publisher, member=claim.member, route_hash=claim.route_hash, method=method
                )
            )
    except IntegrityError:
        return False  # a double click raced us; the row is there either way
    return True
