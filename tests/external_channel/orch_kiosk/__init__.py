"""A channel package living outside the orchestrator's tree: 政务服务自助终端 (self-service kiosks) that read a folder.

It uses only the channel contract (``channels.base``, ``channels.plugin``) and declares itself through the
``orchestrator.channels`` entry point in its own pyproject.toml.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from channels.base import Channel, DeliveryContext, Receipt
from channels.plugin import ChannelPlugin


class KioskConfig(BaseModel):
    inbox: Path


class KioskChannel(Channel):
    adapter = "kiosk"
    config_model = KioskConfig

    def publish(self, ctx: DeliveryContext) -> Receipt:
        inbox = self.settings.inbox
        inbox.mkdir(parents=True, exist_ok=True)
        path = inbox / f"{ctx.idempotency_key}.json"
        doc = ctx.document
        path.write_text(json.dumps({"title": doc.title, "index_no": doc.index_no, "version": doc.version},
                                   ensure_ascii=False), encoding="utf-8")
        return Receipt(external_id=path.name, url=path.as_uri())


plugin = ChannelPlugin(name="kiosk", adapters={"kiosk": "orch_kiosk:KioskChannel"}, channel_codes=("kiosk",))
