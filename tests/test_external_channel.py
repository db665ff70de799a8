"""A channel shipped as its own package works without editing this repository.

``tests/external_channel`` is a tiny distribution (``orch-kiosk-channel``) whose pyproject.toml declares an
``orchestrator.channels`` entry point. The test installs it with pip into a private directory, puts that directory on
the path of this process and of the real Celery worker, adds a channel code for it to the channel map and a catalog
entry that lists it, binds the code to the package's adapter in channels.yaml, and submits: the delivery completes
through the worker's queue for the new code, the queue list coming from the channel map and the installed packages.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fanout_harness import ROOT, FanoutStack

PACKAGE = Path(__file__).parent / "external_channel"
CODE = "kiosk"
CATALOG = """\
publisher: 测试市自助服务局
index_prefix: "11150000KIOSK001X"
entries:
  - code: "01"
    path: [便民服务, 自助终端]
    content: 自助终端上展示的办事指南
    time_limit: {text: 即时公开, kind: immediate}
    publisher: 测试市自助服务局
    channels: [kiosk]
    offices: [办公室]
"""


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """pip-install the external package into a private target directory and make it importable here."""
    from channels import plugin

    src = tmp_path / "src"
    shutil.copytree(PACKAGE, src)  # build artefacts land in the copy, never in the repository
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index",
         "--target", str(target), str(src)],
        check=True, capture_output=True, timeout=300,
    )
    assert list(target.glob("orch_kiosk_channel-*.dist-info/entry_points.txt"))
    monkeypatch.syspath_prepend(str(target))
    plugin.plugins.cache_clear()
    yield target
    monkeypatch.undo()
    plugin.plugins.cache_clear()


def test_external_channel_package_delivers_through_a_real_worker(orch_env, redis_server, installed, tmp_path):
    from channels.plugin import adapters, channel_codes

    assert adapters()["kiosk"] == "orch_kiosk:KioskChannel"
    assert CODE in channel_codes()

    inbox = tmp_path / "kiosk-inbox"
    channel_map = (ROOT / "config" / "channel_map.yaml").read_text(encoding="utf-8")
    channel_map += f"  {CODE}:\n    label: 政务服务自助终端\n    wordings: [自助终端, 政务服务自助终端]\n"
    catalog = tmp_path / "kiosk-publisher.yaml"
    catalog.write_text(CATALOG, encoding="utf-8")

    class Stack(FanoutStack):
        def queues(self) -> str:  # what `orchestrator worker` would listen on for this configuration
            from orchestrator.delivery.workers import all_queues

            return ",".join(all_queues())

    path = os.pathsep.join([str(ROOT), str(installed)])
    with Stack(orch_env, tmp_path, channels={CODE: [{"name": "lobby", "adapter": "kiosk", "inbox": str(inbox)}]},
               catalogs=[catalog], redis=redis_server, settings={"PYTHONPATH": path},
               config_files={"channel_map.yaml": channel_map}) as stack:
        assert f"deliver.{CODE}" in stack.queues().split(",")
        res = stack.submit(entry="便民服务/自助终端", title="不动产登记自助查询指南", body="<p>持身份证在终端上查询。</p>")
        rows = stack.wait_settled(res.document_id)
        assert [(r["channel"], r["destination"], r["status"]) for r in rows] == [(CODE, "lobby", "delivered")]
        written = json.loads((inbox / f"{rows[0]['idempotency_key']}.json").read_text(encoding="utf-8"))
        assert written == {"title": "不动产登记自助查询指南", "index_no": res.index_no, "version": 1}
        assert rows[0]["receipt"]["external_id"] == f"{rows[0]['idempotency_key']}.json"


def test_external_channel_config_is_validated_in_chinese(installed, tmp_path):
    from channels.base import NotConfigured
    from channels.registry import ChannelRegistry

    reg = ChannelRegistry.from_mapping({"channels": {CODE: {"destinations": [{"name": "lobby", "adapter": "kiosk"}]}}})
    with pytest.raises(NotConfigured) as err:
        reg.adapter_for(reg.destination(CODE, "lobby"))
    assert err.value.message == "渠道“lobby”的配置有误：配置项“inbox”缺少此项"
