"""Cost of one publish on the built-in disclosure column at 100, 10,000 and 100,000 documents already published.

The existing state is bulk-written straight into the column's index (all documents in ONE catalog entry, the worst
case for list pages), then several single publishes go through the adapter as the fan-out would call it.
The figures should stay flat: a publish renders its article, the newest-items page and the one numbered page it
lands on, one search shard and the landing page — nothing proportional to the history.

    .venv/bin/python bench/site.py [--runs 15]
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

from channels.site import SiteChannel  # noqa: E402
from tests.static_channel_helpers import context, payload  # noqa: E402

SIZES = (100, 10_000, 100_000)
ENTRY = "GH-SFJ-001"
PATH = ("法定主动公开内容", "规范性文件")


def seed(site: SiteChannel, n: int) -> None:
    """Write n published documents into the index the way n earlier publishes would have left it."""
    with site.state.locked() as db:
        rows = []
        for i in range(1, n + 1):
            rows.append((
                1_000_000 + i, ENTRY, i, i, "live", 1, f"既有文件第{i}号", f"根司发〔2025〕{i}号",
                f"11150785MB1234567X/2025-{i:06d}", "2025年06月01日", "2025年06月02日", "有效", "0" * 64, None, "{}",
            ))
        db.executemany("INSERT INTO docs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        db.execute(
            "INSERT INTO entries (code, slug, path, next_seq, live_count) VALUES (?, ?, ?, ?, ?)",
            (ENTRY, ENTRY, json.dumps(list(PATH), ensure_ascii=False), n + 1, n),
        )
        db.execute("INSERT INTO counters (name, value) VALUES ('global_seq', ?)", (n,))


def build(n: int, root: Path) -> SiteChannel:
    site = SiteChannel({"output_dir": str(root / f"site-{n}"), "public_base_url": "http://127.0.0.1:9/site/",
                        "show_catalog_entries": False})
    seed(site, n)
    site.publish(context(payload(1)))  # warm-up: templates compiled, static assets copied
    return site


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    wall: dict[int, list[float]] = {n: [] for n in SIZES}
    cpu: dict[int, list[float]] = {n: [] for n in SIZES}
    with tempfile.TemporaryDirectory() as tmp:
        sites = {}
        for n in SIZES:
            t0 = time.perf_counter()
            sites[n] = build(n, Path(tmp))
            print(f"  state for {n:>7,} documents built in {time.perf_counter() - t0:.1f}s", flush=True)
        # Round-robin over the sizes so background load on the machine hits every size alike.
        for k in range(args.runs):
            for n in SIZES:
                doc = payload(2 + k, published_at=dt.datetime(2026, 3, 3, 9, tzinfo=dt.UTC), entry_code=ENTRY,
                              entry_path=PATH)
                w0, c0 = time.perf_counter(), time.process_time()
                sites[n].publish(context(doc))
                wall[n].append(time.perf_counter() - w0)
                cpu[n].append(time.process_time() - c0)
    report("site", args.runs, wall, cpu)


def report(name: str, runs: int, wall: dict[int, list[float]], cpu: dict[int, list[float]]) -> None:
    base_wall, base_cpu = statistics.median(wall[SIZES[0]]), statistics.median(cpu[SIZES[0]])
    print(f"\n{name}: cost of one publish ({runs} runs per size, interleaved)")
    print(f"{'existing docs':>14} {'wall median ms':>15} {'cpu median ms':>14} {'wall ratio':>11} {'cpu ratio':>10}")
    for n in SIZES:
        w, c = statistics.median(wall[n]), statistics.median(cpu[n])
        print(f"{n:>14,} {w * 1000:>15.2f} {c * 1000:>14.2f} {w / base_wall:>11.2f} {c / base_cpu:>10.2f}")


if __name__ == "__main__":
    main()
