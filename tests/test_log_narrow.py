"""The delivery log's selective-state plan (deliveries in a rare state looked up first) returns exactly what the plain
joins return, for every combination of filters it applies to, page and total alike (PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import itertools
import random

from sqlalchemy import func, select

from tests.api_helpers import migrated_pg  # noqa: F401  (a private database for this module)
from tests.test_delivery_counts import seed_document

OFFICES = ["办公室", "行政执法协调监督办公室", "法律事务科"]
STATUSES = ["delivered", "failed", "not_configured", "queued"]


def test_narrowed_log_equals_plain_joins(orch_env) -> None:
    from orchestrator.db import session_scope
    from orchestrator.models import Delivery, DeliveryAttempt, Document
    from orchestrator.web import ops

    rng = random.Random(5)
    with session_scope() as s:
        for d in range(30):
            doc_id, version_id = seed_document(s)
            s.get(Document, doc_id).office = OFFICES[d % 3]
            for k in range(4):
                st = rng.choice(STATUSES)
                dl = Delivery(document_id=doc_id, version_id=version_id, version=1, channel=["website", "wechat"][k % 2],
                              destination="d", action="publish", idempotency_key=f"narrow-{doc_id}-{k}", status=st)
                s.add(dl)
                s.flush()
                for n in range(rng.randint(1, 3)):
                    s.add(DeliveryAttempt(delivery_id=dl.id, number=n + 1, operation="publish",
                                          outcome=rng.choice(["success", "permanent", "transient"]),
                                          started_at=dt.datetime(2026, 11, 1 + n, tzinfo=dt.UTC)))
    empty = {k: "" for k in ("channel", "status", "outcome", "office", "entry", "date_from", "date_to", "q")}
    combos = []
    for status, office, channel, outcome, date_from in itertools.product(
            STATUSES, ["", *OFFICES], ["", "wechat"], ["", "permanent"], ["", "2026-11-02"]):
        combos.append({**empty, "status": status, "office": office, "channel": channel, "outcome": outcome,
                       "date_from": date_from})
    combos.append({**empty, "status": "failed", "entry": "计数"})
    with session_scope() as s:
        checked = 0
        for f in combos:
            plain = [r[0].id for r in s.execute(ops._log_query(f).order_by(DeliveryAttempt.id.desc()))]
            narrow = [r[0].id for r in s.execute(ops._log_query(f, narrow=True).order_by(DeliveryAttempt.id.desc()))]
            assert narrow == plain, f
            count = s.scalar(select(func.count()).select_from(ops._log_query(f, count=True, narrow=True).subquery()))
            assert count == len(plain), f
            checked += bool(plain)
        assert checked > 50  # most combinations match something: the comparison is not between empty lists
        # The switch itself: a rare state is narrowed, a common one or a text search is not.
        total = s.scalar(select(func.count()).select_from(Delivery))
        total_failed = s.scalar(select(func.count()).select_from(Delivery).where(Delivery.status == "failed"))
        assert 0 < total_failed <= ops.narrow_limit(total)
        assert 10_000 < ops.narrow_limit(1_000_000) < 40_000  # at a million: 1 % (未配置) narrowed, 4 % (失败) not
        assert ops._narrow(s, {**empty, "status": "failed"}) is True
        assert ops._narrow(s, {**empty, "status": "failed", "q": "错误"}) is False
        assert ops._narrow(s, {**empty}) is False
