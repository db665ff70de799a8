"""Cost of one gazette publish at 100, 10,000 and 100,000 entries already in the feeds.

The existing state is bulk-written straight into the gazette's state file (three feeds — all, the publisher, the
catalog entry — each with N logged entries and N // archive_page_size sealed archive pages; issues of 100 documents,
as a monthly cadence would make), then several single publishes go through the adapter. Each publish appends one
log row per feed, re-renders the small subscription documents (Atom + RSS), seals an archive page when one fills up
(every archive_page_size-th publish, O(page size)), and re-renders the current issue page: nothing proportional to N.

    .venv/bin/python bench/feed.py [--runs 20]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from channels.gazette import GazetteChannel, issue_label  # noqa: E402
from tests.static_channel_helpers import context, payload  # noqa: E402

SIZES = (100, 10_000, 100_000)
PER_ISSUE = 100
CST = dt.timezone(dt.timedelta(hours=8))
PUBLISHER = "根河市司法局"
ENTRY = "GH-SFJ-001"


def seed(g: GazetteChannel, n: int) -> None:
    """Leave the state as n earlier publishes would have (sealed archive files are not re-read, so not written)."""
    keys = [("all", "feeds/all/", g.title), (f"publisher:{PUBLISHER}", "feeds/publisher/x/", f"{g.title}（{PUBLISHER}）"),
            (f"entry:{ENTRY}", f"feeds/entry/{ENTRY}/", f"{g.title}（规范性文件）")]
    issues = (n + PER_ISSUE - 1) // PER_ISSUE
    start = dt.datetime(2026, 3, 1, tzinfo=CST) - dt.timedelta(days=31 * issues)
    with g.state.locked() as db:
        for key, path, title in keys:
            db.execute("INSERT INTO feeds VALUES (?, ?, ?, ?, ?)", (key, path, title, n + 1, n // g.page_size))
        items, log, issue_items = [], [], []
        for i in range(1, n + 1):
            when = (start + dt.timedelta(minutes=i)).isoformat()
            tag = g.tag_id(f"11150785MB1234567X/2025-{i:06d}")
            issue_no = (i - 1) // PER_ISSUE + 1
            items.append((1_000_000 + i, tag, issue_no, "live", 1, when, f"既有文件第{i}号", f"根司发〔2025〕{i}号",
                          PUBLISHER, g.base_url + f"issues/no-{issue_no}.html", "[]", json.dumps([k for k, _, _ in keys])))
            snap = json.dumps({"id": tag, "title": f"既有文件第{i}号", "updated": when, "published": when,
                               "summary": "", "content": "<p>" + "正文" * 200 + "</p>",
                               "link": g.base_url + f"issues/no-{issue_no}.html", "enclosures": [], "categories": [],
                               "author": PUBLISHER, "kind": "document"}, ensure_ascii=False)
            for key, _, _ in keys:
                log.append((key, i, snap))
            issue_items.append((issue_no, (i - 1) % PER_ISSUE + 1, 1_000_000 + i, "document"))
        db.executemany("INSERT INTO items VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", items)
        db.executemany("INSERT INTO log VALUES (?, ?, ?)", log)
        db.executemany("INSERT INTO issue_items VALUES (?, ?, ?, ?)", issue_items)
        # Issues run monthly up to March 2026, the current one, so new documents (published in March) join it.
        for no in range(1, issues + 1):
            month_index = 2026 * 12 + 2 - (issues - no)  # the last issue is March 2026
            y, m = divmod(month_index, 12)
            m += 1
            first = dt.date(y, m, 1)
            last = dt.date(y + (m == 12), m % 12 + 1, 1) - dt.timedelta(days=1)
            year_no = m
            db.execute("INSERT INTO issues VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (no, y, year_no, f"{y}-{m:02d}", issue_label(y, year_no, no), first.isoformat(),
                        last.isoformat()))


def build(n: int, root: Path) -> GazetteChannel:
    g = GazetteChannel({"output_dir": str(root / f"gazette-{n}"), "public_base_url": "http://127.0.0.1:9/gazette/"})
    seed(g, n)
    g.publish(context(payload(1, published_at=dt.datetime(2026, 3, 3, tzinfo=CST))))  # warm-up
    return g


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    wall: dict[int, list[float]] = {n: [] for n in SIZES}
    cpu: dict[int, list[float]] = {n: [] for n in SIZES}
    with tempfile.TemporaryDirectory() as tmp:
        gazettes = {}
        for n in SIZES:
            t0 = time.perf_counter()
            gazettes[n] = build(n, Path(tmp))
            print(f"  state for {n:>7,} entries built in {time.perf_counter() - t0:.1f}s", flush=True)
        # Round-robin over the sizes so background load on the machine hits every size alike.
        for k in range(args.runs):
            for n in SIZES:
                t = dt.datetime(2026, 3, 10, tzinfo=CST) + dt.timedelta(minutes=k)
                doc = payload(2 + k, published_at=t, updated_at=t)
                w0, c0 = time.perf_counter(), time.process_time()
                gazettes[n].publish(context(doc))
                wall[n].append(time.perf_counter() - w0)
                cpu[n].append(time.process_time() - c0)
        sealed = {n: gazettes[n].archive_count() for n in SIZES}
    base_wall, base_cpu = statistics.median(wall[SIZES[0]]), statistics.median(cpu[SIZES[0]])
    print(f"\ngazette: cost of one publish ({args.runs} runs per size, interleaved; 3 feeds × Atom+RSS + issue page)")
    print(f"{'existing entries':>16} {'wall median ms':>15} {'cpu median ms':>14} {'wall max ms':>12} "
          f"{'wall ratio':>11} {'cpu ratio':>10} {'archive pages':>14}")
    for n in SIZES:
        w, c = statistics.median(wall[n]), statistics.median(cpu[n])
        print(f"{n:>16,} {w * 1000:>15.2f} {c * 1000:>14.2f} {max(wall[n]) * 1000:>12.2f} "
              f"{w / base_wall:>11.2f} {c / base_cpu:>10.2f} {sealed[n]:>14,}")


if __name__ == "__main__":
    main()
