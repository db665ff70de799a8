"""Targeted push (精准推送): the ``push`` adapter (per-recipient ledger, Apprise notifications), its subscriber
configuration, signed unsubscribe links and their pages at ``/push``."""

from channels.plugin import ChannelPlugin

plugin = ChannelPlugin(
    name="push",
    adapters={"push": "channels.push.adapter:PushChannel"},
    model_modules=("channels.push.models",),
    routers=("channels.push.web:router",),
    channel_codes=("targeted_push",),
)
