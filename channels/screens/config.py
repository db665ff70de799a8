"""Screens (公示栏/电子屏) as configured in ``config/screens.yaml``, validated with pydantic.

Each screen says where it hangs, its exact pixel size, which publishers and catalog entries it shows, how long a slide
stays up and for how long a notice is shown when the submitter gave no display period. A person edits this file, so
every validation error is turned into one Chinese sentence that names the screen and the field to fix.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from orchestrator.settings import get_settings

SCREENS_FILE_ENV = "ORCH_SCREENS_FILE"
_RESOLUTION = re.compile(r"^\s*(\d{3,5})\s*[xX×*]\s*(\d{3,5})\s*$")
# A screen id ends up in URLs (/screens/<id>) and directory names, so keep it to safe characters.
_SCREEN_ID = r"^[a-z0-9][a-z0-9_-]{0,63}$"


class ScreensConfigError(ValueError):
    """The screens file is missing or invalid; ``str(err)`` is a Chinese explanation for the person editing it."""


class ScreenSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=_SCREEN_ID)
    name: str = Field(min_length=1, max_length=100)
    location: str = ""
    resolution: str = "1920x1080"
    orientation: Literal["landscape", "portrait"] = "landscape"
    # Empty = every publisher.
    publishers: list[str] = Field(default_factory=list)
    # Catalog entries shown: a code, a path ("一级/二级"; a parent path covers its children) or "*" for all.
    entries: list[str] = Field(min_length=1)
    slide_seconds: int = Field(default=15, ge=3, le=3600)
    # Per-entry default display period (days) on this screen, overriding the file-wide one.
    display_days: dict[str, int] = Field(default_factory=dict)
    # A paper copy hangs next to (or instead of) this screen: withdrawals need a person to take it down.
    paper_copy: bool = False
    # Banner at the top of every slide.
    heading: str = "政务公开栏"

    @field_validator("resolution")
    @classmethod
    def _resolution(cls, v: str) -> str:
        m = _RESOLUTION.match(v)
        if not m:
            raise ValueError(f"分辨率“{v}”格式不对，应写成 宽x高，例如 1920x1080")
        w, h = int(m.group(1)), int(m.group(2))
        if not (320 <= w <= 7680 and 320 <= h <= 7680):
            raise ValueError(f"分辨率“{v}”超出范围（每边 320～7680 像素）")
        return f"{w}x{h}"

    @field_validator("display_days")
    @classmethod
    def _days(cls, v: dict[str, int]) -> dict[str, int]:
        for key, days in v.items():
            if days < 1:
                raise ValueError(f"事项“{key}”的展示天数必须至少为 1")
        return v

    @field_validator("entries", "publishers")
    @classmethod
    def _no_blank(cls, v: list[str]) -> list[str]:
        if any(not s.strip() for s in v):
            raise ValueError("列表中不能有空项")
        return [s.strip().strip("/") if s.strip() != "*" else "*" for s in v]

    @model_validator(mode="after")
    def _orientation_matches(self) -> ScreenSpec:
        w, h = self.size
        if self.orientation == "landscape" and w < h:
            raise ValueError(f"横屏（landscape）的宽度应不小于高度，当前分辨率为 {self.resolution}")
        if self.orientation == "portrait" and w > h:
            raise ValueError(f"竖屏（portrait）的高度应不小于宽度，当前分辨率为 {self.resolution}")
        return self

    @property
    def size(self) -> tuple[int, int]:
        w, h = self.resolution.split("x")
        return int(w), int(h)

    @property
    def width(self) -> int:
        return self.size[0]

    @property
    def height(self) -> int:
        return self.size[1]

    def shows(self, *, publisher: str, entry_code: str, entry_path: Iterable[str]) -> bool:
        """Does this screen show documents of this publisher and catalog entry?"""
        if self.publishers and publisher not in self.publishers:
            return False
        return any(_entry_matches(pattern, entry_code, entry_path) for pattern in self.entries)


def _entry_matches(pattern: str, entry_code: str, entry_path: Iterable[str]) -> bool:
    if pattern == "*":
        return True
    if entry_code and pattern == entry_code:
        return True
    path = "/".join(p.strip() for p in entry_path)
    return bool(path) and (path == pattern or path.startswith(pattern + "/"))


def _match_specificity(pattern: str, entry_code: str, entry_path: Iterable[str]) -> int:
    """How closely a display_days key matches an entry (higher wins); -1 when it does not match."""
    if not _entry_matches(pattern, entry_code, entry_path):
        return -1
    if pattern == "*":
        return 0
    if pattern == entry_code:
        return 1000
    return pattern.count("/") + 1


class ScreensConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Time zone of the start/end times written into export manifests and shown on slides.
    timezone: str = "Asia/Shanghai"
    default_display_days: int = Field(default=30, ge=1, le=3650)
    # Per-entry default display period (days), keyed by code or path.
    display_days: dict[str, int] = Field(default_factory=dict)
    # How often the live page asks for changes.
    poll_seconds: int = Field(default=10, ge=2, le=600)
    screens: list[ScreenSpec] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"时区“{v}”无效，应为 IANA 时区名，例如 Asia/Shanghai") from None
        return v

    @model_validator(mode="after")
    def _unique_ids(self) -> ScreensConfig:
        seen: set[str] = set()
        for s in self.screens:
            if s.id in seen:
                raise ValueError(f"屏幕编号“{s.id}”重复，每块屏幕的 id 必须唯一")
            seen.add(s.id)
        return self

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def screen(self, screen_id: str) -> ScreenSpec | None:
        return next((s for s in self.screens if s.id == screen_id), None)

    def screens_for(self, *, publisher: str, entry_code: str, entry_path: Iterable[str]) -> list[ScreenSpec]:
        path = tuple(entry_path)
        return [s for s in self.screens if s.shows(publisher=publisher, entry_code=entry_code, entry_path=path)]

    def display_period(
        self,
        screen: ScreenSpec,
        *,
        entry_code: str,
        entry_path: Iterable[str],
        start: dt.datetime,
        display_from: dt.datetime | None,
        display_until: dt.datetime | None,
    ) -> tuple[dt.datetime, dt.datetime]:
        """The notice's display window: the submitter's period, else ``start`` + the entry's default days."""
        begin = display_from or start
        if display_until is not None:
            return begin, display_until
        path = tuple(entry_path)
        days = self.default_display_days
        for table in (self.display_days, screen.display_days):  # the screen's own table wins
            best = max(((_match_specificity(k, entry_code, path), d) for k, d in table.items()), default=(-1, 0))
            if best[0] >= 0:
                days = best[1]
        return begin, begin + dt.timedelta(days=days)


