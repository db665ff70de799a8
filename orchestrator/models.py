"""The data model (SQLAlchemy 2.0 typed ORM). Schema changes go through Alembic (``migrations/``)."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator):
    """Timestamps are stored in UTC and always come back timezone-aware.

    PostgreSQL keeps the zone; SQLite does not, and a naive value read back would later be taken for Beijing time
    (an eight-hour error on every page). Naive values are refused on the way in for the same reason.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: pass a timezone-aware value")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value


class Base(DeclarativeBase):
    type_annotation_map = {
        dt.datetime: UTCDateTime(),
        dict[str, Any]: JSON,
        list[Any]: JSON,
        list[str]: JSON,
    }


class DeliveryStatus(StrEnum):
    """States of one delivery (docs/delivery-states in README)."""

    scheduled = "scheduled"  # embargoed: waits for publish_at, released by beat
    pending = "pending"  # written with the document, not yet handed to the broker
    queued = "queued"  # a message is on the channel's queue
    sending = "sending"  # a worker holds the lease and is calling the adapter
    retrying = "retrying"  # a transient error; next_attempt_at says when
    awaiting_channel = "awaiting_channel"  # accepted by the channel, which finishes later (WeChat freepublish)
    awaiting_confirmation = "awaiting_confirmation"  # a person must do it and confirm (manual channels)
    delivered = "delivered"
    verified = "verified"  # delivered and checked live
    failed = "failed"  # permanent error or attempts exhausted; ops may retry or cancel
    not_configured = "not_configured"  # the channel has no destination configured; ops may retry after configuring
    cancelled = "cancelled"
    removed = "removed"  # was live, then taken down by the channel itself (WeChat status 5/6)


# Failure groups on the dashboard, and 核验失败 (delivered, re-checks used up, last check failed): SQL for indexes.
FAILING_SQL = "('failed', 'not_configured')"
VERIFY_FAILED_SQL = "status = 'delivered' AND verify_error <> ''"
PUBLISH_DONE_SQL = "action = 'publish' AND status IN ('delivered', 'verified')"
ERROR_KEY_CHARS = 120
OWED_PUBLISH_SQL = "action = 'publish' AND status NOT IN ('delivered', 'verified', 'cancelled', 'removed')"

OPEN_STATUSES = frozenset(
    {
        DeliveryStatus.scheduled,
        DeliveryStatus.pending,
        DeliveryStatus.queued,
        DeliveryStatus.sending,
        DeliveryStatus.retrying,
        DeliveryStatus.awaiting_channel,
        DeliveryStatus.awaiting_confirmation,
    }
)
DONE_STATUSES = frozenset({DeliveryStatus.delivered, DeliveryStatus.verified})


class Publisher(Base):
    __tablename__ = "publishers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    index_prefix: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    entries: Mapped[list[CatalogEntryRow]] = relationship(back_populates="publisher")


