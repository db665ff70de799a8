"""Full stack vs bare Celery: N documents × 4 HTTP-push channels into a fast local receiver.

The receiver runs in its own process (a fast local site: it must not share a GIL with the submitting threads).

A (full stack): ``submission.submit`` (validation, index number, one transaction, outbox rows) → the orchestrator's real
``celery worker`` subprocess (claim with a lease, build the payload from the database, http_push adapter, attempt log,
state machine) → receiver; beat (the sweeper) runs too.
B (bare Celery): the same HTTP calls as tasks with the payload in the message, same Redis, same Celery settings,
same worker command line (prefork, same ``-c``), no database.

Rounds alternate ABAB… after a warm-up of each. Prints deliveries/s for both, the ratio, and submit→all-delivered
p50/p95 per document. ``--cpu`` also prints the CPU time per delivery of each kind of process (worker, PostgreSQL,
this submitting process, receiver, Redis) for A and B, read from /proc around each round: on a machine whose speed
drifts, where the cost is (Linux only). Then (unless ``--no-sqlite``) the same full stack on the embedded default's database, a SQLite
file under a fresh var dir, as its own line (same broker, same worker command line). Needs a local PostgreSQL server (ORCH_TEST_PG_URL, as the tests) and redis-server; it creates a
temporary database and a private Redis, and removes both.

    .venv/bin/python bench/fanout.py                    # 150 documents per round, 3 rounds each, -c 2
    .venv/bin/python bench/fanout.py --docs 300 --rounds 4 --concurrency 4
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.receiver import RemoteReceiver as Receiver  # noqa: E402
from tests.services import PostgresDatabase, RedisServer  # noqa: E402

CHANNELS = ("website", "gazette", "bulletin_board", "targeted_push")
ENTRY, PUBLISHER = "01-01", "测试市司法局"  # the test catalog's entry marking exactly these four channels
SUBMIT_THREADS = 4


def _cpu_kind(pid: int, cmd: str) -> str | None:
    if pid == os.getpid():
        return "submitter"
    if cmd.startswith("postgres"):
        return "postgres"
    if "redis-server" in cmd:
        return "redis"
    if "full@" in cmd or "bare@" in cmd or "sqlite@" in cmd:
        return "worker"
    if "tests.receiver" in cmd:
        return "receiver"
    if "celery" in cmd and " beat" in cmd:
        return "beat"
    return None


def cpu_seconds() -> dict[str, float]:
    """CPU seconds (user + system) used so far by every live process of each kind (a kind's processes that exit
    between two readings take their time with them: PostgreSQL backends and pool children live through a round)."""
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        kind = _cpu_kind(int(entry), cmd)
        if kind:
            out[kind] = out.get(kind, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return out


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


class Bench:
    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args = args
        self.work = work
        self.procs: list[subprocess.Popen] = []

    # --- set-up ----------------------------------------------------------------------------------
    def setup(self, pg_url: str, redis_url: str, receiver: Receiver) -> None:
        config = self.work / "config"
        shutil.copytree(ROOT / "config", config)
        for f in (config / "catalogs").glob("*.yaml"):
            f.unlink()
        shutil.copy(ROOT / "tests" / "data" / "catalogs" / "test-publisher.yaml", config / "catalogs")
        from tests.api_helpers import write_channels

        dest = {"adapter": "http_push", "url": receiver.url, "secret": receiver.secret, "timeout": 15}
        channels = write_channels(self.work / "channels.yaml", {c: [{"name": "push", **dest}] for c in CHANNELS})
        env = {"ORCH_DATABASE_URL": pg_url, "ORCH_BROKER_URL": redis_url, "ORCH_VAR_DIR": str(self.work / "var"),
               "ORCH_CONFIG_DIR": str(config), "ORCH_CHANNELS_FILE": str(channels)}
        os.environ.update(env)
        self.env = {**os.environ, "PYTHONPATH": str(ROOT)}
        from orchestrator import db, settings
        from orchestrator.catalog_sync import sync_catalogs
        from orchestrator.db import upgrade_database
        from orchestrator.delivery.celery_app import reconfigure

        settings.get_settings.cache_clear()
        db.reset_caches()
        reconfigure()
        upgrade_database(pg_url)
        sync_catalogs()

    def switch_to_sqlite(self) -> None:
        """The embedded default's database: no ORCH_DATABASE_URL, so a SQLite file under a fresh var dir (same broker)."""
        from orchestrator import db, settings
        from orchestrator.catalog_sync import sync_catalogs
        from orchestrator.db import upgrade_database
        from orchestrator.delivery.celery_app import reconfigure

        self.stop()
        self.procs = []
        var = self.work / "var-sqlite"
        os.environ.pop("ORCH_DATABASE_URL", None)
        os.environ["ORCH_VAR_DIR"] = str(var)
        self.env = {**os.environ, "PYTHONPATH": str(ROOT)}
        settings.get_settings.cache_clear()
        db.reset_caches()
        reconfigure()
        var.mkdir(parents=True, exist_ok=True)
        upgrade_database()
        sync_catalogs()
        from orchestrator.delivery.workers import all_queues, beat_argv, worker_argv

        self.spawn("sqlite-worker", worker_argv(all_queues(), self.args.concurrency, name="sqlite@%h"))
        self.spawn("sqlite-beat", beat_argv(self.work / "beat-schedule-sqlite"))

    def spawn(self, name: str, argv: list[str]) -> None:
        log = open(self.work / f"{name}.log", "wb")  # noqa: SIM115
        self.procs.append(subprocess.Popen(argv, env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                           start_new_session=True))

    def start_workers(self) -> None:
        from orchestrator.delivery.workers import all_queues, beat_argv, worker_argv

        c = self.args.concurrency
        self.spawn("full-worker", worker_argv(all_queues(), c, name="full@%h"))
        self.spawn("beat", beat_argv(self.work / "beat-schedule"))
        bare = worker_argv(["bench.bare"], c, name="bare@%h")
        bare[bare.index("orchestrator.delivery.celery_app:app")] = "bench.bare_app:app"
        self.spawn("bare-worker", bare)

    def stop(self) -> None:
        for p in self.procs:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for p in self.procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()

    # --- A: the full stack -----------------------------------------------------------------------
    def run_full(self, n: int, tag: str) -> tuple[float, list[float]]:
        from sqlalchemy import func, select

        from orchestrator.db import session_scope
        from orchestrator.documents import submission
        from orchestrator.models import Delivery

        started: dict[int, float] = {}
        lock = threading.Lock()

        def one(i: int) -> None:
            t = time.time()
            res = submission.submit({"entry": ENTRY, "publisher": PUBLISHER, "title": f"基准{tag}-{i}",
                                  "body": "<p>基准测试正文，约一百字的普通通知内容。各科室：请按要求做好相关工作。</p>",
                                  "doc_number": f"基准〔2026〕{i}号", "formed_on": "2026-11-02"})
            with lock:
                started[res.document_id] = t

        t0 = time.monotonic()
        with ThreadPoolExecutor(SUBMIT_THREADS) as pool:
            list(pool.map(one, range(n)))
        ids = list(started)
        done_states = ["delivered", "verified"]
        while True:
            with session_scope() as s:
                done = s.scalar(select(func.count()).where(Delivery.document_id.in_(ids), Delivery.status.in_(done_states)))
                failed = s.scalar(select(func.count()).where(Delivery.document_id.in_(ids), Delivery.status == "failed"))
            if failed:
                raise RuntimeError(f"{failed} deliveries failed; see {self.work}/full-worker.log")
            if done >= 4 * n:
                break
            time.sleep(0.02)
        elapsed = time.monotonic() - t0
        with session_scope() as s:
            rows = s.execute(select(Delivery.document_id, func.max(Delivery.delivered_at))
                             .where(Delivery.document_id.in_(ids)).group_by(Delivery.document_id)).all()
        lat = [(last.replace(tzinfo=last.tzinfo or dt.UTC).timestamp() - started[doc]) * 1000 for doc, last in rows]
        return elapsed, lat

    # --- B: bare Celery --------------------------------------------------------------------------
    def run_bare(self, n: int, tag: str, receiver: Receiver) -> tuple[float, list[float]]:
        from bench.bare_app import QUEUE, bare_push

        started: dict[str, float] = {}
        lock = threading.Lock()

        def one(i: int) -> None:
            t = time.monotonic()
            with lock:
                started[f"bare-{tag}-{i}"] = t
            for c in CHANNELS:
                key = f"bare-{tag}-{i}-{c}"
                payload = {"action": "publish", "idempotency_key": key, "document_id": i, "version": 1,
                           "index_no": f"BARE/{tag}-{i}", "title": f"基准{tag}-{i}",
                           "doc_number": f"基准〔2026〕{i}号", "publisher": PUBLISHER, "category": ["履职依据", "规范性文件"],
                           "formed_on": "2026-11-02",
                           "body_html": "<p>基准测试正文，约一百字的普通通知内容。各科室：请按要求做好相关工作。</p>",
                           "attachments": [], "previous": None}
                bare_push.apply_async(args=[receiver.url, receiver.secret, key, payload], queue=QUEUE)

        t0 = time.monotonic()
        with ThreadPoolExecutor(SUBMIT_THREADS) as pool:
            list(pool.map(one, range(n)))
        prefix = f"bare-{tag}-"
        while receiver.stats(prefix)["applied"] < 4 * n:
            time.sleep(0.02)
        elapsed = time.monotonic() - t0
        first = receiver.stats(prefix, times=True)["first"]  # CLOCK_MONOTONIC is system-wide on Linux
        lat = [(max(first[f"{doc}-{c}"] for c in CHANNELS) - t) * 1000 for doc, t in started.items()]
        return elapsed, lat


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=150, help="documents per round (× 4 deliveries)")
    ap.add_argument("--rounds", type=int, default=3, help="measured rounds of each, alternating ABAB")
    ap.add_argument("--concurrency", "-c", type=int, default=2, help="worker -c (the same for both)")
    ap.add_argument("--warmup", type=int, default=20, help="documents per warm-up round")
    ap.add_argument("--single", type=int, default=20, help="one-document runs of each, for latency on an idle system")
    ap.add_argument("--cpu", action="store_true", help="also CPU ms per delivery by kind of process (Linux /proc)")
    ap.add_argument("--no-sqlite", dest="sqlite", action="store_false",
                    help="skip the SQLite line (the embedded default's database, same broker and worker command line)")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-fanout-") as d:
        work = Path(d)
        pg = PostgresDatabase().create()
        redis = RedisServer(work / "redis").start()
        bench = Bench(args, work)
        try:
            with Receiver() as receiver:
                bench.setup(pg.url, redis.url, receiver)
                bench.start_workers()
                bench.run_full(args.warmup, "warm")
                bench.run_bare(args.warmup, "warm", receiver)
                totals = {"A": [0.0, 0], "B": [0.0, 0]}
                lats: dict[str, list[float]] = {"A": [], "B": []}
                cpu: dict[str, dict[str, float]] = {"A": {}, "B": {}}
                for r in range(args.rounds):
                    for mode in ("A", "B"):
                        before = cpu_seconds() if args.cpu else {}
                        if mode == "A":
                            elapsed, lat = bench.run_full(args.docs, f"r{r}")
                        else:
                            elapsed, lat = bench.run_bare(args.docs, f"r{r}", receiver)
                        if args.cpu:
                            for kind, seconds in cpu_seconds().items():
                                cpu[mode][kind] = cpu[mode].get(kind, 0.0) + seconds - before.get(kind, 0.0)
                        totals[mode][0] += elapsed
                        totals[mode][1] += 4 * args.docs
                        lats[mode] += lat
                        print(f"round {r + 1} {mode} ({'full stack' if mode == 'A' else 'bare Celery'}): "
                              f"{4 * args.docs} deliveries in {elapsed:6.2f} s = {4 * args.docs / elapsed:7.1f}/s  "
                              f"p50 {statistics.median(lat):7.1f} ms", flush=True)
                single: dict[str, list[float]] = {"A": [], "B": []}
                for i in range(args.single):
                    single["A"] += bench.run_full(1, f"s{i}")[1]
                    single["B"] += bench.run_bare(1, f"s{i}", receiver)[1]
                dup = receiver.stats()["duplicates"]
                sqlite: tuple[float, int, list[float], list[float]] | None = None
                if args.sqlite:
                    bench.switch_to_sqlite()
                    bench.run_full(args.warmup, "sq-warm")
                    elapsed_total, lat_all, lat_one = 0.0, [], []
                    for r in range(args.rounds):
                        elapsed, lat = bench.run_full(args.docs, f"sq{r}")
                        elapsed_total += elapsed
                        lat_all += lat
                        print(f"round {r + 1} S (full stack, SQLite embedded): {4 * args.docs} deliveries in "
                              f"{elapsed:6.2f} s = {4 * args.docs / elapsed:7.1f}/s  p50 {statistics.median(lat):7.1f} ms",
                              flush=True)
                    for i in range(args.single):
                        lat_one += bench.run_full(1, f"sqs{i}")[1]
                    sqlite = (elapsed_total, 4 * args.docs * args.rounds, lat_all, lat_one)
        finally:
            bench.stop()
            redis.stop()
            from orchestrator.db import reset_caches

            reset_caches()
            pg.drop()
    a = totals["A"][1] / totals["A"][0]
    b = totals["B"][1] / totals["B"][0]
    print()
    print(f"documents per round {args.docs} × 4 http_push channels, {args.rounds} rounds each (ABAB), "
          f"worker prefork -c {args.concurrency}, submit threads {SUBMIT_THREADS}")
    print(f"full stack : {a:8.1f} deliveries/s   submit→all-delivered p50 {statistics.median(lats['A']):7.1f} ms  "
          f"p95 {pct(lats['A'], 95):7.1f} ms")
    print(f"bare Celery: {b:8.1f} deliveries/s   enqueue→all-received  p50 {statistics.median(lats['B']):7.1f} ms  "
          f"p95 {pct(lats['B'], 95):7.1f} ms")
    print(f"ratio      : {a / b * 100:6.1f}% of bare Celery throughput (target ≥ 50%)   duplicates at receiver: {dup}")
    if args.cpu:
        for mode, label in (("A", "full stack"), ("B", "bare Celery")):
            per = {k: v / totals[mode][1] * 1000 for k, v in cpu[mode].items() if v > 0}
            print(f"CPU per delivery, {label:11s}: {sum(per.values()):6.2f} ms = "
                  + ", ".join(f"{k} {v:.2f}" for k, v in sorted(per.items(), key=lambda kv: -kv[1])))
    if args.single:
        print(f"one document at a time ({args.single} runs): full stack submit→all-delivered "
              f"p50 {statistics.median(single['A']):6.1f} ms p95 {pct(single['A'], 95):6.1f} ms; "
              f"bare p50 {statistics.median(single['B']):6.1f} ms p95 {pct(single['B'], 95):6.1f} ms")
    if sqlite:
        elapsed_total, n, lat_all, lat_one = sqlite
        print(f"SQLite (embedded default's database): {n / elapsed_total:8.1f} deliveries/s "
              f"({n / elapsed_total / b * 100:.1f}% of bare Celery)   submit→all-delivered p50 "
              f"{statistics.median(lat_all):7.1f} ms  p95 {pct(lat_all, 95):7.1f} ms"
              + (f"; one at a time p50 {statistics.median(lat_one):6.1f} ms p95 {pct(lat_one, 95):6.1f} ms"
                 if lat_one else ""))


if __name__ == "__main__":
    main()