# --- loading -------------------------------------------------------------------------------------------------------

_TYPE_MESSAGES = {
    "missing": "缺少必填项",
    "extra_forbidden": "不认识这个字段（请检查拼写）",
    "int_parsing": "应为整数",
    "int_type": "应为整数",
    "bool_parsing": "应为 true 或 false",
    "bool_type": "应为 true 或 false",
    "string_type": "应为文字",
    "list_type": "应为列表",
    "dict_type": "应为“键: 值”的映射",
    "too_short": "不能为空",
    "string_too_short": "不能为空",
    "string_pattern_mismatch": "只能使用小写字母、数字、短横线和下划线（例如 lobby-1）",
    "literal_error": "取值不对，只能是 landscape（横屏）或 portrait（竖屏）",
    "greater_than_equal": "数值太小",
    "less_than_equal": "数值太大",
}


def _describe(err: dict[str, Any], raw: dict[str, Any]) -> str:
    loc = list(err.get("loc", ()))
    where = "配置文件"
    if len(loc) >= 2 and loc[0] == "screens" and isinstance(loc[1], int):
        idx = loc[1]
        screens = raw.get("screens") or []
        sid = screens[idx].get("id") if idx < len(screens) and isinstance(screens[idx], dict) else None
        where = f"屏幕“{sid}”（第 {idx + 1} 块）" if sid else f"第 {idx + 1} 块屏幕"
        loc = loc[2:]
    field = ".".join(str(p) for p in loc)
    etype = str(err.get("type", ""))
    if etype == "value_error":
        msg = str(err.get("ctx", {}).get("error", err.get("msg", "")))
    else:
        msg = _TYPE_MESSAGES.get(etype, str(err.get("msg", "")))
    return f"{where}的字段 {field}：{msg}" if field else f"{where}：{msg}"


def parse_screens_config(raw: Any, *, source: str = "config/screens.yaml") -> ScreensConfig:
    if not isinstance(raw, dict):
        raise ScreensConfigError(f"屏幕配置 {source} 的顶层应为映射（包含 screens 列表）")
    try:
        return ScreensConfig.model_validate(raw)
    except ValidationError as exc:
        lines = [_describe(e, raw) for e in exc.errors(include_url=False)]
        raise ScreensConfigError(f"屏幕配置 {source} 有误：" + "；".join(lines)) from None


def default_screens_path() -> Path:
    """``$ORCH_SCREENS_FILE`` or ``<config_dir>/screens.yaml``."""
    if os.environ.get(SCREENS_FILE_ENV):
        return Path(os.environ[SCREENS_FILE_ENV])

    return get_settings().config_dir / "screens.yaml"


@dataclass
class _Cached:
    mtime_ns: int
    config: ScreensConfig


_cache: dict[Path, _Cached] = {}


def load_screens_config(path: Path | str | None = None) -> ScreensConfig:
    """Load and validate the screens file; re-read when it changes on disk (the web app runs for weeks)."""
    p = Path(path) if path else default_screens_path()
    try:
        mtime = p.stat().st_mtime_ns
    except FileNotFoundError:
        raise ScreensConfigError(f"找不到屏幕配置文件 {p}，请创建它（参考 config/screens.yaml 示例）") from None
    hit = _cache.get(p)
    if hit and hit.mtime_ns == mtime:
        return hit.config
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ScreensConfigError(f"屏幕配置文件 {p} 不是有效的 YAML：{exc}") from None
    config = parse_screens_config(raw, source=str(p))
    _cache[p] = _Cached(mtime, config)
    return config
