"""Fixtures and helpers shared by the tests/test_wechat_*.py files (import the fixtures you use)."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from channels.base import Action, AttachmentInfo, DeliveryContext, DocumentPayload, Receipt
from channels.wechat import WeChatChannel
from tests.wechat_server import WeChatServer


def png_bytes(size: tuple[int, int] = (40, 30), color: tuple[int, int, int] = (10, 120, 200)) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "PNG")
    return out.getvalue()


def image_bytes(fmt: str, size: tuple[int, int] = (40, 30), noisy: bool = False) -> bytes:
    import os

    from PIL import Image

    if noisy:  # incompressible pixels, so the file is large
        img = Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3))
    else:
        img = Image.new("RGB", size, (200, 50, 50))
    out = io.BytesIO()
    img.save(out, fmt)
    return out.getvalue()


def attachment(tmp_path: Path, filename: str, data: bytes, content_type: str) -> AttachmentInfo:
    sha = hashlib.sha256(data).hexdigest()
    path = tmp_path / "var" / "attachments" / sha[:2] / sha[2:]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return AttachmentInfo(filename=filename, content_type=content_type, size=len(data), sha256=sha, path=path)


def make_document(**overrides: Any) -> DocumentPayload:
    base = DocumentPayload(
        document_id=1,
        version=1,
        index_no="11150785MB1234567X/2025-00012",
        title="根河市司法局关于开展法律援助进社区活动的通知",
        body_html="<p>为进一步做好法律援助工作，现将有关事项通知如下。</p><p>一、活动时间：2025年6月1日至6月30日。</p>",
        doc_number="根司发〔2025〕12号",
        formed_on=dt.date(2025, 5, 20),
        publisher="根河市司法局",
        entry_code="FLYZ-01",
        entry_path=("法律援助", "工作动态"),
        site_url="http://127.0.0.1:8000/public/documents/1",
        summary="根河市司法局开展法律援助进社区活动",
    )
    return replace(base, **overrides)


@dataclass
class Delivery:
    """One delivery's context with a checkpoint that persists across attempts, as the fan-out keeps it in the DB."""

    document: DocumentPayload
    action: Action = Action.publish
    previous_receipt: Receipt | None = None
    key: str = field(default_factory=lambda: uuid.uuid4().hex)
    checkpoint: dict[str, Any] = field(default_factory=dict)
    saves: int = 0
    attempt: int = 0
    fail_on_save: Callable[[dict[str, Any]], bool] | None = None
    crash_before_store: bool = False  # the crash hits before the checkpoint write commits

    def ctx(self) -> DeliveryContext:
        self.attempt += 1

        def save(cp: dict[str, Any]) -> None:
            if self.crash_before_store and self.fail_on_save and self.fail_on_save(cp):
                raise SystemExit("simulated crash before the checkpoint was written")
            self.checkpoint = dict(cp)
            self.saves += 1
            if self.fail_on_save and self.fail_on_save(cp):
                raise SystemExit("simulated crash after checkpoint")

        return DeliveryContext(
            delivery_id=1, idempotency_key=self.key, channel="wechat", destination="公众号", action=self.action,
            document=self.document, previous_receipt=self.previous_receipt, checkpoint=dict(self.checkpoint),
            save_checkpoint=save, attempt=self.attempt,
        )


@pytest.fixture
def wechat_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Settings pointing at a fresh var dir (attachments) and no broker (each test passes redis_url itself)."""
    from orchestrator import settings

    monkeypatch.setenv("ORCH_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("ORCH_BROKER_URL", "")
    settings.get_settings.cache_clear()
    yield tmp_path
    settings.get_settings.cache_clear()


@pytest.fixture
def wechat(wechat_env: Path) -> Iterator[WeChatServer]:
    server = WeChatServer()
    # A fresh appid per test keeps the shared Redis token cache of one test away from the next.
    server.state.appid = f"wx{uuid.uuid4().hex[:16]}"
    server.state.publish_delay = 0.2
    with server:
        yield server


@pytest.fixture
def make_channel(wechat: WeChatServer, redis_server) -> Callable[..., WeChatChannel]:
    def build(**config: Any) -> WeChatChannel:
        base = {
            "appid": wechat.state.appid,
            "secret": wechat.state.secret,
            "api_base": wechat.api_base,
            "redis_url": redis_server.url,
            "timeout": 5,
        }
        return WeChatChannel({**base, **config}, name="根河司法公众号")

    return build


def run_to_completion(channel: WeChatChannel, delivery: Delivery, timeout: float = 10.0) -> Receipt:
    """publish/update/withdraw, then poll like the fan-out's poll task until the final receipt."""
    import time

    receipt = channel.run(delivery.ctx())
    deadline = time.monotonic() + timeout
    while receipt.pending:
        final = channel.poll(delivery.ctx(), receipt)
        if final is not None:
            return final
        if time.monotonic() > deadline:
            raise TimeoutError("publish did not finish")
        time.sleep(0.05)
    return receipt
