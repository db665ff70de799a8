"""Fan-out: hand deliveries to the broker, claim them, run the adapter, move each row along its states.

The database is the source of truth. A message only says "look at delivery N"; the task *claims* the row with a
conditional UPDATE (so a duplicate message does nothing), holds a lease while the adapter runs, records an attempt,
and writes the outcome only while it still holds the lease. The sweeper (beat) repairs everything a lost message,
a killed worker or a Redis restart leaves behind.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import random
import socket
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from sqlalchemy import (
    Connection,
    DateTime,
    Integer,
    String,
    Text,
    and_,
    bindparam,
    case,
    cast,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, aliased

from channels.base import (
    Action,
    AttachmentInfo,
    Capability,
    Channel,
    ChannelError,
    DeliveryContext,
    DocumentPayload,
    NotConfigured,
    PermanentError,
    Receipt,
    TransientError,
)
from channels.registry import ChannelRegistry
from orchestrator.db import get_autocommit_engine, get_engine, session_scope
from orchestrator.delivery.celery_app import DELIVER, POLL, VERIFY, queue_for, send
from orchestrator.delivery.celery_app import app as celery_app
from orchestrator.documents.attachments import blob_path
from orchestrator.models import (
    Attachment,
    CatalogEntryRow,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    DeliveryTransition,
    Document,
    DocumentVersion,
    Publisher,
    utcnow,
)
from orchestrator.settings import Settings, get_settings

log = logging.getLogger(__name__)
S = DeliveryStatus
CLAIMABLE = (S.pending, S.queued, S.retrying)
POLL_INTERVAL = dt.timedelta(seconds=5)
REQUEUE_AFTER = dt.timedelta(minutes=10)  # a queued row older than this is resent even if its queue is not empty
MAX_AWAIT = dt.timedelta(hours=24)


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


# --- lease renewal (heartbeat) ---------------------------------------------------------------------

class LeaseKeeper:
    """Keeps the leases of the rows this process is working on alive, so the lease can be short.

    One daemon thread per process (started on first use, after any fork) wakes every ``lease_renew_interval`` and
    extends ``lease_until`` of every row held for at least half an interval, in one UPDATE guarded by owner and
    status. A row the UPDATE no longer matches (the sweeper took it, ops cancelled it) is dropped: it is not ours.
    A delivery shorter than half an interval costs no renewal at all; a long one costs one cheap UPDATE per interval.
    If the process dies, renewals stop and the sweeper recovers the row once the lease runs out.
    """

    def __init__(self, *, background: bool = True) -> None:
        self.background = background  # False: no thread, the caller calls renew_due (tests)
        self._lock = threading.Lock()
        self._held: dict[int, tuple[str, float]] = {}  # delivery id -> (owner, monotonic time the lease was last set)
        self._thread: threading.Thread | None = None
        self._pid = 0
        self.renewals = 0  # UPDATE statements issued (observability, tests)

    def hold(self, delivery_id: int, owner: str) -> None:
        with self._lock:
            self._held[delivery_id] = (owner, time.monotonic())
            if self.background and (self._thread is None or self._pid != os.getpid() or not self._thread.is_alive()):
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._run, name="lease-keeper", daemon=True)
                self._thread.start()

    def release(self, delivery_id: int) -> None:
        with self._lock:
            self._held.pop(delivery_id, None)

    def holds(self, delivery_id: int) -> bool:
        with self._lock:
            return delivery_id in self._held

    def _run(self) -> None:
        while True:
            interval = get_settings().lease_renew_interval
            time.sleep(interval)
            try:
                self.renew_due(interval / 2)
            except Exception:  # the database may be briefly away: try again next interval (the lease has slack)
                log.warning("could not renew delivery leases", exc_info=True)

    def renew_due(self, min_age: float) -> None:
        now_mono = time.monotonic()
        with self._lock:
            due: dict[str, list[int]] = {}
            for rid, (owner, since) in self._held.items():
                if now_mono - since >= min_age:
                    due.setdefault(owner, []).append(rid)
        if not due:
            return
        settings = get_settings()
        engine = get_autocommit_engine() if get_engine().dialect.name == "postgresql" else get_engine()
        for owner, ids in due.items():
            now = utcnow()
            with engine.begin() as conn:
                kept = set(conn.execute(
                    update(Delivery.__table__)
                    .where(D.id.in_(ids), D.lease_owner == owner,
                           # a finished poll clears lease_until: a renewal racing with it must not set it again
                           or_(D.status == S.sending, and_(D.status == S.awaiting_channel, D.lease_until.is_not(None))))
                    .values(lease_until=now + dt.timedelta(seconds=settings.lease_seconds))
                    .returning(D.id)
                ).scalars())
            self.renewals += 1
            with self._lock:
                for rid in ids:
                    if rid not in kept:
                        self._held.pop(rid, None)  # no longer ours: stop renewing it
                    elif rid in self._held:
                        self._held[rid] = (owner, now_mono)


LEASES = LeaseKeeper()


@lru_cache(maxsize=4)
def _registry_cached(path: str, mtime: float) -> ChannelRegistry:
    return ChannelRegistry.load(Path(path))


def registry(settings: Settings | None = None) -> ChannelRegistry:
    path = (settings or get_settings()).channels_path
    return _registry_cached(str(path), path.stat().st_mtime)


def _transition(session: Session, delivery_id: int, frm: str, to: str, reason: str = "", actor: str = "") -> None:
    session.add(DeliveryTransition(delivery_id=delivery_id, from_status=frm, to_status=to, reason=reason[:2000], actor=actor))


# --- hand-off to the broker ----------------------------------------------------------------------

def publish(pairs: list[tuple[int, str]]) -> int:
    """Send one message per (delivery id, channel) to the channel's queue: rows a just-committed transaction wrote as
    ``queued`` (the caller knows ids and channels, so no query). A lost message is resent by the sweeper."""
    for rid, channel in pairs:
        send(DELIVER, rid, channel)
    return len(pairs)


def enqueue(ids: list[int], *, poll: bool = False, fresh: bool = False) -> int:
    """Send one message per row to its channel's queue (after the rows are committed), then mark them queued.

    Publishing first and marking after means a crash in between leaves rows as they were (the sweeper resends them);
    a worker that claims a row before it is marked simply wins: the conditional UPDATE skips rows no longer pending.
    ``fresh``: the rows were just written as ``queued`` in the committing transaction; only publish.
    """
    if not ids:
        return 0
    wanted = (S.awaiting_channel,) if poll else CLAIMABLE
    with get_engine().connect() as conn:
        rows = conn.execute(select(D.id, D.channel, D.status).where(D.id.in_(ids), D.status.in_(wanted))).all()
        conn.rollback()
        task = POLL if poll else DELIVER
        for rid, channel, _status in rows:
            send(task, rid, channel)
        if poll or fresh or not rows:
            return len(rows)
        now = utcnow()
        with conn.begin():
            for status in {r.status for r in rows} - {S.queued}:
                marked = conn.execute(
                    update(Delivery.__table__)
                    .where(D.id.in_([r.id for r in rows if r.status == status]), D.status == status)
                    .values(status=S.queued, queued_at=now, updated_at=now)
                    .returning(D.id)
                ).scalars().all()
                if marked:
                    conn.execute(_INSERT_TRANSITION, [
                        {"delivery_id": i, "from_status": status, "to_status": S.queued, "reason": "", "actor": "", "at": now}
                        for i in marked
                    ])
            requeued = [r.id for r in rows if r.status == S.queued]
            if requeued:  # a re-sent message: refresh the age the sweeper looks at
                conn.execute(update(Delivery.__table__).where(D.id.in_(requeued), D.status == S.queued).values(queued_at=now))
    return len(rows)


# --- one delivery --------------------------------------------------------------------------------

@dataclass
class Claim:
    delivery_id: int
    attempt_id: int
    attempt_no: int
    max_attempts: int
    owner: str


# The hot path runs these once per delivery, so they are built once (bound parameters, cached compilation) and
# executed on a Core connection: the ORM's per-statement work cost more than the database round trips.
D = Delivery.__table__.c
_T_TRANSITIONS = DeliveryTransition.__table__
_T_ATTEMPTS = DeliveryAttempt.__table__
_CLAIM_READ = select(D.status, D.attempts, D.max_attempts, D.next_attempt_at, D.not_before, D.action).where(
    D.id == bindparam("b_id"))
_CLAIM_WRITE = (
    update(Delivery.__table__)
    .where(D.id == bindparam("b_id"), D.status == bindparam("b_status"), D.attempts == bindparam("b_attempts"))
    .values(status=S.sending, attempts=bindparam("b_next"), lease_owner=bindparam("b_owner"),
            updated_at=bindparam("b_now"), lease_until=bindparam("b_lease"))
)
_INSERT_TRANSITION = insert(_T_TRANSITIONS)
_INSERT_ATTEMPT = insert(_T_ATTEMPTS).returning(_T_ATTEMPTS.c.id)
_FINISH = update(Delivery.__table__).where(D.id == bindparam("b_id"), D.status == S.sending, D.lease_owner == bindparam("b_owner"))
_FINISH_ATTEMPT = update(_T_ATTEMPTS).where(_T_ATTEMPTS.c.id == bindparam("b_id"))
_T_DELIVERIES = Delivery.__table__
_CTX_DELIVERY_COLS = ("id", "idempotency_key", "channel", "destination", "action", "checkpoint", "follows_id", "attempts",
                      "version_id", "document_id")


def _context_select(src, *extra):
    """The adapter's context for the delivery row(s) in ``src`` (the deliveries table, or the claim statement's CTE).

    ``has_attachments`` / ``has_explained_by`` let the caller skip the follow-up queries that would return nothing.
    """
    c = src.c
    return (
        select(
            *(c[k] for k in _CTX_DELIVERY_COLS if k != "document_id"), *extra,
            DocumentVersion.version, DocumentVersion.title, DocumentVersion.body_html, DocumentVersion.doc_number,
            DocumentVersion.summary, DocumentVersion.change_note, DocumentVersion.created_at.label("version_created_at"),
            Document.id.label("document_id"), Document.index_no, Document.formed_on, Document.status.label("doc_status"),
            Document.publish_at, Document.created_at, Document.display_from, Document.display_until,
            Document.validity, Document.validity_date, Document.subject_words,
            Document.related_document_id, Document.related_kind, Document.channel_options, Document.withdraw_reason,
            CatalogEntryRow.code.label("entry_code"), CatalogEntryRow.path.label("entry_path"),
            CatalogEntryRow.offices, CatalogEntryRow.options.label("entry_options"), Publisher.name.label("publisher"),
            exists().where(Attachment.version_id == c.version_id).label("has_attachments"),
            exists().where(Document.__table__.alias("explains").c.related_document_id == c.document_id)
            .label("has_explained_by"),
        )
        .select_from(src)
        .join(DocumentVersion, DocumentVersion.id == c.version_id)
        .join(Document, Document.id == c.document_id)
        .join(CatalogEntryRow, CatalogEntryRow.id == Document.entry_id)
        .join(Publisher, Publisher.id == Document.publisher_id)
    )


_CONTEXT = _context_select(_T_DELIVERIES).where(D.id == bindparam("b_id"))
_ATTACHMENTS = (
    select(Attachment.filename, Attachment.content_type, Attachment.size, Attachment.sha256)
    .where(Attachment.version_id == bindparam("b_version")).order_by(Attachment.position)
)
_EXPLAINED_BY = select(Document.id, Document.title, Document.index_no, Document.related_kind).where(
    Document.related_document_id == bindparam("b_doc"))
_DOC_BRIEF = select(Document.id, Document.title, Document.index_no).where(Document.id == bindparam("b_doc"))
_SITE_RECEIPTS = (
    select(D.receipt).where(D.document_id == bindparam("b_doc"), D.channel == "website",
                            D.status.in_([S.delivered, S.verified]), D.action != "withdraw")
    .order_by(D.id.desc())
)
_RECEIPT = select(D.receipt).where(D.id == bindparam("b_id"))


# --- PostgreSQL: claim (+ context) and finish as one statement each -------------------------------
# Data-modifying CTEs keep every rule of the portable path (conditional claim, a transition row per state change,
# an attempt row per attempt, the outcome written only under our lease) while costing one round trip, executed in
# autocommit mode: each statement is its own transaction, so the lease is durable before the adapter runs.
_P_ID = bindparam("b_id", type_=Integer)
_P_OWNER = bindparam("b_owner", type_=String)
_P_NOW = bindparam("b_now", type_=DateTime(timezone=True))


def _claim_pg_statement():
    locked = (
        select(D.id, D.status)
        .where(D.id == _P_ID, or_(*(D.status == st for st in CLAIMABLE)),  # no expanding IN: fully prebuilt
               or_(D.not_before.is_(None), D.not_before <= _P_NOW),
               or_(D.status != S.retrying, D.next_attempt_at.is_(None),
                   D.next_attempt_at <= bindparam("b_soon", type_=DateTime(timezone=True))))
        .with_for_update()  # READ COMMITTED re-checks these conditions on the newest row version
        .cte("locked")
    )
    claimed = (
        update(_T_DELIVERIES)
        .where(D.id == locked.c.id)
        .values(status=S.sending, attempts=D.attempts + 1, lease_owner=_P_OWNER, updated_at=_P_NOW,
                lease_until=bindparam("b_lease", type_=DateTime(timezone=True)))
        .returning(*(D[k] for k in _CTX_DELIVERY_COLS), locked.c.status.label("from_status"), D.max_attempts)
        .cte("claimed")
    )
    transition = insert(_T_TRANSITIONS).from_select(
        ["delivery_id", "from_status", "to_status", "reason", "actor", "at"],
        select(claimed.c.id, claimed.c.from_status, literal(S.sending.value, String),
               literal("第 ", Text) + cast(claimed.c.attempts, Text) + literal(" 次尝试", Text), _P_OWNER, _P_NOW),
    ).cte("claim_transition")
    attempt = insert(_T_ATTEMPTS).from_select(
        ["delivery_id", "number", "operation", "worker", "started_at", "outcome", "error_class", "message",
         "response_excerpt"],
        select(claimed.c.id, claimed.c.attempts, claimed.c.action, _P_OWNER, _P_NOW, literal("", String),
               literal("", String), literal("", Text), literal("", Text)),
    ).returning(_T_ATTEMPTS.c.id, _T_ATTEMPTS.c.delivery_id).cte("claim_attempt")
    site = _T_DELIVERIES.alias("site")
    site_url = (
        select(site.c.receipt["url"].as_string())
        .where(site.c.document_id == claimed.c.document_id, site.c.channel == "website",
               or_(site.c.status == S.delivered, site.c.status == S.verified), site.c.action != "withdraw",
               site.c.receipt["url"].as_string() != "")
        .order_by(site.c.id.desc()).limit(1).scalar_subquery()
    )
    return (
        _context_select(claimed, attempt.c.id.label("attempt_id"), claimed.c.from_status, claimed.c.max_attempts,
                        site_url.label("site_url"))
        .join(attempt, attempt.c.delivery_id == claimed.c.id)
        .add_cte(transition)
    )


_CLAIM_PG = _claim_pg_statement()


def claim_with_context(conn: Connection, delivery_id: int, settings: Settings,
                       owner: str) -> tuple[Claim, DeliveryContext] | None:
    """PostgreSQL, autocommit connection: claim the row, log the transition and the attempt, and read the adapter's
    context, in one statement (its own transaction). A duplicate or early message gets None and changes nothing."""
    now = utcnow()
    row = conn.execute(_CLAIM_PG, {
        "b_id": delivery_id, "b_owner": owner, "b_now": now, "b_soon": now + dt.timedelta(seconds=1),
        "b_lease": now + dt.timedelta(seconds=settings.lease_seconds),
    }).one_or_none()
    if row is None:
        return None
    c = Claim(delivery_id, row.attempt_id, row.attempts, row.max_attempts, owner)
    return c, _context_from_row(conn, row, settings, owner)


def _pg(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


def claim(conn: Connection, delivery_id: int, settings: Settings, owner: str) -> Claim | None:
    """Take the row if it is ours to send; a duplicate or stale message gets None and does nothing.

    Commits on the caller's connection, so the lease is durable before any side effect happens.
    """
    # The row may move under us between read and write (enqueue marking it queued right after publishing the
    # message): re-read and try again rather than drop the message and leave the row to the sweeper.
    for _ in range(5):
        now = utcnow()
        with conn.begin():
            row = conn.execute(_CLAIM_READ, {"b_id": delivery_id}).one_or_none()
            if row is None or row.status not in CLAIMABLE:
                return None
            if (row.not_before and row.not_before > now) or (
                row.status == S.retrying and row.next_attempt_at and row.next_attempt_at > now + dt.timedelta(seconds=1)
            ):
                return None
            number = row.attempts + 1
            # Optimistic: the row must still be in the state (and attempt count) we read.
            won = conn.execute(_CLAIM_WRITE, {
                "b_id": delivery_id, "b_status": row.status, "b_attempts": row.attempts, "b_next": number,
                "b_owner": owner, "b_now": now, "b_lease": now + dt.timedelta(seconds=settings.lease_seconds),
            }).rowcount
            if not won:
                continue
            conn.execute(_INSERT_TRANSITION, {"delivery_id": delivery_id, "from_status": row.status, "to_status": S.sending,
                                              "reason": f"第 {number} 次尝试", "actor": owner, "at": now})
            attempt_id = conn.execute(_INSERT_ATTEMPT, {
                "delivery_id": delivery_id, "number": number, "operation": row.action, "worker": owner, "started_at": now,
                "outcome": "", "error_class": "", "message": "", "response_excerpt": "",
            }).scalar_one()
            return Claim(delivery_id, attempt_id, number, row.max_attempts, owner)
    return None


def build_context(conn: Connection, delivery_id: int, settings: Settings, owner: str) -> DeliveryContext:
    """Everything the adapter needs, in a handful of queries."""
    d = conn.execute(_CONTEXT, {"b_id": delivery_id}).one()
    return _context_from_row(conn, d, settings, owner)


def _context_from_row(conn: Connection, d, settings: Settings, owner: str) -> DeliveryContext:
    """Build the adapter's context from a ``_CONTEXT``-shaped row; the flags in the row skip queries with no rows.

    ``d.site_url`` (PostgreSQL claim statement only) is the newest website receipt URL, already looked up.
    """
    delivery_id = d.id
    attachments = tuple(
        AttachmentInfo(a.filename, a.content_type, a.size, a.sha256, blob_path(settings, a.sha256))
        for a in conn.execute(_ATTACHMENTS, {"b_version": d.version_id})
    ) if d.has_attachments else ()
    related = []
    if d.related_document_id:
        rel = conn.execute(_DOC_BRIEF, {"b_doc": d.related_document_id}).one_or_none()
        if rel is not None:
            related.append({"document_id": rel.id, "title": rel.title, "index_no": rel.index_no,
                            "url": _site_url(conn, rel.id),
                            "relation": "related" if d.related_kind == "相关" else "explains"})
    if d.has_explained_by:
        for other in conn.execute(_EXPLAINED_BY, {"b_doc": d.document_id}).all():
            related.append({"document_id": other.id, "title": other.title, "index_no": other.index_no,
                            "url": _site_url(conn, other.id),
                            "relation": "related_by" if other.related_kind == "相关" else "explained_by"})
    # A correction (new version) keeps the document's stated 有效性; a withdrawal shows 已撤回.
    validity = "已撤回" if d.doc_status == "withdrawn" else (d.validity or "有效")
    if d.channel == "website":
        site_url = ""
    elif "site_url" in d._fields:
        site_url = d.site_url or _expected_site_url(d.document_id)
    else:
        site_url = _site_url(conn, d.document_id)
    payload = DocumentPayload(
        document_id=d.document_id, version=d.version, index_no=d.index_no, title=d.title, body_html=d.body_html,
        doc_number=d.doc_number, formed_on=d.formed_on, publisher=d.publisher, entry_code=d.entry_code,
        entry_path=tuple(d.entry_path), offices=tuple(d.offices or ()), attachments=attachments,
        published_at=d.publish_at or d.created_at, updated_at=d.version_created_at,
        display_from=d.display_from, display_until=d.display_until,
        site_url=site_url,
        summary=d.summary, validity=validity, related=tuple(related),
        extra={"channel_options": dict((d.channel_options or {}).get(d.channel, {})),
               "entry_options": dict(d.entry_options or {}), "withdraw_reason": d.withdraw_reason,
               "change_note": d.change_note, "subject_words": d.subject_words or "",
               "validity_date": d.validity_date.isoformat() if d.validity_date else ""},
    )
    previous = Receipt.from_dict(conn.execute(_RECEIPT, {"b_id": d.follows_id}).scalar()) if d.follows_id else None

    def save_checkpoint(cp: dict) -> None:
        with session_scope() as s2:
            s2.execute(update(Delivery).where(Delivery.id == delivery_id, Delivery.lease_owner == owner,
                                              Delivery.status.in_([S.sending, S.awaiting_channel]))
                       .values(checkpoint=dict(cp), updated_at=utcnow()))

    return DeliveryContext(
        delivery_id=d.id, idempotency_key=d.idempotency_key, channel=d.channel, destination=d.destination,
        action=Action(d.action), document=payload, previous_receipt=previous, checkpoint=dict(d.checkpoint or {}),
        save_checkpoint=save_checkpoint, attempt=d.attempts,
    )


def _site_url(conn: Connection, document_id: int) -> str:
    for receipt in conn.execute(_SITE_RECEIPTS, {"b_doc": document_id}).scalars():
        if receipt and receipt.get("url"):
            return str(receipt["url"])
    return _expected_site_url(document_id)


def _expected_site_url(document_id: int) -> str:
    """Not delivered yet: the website destination may know the address in advance (the built-in column does)."""
    reg = registry()
    for dest in reg.destinations("website"):
        try:
            url = reg.adapter_for(dest).expected_url(document_id)
        except PermanentError:
            continue
        if url:
            return url
    return ""


def housekeeping(settings: Settings | None = None) -> list[str]:
    """Run every configured adapter's time-driven upkeep once. Returns the destinations that failed."""
    reg = registry(settings)
    failed = []
    for channel, dests in reg.channels.items():
        for dest in dests:
            if not dest.enabled:
                continue
            try:
                reg.adapter_for(dest).housekeeping()
            except Exception:  # one broken destination must not stop the others' upkeep
                log.exception("housekeeping failed for %s/%s", channel, dest.name)
                failed.append(f"{channel}/{dest.name}")
    try:
        recheck_removed(settings)
    except Exception:
        log.exception("re-checking delivered items failed")
        failed.append("recheck")
    return failed


