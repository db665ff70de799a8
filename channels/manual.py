"""Channels with no machine interface (发布会、广播电视、纸质传媒、公开查阅点、政务服务中心…): a person does the work.

The adapter turns the delivery into a task: it returns a receipt that asks for a person, with a printable packet
(the document, its information block and attachments list) for the reading room or the notice board. Ops confirm
it with who, when, a note and optional evidence; only then is the delivery ``delivered``.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

from channels import preview as previews
from channels.base import (
    Action,
    Capability,
    Channel,
    ChannelConfig,
    ChannelPreview,
    DeliveryContext,
    DocumentPayload,
    Receipt,
)
from channels.plugin import ChannelPlugin

ACTION_TASKS = {
    Action.publish: "请按该渠道的方式发布本文件，完成后在系统中确认（填写经办人、时间、说明，可上传凭证）",
    Action.update: "该文件已更正，请在该渠道替换为新版本，完成后确认",
    Action.withdraw: "该文件已撤回，请在该渠道撤下（如撤下纸质公示），完成后确认",
}


class ManualConfig(ChannelConfig):
    label: str | None = None  # how the task names the channel (default: the channel code)


class ManualChannel(Channel):
    adapter = "manual"
    capabilities = frozenset({Capability.manual, Capability.update, Capability.delete})
    config_model = ManualConfig
    settings: ManualConfig
    preview_caption = "人工办理材料预览（审核通过后生成的任务单和要打印、张贴或放置的材料）"
    preview_frame = "packet"

    @staticmethod
    def packet(doc: DocumentPayload) -> dict[str, Any]:
        """The printable packet's information block, as the task carries it."""
        return {
            "index_no": doc.index_no,
            "title": doc.title,
            "doc_number": doc.doc_number,
            "publisher": doc.publisher,
            "category": "/".join(doc.entry_path),
            "formed_on": doc.formed_on.isoformat(),
            "attachments": [a.filename for a in doc.attachments],
        }

    def _task(self, ctx: DeliveryContext) -> Receipt:
        return Receipt(
            needs_person=True,
            data={
                "task": ACTION_TASKS[ctx.action],
                "channel_label": self.settings.label if self.settings.label is not None else ctx.channel,
                "packet": self.packet(ctx.document),
            },
        )

    def preview(self, document: DocumentPayload, urls: Mapping[str, str] | None = None) -> ChannelPreview:
        """The task a person gets on approval and the packet they print: what the task page shows."""
        urls = urls or {}
        packet = self.packet(document)
        label = self.settings.label or self.name
        info = previews.info_rows([
            ("名称", packet["title"]), ("索引号", packet["index_no"]), ("文号", packet["doc_number"] or "—"),
            ("发布机构", packet["publisher"]), ("信息分类", packet["category"]), ("生成日期", packet["formed_on"]),
        ])
        body = (f'<article class="sheet"><p class="task"><strong>人工任务（{escape(label)}）：</strong>'
                f"{escape(ACTION_TASKS[Action.publish])}</p>"
                f'<h2 class="muted">公开材料（可打印）</h2>{info}{previews.gongwen_sheet(document, urls)}</article>')
        return ChannelPreview(caption=self.preview_caption, html=previews.page(document.title, body, css=previews.GONGWEN_CSS),
                              content=body)

    def publish(self, ctx: DeliveryContext) -> Receipt:
        return self._task(ctx)

    def update(self, ctx: DeliveryContext) -> Receipt:
        return self._task(ctx)

    def withdraw(self, ctx: DeliveryContext) -> Receipt:
        return self._task(ctx)


plugin = ChannelPlugin(name="manual", adapters={"manual": "channels.manual:ManualChannel"})
