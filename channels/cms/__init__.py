"""Content-management systems the website may run on: Wagtail and WordPress, over their REST APIs, sharing one
HTTP/error/idempotency layer (:mod:`channels.cms.common`)."""

from channels.plugin import ChannelPlugin

plugin = ChannelPlugin(
    name="cms",
    adapters={
        "wagtail": "channels.cms.wagtail:WagtailChannel",
        "wordpress": "channels.cms.wordpress:WordPressChannel",
    },
    channel_codes=("website",),
)
