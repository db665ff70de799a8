"""WeChat Official Account (政务公众号): draft → freepublish with checkpointed steps, a shared access-token cache, content
made acceptable to WeChat, and the ``PUBLISHJOBFINISH`` server callback at ``/channels/wechat/{destination}/callback``.

Modules: :mod:`.client` (API plumbing, errors, token cache), :mod:`.content` (limits, images, rendering),
:mod:`.callback` (event parsing and its route), :mod:`.adapter` (the ``wechat`` adapter).
"""

from channels.plugin import ChannelPlugin
from channels.wechat.adapter import WeChatChannel
from channels.wechat.callback import handle_publish_event
from channels.wechat.client import (
    map_wechat_error,
    redis_url_for_redis_py,
    seconds_until_next_day,
    seconds_until_next_minute,
)

__all__ = [
    "WeChatChannel",
    "handle_publish_event",
    "map_wechat_error",
    "plugin",
    "redis_url_for_redis_py",
    "seconds_until_next_day",
    "seconds_until_next_minute",
]

plugin = ChannelPlugin(
    name="wechat",
    adapters={"wechat": "channels.wechat.adapter:WeChatChannel"},
    routers=("channels.wechat.callback:router",),
    channel_codes=("wechat",),
)