class CatalogEntryRow(Base):
    """A catalog entry as synced from ``config/catalogs/*.yaml`` (the YAML is the source; this is its copy)."""

    __tablename__ = "catalog_entries"
    __table_args__ = (UniqueConstraint("publisher_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    publisher_id: Mapped[int] = mapped_column(ForeignKey("publishers.id"))
    code: Mapped[str] = mapped_column(String(64))
    path: Mapped[list[str]] = mapped_column(JSON)
    path_text: Mapped[str] = mapped_column(String(400), index=True)
    content: Mapped[str] = mapped_column(Text, default="")
    time_limit: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    keep_public: Mapped[bool] = mapped_column(Boolean, default=False)
    channels: Mapped[list[str]] = mapped_column(JSON, default=list)
    offices: Mapped[list[str]] = mapped_column(JSON, default=list)
    audience: Mapped[str] = mapped_column(String(50), default="")
    warnings: Mapped[list[str]] = mapped_column(JSON, default=list)
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The 保密审查 switch as an admin set it in the web app (None: as the catalog YAML says). Never written by a
    # catalog sync or re-import, so the admin's decision survives both (0010).
    review_override: Mapped[bool | None] = mapped_column(Boolean, nullable=True, default=None)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    synced_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    publisher: Mapped[Publisher] = relationship(back_populates="entries")

    @property
    def needs_review(self) -> bool:
        """Whether documents of this entry wait for 保密审查: the web app's switch, else the catalog's option."""
        if self.review_override is not None:
            return self.review_override
        return bool((self.options or {}).get("review"))


class IndexSequence(Base):
    """Gap-free 索引号 counter per publisher and year (incremented under a row lock in the submit transaction)."""

    __tablename__ = "index_sequences"

    publisher_id: Mapped[int] = mapped_column(ForeignKey("publishers.id"), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_value: Mapped[int] = mapped_column(Integer, default=0)


class DocumentStatus(StrEnum):
    pending_review = "pending_review"  # waits for 保密审查 approval (when the entry asks for review)
    rejected = "rejected"
    active = "active"
    withdrawn = "withdrawn"


class Document(Base):
    __tablename__ = "documents"
    # Documents in review by due date (the dashboard's deadline list): few rows (0012).
    __table_args__ = (Index("ix_documents_review_due", "due_date", postgresql_where=text("status = 'pending_review'"),
                            sqlite_where=text("status = 'pending_review'")),
                      Index("ix_documents_office_id", "office", "id"))  # an office's documents, index only (0014)

    id: Mapped[int] = mapped_column(primary_key=True)
    publisher_id: Mapped[int] = mapped_column(ForeignKey("publishers.id"), index=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("catalog_entries.id"), index=True)
    index_no: Mapped[str] = mapped_column(String(100), unique=True)
    status: Mapped[str] = mapped_column(String(20), default=DocumentStatus.active)
    current_version: Mapped[int] = mapped_column(Integer, default=1)
    title: Mapped[str] = mapped_column(String(500))  # of the current version, for listing
    office: Mapped[str] = mapped_column(String(200), default="", index=True)  # the log's office list (0012)
    formed_on: Mapped[dt.date] = mapped_column(Date)  # 生成日期 / event date the rule counts from
    due_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True, index=True)
    due_note: Mapped[str] = mapped_column(Text, default="")
    # True when due_date was counted through a year without an official holiday schedule (暂估); recomputed later.
    due_date_provisional: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0", index=True)
    publish_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)  # embargo
    display_from: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    display_until: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    related_document_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id"), nullable=True, index=True)
    # How this document relates to related_document_id: "解读" (it is an interpretation of that policy) or "相关" (0014).
    related_kind: Mapped[str] = mapped_column(String(10), default="", server_default="")
    # 有效性 as the clerk states it (有效 / 已修订 / 已废止 / 已失效) and since when; a withdrawal shows 已撤回 instead.
    validity: Mapped[str] = mapped_column(String(10), default="有效", server_default="有效")
    validity_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    subject_words: Mapped[str] = mapped_column(String(200), default="", server_default="")  # 主题词
    submitted_by: Mapped[str] = mapped_column(String(100), default="")
    # Per-channel overrides given at submission, e.g. {"wechat": {"title": "短标题"}}.
    channel_options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    withdraw_reason: Mapped[str] = mapped_column(Text, default="")

    entry: Mapped[CatalogEntryRow] = relationship()
    publisher: Mapped[Publisher] = relationship()
    versions: Mapped[list[DocumentVersion]] = relationship(
        back_populates="document", order_by="DocumentVersion.version", cascade="all, delete-orphan"
    )
    deliveries: Mapped[list[Delivery]] = relationship(back_populates="document", order_by="Delivery.id")


class DocumentVersion(Base):
    __tablename__ = "document_versions"
    __table_args__ = (UniqueConstraint("document_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"))
    version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(500))
    body_html: Mapped[str] = mapped_column(Text)  # sanitised
    body_source: Mapped[str] = mapped_column(Text, default="")  # as submitted (Markdown or HTML), never lost
    body_format: Mapped[str] = mapped_column(String(10), default="html")
    doc_number: Mapped[str] = mapped_column(String(200), default="")  # 文号
    summary: Mapped[str] = mapped_column(Text, default="")
    change_note: Mapped[str] = mapped_column(Text, default="")
    personal_data_confirmed: Mapped[bool] = mapped_column(Boolean, default=False)
    content_hash: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    document: Mapped[Document] = relationship(back_populates="versions")
    attachments: Mapped[list[Attachment]] = relationship(back_populates="version", order_by="Attachment.position")