def recheck_removed(settings: Settings | None = None, *, limit: int | None = None) -> dict[str, int]:
    """Find delivered items the channel itself has taken down since (WeChat: deleted by the account, banned by the
    platform) and mark them ``removed``, with the reason and a transition row.

    Only destinations whose adapter overrides :meth:`Channel.removal_reason` are checked; per destination a bounded
    batch of its delivered/verified rows (not withdrawals, and only the newest delivery of each chain: one that a
    correction or a withdrawal followed is that one's business), least recently checked first, each at most once per
    ``recheck_interval_seconds``. Runs from the housekeeping beat task.
    """
    settings = settings or get_settings()
    reg = registry(settings)
    batch = settings.recheck_batch if limit is None else limit
    counts = {"checked": 0, "removed": 0, "errors": 0}
    later = aliased(Delivery)
    for channel, dests in reg.channels.items():
        for dest in dests:
            if not dest.enabled:
                continue
            try:
                adapter = reg.adapter_for(dest)
            except PermanentError:
                continue
            if type(adapter).removal_reason is Channel.removal_reason:
                continue
            now = utcnow()
            due = now - dt.timedelta(seconds=settings.recheck_interval_seconds)
            with session_scope() as session:
                rows = session.execute(
                    select(Delivery.id, Delivery.receipt)
                    .where(Delivery.channel == channel, Delivery.destination == dest.name,
                           Delivery.status.in_([S.delivered, S.verified]), Delivery.action != Action.withdraw.value,
                           or_(Delivery.rechecked_at.is_(None), Delivery.rechecked_at <= due),
                           ~exists().where(later.follows_id == Delivery.id))
                    .order_by(Delivery.rechecked_at.asc().nulls_first(), Delivery.delivered_at, Delivery.id)
                    .limit(batch)
                ).all()
            for rid, receipt_data in rows:
                receipt = Receipt.from_dict(receipt_data)
                reason = None
                if receipt is not None:
                    try:
                        reason = adapter.removal_reason(receipt)
                    except Exception as exc:  # unknown this time: checked again next interval
                        log.warning("re-check of delivery %s failed: %s", rid, exc)
                        counts["errors"] += 1
                counts["checked"] += 1
                with session_scope() as session:
                    d = session.scalars(select(Delivery).where(Delivery.id == rid).with_for_update()).one()
                    d.rechecked_at = utcnow()
                    if reason and d.status in (S.delivered, S.verified):
                        why = f"渠道已删除该内容：{reason}"
                        _transition(session, d.id, d.status, S.removed, why, "recheck")
                        d.status, d.last_error, d.updated_at = S.removed, why, utcnow()
                        counts["removed"] += 1
    return counts


