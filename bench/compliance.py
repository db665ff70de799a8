"""Compliance views at platform scale: link health, the annual report and the ops dashboard card, at two sizes.

    .venv/bin/python bench/compliance.py [--sizes 100000,1000000] [--per-doc 10] [--repeats 20]

For each size (number of deliveries; documents = deliveries / per-doc, so 1,000,000 deliveries are 100,000
documents) a throw-away PostgreSQL database is migrated and filled by ``bench/dashboard.py``'s generator, then the
documents are spread over six catalog entries (规章, 行政规范性文件, 行政许可, 行政处罚, 行政强制, other) with a realistic
mix of 有效性, and 3,000 link problems (1,000 open) are added. It times, server side through the whole app:

- ``GET /compliance/links`` (the link-health page: summary, open problems, runs) and ``GET /ops/data.json``
  (which now carries the link card) — target p95 < 300 ms;
- the recount of a year's per-channel publication and timeliness figures (beat does it hourly; it reads every
  publication of the year), then ``GET /compliance/annual`` (section 二 live, the timeliness figures as last counted)
  and ``GET /compliance/annual.xlsx`` — target < 5 s;
- one self-inspection (every check, stored);
- the other views of the watch and of the to-do list (``VIEWS``: the compliance hub, freshness of every column, the
  self-inspection page, the content-check history, 我的待办 and 我的文件 with a filter) — target p95 < 300 ms.

and prints p50/p95 per size and the ratio of the largest size to the smallest (flat: close to 1; linear: the size
ratio).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.dashboard import pct, populate, timed  # noqa: E402

# Pages of the compliance watch and of everyone's to-do list, timed like the dashboard (target p95 < 300 ms).
VIEWS = ["/compliance", "/freshness", "/compliance/inspection", "/content-checks/history", "/todo",
         "/mine?scope=all", "/mine?scope=all&channel_state=failed", "/mine?scope=all&q=通知"]

ENTRIES = [("02-01", "政策文件/规章"), ("02-02", "政策文件/行政规范性文件"), ("03-01", "执法信息/行政许可结果"),
           ("03-02", "执法信息/行政处罚结果"), ("03-03", "执法信息/行政强制")]


def enrich(url: str) -> None:
    """Catalog entries the annual report counts, 有效性 on the documents, link-check runs and problems."""
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn, conn.cursor() as cur:
        cur.execute("SELECT setseed(0.3)")
        cur.execute("SELECT id FROM publishers LIMIT 1")
        pub = cur.fetchone()[0]
        ids = []
        for code, path in ENTRIES:
            cur.execute(
                "INSERT INTO catalog_entries (publisher_id, code, path, path_text, content, time_limit, keep_public,"
                " channels, offices, audience, warnings, options, active, synced_at) VALUES (%s, %s, %s, %s, '', '{}',"
                " false, '[]', '[\"办公室\"]', '', '[]', '{}', true, now()) RETURNING id",
                (pub, code, psycopg.types.json.Jsonb(path.split("/")), path))
            ids.append(cur.fetchone()[0])
        cur.execute("SELECT min(id) FROM catalog_entries")
        other = cur.fetchone()[0]
        arr = "ARRAY[" + ", ".join(str(i) for i in [*ids, other]) + "]"
        cur.execute(
            f"UPDATE documents SET entry_id = ({arr})[id % 6 + 1],"
            " validity = (ARRAY['有效', '有效', '有效', '有效', '有效', '有效', '已修订', '已废止', '已废止', '已失效'])"
            "[floor(random() * 10)::int + 1]")
        cur.execute("UPDATE documents SET validity_date = formed_on + floor(random() * 120)::int"
                    " WHERE validity IN ('已废止', '已失效')")
        cur.execute(
            "INSERT INTO linkcheck_runs (trigger, started_at, finished_at, pages, links, problems, skipped, truncated, note)"
            " SELECT 'beat', now() - i * interval '1 day', now() - i * interval '1 day' + interval '5 minutes', 500,"
            " 5000, 40, 3, false, '' FROM generate_series(1, 50) AS i")
        cur.execute(
            "INSERT INTO link_problems (key, kind, page_url, link_url, link_text, problem, detail, first_seen, last_seen,"
            " last_run_id, resolved_at)"
            " SELECT md5(i::text) || md5((i * 7)::text),"
            " (ARRAY['broken_internal', 'external_failed', 'external_redirect', 'attachment_missing',"
            " 'attachment_changed'])[i % 5 + 1],"
            " 'http://127.0.0.1:8000/site/art/' || i || '.html', 'http://partner' || i || '.example/', '链接', '外部链接无法访问',"
            " '', now() - i * interval '1 hour', now(), NULL,"
            " CASE WHEN i % 3 = 0 THEN NULL ELSE now() - (i % 50) * interval '1 day' END"
            " FROM generate_series(1, 3000) AS i")
        conn.commit()
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def measure(n_deliveries: int, per_doc: int, repeats: int) -> dict[str, list[float]]:
    from tests.conftest import run_migrations
    from tests.services import PostgresDatabase

    db = PostgresDatabase().create()
    tmp = tempfile.TemporaryDirectory()
    try:
        os.environ.update({"ORCH_DATABASE_URL": db.url, "ORCH_VAR_DIR": tmp.name, "ORCH_BROKER_URL": "redis://127.0.0.1:1/0"})
        from orchestrator import settings
        from orchestrator.db import reset_caches

        settings.get_settings.cache_clear()
        reset_caches()
        run_migrations(db.url)
        t = time.perf_counter()
        populate(db.url, n_deliveries, per_doc)
        enrich(db.url)
        print(f"\n== {n_deliveries:,} deliveries, {n_deliveries // per_doc:,} documents: generated in "
              f"{time.perf_counter() - t:.1f} s")

        from fastapi.testclient import TestClient

        from orchestrator import auth
        from orchestrator.app import create_app
        from orchestrator.compliance import inspection
        from orchestrator.db import session_scope
        from orchestrator.web.opscounts import fold
        from tests.web_support import PASSWORD, login

        with session_scope() as s:
            fold(s)
        auth.create_user(f"bench-admin-{n_deliveries}", "admin", password=PASSWORD)
        client = TestClient(create_app())
        login(client, f"bench-admin-{n_deliveries}")
        year = dt.datetime.now(dt.UTC).year

        def get(path: str) -> Callable[[], None]:
            def fn() -> None:
                r = client.get(path)
                assert r.status_code == 200, (path, r.status_code, r.text[:300])
            return fn

        page = client.get(f"/compliance/annual?year={year}").text
        start = page.index('id="section-two"')
        print("  section 二 on the page:", " ".join(
            x for x in __import__("re").findall(r'id="cell-[a-z-]+">(\d+)', page[start:])))
        from orchestrator.compliance import annual

        def cold() -> None:  # what beat does hourly, and the page when a year has never been counted
            with session_scope() as s:
                annual.cached_publication(s, year, refresh=True)

        results = {
            f"annual publication figures, recount {year}": timed(cold, 3, 0),
            "GET /compliance/links": timed(get("/compliance/links"), repeats),
            "GET /ops/data.json (with link card)": timed(get("/ops/data.json"), repeats),
            f"GET /compliance/annual?year={year}": timed(get(f"/compliance/annual?year={year}"), max(5, repeats // 4), 1),
            "GET /compliance/annual.xlsx": timed(get(f"/compliance/annual.xlsx?year={year}"), max(5, repeats // 4), 1),
            "self-inspection (all checks, stored)": timed(lambda: inspection.run("bench"), 3, 1),
        }
        for path in VIEWS:  # the other compliance and to-do views a person opens
            results[f"GET {path}"] = timed(get(path), repeats)
        for name, samples in results.items():
            print(f"  {name:42} p50 {pct(samples, 50):9.1f} ms   p95 {pct(samples, 95):9.1f} ms")
        return results
    finally:
        from orchestrator.db import reset_caches

        reset_caches()
        db.drop()
        tmp.cleanup()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--per-doc", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    print(f"load average at start: {os.getloadavg()}")
    runs = {n: measure(n, args.per_doc, args.repeats) for n in sizes}
    small, big = sizes[0], sizes[-1]
    targets = {"GET /compliance/links": 300, "GET /ops/data.json (with link card)": 300,
               **{f"GET {path}": 300 for path in VIEWS}}
    print(f"\n{'what':42} {'p95 ' + format(small, ','):>14} {'p95 ' + format(big, ','):>14} {'ratio':>7}  target")
    for name in runs[small]:
        a, b = pct(runs[small][name], 95), pct(runs[big][name], 95)
        target = targets.get(name, 5000 if "annual" in name and "recount" not in name else None)
        verdict = "" if target is None else (f"< {target} ms: {'ok' if b < target else 'OVER'}")
        print(f"{name:42} {a:12.1f}ms {b:12.1f}ms {b / a:7.2f}  {verdict}")
    print(f"(size ratio {big / small:.0f}×; load average at end: {os.getloadavg()})")


if __name__ == "__main__":
    main()
