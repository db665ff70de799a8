"""What a channel package brings, and how the core finds it: Python entry points in the ``orchestrator.channels`` group.

A channel package (in this repository or installed separately) declares in its ``pyproject.toml``::

    [project.entry-points."orchestrator.channels"]
    mychannel = "mychannel:plugin"

where ``plugin`` is a :class:`ChannelPlugin`. The core never names a channel: it asks :func:`plugins` for adapters
(``channels.yaml`` names them), ORM model modules (Alembic and ``create_all``), web routers and static mounts (the web
app) and the channel codes whose worker queues it needs. Everything is a ``"module:attribute"`` string, imported only
when used, so listing the plugins stays cheap.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import entry_points
from typing import Any

log = logging.getLogger(__name__)

GROUP = "orchestrator.channels"


@dataclass(frozen=True)
class ChannelPlugin:
    name: str
    # adapter name (``adapter:`` in channels.yaml) → "module:Class" of a :class:`channels.base.Channel` subclass
    adapters: dict[str, str]
    # modules defining ORM tables (imported before Alembic or create_all look at the metadata)
    model_modules: tuple[str, ...] = ()
    # "module:attribute" of FastAPI routers the web app includes
    routers: tuple[str, ...] = ()
    # (URL path, "module:factory") of ASGI apps the web app mounts
    static_mounts: tuple[tuple[str, str], ...] = ()
    # channel codes this package serves out of the box (each gets a worker queue even before channels.yaml names it)
    channel_codes: tuple[str, ...] = ()


@lru_cache(maxsize=256)
def load_object(target: str) -> Any:
    """Resolve ``"package.module:attr"`` (once per target: the hot path resolves an adapter class per delivery)."""
    module_name, _, attr = target.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split(".") if attr else ():
        obj = getattr(obj, part)
    return obj


@lru_cache(maxsize=1)
def plugins() -> tuple[ChannelPlugin, ...]:
    """Every installed channel package, in entry-point name order. A broken one is logged and skipped, never hidden
    as "not configured": its adapters then report that they do not exist."""
    found = []
    for ep in sorted(entry_points(group=GROUP), key=lambda e: e.name):
        try:
            plugin = ep.load()
        except Exception:
            log.exception("channel package %s (%s) failed to load", ep.name, ep.value)
            continue
        if not isinstance(plugin, ChannelPlugin):
            log.error("channel package %s (%s) is not a ChannelPlugin", ep.name, ep.value)
            continue
        found.append(plugin)
    return tuple(found)


def adapters() -> dict[str, str]:
    """Adapter name → "module:Class", over every installed channel package (the first to claim a name keeps it)."""
    found = plugins()
    cached = _ADAPTERS.get("map")
    if cached is not None and cached[0] is found:  # built once per discovery (plugins() is cached too)
        return cached[1]
    out: dict[str, str] = {}
    for plugin in found:
        for name, target in plugin.adapters.items():
            out.setdefault(name, target)
    _ADAPTERS["map"] = (found, out)
    return out


_ADAPTERS: dict[str, tuple[tuple[ChannelPlugin, ...], dict[str, str]]] = {}


def import_models() -> None:
    """Import every channel package's ORM model modules, so their tables join the shared metadata."""
    for plugin in plugins():
        for module in plugin.model_modules:
            importlib.import_module(module)


def channel_codes() -> list[str]:
    out: list[str] = []
    for plugin in plugins():
        out += [c for c in plugin.channel_codes if c not in out]
    return out
