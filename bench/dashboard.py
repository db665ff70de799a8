"""Ops dashboard at scale: 100,000 deliveries in a temporary PostgreSQL database, server-side response times.

    .venv/bin/python bench/dashboard.py [--deliveries 100000] [--repeats 40]

Creates a throw-away database (like tests/services.py), migrates it, bulk-inserts documents, deliveries (a realistic
mix of states, channels and errors) and one attempt per delivery with COPY, ANALYZEs, then times:
- ``dashboard_data()`` called directly (the SQL the dashboard runs),
- ``GET /ops/data.json`` and ``GET /ops`` through the whole app (TestClient, logged-in ops user, session lookup included),
- ``GET /log`` (first page of the delivery log with its total count),
against a baseline measured in the same run: loading every delivery row through the ORM and counting in Python
(what a dashboard without aggregate queries would do). Prints p50/p95 in ms and the ratio.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHANNELS = ["website", "gazette", "wechat", "bulletin_board", "targeted_push", "reading_room", "press"]
STATES = [("delivered", 70), ("verified", 10), ("failed", 4), ("not_configured", 1), ("retrying", 2), ("queued", 3),
          ("pending", 2), ("awaiting_confirmation", 5), ("cancelled", 2), ("awaiting_channel", 1)]
ERRORS = ["接收端拒绝了该文件（400）", "接收端服务器错误（502）", "无法连接接收端", "access_token 无效（40001）", "图片过大"]


def pct(samples: list[float], p: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def timed(fn: Callable[[], object], repeats: int, warmup: int = 3) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def copy_rows(cur, table: str, columns: list[str], rows: list[tuple]) -> None:
    with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as cp:
        for r in rows:
            cp.write_row(r)


def populate(url: str, n_deliveries: int) -> None:
    import psycopg

    rnd = random.Random(7)
    now = dt.datetime.now(dt.UTC)
    weights = [w for _, w in STATES]
    names = [s for s, _ in STATES]
    per_doc = 5
    n_docs = n_deliveries // per_doc
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO publishers (name, index_prefix, created_at) VALUES ('基准测试局', 'BENCH', now()) RETURNING id")
        pub = cur.fetchone()[0]
        cur.execute(
            "INSERT INTO catalog_entries (publisher_id, code, path, path_text, content, time_limit, keep_public, channels,"
            " offices, audience, warnings, options, active, synced_at) VALUES (%s, '01', '[\"履职依据\"]', '履职依据', '',"
            " '{}', false, %s, '[\"办公室\"]', '', '[]', '{}', true, now()) RETURNING id",
            (pub, psycopg.types.json.Jsonb(CHANNELS[:per_doc])))
        entry = cur.fetchone()[0]
        docs = []
        for i in range(1, n_docs + 1):
            created = now - dt.timedelta(minutes=(n_docs - i) * 3)
            due = (created + dt.timedelta(days=rnd.randint(-5, 20))).date()
            docs.append((i, pub, entry, f"BENCH/{i:07d}", "active", 1, f"基准测试文件 {i}", "办公室", created.date(), due, "",
                         "bench", "{}", created, ""))
        copy_rows(cur, "documents", ["id", "publisher_id", "entry_id", "index_no", "status", "current_version", "title",
                                     "office", "formed_on", "due_date", "due_note", "submitted_by", "channel_options",
                                     "created_at", "withdraw_reason"], docs)
        copy_rows(cur, "document_versions", ["id", "document_id", "version", "title", "body_html", "body_source",
                                             "body_format", "doc_number", "summary", "change_note",
                                             "personal_data_confirmed", "content_hash", "created_by", "created_at"],
                  [(d[0], d[0], 1, d[6], "<p>正文</p>", "正文", "html", "", "", "", False, "0" * 64, "bench", d[13]) for d in docs])
        deliveries, attempts = [], []
        did = 0
        for d in docs:
            for ch in rnd.sample(CHANNELS, per_doc):
                did += 1
                status = rnd.choices(names, weights)[0]
                created = d[13]
                err = rnd.choice(ERRORS) if status in ("failed", "retrying") else ""
                delivered = created + dt.timedelta(seconds=rnd.randint(1, 600)) if status in ("delivered", "verified") else None
                deliveries.append((did, d[0], d[0], 1, ch, ch, "publish", f"doc{d[0]}-v1-{ch}-{ch}-publish", status,
                                   1, 6, "", err, "PermanentError" if err else "", "{}", "{}", created, created, delivered,
                                   "", "", "", ""))
                attempts.append((did, did, 1, "publish", created, created, "success" if delivered else ("permanent" if err else "pending"),
                                 "", err, "", "bench"))
        copy_rows(cur, "deliveries", ["id", "document_id", "version_id", "version", "channel", "destination", "action",
                                      "idempotency_key", "status", "attempts", "max_attempts", "lease_owner", "last_error",
                                      "error_class", "receipt", "checkpoint", "created_at", "updated_at", "delivered_at",
                                      "confirmed_by", "confirmation_note", "evidence_sha256", "evidence_filename"], deliveries)
        copy_rows(cur, "delivery_attempts", ["id", "delivery_id", "number", "operation", "started_at", "ended_at", "outcome",
                                             "error_class", "message", "response_excerpt", "worker"], attempts)
        for table in ("documents", "document_versions", "deliveries", "delivery_attempts"):
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        conn.commit()
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--deliveries", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=40)
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
        print(f"populated {args.deliveries:,} deliveries (+ documents, attempts) in {time.perf_counter() - t:.1f} s")

        from fastapi.testclient import TestClient
        from sqlalchemy import select

        from orchestrator import auth
        from orchestrator.app import create_app
        from orchestrator.db import session_scope
        from orchestrator.models import Delivery
        from orchestrator.web.ops import dashboard_data
        from tests.web_support import PASSWORD, login

        auth.create_user("bench-ops", "ops", password=PASSWORD)
        client = TestClient(create_app())
        login(client, "bench-ops")

        def direct() -> None:
            with session_scope() as s:
                dashboard_data(s)

        def json_endpoint() -> None:
            assert client.get("/ops/data.json").status_code == 200

        def html_page() -> None:
            assert client.get("/ops").status_code == 200

        def log_page() -> None:
            assert client.get("/log").status_code == 200

        def baseline() -> None:
            # Without aggregate SQL: every row through the ORM, counted in Python.
            with session_scope() as s:
                rows = s.scalars(select(Delivery)).all()
                Counter((d.channel, d.status) for d in rows)

        results = {
            "dashboard_data() (SQL only)": timed(direct, args.repeats),
            "GET /ops/data.json": timed(json_endpoint, args.repeats),
            "GET /ops (HTML)": timed(html_page, args.repeats),
            "GET /log (first page + count)": timed(log_page, max(10, args.repeats // 2)),
            "baseline: all rows via ORM": timed(baseline, 5, warmup=1),
        }
        base = statistics.median(results["baseline: all rows via ORM"])
        print(f"\n{'what':34} {'p50 ms':>9} {'p95 ms':>9} {'vs baseline':>12}")
        for name, samples in results.items():
            print(f"{name:34} {pct(samples, 50):9.1f} {pct(samples, 95):9.1f} {base / pct(samples, 50):11.1f}x")
        worst = pct(results["GET /ops/data.json"], 95)
        print(f"\n/ops/data.json p95 = {worst:.1f} ms with {args.deliveries:,} deliveries: "
              f"{'within' if worst < 300 else 'OVER'} the 300 ms budget")
    finally:
        from orchestrator.db import reset_caches

        reset_caches()
        db.drop()
        tmp.cleanup()


if __name__ == "__main__":
    main()
