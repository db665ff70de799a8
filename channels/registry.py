"""Which adapter serves which destination of which channel, read from ``config/channels.yaml``.

Like Apprise's plugin folder: adapters are flat modules in ``channels/``; the YAML binds a channel code
(``website``, ``wechat`` …) to one or more named destinations, each naming its adapter and settings.
``${NAME}`` in a string value is replaced from the environment, so secrets stay out of the file.
"""

from __future__ import annotations

import importlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from channels.base import Channel, NotConfigured

# adapter name -> "module:Class". New adapters register here (one line each).
ADAPTERS: dict[str, str] = {
    "manual": "channels.manual:ManualChannel",
    "http_push": "channels.http_push:HttpPushChannel",
    "screens": "channels.screens:ScreensChannel",
    "libresignage": "channels.libresignage:LibreSignageChannel",
    "push": "channels.push:PushChannel",
    "wechat": "channels.wechat:WeChatChannel",
    "site": "channels.site:SiteChannel",
    "gazette": "channels.gazette:GazetteChannel",
    "wagtail": "channels.wagtail:WagtailChannel",
    "wordpress": "channels.wordpress:WordPressChannel",
}

_ENV_REF = re.compile(r"\$\{([A-Z0-9_]+)(?::-([^}]*))?\}")


def _expand(value: Any) -> Any:
    if isinstance(value, str):
        return _ENV_REF.sub(lambda m: os.environ.get(m.group(1), m.group(2) or ""), value)
    if isinstance(value, dict):
        return {k: _expand(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v) for v in value]
    return value


@dataclass(frozen=True)
class Destination:
    channel: str
    name: str
    adapter: str
    config: dict[str, Any] = field(default_factory=dict)
    enabled: bool = True


class ChannelRegistry:
    def __init__(self, channels: dict[str, list[Destination]]):
        self.channels = channels

    @classmethod
    def load(cls, path: Path) -> ChannelRegistry:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return cls.from_mapping(raw)

    @classmethod
    def from_mapping(cls, raw: dict[str, Any]) -> ChannelRegistry:
        channels: dict[str, list[Destination]] = {}
        for code, spec in (raw.get("channels") or {}).items():
            spec = spec or {}
            if "destinations" in spec:  # an explicit list, possibly empty (= not configured)
                dests = spec.get("destinations") or []
            elif "adapter" in spec:  # shorthand: one destination named after the channel
                dests = [{"name": code, **{k: v for k, v in spec.items() if k != "label"}}]
            else:
                dests = []
            out = []
            for d in dests:
                d = dict(d)
                name = str(d.pop("name", code))
                adapter = str(d.pop("adapter", "manual"))
                enabled = bool(d.pop("enabled", True))
                d.pop("label", None)  # the 去向 wording shown in the web app (orchestrator/web/core.py), not adapter config
                out.append(Destination(code, name, adapter, _expand(d), enabled))
            channels[code] = out
        return cls(channels)

    def destinations(self, channel: str) -> list[Destination]:
        """Enabled destinations of a channel; an unknown channel yields one placeholder that reports not_configured."""
        dests = [d for d in self.channels.get(channel, []) if d.enabled]
        return dests or [Destination(channel, channel, "unconfigured")]

    def destination(self, channel: str, name: str) -> Destination:
        for d in self.channels.get(channel, []):
            if d.name == name:
                return d
        return Destination(channel, name, "unconfigured")

    def adapter_for(self, dest: Destination) -> Channel:
        if dest.adapter == "unconfigured" or not dest.enabled:
            raise NotConfigured(f"渠道“{dest.channel}”尚未配置发布目标（config/channels.yaml）")
        target = ADAPTERS.get(dest.adapter)
        if not target:
            raise NotConfigured(f"渠道“{dest.channel}”配置的适配器“{dest.adapter}”不存在")
        module_name, cls_name = target.split(":")
        cls = getattr(importlib.import_module(module_name), cls_name)
        return cls(dest.config, name=dest.name)
