"""`orchestrator serve` as a person runs it: SQLite, the embedded Redis, real worker and beat processes, uvicorn.

Submit through the API, watch deliveries reach their states through the real worker subprocess, then Ctrl-C (SIGINT)
and check that every process it started is gone. This is also the SQLite end-to-end test.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import httpx
import pytest

from tests.api_helpers import ROOT, TEST_CATALOG, write_channels
from tests.receiver import Receiver
from tests.serve_support import alive, descendants
from tests.services import free_port

pytestmark = pytest.mark.slow


def test_serve_embedded_end_to_end_and_clean_stop(tmp_path):
    var = tmp_path / "var"
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    for f in (config / "catalogs").glob("*.yaml"):
        f.unlink()
    shutil.copy(TEST_CATALOG, config / "catalogs" / TEST_CATALOG.name)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCH_")}
    with Receiver() as receiver:
        channels = write_channels(tmp_path / "channels.yaml", {
            "website": [{"name": "push", "adapter": "http_push", "url": receiver.url, "secret": receiver.secret}],
            "reading_room": [{"name": "reading_room", "adapter": "manual"}],
        })
        env.update({"ORCH_VAR_DIR": str(var), "ORCH_CONFIG_DIR": str(config), "ORCH_CHANNELS_FILE": str(channels),
                    "ORCH_PORT": str(port), "ORCH_SWEEP_INTERVAL_SECONDS": "2", "PYTHONPATH": str(ROOT)})
        log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen([sys.executable, "-m", "orchestrator.cli", "serve"], env=env, cwd=tmp_path,
                                stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                assert proc.poll() is None, (tmp_path / "serve.log").read_text()
                try:
                    if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
                time.sleep(0.3)
            assert (var / "orchestrator.db").is_file() and (var / "redis.sock").exists()

            # A user and a token, made with the CLI against the same SQLite file.
            subprocess.run([sys.executable, "-m", "orchestrator.cli", "user", "add", "clerk1", "--role", "clerk",
                            "--office", "办公室"], env=env, check=True, capture_output=True)
            token = subprocess.run([sys.executable, "-m", "orchestrator.cli", "token", "create", "clerk1", "--name", "t"],
                                   env=env, check=True, capture_output=True, text=True).stdout.strip()
            h = {"Authorization": f"Bearer {token}"}
            r = httpx.post(f"{base}/api/v1/documents", headers=h, timeout=10, json={
                "entry": "工作动态/人工渠道", "title": "嵌入式运行测试", "body": "<p>正文</p>", "formed_on": "2026-11-02"})
            assert r.status_code == 201, r.text
            doc_url = f"{base}{r.json()['url']}"
            deadline = time.monotonic() + 60
            while True:
                states = {d["channel"]: d["status"] for d in httpx.get(doc_url, headers=h, timeout=10).json()["deliveries"]}
                if states == {"website": "delivered", "reading_room": "awaiting_confirmation"}:
                    break
                assert time.monotonic() < deadline, f"{states}\n{(var / 'logs' / 'worker.log').read_text()[-3000:]}"
                time.sleep(0.3)
            assert len(receiver.applied) == 1
            assert next(iter(receiver.applied.values()))["title"] == "嵌入式运行测试"

            children = descendants(proc.pid)
            assert len(children) >= 4, children  # redis, worker (+ its pool), beat
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                code = proc.wait(40)
            except subprocess.TimeoutExpired:
                proc.kill()
                raise
            finally:
                log.close()
        output = (tmp_path / "serve.log").read_text()
        assert code == 0, output
        assert "已停止" in output and "Traceback" not in output
        deadline = time.monotonic() + 5
        while any(alive(p) for p in children) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [p for p in children if alive(p)], "orphans left after Ctrl-C"


def test_serve_messages_are_not_wrapped_when_piped(monkeypatch):
    """`dev.py run | tee` or a service log: rich must not cut the admin password line or a path at 80 columns."""
    import io

    from orchestrator.serve import supervisor as runner

    buf = io.StringIO()
    monkeypatch.setattr(runner.console, "file", buf)
    line = ("· 已创建首个管理员：用户名 admin，密码 p6ouk1vlfkYq2OeH（也保存在 "
            "/tmp/a-rather-long-checkout-directory/var/initial-admin.txt，登录后请修改密码）")
    runner.console.print(line)
    assert buf.getvalue() == line + "\n"