def backoff_seconds(attempt: int, settings: Settings) -> float:
    """Exponential backoff with jitter (half fixed, half random), capped."""
    base = min(settings.backoff_cap_seconds, settings.backoff_base_seconds * (2 ** max(0, attempt - 1)))
    return base / 2 + random.uniform(0, base / 2)


def run_delivery(delivery_id: int, settings: Settings | None = None) -> str | None:
    """Claim, call the adapter, record the attempt and the outcome. Returns the new status (None if not claimed)."""
    settings = settings or get_settings()
    owner = worker_id()
    # One pooled connection for the whole delivery: claim (committed), context, then the outcome (committed).
    engine = get_engine()
    if engine.dialect.name == "postgresql":
        # One statement for claim + context, one for the outcome, each its own transaction, on an engine without
        # pre-ping: a stale pooled connection fails on the claim before anything ran; SQLAlchemy then invalidates
        # the pool and one retry on a fresh connection recovers (what pre-ping did, without its round trip).
        engine = get_autocommit_engine()
        for retry in (False, True):
            conn = engine.connect()
            try:
                claimed = claim_with_context(conn, delivery_id, settings, owner)
            except DBAPIError as exc:
                conn.close()
                if retry or not exc.connection_invalidated:
                    raise
                log.warning("database connection lost; claiming delivery %s again on a fresh connection", delivery_id)
                continue
            try:
                return None if claimed is None else _attempt(conn, *claimed, settings)
            finally:
                conn.close()
    with engine.connect() as conn:
        c = claim(conn, delivery_id, settings, owner)
        if c is None:
            return None
        with conn.begin():
            ctx = build_context(conn, delivery_id, settings, owner)
        return _attempt(conn, c, ctx, settings)


