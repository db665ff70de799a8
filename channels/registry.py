"""Which adapter serves which destination of which channel, read from ``config/channels.yaml``.

Adapters come from the installed channel packages (entry points, see :mod:`channels.plugin`); the YAML binds a channel
code (``website``, ``wechat`` …) to one or more named destinations, each naming its adapter and settings.
``${NAME}`` in a string value is replaced from the environment, so secrets stay out of the file.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from channels import plugin
from channels.base import Channel, NotConfigured
from orchestrator.settings import get_settings

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

    def adapter_class(self, dest: Destination) -> type[Channel]:
        """The adapter class serving ``dest`` (NotConfigured when there is none), without building an instance:
        callers that only need to know whether it overrides a hook skip validating its settings."""
        if dest.adapter == "unconfigured" or not dest.enabled:
            raise NotConfigured(f"渠道“{dest.channel}”尚未配置发布目标（config/channels.yaml）")
        target = plugin.adapters().get(dest.adapter)
        if not target:
            raise NotConfigured(f"渠道“{dest.channel}”配置的适配器“{dest.adapter}”不存在")
        return plugin.load_object(target)

    def adapter_for(self, dest: Destination) -> Channel:
        return self.adapter_class(dest)(dest.config, name=dest.name)

    def find(self, channel: str, adapter: str, name: str | None = None, *, enabled_only: bool = False) -> Destination | None:
        """The first destination of ``channel`` served by ``adapter`` (and called ``name``, when given)."""
        for d in self.channels.get(channel, []):
            if d.adapter == adapter and (name is None or d.name == name) and (d.enabled or not enabled_only):
                return d
        return None


@lru_cache(maxsize=4)
def _load_cached(path: str, mtime_ns: int, size: int) -> ChannelRegistry:
    return ChannelRegistry.load(Path(path))


def current(settings: Any = None) -> ChannelRegistry:
    """The registry of the configured ``channels.yaml`` (re-read when the file changes; empty when there is none)."""
    if settings is None:
        settings = get_settings()
    # Plain strings and one stat: this runs several times per delivery, and Path objects cost more than the stat.
    path = settings.channels_file or os.path.join(settings.config_dir, "channels.yaml")
    try:
        st = os.stat(path)
        return _load_cached(path, st.st_mtime_ns, st.st_size)
    except FileNotFoundError:
        return ChannelRegistry({})


def destination_config(channel: str, adapter: str, name: str | None = None, *, enabled_only: bool = False,
                       settings: Any = None) -> dict[str, Any] | None:
    """The settings block of a channel's destination served by ``adapter`` (None when channels.yaml has none): what a
    channel's web pages and static mounts need to serve the same files and keys the adapter writes with."""
    dest = current(settings).find(channel, adapter, name, enabled_only=enabled_only)
    return dict(dest.config) if dest is not None else None
