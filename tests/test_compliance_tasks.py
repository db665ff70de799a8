"""Beat tasks of the compliance watch, run by a real Celery worker: folding the maintained delivery counts without
anybody reading the dashboard, and the monthly self-inspection."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import func, select, update

from tests.api_helpers import migrated_pg  # noqa: F401  (a private database for this module)
from tests.fanout_harness import FanoutStack
from tests.test_delivery_counts import fresh_group_by, maintained, seed_document


def _wait(predicate, timeout: float = 150) -> None:
    # Generous: a worker process that starts on a loaded CI machine (tests run two at a time) can take a minute.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.3)
    raise AssertionError("the worker did not do it in time")


def test_worker_folds_counts_and_runs_the_self_inspection(orch_env, redis_server, tmp_path: Path) -> None:
    import redis

    from orchestrator.compliance.models import SelfInspection
    from orchestrator.db import session_scope
    from orchestrator.delivery.celery_app import DEFAULT_QUEUE, app
    from orchestrator.models import Delivery, DeliveryCount

    # The session's Redis may still hold task messages other tests left on the default queue (a link check against a
    # server that is gone, a history scan): this test's worker must find only the tasks it sends.
    redis.Redis.from_url(redis_server.url).flushdb()
    with FanoutStack(orch_env, tmp_path, redis=redis_server, beat=False, channels={}) as _stack:
        with session_scope() as s:
            doc_id, version_id = seed_document(s)
            for i in range(300):
                s.add(Delivery(document_id=doc_id, version_id=version_id, version=1, channel=["website", "wechat"][i % 2],
                               destination="d", action="publish", idempotency_key=f"fold-{doc_id}-{i}", status="pending"))
        with session_scope() as s:
            s.execute(update(Delivery).where(Delivery.document_id == doc_id, Delivery.id % 3 == 0).values(status="delivered"))
        with session_scope() as s:
            deltas = s.scalar(select(func.count()).select_from(DeliveryCount))
            # Inserts are counted per statement (one row per group), each change as a -1/+1 pair: 100 changes here.
            assert deltas >= 200

        app.send_task("orchestrator.fold_delivery_counts", queue=DEFAULT_QUEUE)

        def folded() -> bool:
            # Folded: one row per (channel, status, error) group. The session's database may hold other tests'
            # deliveries too, so the number of groups is not fixed; what matters is that no group has two rows.
            with session_scope() as s:
                groups = select(DeliveryCount.channel, DeliveryCount.status, DeliveryCount.error_class,
                                DeliveryCount.error_key).group_by(DeliveryCount.channel, DeliveryCount.status,
                                                                  DeliveryCount.error_class, DeliveryCount.error_key)
                rows = s.scalar(select(func.count()).select_from(DeliveryCount))
                return rows == s.scalar(select(func.count()).select_from(groups.subquery()))
        _wait(folded)
        with session_scope() as s:
            assert maintained(s) == fresh_group_by(s)

        app.send_task("orchestrator.self_inspection", kwargs={"trigger": "monthly"}, queue=DEFAULT_QUEUE)

        def inspected() -> bool:
            with session_scope() as s:
                return s.scalar(select(func.count()).select_from(SelfInspection).where(SelfInspection.trigger == "monthly")) == 1
        _wait(inspected)
        with session_scope() as s:
            row = s.scalars(select(SelfInspection)).one()
            assert {r["code"] for r in row.results} >= {"overdue", "broken_links", "never_published"}

        # The hourly recount of a year's publication figures.
        from orchestrator.compliance.models import AnnualStatsCache

        app.send_task("orchestrator.annual_stats", kwargs={"year": 2026}, queue=DEFAULT_QUEUE)

        def counted() -> bool:
            with session_scope() as s:
                return s.get(AnnualStatsCache, 2026) is not None
        _wait(counted)
        with session_scope() as s:
            data = s.get(AnnualStatsCache, 2026).data
            assert data["totals"]["published"] == 0 and data["channels"] == {}  # nothing was delivered this year
