"""Bulletin-board screens (公告栏/电子屏): the built-in ``screens`` adapter (rendered slides, export bundles, live
pages at ``/screens``) and the ``libresignage`` adapter, which share the screens configuration and the renderer."""

from channels.plugin import ChannelPlugin

plugin = ChannelPlugin(
    name="screens",
    adapters={
        "screens": "channels.screens.adapter:ScreensChannel",
        "libresignage": "channels.screens.libresignage:LibreSignageChannel",
    },
    model_modules=("channels.screens.models",),
    routers=("channels.screens.web:router",),
    channel_codes=("bulletin_board",),
)
