"""SIGTERM to ``serve`` while a slow receiver holds deliveries in flight: the worker stops warmly.

The receiver applies each item, then takes seconds to answer. Signalling the worker's whole process group at once
killed the pool process between "applied" and "recorded": the row stayed ``sending`` until its lease (120 s) ran out
and the retry reached the receiver a second time. Now the worker's main process is stopped first (Celery warm shutdown),
so the deliveries in flight finish and are recorded, and a restarted ``serve`` finishes the rest at once.
"""

from __future__ import annotations

import shutil
import signal
import sqlite3
import sys
import time
from pathlib import Path

import pytest

from tests.api_helpers import ROOT, TEST_CATALOG, write_channels
from tests.receiver import Receiver
from tests.serve_support import Serve, clean_env

pytestmark = pytest.mark.slow

DONE = {"delivered", "verified"}


def test_sigterm_lets_deliveries_in_flight_finish_and_applies_nothing_twice(tmp_path):
    var, config = tmp_path / "var", tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    for f in (config / "catalogs").glob("*.yaml"):
        f.unlink()
    shutil.copy(TEST_CATALOG, config / "catalogs" / TEST_CATALOG.name)
    with Receiver(reply_delay=8) as receiver:
        channels = write_channels(tmp_path / "channels.yaml", {
            "website": [{"name": "push", "adapter": "http_push", "url": receiver.url, "secret": receiver.secret}],
            "reading_room": [{"name": "reading_room", "adapter": "manual"}],
        })
        # The default lease (120 s): a delivery killed in flight would wait it out, longer than this test allows.
        env = clean_env(ORCH_VAR_DIR=str(var), ORCH_CONFIG_DIR=str(config), ORCH_CHANNELS_FILE=str(channels),
                        ORCH_SWEEP_INTERVAL_SECONDS="2", PYTHONPATH=str(ROOT))
        command = [sys.executable, "-m", "orchestrator.cli"]
        serve = Serve(command, env, tmp_path)
        try:
            serve.start()
            h = serve.token_for("clerk1", "clerk", "办公室")
            ids = [serve.submit(h, entry="工作动态/人工渠道", title=f"停止测试{i}", body="<p>正文</p>",
                                formed_on="2026-11-02")["document_id"] for i in range(3)]

            # Wait until the receiver has applied an item and is still answering: that delivery is in flight.
            deadline = time.monotonic() + 120
            while not receiver.applied:
                assert time.monotonic() < deadline, serve.worker_log()[-3000:]
                time.sleep(0.1)
            website = [d for doc in ids for d in serve.deliveries(h, doc) if d["channel"] == "website"]
            in_flight = {d["idempotency_key"] for d in website
                         if d["status"] == "sending" and d["idempotency_key"] in receiver.applied}
            assert in_flight, website

            code = serve.stop(signal.SIGTERM)
            assert code == 0, serve.log()
        finally:
            serve.kill()

        with sqlite3.connect(var / "orchestrator.db") as db:
            rows = dict(db.execute("SELECT idempotency_key, status FROM deliveries WHERE channel = 'website'").fetchall())
        assert "sending" not in rows.values(), rows
        assert all(rows[k] in DONE for k in in_flight), (in_flight, rows)
        assert not receiver.duplicates

        # Started again, it finishes what was left at once (nothing waits out a lease), and applies nothing twice.
        again = Serve(command, env, tmp_path)
        try:
            again.start()
            for doc in ids:
                again.wait_states(h, doc, {"website": DONE, "reading_room": {"awaiting_confirmation"}}, timeout=60)
            assert again.stop(signal.SIGTERM) == 0, again.log()
        finally:
            again.kill()
        assert len(receiver.applied) == len(ids)
        assert not receiver.duplicates
        assert all(n == 1 for n in receiver.requests.values()), receiver.requests


def test_serve_restarts_a_killed_worker_and_the_interrupted_delivery_goes_out(tmp_path):
    """kill -9 of the worker's main process while a delivery is in flight: serve keeps answering, starts the worker
    again (saying so), and the sweeper re-sends the interrupted delivery once its lease expires; a clean stop after."""
    import os

    import httpx

    from tests.serve_support import alive, descendants

    var, config = tmp_path / "var", tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    for f in (config / "catalogs").glob("*.yaml"):
        f.unlink()
    shutil.copy(TEST_CATALOG, config / "catalogs" / TEST_CATALOG.name)
    with Receiver(reply_delay=20) as receiver:
        channels = write_channels(tmp_path / "channels.yaml", {
            "website": [{"name": "push", "adapter": "http_push", "url": receiver.url, "secret": receiver.secret}],
            "reading_room": [{"name": "reading_room", "adapter": "manual"}],
        })
        env = clean_env(ORCH_VAR_DIR=str(var), ORCH_CONFIG_DIR=str(config), ORCH_CHANNELS_FILE=str(channels),
                        ORCH_SWEEP_INTERVAL_SECONDS="2", ORCH_LEASE_SECONDS="6", PYTHONPATH=str(ROOT))
        serve = Serve([sys.executable, "-m", "orchestrator.cli"], env, tmp_path)
        try:
            serve.start()
            h = serve.token_for("clerk1", "clerk", "办公室")
            doc = serve.submit(h, entry="工作动态/人工渠道", title="重启测试", body="<p>正文</p>",
                               formed_on="2026-11-02")["document_id"]
            deadline = time.monotonic() + 120
            while not receiver.applied:  # the receiver holds the answer: the delivery is in flight
                assert time.monotonic() < deadline, serve.worker_log()[-3000:]
                time.sleep(0.1)
            receiver.reply_delay = 0
            workers = [p for p in descendants(serve.proc.pid)
                       if b" worker " in Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\0", b" ")
                       and Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[1] == str(serve.proc.pid)]
            assert len(workers) == 1, workers
            os.kill(workers[0], signal.SIGKILL)

            deadline = time.monotonic() + 60
            while "已重新启动" not in serve.log():
                assert serve.proc.poll() is None and time.monotonic() < deadline, serve.log()
                time.sleep(0.2)
            assert httpx.get(f"{serve.base}/login", timeout=10).status_code == 200  # the web app never went away
            serve.wait_states(h, doc, {"website": DONE, "reading_room": {"awaiting_confirmation"}}, timeout=120)
            assert not alive(workers[0])
            assert serve.stop(signal.SIGTERM) == 0, serve.log()
            assert not [p for p in serve.children if alive(p)]  # nothing of the old or the new worker left behind
        finally:
            serve.kill()
