"""Helpers for the screens tests: a screens file, payloads, delivery contexts, a uvicorn server in a thread."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import uvicorn
import yaml
from fastapi import FastAPI

from channels.base import Action, DeliveryContext, DocumentPayload
from channels.screens.adapter import ScreensChannel
from tests.services import free_port  # noqa: F401  (re-exported for the test modules)

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"

SCREENS: dict[str, Any] = {
    "timezone": "Asia/Shanghai",
    "default_display_days": 30,
    "poll_seconds": 2,
    "display_days": {"部门会议": 30},
    "screens": [
        {
            "id": "lobby",
            "name": "司法局一楼大厅电子屏",
            "location": "根河市司法局办公楼一楼大厅",
            "resolution": "1920x1080",
            "orientation": "landscape",
            "publishers": ["根河市司法局"],
            "entries": ["部门会议", "履职依据/规范性文件"],
            "slide_seconds": 5,
            "heading": "根河市司法局 政务公开栏",
        },
        {
            "id": "hall",
            "name": "公共法律服务中心竖屏",
            "location": "根河市公共法律服务中心候办区",
            "resolution": "1080x1920",
            "orientation": "portrait",
            "publishers": ["根河市司法局"],
            "entries": ["部门会议"],
            "slide_seconds": 8,
        },
        {
            "id": "community",
            "name": "社区公示栏",
            "location": "好里堡街道社区服务站门口",
            "resolution": "1280x720",
            "orientation": "landscape",
            "publishers": ["根河市司法局"],
            "entries": ["部门会议"],
            "paper_copy": True,
            "display_days": {"部门会议": 15},
        },
    ],
}

_doc_ids = itertools.count(int(time.time()) % 1_000_000 * 100)


def write_screens_file(path: Path, data: dict[str, Any] | None = None) -> Path:
    path.write_text(yaml.safe_dump(data or SCREENS, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def payload(
    *,
    title: str = "根河市司法局2026年第5次局务会议纪要",
    entry_path: tuple[str, ...] = ("部门会议",),
    version: int = 1,
    document_id: int | None = None,
    **kw: Any,
) -> DocumentPayload:
    doc_id = document_id if document_id is not None else next(_doc_ids)
    now = dt.datetime.now(dt.UTC)
    base: dict[str, Any] = {
        "document_id": doc_id,
        "version": version,
        "index_no": f"11152185MB1234567X/2026-{doc_id % 100000:05d}",
        "title": title,
        "body_html": (
            "<p>会议时间：2026年11月20日上午9时；会议地点：局机关三楼会议室；主持人：局长王某某；"
            "参会人员：局领导班子成员及各股室负责人。</p><p>会议研究决定：一、通过《根河市司法局2026年普法工作要点》；"
            "二、部署年底安全生产检查工作；三、研究公共法律服务中心窗口值班安排。</p>"
        ),
        "doc_number": "根司发〔2026〕12号",
        "formed_on": dt.date(2026, 11, 20),
        "publisher": "根河市司法局",
        "entry_code": "BMHY",
        "entry_path": entry_path,
        "offices": ("办公室",),
        "published_at": now - dt.timedelta(minutes=1),
        "updated_at": now - dt.timedelta(minutes=1),
        "site_url": f"http://127.0.0.1:8000/site/doc/{doc_id}.html",
    }
    base.update(kw)
    return DocumentPayload(**base)


def context(doc: DocumentPayload, action: Action = Action.publish, *, key: str | None = None) -> DeliveryContext:
    return DeliveryContext(
        delivery_id=doc.document_id * 10 + (1 if action is Action.publish else 2),
        idempotency_key=key or f"{doc.document_id}:v{doc.version}:bulletin_board:{action.value}",
        channel="bulletin_board",
        destination="screens",
        action=action,
        document=doc,
    )


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()



class ThreadedServer:
    """uvicorn serving an app in a background thread; stop() really closes the port (for the offline test)."""

    def __init__(self, app: FastAPI):
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ThreadedServer:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


@pytest.fixture
def clean_screens(orch_env):
    """Empty screen tables (the PostgreSQL database is shared by the whole session)."""
    from sqlalchemy import delete

    from channels.screens.models import ScreenBoard, ScreenNotice
    from orchestrator.db import session_scope

    with session_scope() as s:
        s.execute(delete(ScreenNotice))
        s.execute(delete(ScreenBoard))
    return orch_env


def make_channel(tmp_path: Path, renderer: str = "chromium", **extra) -> ScreensChannel:
    screens_file = write_screens_file(tmp_path / "screens.yaml")
    return ScreensChannel(
        {"screens_file": str(screens_file), "bundle_dir": str(tmp_path / "bundles"), "renderer": renderer, **extra},
        name="screens",
    )


