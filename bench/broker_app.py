"""A minimal Celery app for the broker benchmark: configured from the environment, one trivial task.

The task appends one byte to a file, so the benchmark can count completions the same way on every transport
(no result backend: the orchestrator does not use one either).
"""

from __future__ import annotations

import json
import os

from celery import Celery

if os.environ.get("BENCH_SQLA_POLL"):
    # kombu hands every SQLAlchemy transport option to create_engine(), so its polling interval is set on the class.
    from kombu.transport import sqlalchemy as _sqla

    _sqla.Transport.polling_interval = float(os.environ["BENCH_SQLA_POLL"])

app = Celery("bench_broker")
app.conf.update(
    broker_url=os.environ.get("BENCH_BROKER_URL", "memory://"),
    broker_transport_options=json.loads(os.environ.get("BENCH_TRANSPORT_OPTIONS", "{}")),
    # The orchestrator's own settings (orchestrator/delivery/celery_app.py), so the comparison is about the transport only.
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_ignore_result=True,
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
)


@app.task(name="bench.noop")
def noop() -> None:
    fd = os.open(os.environ["BENCH_DONE_FILE"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, b".")
    finally:
        os.close(fd)
