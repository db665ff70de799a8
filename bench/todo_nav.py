"""我的待办 at scale: the navigation bar's counts (on every page view), /todo and /mine, on the dashboard bench's data.

    .venv/bin/python bench/todo_nav.py [--deliveries 100000] [--repeats 20]

Populates a throw-away PostgreSQL database with bench/dashboard.py's generator (5 deliveries per document, a mix of
states, due dates from 5 days ago to 20 days ahead), then times, p50/p95 in ms:
- ``counts_for()`` (the navigation bar: one statement of COUNT subqueries) for ops, a clerk and a reviewer,
- ``GET /todo`` and ``GET /mine?scope=all`` through the whole app,
and, as the baseline measured in the same run, ``SELECT count(*) FROM documents`` (what counting "all documents" costs).
Run it at 100,000 and 1,000,000 deliveries to see the nav counts stay flat.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from dashboard import pct, populate, timed  # noqa: E402  (the dashboard bench's generator and timers)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--deliveries", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args()

    from tests.conftest import run_migrations
    from tests.services import PostgresDatabase

    db = PostgresDatabase().create()
    tmp = tempfile.TemporaryDirectory()
    try:
        os.environ.update({"ORCH_DATABASE_URL": db.url, "ORCH_VAR_DIR": tmp.name, "ORCH_BROKER_URL": "redis://127.0.0.1:1/0"})
        run_migrations(db.url)
        t = time.perf_counter()
        populate(db.url, args.deliveries)
        print(f"populated {args.deliveries:,} deliveries in {time.perf_counter() - t:.1f} s")

        from fastapi.testclient import TestClient
        from sqlalchemy import text

        from orchestrator import auth
        from orchestrator.app import create_app
        from orchestrator.db import session_scope
        from orchestrator.notify.todo import counts_for
        from tests.web_support import PASSWORD, login

        people = {r: auth.create_user(f"bench-{r}", r, office="办公室" if r == "clerk" else "", password=PASSWORD)
                  for r in ("ops", "clerk", "reviewer")}
        client = TestClient(create_app())
        login(client, "bench-ops")

        def nav(role: str) -> Callable[[], None]:
            def fn() -> None:
                with session_scope() as s:
                    counts_for(s, people[role])
            return fn

        def get(path: str) -> Callable[[], None]:
            def fn() -> None:
                r = client.get(path)
                assert r.status_code == 200, (path, r.status_code)
            return fn

        def baseline() -> None:
            with session_scope() as s:
                s.execute(text("SELECT count(*) FROM documents")).scalar()

        with session_scope() as s:
            print("nav counts (to-do, unread):", {r: counts_for(s, p) for r, p in people.items()})
        results = {"baseline: SELECT count(*) FROM documents": timed(baseline, args.repeats)}
        for role in people:
            results[f"nav counts ({role})"] = timed(nav(role), args.repeats)
        results["GET /todo (ops)"] = timed(get("/todo"), max(5, args.repeats // 4), warmup=1)
        results["GET /mine?scope=all (ops)"] = timed(get("/mine?scope=all"), max(5, args.repeats // 4), warmup=1)
        base = pct(results["baseline: SELECT count(*) FROM documents"], 50)
        print(f"{'view':48s} {'p50 ms':>8s} {'p95 ms':>8s} {'p50 / baseline':>15s}")
        for name, samples in results.items():
            p50 = pct(samples, 50)
            print(f"{name:48s} {p50:8.1f} {pct(samples, 95):8.1f} {p50 / base:15.2f}")
    finally:
        tmp.cleanup()
        db.drop()


if __name__ == "__main__":
    main()
