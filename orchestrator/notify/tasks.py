"""Celery tasks of the notifications service (loaded by the worker through ``imports`` in the Celery app)."""

from __future__ import annotations

import datetime as dt

from orchestrator.db import session_scope
from orchestrator.delivery.celery_app import app
from orchestrator.notify import NOTIFY_SEND, deadlines, sending, todo


@app.task(name=NOTIFY_SEND, bind=True, max_retries=None)
def notify_send(self, send_id: int) -> str:
    outcome = sending.run_send(send_id)
    if outcome == "retry":
        raise self.retry(countdown=sending.retry_delay(send_id))
    return outcome


def _when(now: str | None) -> dt.datetime | None:
    if not now:
        return None
    t = dt.datetime.fromisoformat(now)
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


@app.task(name="orchestrator.check_deadlines")
def check_deadlines(now: str | None = None) -> dict[str, int]:
    """Beat: deadline warnings not sent yet. ``now`` (ISO time) replaces the clock, for drills and tests."""
    with session_scope() as s:
        return deadlines.check(s, _when(now))


@app.task(name="orchestrator.deadline_digest")
def deadline_digest(now: str | None = None) -> dict[str, int]:
    with session_scope() as s:
        return deadlines.digest(s, _when(now))


@app.task(name="orchestrator.notify_sweep")
def notify_sweep() -> int:
    return sending.sweep()


@app.task(name="orchestrator.todo_watch")
def todo_watch() -> int:
    """Beat: tell people about new items on their 我的待办 (review, send-back, manual task, failed delivery)."""
    with session_scope() as s:
        return todo.watch(s)
