"""What each screen shows: one row per (screen, document), plus one row per screen for numbering and change tracking.

Why tables and not files under ``var``: the Celery workers that place notices and the web app that serves the live
screen pages are different processes, possibly on different hosts, sharing only the database. The rows are the one
truth for the live page; the export bundle on disk is derived from them and can be rebuilt at any time.

``document_id`` deliberately has no foreign key: the adapter works from the ``DocumentPayload`` it is given, and the
document lifecycle (withdraw, purge) is owned by the core, which must not be blocked by a screen row.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import Date, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from orchestrator.channel_api import Base, utcnow


class NoticeStatus(StrEnum):
    active = "active"  # shown while now is inside [display_from, display_until)
    withdrawn = "withdrawn"  # taken off by a withdrawal delivery


class ScreenBoard(Base):
    """Per-screen counters. Locking this row serialises changes to one screen across workers."""

    __tablename__ = "screen_boards"

    screen_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    # Next slide number (slides/NNNN.png); numbers are never reused, so an unchanged slide keeps its file name.
    next_slot: Mapped[int] = mapped_column(Integer, default=1)
    # Bumped on every change, so the live page and the bundle builder can tell something changed.
    revision: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ScreenNotice(Base):
    """One document as shown on one screen (the latest version placed there)."""

    __tablename__ = "screen_notices"
    __table_args__ = (
        UniqueConstraint("screen_id", "document_id"),
        UniqueConstraint("screen_id", "slot"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    screen_id: Mapped[str] = mapped_column(String(64), index=True)
    document_id: Mapped[int] = mapped_column(Integer, index=True)
    version: Mapped[int] = mapped_column(Integer)
    slot: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default=NoticeStatus.active, index=True)
    index_no: Mapped[str] = mapped_column(String(100), default="")
    title: Mapped[str] = mapped_column(String(500))
    doc_number: Mapped[str] = mapped_column(String(200), default="")
    publisher: Mapped[str] = mapped_column(String(200), default="")
    entry_code: Mapped[str] = mapped_column(String(64), default="")
    entry_path: Mapped[str] = mapped_column(String(400), default="")
    formed_on: Mapped[dt.date] = mapped_column(Date)
    published_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    excerpt: Mapped[str] = mapped_column(Text, default="")
    site_url: Mapped[str] = mapped_column(String(1000), default="")
    display_from: Mapped[dt.datetime] = mapped_column(index=True)
    display_until: Mapped[dt.datetime] = mapped_column(index=True)
    # Idempotency key of the delivery that last changed this row (a retried delivery changes nothing).
    delivery_key: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