def _attempt(conn: Connection, c: Claim, ctx: DeliveryContext, settings: Settings) -> str:
    """Run the adapter for a claimed delivery and write the outcome."""
    reg = registry(settings)
    delivery_id = c.delivery_id
    dest = reg.destination(ctx.channel, ctx.destination)
    receipt: Receipt | None = None
    error: BaseException | None = None
    adapter = None
    verified = None
    verify_note = ""
    LEASES.hold(delivery_id, c.owner)  # renewed while the adapter runs, however long the channel takes
    try:
        try:
            adapter = reg.adapter_for(dest)
            receipt = adapter.run(ctx)
        except ChannelError as exc:
            error = exc
        except Exception as exc:  # an adapter bug: retried like a transient error, capped, and visible in the log
            log.exception("adapter %s crashed on delivery %s", dest.adapter, delivery_id)
            error = exc
        if receipt is not None and not receipt.pending and not receipt.needs_person and adapter is not None \
                and Capability.verify in adapter.capabilities:
            verified, verify_note = check_live(adapter, ctx, receipt)
        return finish(conn, c, settings, channel=ctx.channel, receipt=receipt, error=error, verified=verified,
                      verify_note=verify_note, progressed=ctx.progressed)
    finally:
        LEASES.release(delivery_id)


