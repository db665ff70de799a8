"""Celery tasks. They carry only a delivery id; everything else is read from the database."""

from __future__ import annotations

from orchestrator import freshness
from orchestrator.checks import history as content_check_history
from orchestrator.db import session_scope
from orchestrator.delivery import engine, sweeper
from orchestrator.delivery.celery_app import DELIVER, POLL, VERIFY, app
from orchestrator.documents import deadlines
from orchestrator.notify import notify_freshness


@app.task(name=DELIVER)
def deliver(delivery_id: int) -> str | None:
    return engine.run_delivery(delivery_id)


@app.task(name=POLL)
def poll_delivery(delivery_id: int) -> str | None:
    return engine.run_poll(delivery_id)


@app.task(name=VERIFY)
def verify_delivery(delivery_id: int) -> str | None:
    return engine.run_verify(delivery_id)


@app.task(name="orchestrator.sweep")
def sweep() -> dict[str, int]:
    return sweeper.sweep()


@app.task(name="orchestrator.housekeeping")
def housekeeping() -> list[str]:
    return sweeper.housekeeping()


@app.task(name="orchestrator.recompute_due_dates")
def recompute_due_dates() -> int:
    """Provisional (暂估) due dates become official once a holiday schedule is published (idempotent)."""
    return len(deadlines.recompute_due_dates())


@app.task(name="orchestrator.freshness_check")
def freshness_check() -> dict[str, int]:
    """栏目更新情况: open due "内容仍准确吗?" confirmations, close answered ones, record warnings and stale columns."""
    with session_scope() as s:
        return freshness.run_checks(s, on_alert=notify_freshness)
@app.task(name=content_check_history.TASK)
def content_check_history_run(run_id: int) -> str:
    """A dictionary changed: scan what is already published, a bounded slice per invocation (resumable)."""
    return content_check_history.run_history(run_id)
