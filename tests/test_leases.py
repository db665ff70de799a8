"""Lease renewal (the heartbeat behind a short lease) against the real database: it extends only rows this process
still holds, skips rows claimed a moment ago (no extra statement for a short delivery), and stops for a row that is
no longer ours."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from tests.fanout_harness import FanoutStack

CATALOG = [Path(__file__).parent / "data" / "catalogs" / "test-publisher.yaml"]


def test_renewal_extends_held_rows_and_lets_go_of_lost_ones(orch_env, redis_server, tmp_path):
    from sqlalchemy import update

    from orchestrator.db import session_scope
    from orchestrator.delivery.leases import LeaseKeeper
    from orchestrator.models import Delivery, utcnow

    with FanoutStack(orch_env, tmp_path, channels={}, catalogs=CATALOG, redis=redis_server, workers=0,
                     beat=False) as stack:
        doc = stack.submit(entry="01-01", title="租约续期", body="<p>正文</p>").document_id
        a, b = (r["id"] for r in stack.deliveries(doc)[:2])
        claimed_until = utcnow() + dt.timedelta(seconds=2)
        with session_scope() as s:
            s.execute(update(Delivery).where(Delivery.id.in_([a, b]))
                      .values(status="sending", lease_owner="me", lease_until=claimed_until))

        def lease(i: int) -> dt.datetime:
            with session_scope() as s:
                return s.get(Delivery, i).lease_until

        keeper = LeaseKeeper(background=False)
        keeper.hold(a, "me")
        keeper.hold(b, "me")
        keeper.renew_due(min_age=60)  # both were claimed just now: nothing to renew, no statement
        assert keeper.renewals == 0 and lease(a) == claimed_until

        keeper.renew_due(min_age=0)
        assert keeper.renewals == 1  # one UPDATE for every row the process holds
        assert lease(a) > claimed_until + dt.timedelta(seconds=5) and lease(b) > claimed_until + dt.timedelta(seconds=5)

        with session_scope() as s:  # the sweeper gave b to another worker
            s.execute(update(Delivery).where(Delivery.id == b).values(lease_owner="other", lease_until=claimed_until))
        keeper.renew_due(min_age=0)
        assert keeper.holds(a) and not keeper.holds(b)  # b is no longer ours: renewal stops for it
        assert lease(b) == claimed_until

        keeper.release(a)
        assert not keeper.holds(a)
        keeper.renew_due(min_age=0)
        assert keeper.renewals == 2  # nothing held: no statement
