"""The history scan: when a dictionary changes, check everything already published against it.

"Published" = a document not withdrawn with at least one delivery delivered or verified; its latest version is checked.
A run walks documents in id order, ``batch`` at a time; each batch's hits and the run's cursor are written in one
transaction under a lock on the run row, so a killed worker (the message comes back: acks_late) or a duplicate message
resumes after the last batch written, never repeating one. One task invocation works for a bounded time, then sends
itself again for the rest. A newer run (a newer dictionary) supersedes unfinished older ones.
"""

from __future__ import annotations

import logging
import time

from sqlalchemy import delete, exists, func, select, update
from sqlalchemy.orm import Session

from orchestrator.checks.dictionary import current_version, matcher
from orchestrator.checks.models import ContentCheckHit, ContentCheckRun
from orchestrator.db import session_scope
from orchestrator.delivery.celery_app import DEFAULT_QUEUE, app
from orchestrator.models import (
    Delivery,
    DeliveryStatus,
    Document,
    DocumentPublication,
    DocumentStatus,
    DocumentVersion,
    utcnow,
)
from orchestrator.settings import get_settings

log = logging.getLogger(__name__)

TASK = "orchestrator.content_check_history"
UNFINISHED = ("queued", "running")
STATUS_LABELS = {"queued": "排队中", "running": "扫描中", "done": "已完成", "failed": "失败", "superseded": "已被新扫描取代"}
STALE_SECONDS = 300


def published_documents(batch: int, after: int):
    delivered = exists().where(Delivery.document_id == Document.id,
                               Delivery.status.in_([DeliveryStatus.delivered, DeliveryStatus.verified]))
    return (select(Document.id, DocumentVersion.version, DocumentVersion.title, DocumentVersion.body_html)
            .join(DocumentVersion, (DocumentVersion.document_id == Document.id)
                  & (DocumentVersion.version == Document.current_version))
            .where(Document.id > after, Document.status != DocumentStatus.withdrawn, delivered)
            .order_by(Document.id).limit(batch))


def start_run(trigger: str, *, send: bool = True) -> int:
    """A new run for the current dictionary; unfinished older runs stop at their next batch."""
    with session_scope() as s:
        s.execute(update(ContentCheckRun).where(ContentCheckRun.status.in_(UNFINISHED))
                  .values(status="superseded", finished_at=utcnow()))
        run = ContentCheckRun(status="queued", trigger=trigger[:500], dictionary_version=current_version(s))
        s.add(run)
        s.flush()
        run_id = run.id
    prune()
    if send:
        send_run(run_id)
    return run_id


def send_run(run_id: int) -> bool:
    try:
        app.send_task(TASK, args=[run_id], queue=DEFAULT_QUEUE)
        return True
    except Exception:  # noqa: BLE001 - the broker is down: the run stays queued; the page offers 继续
        log.exception("content check run %s: could not reach the broker", run_id)
        return False


def run_batch(session: Session, run: ContentCheckRun, batch: int) -> bool:
    """One batch under the run row's lock; True when the run has finished."""
    m = matcher(session)
    if run.status == "queued":
        run.status, run.started_at = "running", utcnow()
    run.dictionary_version = m.version
    rows = session.execute(published_documents(batch, run.cursor)).all()
    counts = dict(run.counts or {})
    with_hits = 0
    for doc_id, version, title, body in rows:
        hits = m.check_document(title, body)
        if hits:
            with_hits += 1
        for h in hits:
            counts[h.severity] = counts.get(h.severity, 0) + 1
            session.add(ContentCheckHit(run_id=run.id, document_id=doc_id, version=version, field=h.field,
                                        category=h.category, severity=h.severity, term=h.term[:200],
                                        suggestion=(h.message or h.suggestion)[:300], context=h.context[:300],
                                        position=h.position))
    run.documents_scanned += len(rows)
    run.documents_with_hits += with_hits
    run.counts = counts
    run.heartbeat_at = utcnow()
    if rows:
        run.cursor = rows[-1][0]
    if len(rows) < batch:
        run.status, run.finished_at = "done", utcnow()
        return True
    return False


def run_history(run_id: int, *, max_batches: int | None = None, budget_seconds: float | None = None) -> str:
    """Work on a run until it is done, ``max_batches`` are written or the time budget is spent (then it re-sends
    itself). Returns the run's status."""
    settings = get_settings()
    budget = budget_seconds if budget_seconds is not None else max(1.0, settings.task_time_limit_seconds * 0.5)
    started = time.monotonic()
    done_batches = 0
    while True:
        with session_scope() as s:
            run = s.scalars(select(ContentCheckRun).where(ContentCheckRun.id == run_id).with_for_update()).first()
            if run is None:
                return "missing"
            if run.status not in UNFINISHED:
                return run.status
            try:
                finished = run_batch(s, run, settings.content_check_batch)
            except Exception as exc:
                s.rollback()
                _fail(run_id, exc)
                raise
            status = run.status
        done_batches += 1
        if finished:
            return status
        if max_batches is not None and done_batches >= max_batches:
            return status
        if time.monotonic() - started > budget:
            send_run(run_id)
            return status


def _fail(run_id: int, exc: Exception) -> None:
    with session_scope() as s:
        s.execute(update(ContentCheckRun).where(ContentCheckRun.id == run_id)
                  .values(status="failed", error=f"{type(exc).__name__}: {exc}"[:2000], finished_at=utcnow()))


def resume(run_id: int) -> bool:
    """继续: a queued or stalled run is sent to the workers again (it continues after its cursor)."""
    with session_scope() as s:
        run = s.get(ContentCheckRun, run_id)
        if run is None or run.status not in UNFINISHED:
            return False
    return send_run(run_id)


def is_stale(run: ContentCheckRun) -> bool:
    if run.status not in UNFINISHED:
        return False
    last = run.heartbeat_at or run.started_at or run.created_at
    return (utcnow() - last).total_seconds() > STALE_SECONDS


def prune(keep: int = 20) -> None:
    """Keep the hits of the latest ``keep`` runs only (the runs themselves, with their counts, stay listed)."""
    with session_scope() as s:
        ids = list(s.scalars(select(ContentCheckRun.id).order_by(ContentCheckRun.id.desc()).offset(keep)))
        if ids:
            s.execute(delete(ContentCheckHit).where(ContentCheckHit.run_id.in_(ids)))


def published_count(session: Session) -> int:
    """How many documents ``published_documents`` walks: not withdrawn, at least one delivery delivered or verified
    (every document has its current version). Counted from the trigger-kept ``document_publications`` (one small row
    per published document) instead of probing every document's deliveries."""
    return session.scalar(select(func.count()).select_from(DocumentPublication)
                          .where(DocumentPublication.published > 0, DocumentPublication.withdrawn.is_(False))) or 0