def check_live(adapter, ctx: DeliveryContext, receipt: Receipt) -> tuple[bool, str]:
    """Run the adapter's ``verify``: (True, "") when live as sent, else (False, the reason in Chinese)."""
    try:
        if adapter.verify(ctx, receipt):
            return True, ""
    except ChannelError as exc:  # "cannot tell yet": checked again later
        log.info("verify of delivery %s could not tell: %s", ctx.delivery_id, exc.message)
        return False, exc.message
    except Exception as exc:  # a failed check never undoes a delivery
        log.warning("verify crashed for delivery %s", ctx.delivery_id, exc_info=True)
        return False, f"核验程序出错：{type(exc).__name__}: {exc}"
    where = f"（{receipt.url}）" if receipt.url else ""
    if ctx.action is Action.withdraw:
        return False, f"公开页面{where}仍可访问，撤回尚未生效"
    return False, f"公开页面{where}不存在或与所发内容不一致"


def _deferred_since(conn: Connection, delivery_id: int) -> dt.datetime | None:
    value = conn.execute(select(D.deferred_since).where(D.id == delivery_id)).scalar()
    conn.commit()
    return value


def _fmt_seconds(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:.0f} 小时"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:.0f} 分钟"
    return f"{seconds:.0f} 秒"


# An attempt that ended in a transient error after completing a step (ctx.progressed) is recorded with this outcome and
# not counted against max_attempts; a hard ceiling still bounds an adapter that "progresses" forever.
PROGRESS = "progress"
PROGRESS_CEILING = 3  # at most this many times max_attempts attempts in all


def _progress_attempts(conn: Connection, delivery_id: int) -> int:
    stmt = select(func.count()).select_from(_T_ATTEMPTS).where(
        _T_ATTEMPTS.c.delivery_id == delivery_id, _T_ATTEMPTS.c.outcome == PROGRESS)
    if conn.in_transaction():
        return conn.execute(stmt).scalar_one()
    with conn.begin():  # the portable finish path begins its own transaction right after
        return conn.execute(stmt).scalar_one()