class Attachment(Base):
    """Bytes live content-addressed on disk (``var/attachments/ab/cdef…``); the row keeps the user's name."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("document_versions.id"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64), index=True)

    version: Mapped[DocumentVersion] = relationship(back_populates="attachments")


class Delivery(Base):
    """One document version × channel destination × action: the unit of fan-out (an outbox row)."""

    __tablename__ = "deliveries"
    __table_args__ = (
        Index("ix_deliveries_sweep", "status", "next_attempt_at"),
        Index("ix_deliveries_channel_status_created", "channel", "status", "created_at"),  # dashboard (0007)
        # Re-checks due (the sweeper): only rows with one scheduled, so a status change never writes here (0017).
        Index("ix_deliveries_verify_due", "verify_due_at", postgresql_where=text("verify_due_at IS NOT NULL"),
              sqlite_where=text("verify_due_at IS NOT NULL")),
        # A document's deliveries, and its newest website receipt (every claim reads it): one probe, in id order (0017).
        Index("ix_deliveries_document_channel", "document_id", "channel", "id"),
        # The dashboard's failure groups (newest change per group) and the 核验失败 card (0012).
        Index("ix_deliveries_failure_groups", "channel", "status", "error_class", text("substr(last_error, 1, 120)"),
              "updated_at", postgresql_where=text(f"status IN {FAILING_SQL}"), sqlite_where=text(f"status IN {FAILING_SQL}")),
        Index("ix_deliveries_verify_failed", "id", postgresql_where=text(VERIFY_FAILED_SQL),
              sqlite_where=text(VERIFY_FAILED_SQL)),
        # Documents that still owe a publication (the deadline list and cards): one small index probe each.
        Index("ix_deliveries_owed_publish", "document_id", postgresql_where=text(OWED_PUBLISH_SQL),
              sqlite_where=text(OWED_PUBLISH_SQL)),
        # The log filtered by a rare state (and an office): that state's deliveries and documents, index only (0014).
        Index("ix_deliveries_status_document", "status", "document_id", "id"),
        # Newest publication per site / account (freshness of homepages and new-media accounts): a skip scan (0016).
        Index("ix_deliveries_published_destination", "channel", "destination", "delivered_at",
              postgresql_where=text(PUBLISH_DONE_SQL), sqlite_where=text(PUBLISH_DONE_SQL)),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"))
    version_id: Mapped[int] = mapped_column(ForeignKey("document_versions.id"))
    version: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(40))
    destination: Mapped[str] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(10))
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    status: Mapped[str] = mapped_column(String(30), default=DeliveryStatus.pending)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=6)
    lease_until: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    lease_owner: Mapped[str] = mapped_column(String(200), default="")
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    not_before: Mapped[dt.datetime | None] = mapped_column(nullable=True)  # embargo
    last_error: Mapped[str] = mapped_column(Text, default="")
    error_class: Mapped[str] = mapped_column(String(40), default="")
    receipt: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    checkpoint: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    follows_id: Mapped[int | None] = mapped_column(ForeignKey("deliveries.id"), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    queued_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    verified_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    # When a delivered item was last re-checked on its channel (still live, or taken down by the channel): 0010.
    rechecked_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    confirmed_by: Mapped[str] = mapped_column(String(100), default="")
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    confirmation_note: Mapped[str] = mapped_column(Text, default="")
    evidence_sha256: Mapped[str] = mapped_column(String(64), default="")
    evidence_filename: Mapped[str] = mapped_column(String(255), default="")
    # Since when the channel keeps saying "later" (429/503 with Retry-After); bounded by ORCH_MAX_DEFER_SECONDS.
    deferred_since: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    # Verification after delivery: when to check again, how many checks ran, and why the last one failed once
    # the checks are used up (non-empty = 核验失败, shown to ops).
    verify_due_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    verify_tries: Mapped[int] = mapped_column(Integer, default=0)
    verify_error: Mapped[str] = mapped_column(Text, default="")

    document: Mapped[Document] = relationship(back_populates="deliveries")
    attempts_log: Mapped[list[DeliveryAttempt]] = relationship(
        back_populates="delivery", order_by="DeliveryAttempt.id", cascade="all, delete-orphan"
    )
    transitions: Mapped[list[DeliveryTransition]] = relationship(
        back_populates="delivery", order_by="DeliveryTransition.id", cascade="all, delete-orphan"
    )


class DeliveryCount(Base):
    """Signed deltas (+1/-1) of the number of deliveries per key, appended by database triggers (migration 0012).

    The key is channel × status and, for failed and not-configured deliveries, the error class and the first 120
    characters of the error (the dashboard's failure groups; empty otherwise). ``SUM(n)`` per key is the number of
    deliveries with that key; ``orchestrator.web.opscounts`` reads and now and then folds the rows.
    """

    __tablename__ = "delivery_counts"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True)
    channel: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(30))
    error_class: Mapped[str] = mapped_column(String(40))
    error_key: Mapped[str] = mapped_column(Text)
    n: Mapped[int] = mapped_column(Integer)


class DocumentPublication(Base):
    """What one document has published, kept by database triggers on ``deliveries`` and ``documents`` (migration
    0016): the number of its deliveries that are delivered or verified (any action), the newest ``delivered_at`` of its
    delivered/verified publish deliveries (any channel; the website's), its catalog entry and whether it is withdrawn.
    A document that never had a delivered or verified delivery may have no row. Read by the freshness of catalog
    entries (newest per entry: one index probe) and the count of published documents; never written by the app."""

    __tablename__ = "document_publications"
    __table_args__ = (Index("ix_document_publications_entry_publish", "entry_id", "last_publish_at"),
                      Index("ix_document_publications_entry_website", "entry_id", "last_website_at"))

    document_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    entry_id: Mapped[int] = mapped_column(Integer)
    withdrawn: Mapped[bool] = mapped_column(Boolean)
    published: Mapped[int] = mapped_column(Integer)
    last_publish_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    last_website_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)


class DeliveryAttempt(Base):
    __tablename__ = "delivery_attempts"
    __table_args__ = (Index("ix_delivery_attempts_delivery_started", "delivery_id", "started_at"),)  # log (0007)

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    operation: Mapped[str] = mapped_column(String(20), default="")  # publish/update/withdraw/poll/verify
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    ended_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    outcome: Mapped[str] = mapped_column(String(20), default="")  # success / transient / deferred / permanent / pending / crashed / verify_failed
    error_class: Mapped[str] = mapped_column(String(80), default="")
    message: Mapped[str] = mapped_column(Text, default="")
    response_excerpt: Mapped[str] = mapped_column(Text, default="")
    worker: Mapped[str] = mapped_column(String(200), default="")

    delivery: Mapped[Delivery] = relationship(back_populates="attempts_log")


class DeliveryTransition(Base):
    """Every state change, timestamped."""

    __tablename__ = "delivery_transitions"

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id"), index=True)
    from_status: Mapped[str] = mapped_column(String(30))
    to_status: Mapped[str] = mapped_column(String(30))
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    reason: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str] = mapped_column(String(100), default="")

    delivery: Mapped[Delivery] = relationship(back_populates="transitions")


class DueDateChange(Base):
    """A due date recomputed after the fact (a provisional date replaced once the official schedule arrived)."""

    __tablename__ = "due_date_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"), index=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    old_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    new_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    old_provisional: Mapped[bool] = mapped_column(Boolean, default=False)
    new_provisional: Mapped[bool] = mapped_column(Boolean, default=False)
    note: Mapped[str] = mapped_column(Text, default="")  # Chinese, shown on the document page


class HolidayYear(Base):
    """A year's holiday schedule entered by an admin (国务院办公厅 notice): wins over files and the package."""

    __tablename__ = "holiday_years"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    holidays: Mapped[list[str]] = mapped_column(JSON, default=list)  # ISO dates
    workdays: Mapped[list[str]] = mapped_column(JSON, default=list)  # make-up working days (调休上班)
    source: Mapped[str] = mapped_column(Text, default="")
    updated_by: Mapped[str] = mapped_column(String(100), default="")
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    display_name: Mapped[str] = mapped_column(String(100), default="")
    password_hash: Mapped[str] = mapped_column(String(255), default="")
    role: Mapped[str] = mapped_column(String(20), default="clerk")  # clerk / reviewer / ops / admin
    office: Mapped[str] = mapped_column(String(200), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ApiToken(Base):
    """Per-user API tokens; only a SHA-256 of the token is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)

    user: Mapped[User] = relationship()


class AgencyProfile(Base):
    """The agency's own particulars, kept by an admin in the web app (one row, id 1): the public site's footer and
    guide, the gazette and the screens show them; the unified social credit code prefixes the 索引号 (0010)."""

    __tablename__ = "agency_profile"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    uscc: Mapped[str] = mapped_column(String(18), default="")  # 统一社会信用代码
    address: Mapped[str] = mapped_column(String(300), default="")
    hours: Mapped[str] = mapped_column(String(200), default="")
    phone: Mapped[str] = mapped_column(String(100), default="")
    email: Mapped[str] = mapped_column(String(200), default="")
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(100), default="")


class AuthThrottle(Base):
    """Failed log-ins and bad API tokens per account or per client address, and the lock-out they led to.

    In the database (not in memory) so every web process and worker sees the same counts and lock-outs.
    """

    __tablename__ = "auth_throttle"
    __table_args__ = (UniqueConstraint("scope", "key", name="uq_auth_throttle_scope_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(16))  # account / address / token
    key: Mapped[str] = mapped_column(String(200))  # normalised user name, or the client address
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    locked_until: Mapped[dt.datetime | None] = mapped_column(nullable=True, index=True)


# The 我的文件 search on PostgreSQL (migration 0016): GIN indexes on the characters and character pairs of the
# lower-cased title, 索引号 and 文号 (``orch_grams``, a function the migration creates; SQLite has neither).
for _name, _column in (("ix_documents_title_grams", Document.title), ("ix_documents_index_no_grams", Document.index_no),
                       ("ix_document_versions_doc_number_grams", DocumentVersion.doc_number)):
    Index(_name, func.orch_grams(_column), postgresql_using="gin").ddl_if(dialect="postgresql")
