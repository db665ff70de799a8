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
