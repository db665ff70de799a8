"""Tables of the notifications service, the deadline warnings and the event dates (migration 0014_notify)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from orchestrator.models import Base, Document, utcnow


class Notification(Base):
    """One in-app message for one user (the 通知 list); ``read_at`` is set when the user opens or marks it."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_user_read", "user_id", "read_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text, default="")
    link: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    read_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)


class NotifyPreference(Base):
    """A user's choices (我的通知设置): their e-mail and webhook addresses and, per kind, the ways to be told.

    ``kinds`` maps a kind to a list of ways (``in_app``, ``email``, ``webhook``); a kind not listed gets in-app only."""

    __tablename__ = "notify_preferences"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True, autoincrement=False)
    email: Mapped[str] = mapped_column(String(254), default="")
    webhook_url: Mapped[str] = mapped_column(String(500), default="")
    kinds: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class NotifyOfficeAddress(Base):
    """Where office-level messages (deadline warnings, the weekly digest) go; kept by an admin.

    The reserved office name :data:`orchestrator.notify.LEADER` holds the leader's address for escalations."""

    __tablename__ = "notify_office_addresses"

    office: Mapped[str] = mapped_column(String(200), primary_key=True)
    email: Mapped[str] = mapped_column(String(254), default="")
    webhook_url: Mapped[str] = mapped_column(String(500), default="")
    updated_by: Mapped[str] = mapped_column(String(100), default="")
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class NotifySend(Base):
    """One e-mail or webhook message to one address, sent by a Celery task with retries: the record of each send."""

    __tablename__ = "notify_sends"
    __table_args__ = (Index("ix_notify_sends_status_next", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # Who it is for: "user:<id>", "office:<name>", "leader".
    target: Mapped[str] = mapped_column(String(220))
    way: Mapped[str] = mapped_column(String(10))  # email / webhook
    address: Mapped[str] = mapped_column(String(500))
    kind: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text, default="")
    link: Mapped[str] = mapped_column(String(500), default="")
    # Set for messages that must go out at most once (a week's digest): a second attempt to write it is dropped.
    dedup_key: Mapped[str | None] = mapped_column(String(300), nullable=True, unique=True)
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending/sending/retrying/sent/failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    claimed_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    sent_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)


class DeadlineWarning(Base):
    """A deadline warning that was sent: once per document, channel ("" for the document as a whole), level and due
    date (a due date moved by an event date or a new holiday schedule warns again)."""

    __tablename__ = "deadline_warnings"
    __table_args__ = (UniqueConstraint("document_id", "channel", "level", "due_date", name="uq_deadline_warnings_once"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"), index=True)
    channel: Mapped[str] = mapped_column(String(40), default="")
    level: Mapped[str] = mapped_column(String(20))  # before / due / overdue / escalated
    due_date: Mapped[dt.date] = mapped_column(Date)
    sent_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class DocumentEvent(Base):
    """The event an ``after_event`` time limit counts from (批复, 公示期满 …) and its date once the clerk gives it."""

    __tablename__ = "document_events"
    __table_args__ = (Index("ix_document_events_missing", "document_id", postgresql_where=text("event_date IS NULL"),
                            sqlite_where=text("event_date IS NULL")),)

    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"), primary_key=True, autoincrement=False)
    event_name: Mapped[str] = mapped_column(String(100), default="")
    event_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    entered_by: Mapped[str] = mapped_column(String(100), default="")
    entered_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)


class TodoNotified(Base):
    """A to-do item a person was already told about (the watcher tells each person once per item)."""

    __tablename__ = "todo_notified"
    __table_args__ = (UniqueConstraint("user_id", "key", name="uq_todo_notified_user_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    key: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


# 我的待办's "deliveries failed on my documents" and 我的文件 read a person's documents by who submitted them.
Index("ix_documents_submitted_by", Document.submitted_by)
# Send-backs waiting for a clerk (the 被退回 count): few rows, by entry (the office rule filters on entries).
Index("ix_documents_rejected_entry", Document.entry_id, postgresql_where=text("status = 'rejected'"),
      sqlite_where=text("status = 'rejected'"))
