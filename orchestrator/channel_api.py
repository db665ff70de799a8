"""The core as a channel package sees it: the one module of ``orchestrator`` channels import (besides settings).

What is here is the contract; everything else in ``orchestrator`` may change without a channel noticing.

- database: ``session_scope`` (one transaction), ``get_sessionmaker``, ``Base`` (for a channel's own tables), ``utcnow``
- the agency: ``cached_profile`` (the 机关 profile pages and feeds print)
- content: ``sanitise_html`` (the body sanitiser the core uses), ``blob_path`` (where an attachment's bytes are stored)
- public pages: ``PUBLIC_HEADERS``, ``inline_json``
- deliveries: ``awaiting_deliveries`` (rows of a destination waiting on the channel) and ``request_poll`` (the poll
  hand-off: "poll these deliveries now", e.g. from a channel's callback route). The delivery layer registers the
  handler when it is imported (every process that runs deliveries or serves the web app imports it); without one,
  the sweeper polls the rows within its poll interval anyway.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from orchestrator.db import get_sessionmaker, session_scope
from orchestrator.documents.attachments import blob_path
from orchestrator.documents.content import sanitise_html
from orchestrator.documents.profile import cached_profile
from orchestrator.models import Base, Delivery, DeliveryStatus, utcnow
from orchestrator.public_headers import PUBLIC_HEADERS, inline_json

__all__ = [
    "PUBLIC_HEADERS", "Base", "awaiting_deliveries", "blob_path", "cached_profile", "get_sessionmaker", "inline_json",
    "register_poll_handler", "request_poll", "sanitise_html", "session_scope", "utcnow",
]

log = logging.getLogger(__name__)
_poll_handler: Callable[[list[int]], int] | None = None


def awaiting_deliveries(channel: str, destination: str) -> list[tuple[int, dict[str, Any]]]:
    """(delivery id, receipt) of every delivery of this destination waiting on the channel (``awaiting_channel``)."""
    with session_scope() as session:
        rows = session.execute(
            select(Delivery.id, Delivery.receipt).where(
                Delivery.channel == channel, Delivery.destination == destination,
                Delivery.status == DeliveryStatus.awaiting_channel)
        ).all()
    return [(rid, receipt or {}) for rid, receipt in rows]


def request_poll(ids: list[int]) -> int:
    """Ask the core to poll these deliveries now. Returns how many poll messages went out."""
    if not ids:
        return 0
    if _poll_handler is None:
        log.warning("no poll hand-off registered; the sweeper will poll deliveries %s", ids)
        return 0
    return _poll_handler(list(ids))


def register_poll_handler(handler: Callable[[list[int]], int]) -> None:
    """The delivery layer's side of :func:`request_poll`."""
    global _poll_handler
    _poll_handler = handler
