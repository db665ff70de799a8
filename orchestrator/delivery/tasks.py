"""Celery tasks. They carry only a delivery id; everything else is read from the database."""

from __future__ import annotations

from orchestrator.delivery import fanout
from orchestrator.delivery.celery_app import app


@app.task(name="orchestrator.deliver")
def deliver(delivery_id: int) -> str | None:
    return fanout.run_delivery(delivery_id)


@app.task(name="orchestrator.poll")
def poll_delivery(delivery_id: int) -> str | None:
    return fanout.run_poll(delivery_id)


@app.task(name="orchestrator.verify")
def verify_delivery(delivery_id: int) -> str | None:
    return fanout.run_verify(delivery_id)


@app.task(name="orchestrator.sweep")
def sweep() -> dict[str, int]:
    return fanout.sweep()


@app.task(name="orchestrator.housekeeping")
def housekeeping() -> list[str]:
    return fanout.housekeeping()


@app.task(name="orchestrator.recompute_due_dates")
def recompute_due_dates() -> int:
    """Provisional (暂估) due dates become official once a holiday schedule is published (idempotent)."""
    from orchestrator.documents.deadlines import recompute_due_dates as run

    return len(run())
