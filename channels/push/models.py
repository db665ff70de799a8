"""Tables of the targeted-push channel (精准推送).

Apprise's ``notify()`` answers one boolean per route, so the adapter keeps its own ledger: one row per
delivery × member × route. The ledger is what makes a retry send only to those not yet reached, and what ops
read to see who got a notice and who did not.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from orchestrator.channel_api import Base, utcnow


class RecipientStatus(StrEnum):
    """States of one recipient route within one delivery.

    pending → sending → sent; sending → retrying → sending … on failure; → failed once the per-recipient cap is
    reached; → skipped when the member unsubscribed before we got to them.
    """

    pending = "pending"  # planned, not yet tried
    sending = "sending"  # claimed by a worker (lease_until); the outcome is unknown until it commits sent/retrying
    retrying = "retrying"  # the last try failed; a later attempt of the delivery tries again
    sent = "sent"  # the route accepted the notice (committed right after the send returned)
    failed = "failed"  # attempts exhausted
    skipped = "skipped"  # unsubscribed before sending


FINAL_RECIPIENT_STATUSES = frozenset({RecipientStatus.sent, RecipientStatus.failed, RecipientStatus.skipped})


class PushRecipientDelivery(Base):
    __tablename__ = "push_recipient_deliveries"
    __table_args__ = (
        UniqueConstraint("delivery_id", "member", "route_hash", name="uq_push_recipient_route"),
        Index("ix_push_recipient_publisher_member", "publisher", "member"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id", ondelete="CASCADE"), index=True)
    publisher: Mapped[str] = mapped_column(String(200))
    group: Mapped[str] = mapped_column(String(100))
    member: Mapped[str] = mapped_column(String(100))
    member_name: Mapped[str] = mapped_column(String(200), default="")
    # SHA-256 of the route's recipient identity (credentials stripped), so rotating an SMTP password mid-retry
    # does not make an already-reached address look new. The URL itself (it may hold secrets) is never stored.
    route_hash: Mapped[str] = mapped_column(String(64))
    route_display: Mapped[str] = mapped_column(String(500), default="")  # Apprise's privacy-masked URL, for ops
    route_kind: Mapped[str] = mapped_column(String(20), default="")  # email / webhook / chat
    status: Mapped[str] = mapped_column(String(20), default=RecipientStatus.pending, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    lease_until: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    sent_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class PushUnsubscription(Base):
    """A member who followed the unsubscribe link: later pushes of that publisher skip them."""

    __tablename__ = "push_unsubscriptions"
    __table_args__ = (UniqueConstraint("publisher", "member", name="uq_push_unsubscription"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    publisher: Mapped[str] = mapped_column(String(200))
    member: Mapped[str] = mapped_column(String(100))
    route_hash: Mapped[str] = mapped_column(String(64), default="")  # the route whose link was used
    method: Mapped[str] = mapped_column(String(20), default="link")  # link (confirmation page) / one-click (RFC 8058)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
