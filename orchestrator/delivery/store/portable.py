"""The portable store: plain SQLAlchemy Core statements in short transactions (SQLite, the embedded default).

A claim is an optimistic conditional UPDATE (the row must still be in the state and attempt count just read), then
the transition and attempt rows, committed before the adapter runs; the outcome is a conditional UPDATE guarded by
status and lease owner, then its rows, in one transaction.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from channels.base import DeliveryContext
from orchestrator.delivery import rules
from orchestrator.delivery.rules import Claim, Outcome
from orchestrator.delivery.store.base import (
    ATTEMPTS,
    DELIVERIES,
    INSERT_TRANSITION,
    D,
    DeliveryStore,
    Submission,
    Work,
    index_prefix,
)
from orchestrator.delivery.store.context import build_context
from orchestrator.models import Document, DocumentVersion, IndexSequence, Publisher, utcnow
from orchestrator.settings import Settings

S = rules.S
_CLAIM_READ = select(D.status, D.attempts, D.max_attempts, D.next_attempt_at, D.not_before, D.action).where(
    D.id == bindparam("b_id"))
_CLAIM_WRITE = (
    update(DELIVERIES)
    .where(D.id == bindparam("b_id"), D.status == bindparam("b_status"), D.attempts == bindparam("b_attempts"))
    .values(status=S.sending, attempts=bindparam("b_next"), lease_owner=bindparam("b_owner"),
            updated_at=bindparam("b_now"), lease_until=bindparam("b_lease"))
)
_INSERT_ATTEMPT = insert(ATTEMPTS).returning(ATTEMPTS.c.id)
_FINISH = update(DELIVERIES).where(D.id == bindparam("b_id"), D.status == S.sending, D.lease_owner == bindparam("b_owner"))
_FINISH_ATTEMPT = update(ATTEMPTS).where(ATTEMPTS.c.id == bindparam("b_id"))
_STATUS = select(D.status).where(D.id == bindparam("b_id"))
_INSERT_DOCUMENT = insert(Document.__table__).returning(Document.__table__.c.id)
_INSERT_VERSION = insert(DocumentVersion.__table__).returning(DocumentVersion.__table__.c.id)


class PortableStore(DeliveryStore):
    name = "portable"

    def run_claimed(self, delivery_id: int, settings: Settings, owner: str, work: Work) -> str | None:
        # One pooled connection for the whole delivery: claim (committed), context, then the outcome (committed).
        with self.engine.connect() as conn:
            claimed = self.claim_with_context(conn, delivery_id, settings, owner)
            return None if claimed is None else work(conn, *claimed)

    def claim_with_context(self, conn: Connection, delivery_id: int, settings: Settings,
                           owner: str) -> tuple[Claim, DeliveryContext] | None:
        c = self.claim(conn, delivery_id, settings, owner)
        if c is None:
            return None
        with conn.begin():
            return c, build_context(conn, delivery_id, settings, owner)

    def claim(self, conn: Connection, delivery_id: int, settings: Settings, owner: str) -> Claim | None:
        """Take the row if it is ours to send. Commits on the caller's connection, so the lease is durable before any
        side effect happens."""
        # The row may move under us between read and write (enqueue marking it queued right after publishing the
        # message): re-read and try again rather than drop the message and leave the row to the sweeper.
        for _ in range(5):
            now = utcnow()
            with conn.begin():
                row = conn.execute(_CLAIM_READ, {"b_id": delivery_id}).one_or_none()
                if row is None or not rules.claimable(row.status, row.not_before, row.next_attempt_at, now):
                    return None
                number = row.attempts + 1
                # Optimistic: the row must still be in the state (and attempt count) we read.
                won = conn.execute(_CLAIM_WRITE, {
                    "b_id": delivery_id, "b_status": row.status, "b_attempts": row.attempts, "b_next": number,
                    "b_owner": owner, "b_now": now, "b_lease": now + dt.timedelta(seconds=settings.lease_seconds),
                }).rowcount
                if not won:
                    continue
                conn.execute(INSERT_TRANSITION, {"delivery_id": delivery_id, "from_status": row.status,
                                                  "to_status": S.sending, "reason": rules.claim_reason(number),
                                                  "actor": owner, "at": now})
                attempt_id = conn.execute(_INSERT_ATTEMPT, {
                    "delivery_id": delivery_id, "number": number, "operation": row.action, "worker": owner,
                    "started_at": now, "outcome": "", "error_class": "", "message": "", "response_excerpt": "",
                }).scalar_one()
                return Claim(delivery_id, attempt_id, number, row.max_attempts, owner)
        return None

    def finish(self, conn: Connection, c: Claim, now: dt.datetime, out: Outcome) -> tuple[bool, str]:
        attempt = dict(out.attempt)
        to = out.to
        with conn.begin():
            won = conn.execute(_FINISH, {"b_id": c.delivery_id, "b_owner": c.owner, **out.values}).rowcount
            if not won:
                # Lost the lease (the sweeper gave the row to someone else): record what we saw, change nothing.
                attempt.update(outcome="stale", message=rules.STALE_MESSAGE)
                to = conn.execute(_STATUS, {"b_id": c.delivery_id}).scalar_one()
            else:
                conn.execute(INSERT_TRANSITION, [
                    {"delivery_id": c.delivery_id, "from_status": f, "to_status": t, "reason": r[:2000],
                     "actor": c.owner, "at": now}
                    for f, t, r in out.transitions
                ])
            conn.execute(_FINISH_ATTEMPT, {"b_id": c.attempt_id, **attempt})
        return bool(won), to

    def allocate_index_no(self, session: Session, publisher: Publisher, year: int) -> str:
        # One upsert (first number of the year, or the next one) instead of insert-if-missing then update.
        stmt = sqlite.insert(IndexSequence).values(publisher_id=publisher.id, year=year, last_value=1)
        value = session.execute(
            stmt.on_conflict_do_update(index_elements=[IndexSequence.publisher_id, IndexSequence.year],
                                       set_={"last_value": IndexSequence.last_value + 1})
            .returning(IndexSequence.last_value)
        ).scalar_one()
        return f"{index_prefix(publisher, year)}{value:05d}"

    def write_submission(self, session: Session, settings: Settings, publisher: Publisher, year: int, document: dict,
                         version: dict, destinations: list[tuple[str, str]],
                         publish_at: dt.datetime | None, now: dt.datetime) -> Submission:
        index_no = self.allocate_index_no(session, publisher, year)
        # Core inserts (the ORM's unit of work cost more than the statements): document, version, deliveries.
        document_id = session.execute(_INSERT_DOCUMENT, {**document, "index_no": index_no, "created_at": now}).scalar_one()
        version_id = session.execute(_INSERT_VERSION, {**version, "document_id": document_id, "created_at": now}).scalar_one()
        deliveries = self.insert_deliveries(session, settings, document_id, version_id, 1, publish_at, "publish",
                                            destinations, now=now)
        return Submission(document_id, index_no, version_id, deliveries)
