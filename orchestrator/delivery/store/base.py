"""The delivery store interface: what the engine and the document operations ask of the database.

Three operations carry the hot path — *claim with context*, *finish* (record an attempt's outcome) and *write a
submission* (document, version, deliveries and their transition rows, attachments) — plus the few smaller reads and
writes around them. :class:`~orchestrator.delivery.store.portable.PortableStore` implements them with SQLAlchemy
Core statements any database runs (the embedded default's SQLite); :class:`~orchestrator.delivery.store.postgres.
PostgresStore` with single-statement data-modifying CTEs. Both take every value they write from
:mod:`orchestrator.delivery.rules`. Pick one with :func:`orchestrator.delivery.store.store_for`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from sqlalchemy import Connection, Engine, bindparam, func, insert, select
from sqlalchemy.orm import Session

from channels.base import DeliveryContext
from orchestrator.delivery import rules
from orchestrator.delivery.rules import Claim, Outcome
from orchestrator.documents.attachments import StoredAttachment
from orchestrator.models import Attachment, Delivery, DeliveryAttempt, DeliveryTransition, Publisher
from orchestrator.settings import Settings

D = Delivery.__table__.c
DELIVERIES = Delivery.__table__
TRANSITIONS = DeliveryTransition.__table__
ATTEMPTS = DeliveryAttempt.__table__
INSERT_TRANSITION = insert(TRANSITIONS)
INSERT_ATTEMPT = insert(ATTEMPTS)
# Core executemany with RETURNING (one round trip for all rows, ids in parameter order), then one for the transitions.
_INSERT_DELIVERIES = insert(DELIVERIES).returning(D.id, D.channel, D.status, sort_by_parameter_order=True)
_DEFERRED_SINCE = select(D.deferred_since).where(D.id == bindparam("b_id"))
_PROGRESS_ATTEMPTS = select(func.count()).select_from(ATTEMPTS).where(
    ATTEMPTS.c.delivery_id == bindparam("b_id"), ATTEMPTS.c.outcome == rules.PROGRESS)

# A claimed delivery's work: (connection, claim, context) → the new status.
Work = Callable[[Connection, Claim, DeliveryContext], str]


class NewDelivery(NamedTuple):
    id: int
    channel: str
    status: str


@dataclass
class Submission:
    document_id: int
    index_no: str
    version_id: int
    deliveries: list[NewDelivery]


def index_prefix(publisher: Publisher, year: int) -> str:
    return f"{publisher.index_prefix or f'P{publisher.id:04d}'}/{year}-"


class DeliveryStore:
    """The interface, with the parts both implementations share (plain statements, no dialect of their own)."""

    name = "abstract"
    skip_locked = False  # the sweeper may skip rows another sweeper holds (SELECT … FOR UPDATE SKIP LOCKED)

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # --- the worker's side ---------------------------------------------------------------------------------------
    def run_claimed(self, delivery_id: int, settings: Settings, owner: str, work: Work) -> str | None:
        """Claim the row (durably, before any side effect), build the adapter's context, run ``work`` on the same
        connection. None (and nothing changed) when the row is not ours to send: a duplicate or early message."""
        raise NotImplementedError

    def claim_with_context(self, conn: Connection, delivery_id: int, settings: Settings,
                           owner: str) -> tuple[Claim, DeliveryContext] | None:
        raise NotImplementedError

    def finish(self, conn: Connection, c: Claim, now: dt.datetime, out: Outcome) -> tuple[bool, str]:
        """Write the outcome only while ``c.owner`` still holds the lease: (won, the row's status now)."""
        raise NotImplementedError

    def lease_engine(self) -> Engine:
        """The engine the lease keeper renews leases on."""
        return self.engine

    def deferred_since(self, conn: Connection, delivery_id: int) -> dt.datetime | None:
        value = conn.execute(_DEFERRED_SINCE, {"b_id": delivery_id}).scalar()
        conn.commit()
        return value

    def progress_attempts(self, conn: Connection, delivery_id: int) -> int:
        if conn.in_transaction():
            return conn.execute(_PROGRESS_ATTEMPTS, {"b_id": delivery_id}).scalar_one()
        with conn.begin():  # the portable finish begins its own transaction right after
            return conn.execute(_PROGRESS_ATTEMPTS, {"b_id": delivery_id}).scalar_one()

    def log_verify_attempt(self, conn: Connection, c: Claim, now: dt.datetime, note: str) -> None:
        """A failed check right after sending: its own line in the attempt log (the send itself succeeded)."""
        conn.execute(INSERT_ATTEMPT, {
            "delivery_id": c.delivery_id, "number": c.attempt_no, "operation": "verify", "worker": c.owner,
            "started_at": now, "ended_at": now, "outcome": "verify_failed", "error_class": "", "message": note[:4000],
            "response_excerpt": ""})
        conn.commit()

    # --- the document operations' side ---------------------------------------------------------------------------
    def allocate_index_no(self, session: Session, publisher: Publisher, year: int) -> str:
        """Gap-free per publisher and year: the counter row is locked until the caller's transaction commits."""
        raise NotImplementedError

    def write_submission(self, session: Session, settings: Settings, publisher: Publisher, year: int, document: dict,
                         version: dict, destinations: list[tuple[str, str]],
                         publish_at: dt.datetime | None, now: dt.datetime) -> Submission:
        """A first submission in the caller's transaction: index number, document, version 1, one ``publish``
        delivery per (channel, destination) and their transition rows."""
        raise NotImplementedError

    def insert_deliveries(self, session: Session, settings: Settings, document_id: int, version_id: int, version: int,
                          publish_at: dt.datetime | None, action: str, destinations: list[tuple[str, str]],
                          follows: dict[tuple[str, str], int] | None = None, *, now: dt.datetime,
                          reason: str = rules.CREATED_REASON, actor: str = "") -> list[NewDelivery]:
        """One delivery per (channel, destination) of a document version, and its first transition row."""
        status, not_before = rules.first_state(action, publish_at, now)
        rows = [
            {"document_id": document_id, "version_id": version_id, "version": version, "channel": channel,
             "destination": name, "action": action,
             "idempotency_key": rules.idempotency_key(document_id, version, channel, name, action),
             "status": status, "queued_at": now, "max_attempts": settings.max_attempts,
             "not_before": not_before, "follows_id": (follows or {}).get((channel, name)),
             "created_at": now, "updated_at": now}
            for channel, name in destinations
        ]
        if not rows:
            return []
        out = [NewDelivery(*r) for r in session.execute(_INSERT_DELIVERIES, rows)]
        session.execute(INSERT_TRANSITION, [
            {"delivery_id": d.id, "from_status": "", "to_status": d.status, "reason": reason[:2000], "actor": actor,
             "at": now}
            for d in out
        ])
        return out

    def insert_attachments(self, session: Session, version_id: int, stored: list[StoredAttachment]) -> None:
        if not stored:
            return
        session.execute(insert(Attachment.__table__), [
            {"version_id": version_id, "position": i, "filename": s.filename, "content_type": s.content_type,
             "size": s.size, "sha256": s.sha256}
            for i, s in enumerate(stored)
        ])
