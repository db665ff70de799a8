"""The Celery app follows the settings when they change (tests, `serve` switching to the embedded broker)."""

from __future__ import annotations

import redis


def test_reconfigure_sends_to_the_new_broker(redis_server, monkeypatch):
    from orchestrator.delivery.celery_app import reconfigure
    from orchestrator.delivery.tasks import deliver
    from orchestrator.settings import get_settings

    base = redis_server.url.rsplit("/", 1)[0]
    first, second = redis.Redis.from_url(f"{base}/3"), redis.Redis.from_url(f"{base}/4")
    try:
        monkeypatch.setenv("ORCH_BROKER_URL", f"{base}/3")
        get_settings.cache_clear()
        reconfigure()
        deliver.apply_async(args=[1], queue="deliver.test")
        monkeypatch.setenv("ORCH_BROKER_URL", f"{base}/4")
        get_settings.cache_clear()
        reconfigure()
        deliver.apply_async(args=[2], queue="deliver.test")
        assert first.llen("deliver.test") == 1
        assert second.llen("deliver.test") == 1
    finally:
        first.flushdb()
        second.flushdb()
        monkeypatch.undo()
        get_settings.cache_clear()
        reconfigure()


def test_reconfigure_refreshes_the_time_limits_sent_with_each_message(redis_server, monkeypatch):
    """A task message carries the sender's time limits, which override the worker's: a changed setting must reach it."""
    import json

    from orchestrator.delivery.celery_app import app, reconfigure
    from orchestrator.delivery.tasks import deliver
    from orchestrator.settings import get_settings

    base = redis_server.url.rsplit("/", 1)[0]
    box = redis.Redis.from_url(f"{base}/5")
    try:
        monkeypatch.setenv("ORCH_BROKER_URL", f"{base}/5")
        limits = []
        for seconds in ("10", "60"):
            monkeypatch.setenv("ORCH_TASK_TIME_LIMIT_SECONDS", seconds)
            get_settings.cache_clear()
            reconfigure()
            deliver.apply_async(args=[1], queue="deliver.limits")
            limits.append(json.loads(box.rpop("deliver.limits"))["headers"]["timelimit"])
        assert limits == [[10, 8.0], [60, 48.0]]
        assert app.conf.worker_cancel_long_running_tasks_on_connection_loss is False  # a broker blip cancels nothing
    finally:
        box.flushdb()
        monkeypatch.undo()
        get_settings.cache_clear()
        reconfigure()