def finish(conn: Connection, c: Claim, settings: Settings, *, channel: str, receipt: Receipt | None,
           error: BaseException | None, verified: bool | None = None, verify_note: str = "",
           progressed: bool = False) -> str:
    """Write the outcome, but only while we still hold the lease (one conditional UPDATE decides)."""
    now = utcnow()
    values: dict = {"lease_until": None, "updated_at": now}
    attempt: dict = {"ended_at": now}
    transitions: list[tuple[str, str, str]] = []  # (from, to, reason)
    if receipt is not None:
        values.update(receipt=receipt.to_dict(), last_error="", error_class="")
        attempt.update(outcome="success", response_excerpt=str(receipt.url or receipt.external_id or "")[:2000])
        if receipt.needs_person:
            to = S.awaiting_confirmation
            transitions.append((S.sending, to, str(receipt.data.get("task", "等待人工处理并确认"))))
            attempt["outcome"] = "manual"
        elif receipt.pending:
            to = S.awaiting_channel
            transitions.append((S.sending, to, "渠道已受理，等待渠道处理结果"))
            values["next_attempt_at"] = now + POLL_INTERVAL
            attempt["outcome"] = "pending"
        else:
            to = S.delivered
            values["delivered_at"] = now
            if verified:
                transitions.append((S.sending, S.delivered, "已送达"))
                to = S.verified
                values["verified_at"] = now
                transitions.append((S.delivered, S.verified, "已核验：页面可访问且内容一致"))
            elif verified is False:  # the page may not be live yet: checked again later, then flagged
                values["verify_tries"] = 1
                if settings.verify_attempts > 1:
                    values["verify_due_at"] = now + dt.timedelta(seconds=settings.verify_interval_seconds)
                    transitions.append((S.sending, S.delivered, f"已送达；核验未通过：{verify_note}"
                                        f"（{_fmt_seconds(settings.verify_interval_seconds)}后再次核验）"))
                else:
                    values["verify_error"] = verify_note[:4000]
                    transitions.append((S.sending, S.delivered, "已送达"))
                    transitions.append((S.delivered, S.delivered, f"核验失败：{verify_note}"))
            else:
                transitions.append((S.sending, S.delivered, "已送达"))
    else:
        assert error is not None
        msg = (getattr(error, "message", None) or f"程序错误：{type(error).__name__}: {error}")[:4000]
        values.update(last_error=msg, error_class=type(error).__name__)
        attempt.update(error_class=type(error).__name__, message=msg, response_excerpt=getattr(error, "detail", "")[:2000])
        if isinstance(error, NotConfigured):
            to, why = S.not_configured, msg
            attempt["outcome"] = "permanent"
        elif isinstance(error, PermanentError):
            to, why = S.failed, msg
            attempt["outcome"] = "permanent"
        else:
            attempt["outcome"] = "transient"
            retry_after = error.retry_after if isinstance(error, TransientError) else None
            if retry_after is not None:
                # The channel said "later" and when (429/503 with Retry-After, a quota until tomorrow): it has not
                # failed. The wait does not consume an attempt (the cap moves with it); the total time it may keep
                # saying so is bounded by max_defer_seconds instead.
                since = _deferred_since(conn, c.delivery_id) or now
                waited = (now - since).total_seconds()
                if waited + retry_after > settings.max_defer_seconds:
                    to = S.failed
                    why = values["last_error"] = (
                        f"渠道自 {_fmt_seconds(round(waited))}前起持续要求稍后再试，等待总时长将超过上限"
                        f"（{_fmt_seconds(settings.max_defer_seconds)}），已停止重试：{msg}")[:4000]
                    values["deferred_since"] = None
                else:
                    attempt["outcome"] = "deferred"
                    values.update(max_attempts=c.max_attempts + 1, deferred_since=since,
                                  next_attempt_at=now + dt.timedelta(seconds=retry_after))
                    to, why = S.retrying, f"{msg}（渠道要求 {retry_after:.0f} 秒后再试，不计入尝试次数）"
            else:
                attempt["outcome"] = PROGRESS if progressed else "transient"
                # Attempts that moved the delivery forward do not count against the cap (only a ceiling bounds them).
                stalled = c.attempt_no - (
                    _progress_attempts(conn, c.delivery_id) if c.attempt_no >= c.max_attempts else 0)
                if c.attempt_no >= c.max_attempts * PROGRESS_CEILING or (not progressed and stalled >= c.max_attempts):
                    to = S.failed
                    why = values["last_error"] = f"已尝试 {c.attempt_no} 次仍未成功：{msg}"[:4000]
                else:
                    delay = backoff_seconds(1 if progressed else stalled, settings)
                    values["next_attempt_at"] = now + dt.timedelta(seconds=delay)
                    note = "本次有进展，不计入重试次数，" if progressed else ""
                    to, why = S.retrying, f"{msg}（{note}{delay:.0f} 秒后重试）"
        if to in (S.failed, S.not_configured):
            values["deferred_since"] = None  # an ops retry starts a fresh deferral window
        transitions.append((S.sending, to, why))
    values["status"] = to
    if _pg(conn):
        won, to = _finish_pg(conn, c, now, values, attempt, transitions, to)
        if won and to == S.retrying:
            _schedule_retry(c.delivery_id, channel, values["next_attempt_at"])
        if won and verified is False:
            _log_verify_attempt(conn, c, now, verify_note)
        return to
    with conn.begin():
        won = conn.execute(_FINISH, {"b_id": c.delivery_id, "b_owner": c.owner, **values}).rowcount
        if not won:
            # Lost the lease (the sweeper gave the row to someone else): record what we saw, change nothing.
            attempt.update(outcome="stale", message="租约已过期，结果未采用")
            to = conn.execute(select(D.status).where(D.id == c.delivery_id)).scalar_one()
        else:
            conn.execute(_INSERT_TRANSITION, [
                {"delivery_id": c.delivery_id, "from_status": f, "to_status": t, "reason": r[:2000], "actor": c.owner, "at": now}
                for f, t, r in transitions
            ])
        conn.execute(_FINISH_ATTEMPT, {"b_id": c.attempt_id, **attempt})
    if won and to == S.retrying:
        _schedule_retry(c.delivery_id, channel, values["next_attempt_at"])
    if won and verified is False:
        _log_verify_attempt(conn, c, now, verify_note)
    return to


def _log_verify_attempt(conn: Connection, c: Claim, now: dt.datetime, note: str) -> None:
    """A failed check right after sending: its own line in the attempt log (the send itself succeeded)."""
    conn.execute(insert(_T_ATTEMPTS), {
        "delivery_id": c.delivery_id, "number": c.attempt_no, "operation": "verify", "worker": c.owner,
        "started_at": now, "ended_at": now, "outcome": "verify_failed", "error_class": "", "message": note[:4000],
        "response_excerpt": ""})
    conn.commit()


_STALE_MESSAGE = "租约已过期，结果未采用"


@lru_cache(maxsize=32)
def _finish_pg_statement(keys: tuple[str, ...], n_transitions: int):
    """One statement: the conditional outcome UPDATE, its transition rows (only if it matched), and the attempt row
    (marked stale if it did not). Cached per shape: the set of columns written and the number of transitions."""
    finished = (
        update(_T_DELIVERIES)
        .where(D.id == _P_ID, D.status == S.sending, D.lease_owner == _P_OWNER)
        .values({k: bindparam(f"v_{k}", type_=D[k].type) for k in keys})
        .returning(D.id)
        .cte("finished")
    )
    won = exists().where(finished.c.id.is_not(None))
    transitions = [
        insert(_T_TRANSITIONS).from_select(
            ["delivery_id", "from_status", "to_status", "reason", "actor", "at"],
            select(finished.c.id, bindparam(f"t{i}_from", type_=String), bindparam(f"t{i}_to", type_=String),
                   bindparam(f"t{i}_reason", type_=Text), _P_OWNER, _P_NOW),
        ).cte(f"finish_transition_{i}")
        for i in range(n_transitions)
    ]
    A = _T_ATTEMPTS.c
    attempt = (
        update(_T_ATTEMPTS)
        .where(A.id == bindparam("a_id", type_=Integer))
        .values(ended_at=_P_NOW,
                outcome=case((won, bindparam("a_outcome", type_=String)), else_=literal("stale", String)),
                message=case((won, bindparam("a_message", type_=Text)), else_=literal(_STALE_MESSAGE, Text)),
                error_class=bindparam("a_error_class", type_=String),
                response_excerpt=bindparam("a_response_excerpt", type_=Text))
        .cte("finish_attempt")
    )
    return select(
        won.label("won"),
        select(D.status).where(D.id == _P_ID).scalar_subquery().label("current"),
    ).add_cte(*transitions, attempt)


