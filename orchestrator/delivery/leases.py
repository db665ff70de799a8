"""Lease renewal (heartbeat) for the rows this worker process is sending or polling."""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import time

from sqlalchemy import and_, or_, update

from orchestrator.db import get_engine
from orchestrator.delivery.rules import S
from orchestrator.delivery.store import store_for
from orchestrator.models import Delivery, utcnow
from orchestrator.settings import get_settings

log = logging.getLogger(__name__)
D = Delivery.__table__.c


class LeaseKeeper:
    """Keeps the leases of the rows this process is working on alive, so the lease can be short.

    One daemon thread per process (started on first use, after any fork) wakes every ``lease_renew_interval`` and
    extends ``lease_until`` of every row held for at least half an interval, in one UPDATE guarded by owner and
    status. A row the UPDATE no longer matches (the sweeper took it, ops cancelled it) is dropped: it is not ours.
    A delivery shorter than half an interval costs no renewal at all; a long one costs one cheap UPDATE per interval.
    If the process dies, renewals stop and the sweeper recovers the row once the lease runs out.
    """

    def __init__(self, *, background: bool = True) -> None:
        self.background = background  # False: no thread, the caller calls renew_due (tests)
        self._lock = threading.Lock()
        self._held: dict[int, tuple[str, float]] = {}  # delivery id -> (owner, monotonic time the lease was last set)
        self._thread: threading.Thread | None = None
        self._pid = 0
        self.renewals = 0  # UPDATE statements issued (observability, tests)

    def hold(self, delivery_id: int, owner: str) -> None:
        with self._lock:
            self._held[delivery_id] = (owner, time.monotonic())
            if self.background and (self._thread is None or self._pid != os.getpid() or not self._thread.is_alive()):
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._run, name="lease-keeper", daemon=True)
                self._thread.start()

    def release(self, delivery_id: int) -> None:
        with self._lock:
            self._held.pop(delivery_id, None)

    def holds(self, delivery_id: int) -> bool:
        with self._lock:
            return delivery_id in self._held

    def _run(self) -> None:
        while True:
            interval = get_settings().lease_renew_interval
            time.sleep(interval)
            try:
                self.renew_due(interval / 2)
            except Exception:  # the database may be briefly away: try again next interval (the lease has slack)
                log.warning("could not renew delivery leases", exc_info=True)

    def renew_due(self, min_age: float) -> None:
        now_mono = time.monotonic()
        with self._lock:
            due: dict[str, list[int]] = {}
            for rid, (owner, since) in self._held.items():
                if now_mono - since >= min_age:
                    due.setdefault(owner, []).append(rid)
        if not due:
            return
        settings = get_settings()
        engine = store_for(get_engine()).lease_engine()
        for owner, ids in due.items():
            now = utcnow()
            with engine.begin() as conn:
                kept = set(conn.execute(
                    update(Delivery.__table__)
                    .where(D.id.in_(ids), D.lease_owner == owner,
                           # a finished poll clears lease_until: a renewal racing with it must not set it again
                           or_(D.status == S.sending, and_(D.status == S.awaiting_channel, D.lease_until.is_not(None))))
                    .values(lease_until=now + dt.timedelta(seconds=settings.lease_seconds))
                    .returning(D.id)
                ).scalars())
            self.renewals += 1
            with self._lock:
                for rid in ids:
                    if rid not in kept:
                        self._held.pop(rid, None)  # no longer ours: stop renewing it
                    elif rid in self._held:
                        self._held[rid] = (owner, now_mono)


LEASES = LeaseKeeper()
