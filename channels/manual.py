"""Channels with no machine interface (发布会、广播电视、纸质传媒、公开查阅点、政务服务中心…): a person does the work.

The adapter turns the delivery into a task: it returns a receipt that asks for a person, with a printable packet
(the document, its information block and attachments list) for the reading room or the notice board. Ops confirm
it with who, when, a note and optional evidence; only then is the delivery ``delivered``.
"""

from __future__ import annotations

from channels.base import Action, Capability, Channel, ChannelConfig, DeliveryContext, Receipt
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

    def _task(self, ctx: DeliveryContext) -> Receipt:
        doc = ctx.document
        return Receipt(
            needs_person=True,
            data={
                "task": ACTION_TASKS[ctx.action],
                "channel_label": self.settings.label if self.settings.label is not None else ctx.channel,
                "packet": {
                    "index_no": doc.index_no,
                    "title": doc.title,
                    "doc_number": doc.doc_number,
                    "publisher": doc.publisher,
                    "category": "/".join(doc.entry_path),
                    "formed_on": doc.formed_on.isoformat(),
                    "attachments": [a.filename for a in doc.attachments],
                },
            },
        )

    def publish(self, ctx: DeliveryContext) -> Receipt:
        return self._task(ctx)

    def update(self, ctx: DeliveryContext) -> Receipt:
        return self._task(ctx)

    def withdraw(self, ctx: DeliveryContext) -> Receipt:
        return self._task(ctx)


plugin = ChannelPlugin(name="manual", adapters={"manual": "channels.manual:ManualChannel"})