def _finish_pg(conn: Connection, c: Claim, now: dt.datetime, values: dict, attempt: dict,
               transitions: list[tuple[str, str, str]], to: str) -> tuple[bool, str]:
    keys = tuple(sorted(values))
    params = {"b_id": c.delivery_id, "b_owner": c.owner, "b_now": now, "a_id": c.attempt_id,
              "a_outcome": attempt["outcome"], "a_message": attempt.get("message", ""),
              "a_error_class": attempt.get("error_class", ""), "a_response_excerpt": attempt.get("response_excerpt", "")}
    params.update({f"v_{k}": values[k] for k in keys})
    for i, (f, t, r) in enumerate(transitions):
        params.update({f"t{i}_from": f, f"t{i}_to": t, f"t{i}_reason": r[:2000]})
    row = conn.execute(_finish_pg_statement(keys, len(transitions)), params).one()
    return bool(row.won), (to if row.won else row.current)


def _schedule_retry(delivery_id: int, channel: str, when: dt.datetime) -> None:
    """Short waits become an ETA message (fast path); long ones are left to the sweeper (no long ETAs in Redis)."""
    delay = (when - utcnow()).total_seconds()
    if delay > 300:
        return
    try:
        send(DELIVER, delivery_id, channel, countdown=max(0.0, delay))
    except Exception:  # broker down: the row says retrying with next_attempt_at; the sweeper will send it
        log.warning("could not schedule retry of %s; sweeper will", delivery_id, exc_info=True)


# --- asynchronous channels (awaiting_channel) ----------------------------------------------------

def run_poll(delivery_id: int, settings: Settings | None = None) -> str | None:
    settings = settings or get_settings()
    owner = worker_id()
    now = utcnow()
    with session_scope() as session:
        res = session.execute(
            update(Delivery).where(Delivery.id == delivery_id, Delivery.status == S.awaiting_channel,
                                   or_(Delivery.lease_until.is_(None), Delivery.lease_until < now))
            .values(lease_owner=owner, lease_until=now + dt.timedelta(seconds=settings.lease_seconds))
        )
        if not res.rowcount:
            return None
        d = session.get(Delivery, delivery_id)
        ctx = build_context(session.connection(), d.id, settings, owner)
        dest = registry(settings).destination(d.channel, d.destination)
        receipt = Receipt.from_dict(d.receipt) or Receipt()
        number = d.attempts
        attempt = DeliveryAttempt(delivery_id=d.id, number=number, operation="poll", worker=owner)
        session.add(attempt)
        session.flush()
        attempt_id = attempt.id
        waiting_since = d.updated_at or now
    final: Receipt | None = None
    error: BaseException | None = None
    verified, verify_note = False, ""
    LEASES.hold(delivery_id, owner)
    try:
        adapter = registry(settings).adapter_for(dest)
        final = adapter.poll(ctx, receipt)
        if final is not None and not final.pending and not final.needs_person \
                and Capability.verify in adapter.capabilities:
            # The channel finished: check it is really live, as a synchronous delivery is checked (→ verified).
            verified, verify_note = check_live(adapter, ctx, final)
    except Exception as exc:
        error = exc
    finally:
        LEASES.release(delivery_id)
    now = utcnow()
    with session_scope() as session:
        d = session.scalars(select(Delivery).where(Delivery.id == delivery_id).with_for_update()).one()
        attempt = session.get(DeliveryAttempt, attempt_id)
        attempt.ended_at = now
        if d.status != S.awaiting_channel or d.lease_owner != owner:
            attempt.outcome = "stale"
            return d.status
        d.lease_until = None
        if error is None and final is not None:
            d.receipt = final.to_dict()
            d.delivered_at = now
            attempt.outcome = "success"
            attempt.response_excerpt = str(final.url or "")[:2000]
            _transition(session, d.id, d.status, S.delivered, "渠道处理完成", owner)
            d.status = S.delivered
            if verified:
                _transition(session, d.id, S.delivered, S.verified, "已核验：渠道确认内容已上线", owner)
                d.status = S.verified
                d.verified_at = now
            elif verify_note:  # not live as sent yet: checked again by beat, then flagged (as after a send)
                d.verify_tries = 1
                if settings.verify_attempts > 1:
                    d.verify_due_at = now + dt.timedelta(seconds=settings.verify_interval_seconds)
                else:
                    d.verify_error = verify_note[:4000]
                    _transition(session, d.id, d.status, d.status, f"核验失败：{verify_note}", owner)
        elif isinstance(error, PermanentError):
            msg = error.message
            d.last_error, d.error_class = msg, type(error).__name__
            attempt.outcome, attempt.message, attempt.error_class = "permanent", msg, type(error).__name__
            _transition(session, d.id, d.status, S.failed, msg, owner)
            d.status = S.failed
        else:
            if error is not None:
                attempt.outcome, attempt.error_class = "transient", type(error).__name__
                attempt.message = (getattr(error, "message", None) or str(error))[:4000]
            else:
                attempt.outcome = "pending"
            if now - waiting_since > MAX_AWAIT:
                _transition(session, d.id, d.status, S.failed, "渠道超过 24 小时未返回处理结果", owner)
                d.status = S.failed
                d.last_error = "渠道超过 24 小时未返回处理结果"
            else:
                d.next_attempt_at = now + POLL_INTERVAL
        return d.status


# --- verification after delivery ---------------------------------------------------------------------

VERIFIER = "核验"


