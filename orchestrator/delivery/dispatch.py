"""Hand-off to the broker: one message per delivery row, sent by task name to its channel's queue.

A message only says "look at delivery N"; the database is the source of truth, so a lost message costs latency, not
a delivery (the sweeper resends), and a duplicate costs nothing (the claim is conditional).
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import select, update

from orchestrator import channel_api
from orchestrator.db import get_engine
from orchestrator.delivery.celery_app import DELIVER, POLL, VERIFY, queue_for, send, send_many
from orchestrator.delivery.celery_app import app as celery_app
from orchestrator.delivery.rules import CLAIMABLE, S
from orchestrator.delivery.store.base import INSERT_TRANSITION
from orchestrator.models import Delivery, utcnow

log = logging.getLogger(__name__)
D = Delivery.__table__.c
RETRY_MESSAGE_LIMIT = 300  # seconds: a longer wait is left to the sweeper (no long ETAs in Redis)


def publish(pairs: list[tuple[int, str]]) -> int:
    """Send one message per (delivery id, channel) to the channel's queue: rows a just-committed transaction wrote as
    ``queued`` (the caller knows ids and channels, so no query). A lost message is resent by the sweeper."""
    return send_many(DELIVER, pairs)


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
        send_many(POLL if poll else DELIVER, [(r.id, r.channel) for r in rows])
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
                    conn.execute(INSERT_TRANSITION, [
                        {"delivery_id": i, "from_status": status, "to_status": S.queued, "reason": "", "actor": "", "at": now}
                        for i in marked
                    ])
            requeued = [r.id for r in rows if r.status == S.queued]
            if requeued:  # a re-sent message: refresh the age the sweeper looks at
                conn.execute(update(Delivery.__table__).where(D.id.in_(requeued), D.status == S.queued).values(queued_at=now))
    return len(rows)


def request_poll(ids: list[int]) -> int:
    """Poll these rows waiting on their channel now (a channel's callback said the result is ready)."""
    return enqueue(ids, poll=True)


# Channels ask for a poll through the channel API, which never imports the delivery layer: this module registers.
channel_api.register_poll_handler(request_poll)


def schedule_retry(delivery_id: int, channel: str, when: dt.datetime) -> None:
    """Short waits become an ETA message (fast path); long ones are left to the sweeper (no long ETAs in Redis)."""
    delay = (when - utcnow()).total_seconds()
    if delay > RETRY_MESSAGE_LIMIT:
        return
    try:
        send(DELIVER, delivery_id, channel, countdown=max(0.0, delay))
    except Exception:  # broker down: the row says retrying with next_attempt_at; the sweeper will send it
        log.warning("could not schedule retry of %s; sweeper will", delivery_id, exc_info=True)


def send_verifications(rows) -> int:
    return send_many(VERIFY, rows)


def empty_queues(channels: set[str]) -> set[str]:
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