def run_verify(delivery_id: int, settings: Settings | None = None) -> str | None:
    """Check again that a delivered item is live as sent (the first check, right after sending, failed).

    Success moves the row to ``verified``. After ``verify_attempts`` failed checks the row stays ``delivered`` but is
    flagged (``verify_error``), with a timeline entry and an attempt-log line carrying the reason, for ops to see.
    """
    settings = settings or get_settings()
    owner = worker_id()
    started = utcnow()
    with session_scope() as session:
        d = session.scalars(select(Delivery).where(
            Delivery.id == delivery_id, Delivery.status == S.delivered, Delivery.verify_due_at.is_not(None))
            .with_for_update()).first()
        if d is None:
            return None
        # A newer version or a withdrawal follows this delivery: its content is no longer what should be live.
        if session.scalar(select(exists().where(Delivery.follows_id == d.id))):
            d.verify_due_at = None
            return d.status
        d.verify_due_at = started + dt.timedelta(seconds=max(settings.verify_interval_seconds, settings.lease_seconds))
        ctx = build_context(session.connection(), d.id, settings, owner)
        receipt = Receipt.from_dict(d.receipt) or Receipt()
        dest = registry(settings).destination(d.channel, d.destination)
    try:
        adapter = registry(settings).adapter_for(dest)
    except PermanentError as exc:
        ok, note = False, exc.message
    else:
        ok, note = check_live(adapter, ctx, receipt)
    now = utcnow()
    with session_scope() as session:
        d = session.scalars(select(Delivery).where(Delivery.id == delivery_id).with_for_update()).one()
        if d.status != S.delivered or d.verify_due_at is None:
            return d.status
        d.verify_tries += 1
        session.add(DeliveryAttempt(delivery_id=d.id, number=d.attempts, operation="verify", worker=owner,
                                    started_at=started, ended_at=now, outcome="success" if ok else "verify_failed",
                                    message=note[:4000], response_excerpt=str(receipt.url or "")[:2000]))
        if ok:
            _transition(session, d.id, d.status, S.verified,
                        f"已核验：页面可访问且内容一致（第 {d.verify_tries} 次核验）", VERIFIER)
            d.status, d.verified_at, d.verify_due_at, d.verify_error = S.verified, now, None, ""
        elif d.verify_tries >= settings.verify_attempts:
            d.verify_due_at, d.verify_error = None, note[:4000]
            _transition(session, d.id, d.status, d.status, f"核验失败：{note}（已核验 {d.verify_tries} 次）", VERIFIER)
        else:
            d.verify_due_at = now + dt.timedelta(seconds=settings.verify_interval_seconds)
        d.updated_at = now
        return d.status


def _empty_queues(channels: set[str]) -> set[str]:
    """Channels whose broker queue holds no message (checked on the broker itself)."""
    empty = set()
    try:
        with celery_app.connection_for_read() as conn:
            channel = conn.default_channel
            for ch in channels:
                try:
                    if channel.queue_declare(queue=queue_for(ch), passive=True).message_count == 0:
                        empty.add(ch)
                except Exception:  # the queue does not exist yet: nothing in it
                    empty.add(ch)
    except Exception:
        log.warning("sweeper could not inspect the broker queues", exc_info=True)
    return empty


# --- the sweeper ---------------------------------------------------------------------------------

def sweep(settings: Settings | None = None) -> dict[str, int]:
    """Repair what the broker or a crash lost. Safe to run concurrently with workers and with itself."""
    settings = settings or get_settings()
    now = utcnow()
    stuck = now - dt.timedelta(seconds=settings.stuck_pending_seconds)
    counts = {"released": 0, "recovered": 0, "enqueued": 0, "polled": 0, "verifying": 0}
    released: list[int] = []
    with session_scope() as session:
        skip_locked = session.get_bind().dialect.name == "postgresql"

        def locked(q):
            return q.with_for_update(skip_locked=True) if skip_locked else q

        # 1. Embargoed documents whose time has come.
        for d in session.scalars(locked(select(Delivery).where(Delivery.status == S.scheduled, Delivery.not_before <= now))):
            _transition(session, d.id, d.status, S.pending, "定时发布时间已到", "sweeper")
            d.status = S.pending
            d.updated_at = now
            released.append(d.id)
            counts["released"] += 1
        # 2. Leases that expired: the worker died (kill -9, OOM, time limit). Count the attempt as crashed.
        for d in session.scalars(locked(select(Delivery).where(Delivery.status == S.sending, Delivery.lease_until < now))):
            for a in session.scalars(select(DeliveryAttempt).where(DeliveryAttempt.delivery_id == d.id,
                                                                   DeliveryAttempt.ended_at.is_(None))):
                a.ended_at, a.outcome, a.message = now, "crashed", "工作进程中断（租约过期）"
            if d.attempts >= d.max_attempts and (
                    d.attempts >= d.max_attempts * PROGRESS_CEILING
                    or d.attempts - _progress_attempts(session.connection(), d.id) >= d.max_attempts):
                to, why = S.failed, f"已尝试 {d.attempts} 次，工作进程多次中断"
                d.last_error, d.deferred_since = why, None
            else:
                to, why = S.retrying, "工作进程中断，租约过期后重新投递"
                d.next_attempt_at = now
            _transition(session, d.id, d.status, to, why, "sweeper")
            d.status, d.lease_until, d.updated_at = to, None, now
            counts["recovered"] += 1
        session.flush()
        due = list(session.scalars(select(Delivery.id).where(or_(
            and_(Delivery.status == S.pending, Delivery.updated_at < stuck),
            and_(Delivery.status == S.queued, Delivery.queued_at < now - REQUEUE_AFTER),
            and_(Delivery.status == S.retrying, or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= now)),
        )).limit(5000)).all())
        # A queued row whose channel queue is empty has lost its message (Redis restarted without persistence, or
        # the hand-off after commit failed). A non-empty queue is a backlog: resending would only duplicate it.
        waiting = session.execute(select(Delivery.id, Delivery.channel).where(
            Delivery.status == S.queued, Delivery.queued_at < stuck, Delivery.queued_at >= now - REQUEUE_AFTER)
            .limit(5000)).all()
        if waiting:
            empty = _empty_queues({ch for _, ch in waiting})
            due += [i for i, ch in waiting if ch in empty]
        polls = session.scalars(select(Delivery.id).where(
            Delivery.status == S.awaiting_channel, Delivery.next_attempt_at <= now,
            or_(Delivery.lease_until.is_(None), Delivery.lease_until < now))).all()
        if polls:
            session.execute(update(Delivery).where(Delivery.id.in_(polls)).values(next_attempt_at=now + POLL_INTERVAL))
        # 3. Delivered rows whose first check failed: check again (the page may not have been live yet).
        checks = session.execute(select(Delivery.id, Delivery.channel).where(
            Delivery.status == S.delivered, Delivery.verify_tries > 0, Delivery.verify_due_at <= now).limit(1000)).all()
        if checks:
            session.execute(update(Delivery).where(Delivery.id.in_([i for i, _ in checks])).values(
                verify_due_at=now + dt.timedelta(seconds=max(settings.verify_interval_seconds, settings.lease_seconds))))
    ids = sorted(set(due) | set(released))  # freshly released rows go out now, not after the stuck threshold
    if ids:
        counts["enqueued"] = enqueue(ids)
    if polls:
        counts["polled"] = enqueue(list(polls), poll=True)
    if checks:
        counts["verifying"] = _send_verifications(checks)
    return counts


def _send_verifications(rows) -> int:
    for rid, channel in rows:
        send(VERIFY, rid, channel)
    return len(rows)
