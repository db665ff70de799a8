"""Channel wordings → canonical channel codes, driven by ``config/channel_map.yaml``.

Also parses a 公开渠道和载体 cell in every form seen in exported catalogs: ■/□ (口 for □), ☑/☐, √,
``<input type="checkbox" [checked]/>`` followed by a name, or just the names of the channels that apply.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

from orchestrator.catalog.errors import CatalogError
from orchestrator.catalog.textnorm import compact
from orchestrator.settings import get_settings

_CHECKED = "■☑☒✓✔√▣◼▪"
_UNCHECKED = "□☐◻"
# 口 (the ideograph "mouth") is how OCR and some fonts render □; only a box at the start of a name counts.
_MARKER = re.compile(rf"<input\b[^>]*>|[{_CHECKED}{_UNCHECKED}]|(?:(?<=\s)|^)口(?=\s*[\u4e00-\u9fff])", re.IGNORECASE)
_INPUT_CHECKED = re.compile(r"\bchecked\b", re.IGNORECASE)
_OTHER_NAMED = re.compile(r"^(其他|其它)[(\[【](.+?)[)\]】]?$")
_PLAIN_SPLIT = re.compile(r"[、,，;；\n]+")
_SPACES = re.compile(r"\s+")


def norm_wording(text: str) -> str:
    """Comparison key for a wording: no spaces, NFKC (full-width brackets become ASCII), brackets unified."""
    key = compact(unicodedata.normalize("NFKC", text))
    return key.replace("【", "(").replace("】", ")").replace("[", "(").replace("]", ")")


@dataclass(frozen=True)
class ChannelMap:
    labels: dict[str, str]  # code → display label
    wordings: dict[str, str]  # normalised wording → code
    keywords: tuple[tuple[str, str], ...]  # (normalised keyword, code), in file order

    @property
    def codes(self) -> frozenset[str]:
        return frozenset(self.labels)

    def match(self, wording: str) -> str | None:
        key = norm_wording(wording)
        if not key:
            return None
        if key in self.wordings:
            return self.wordings[key]
        if _OTHER_NAMED.match(key) and "other" in self.labels:
            return "other"
        for kw, code in self.keywords:
            if kw in key:
                return code
        return None

    def segment(self, text: str) -> list[str]:
        """Split a run of channel names printed without separators ("政府网站政府公报") by longest known wording."""
        key, out, i = norm_wording(text), [], 0
        longest = max((len(w) for w in self.wordings), default=0)
        while i < len(key):
            for n in range(min(longest, len(key) - i), 0, -1):
                if key[i : i + n] in self.wordings:
                    out.append(key[i : i + n])
                    i += n
                    break
            else:
                # Unknown stretch: keep it whole up to the next known wording so the warning shows it.
                j = i + 1
                while j < len(key) and not any(key[j : j + len(w)] == w for w in self.wordings):
                    j += 1
                out.append(key[i:j])
                i = j
        return out


def load_channel_map(path: Path | None = None) -> ChannelMap:
    if path is None:
        path = get_settings().config_dir / "channel_map.yaml"
    return _load(Path(path).resolve())


@lru_cache(maxsize=8)
def _load(path: Path) -> ChannelMap:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise CatalogError(f"找不到渠道映射表 {path}") from None
    except (yaml.YAMLError, ValueError) as exc:
        raise CatalogError(f"渠道映射表 {path} 不是有效的 YAML：{exc}") from None
    channels = raw.get("channels") if isinstance(raw, dict) else None
    if not isinstance(channels, dict) or not channels:
        raise CatalogError(f"渠道映射表 {path} 缺少 channels 段")
    labels: dict[str, str] = {}
    wordings: dict[str, str] = {}
    keywords: list[tuple[str, str]] = []
    for code, spec in channels.items():
        spec = spec or {}
        if not isinstance(spec, dict):
            raise CatalogError(f"渠道映射表 {path}：渠道 {code} 的配置应为键值表")
        labels[str(code)] = str(spec.get("label") or code)
        for w in [spec.get("label"), *(spec.get("wordings") or [])]:
            if w:
                wordings.setdefault(norm_wording(str(w)), str(code))
        keywords.extend((norm_wording(str(k)), str(code)) for k in spec.get("keywords") or [])
    return ChannelMap(labels, wordings, tuple(keywords))


@dataclass
class ChannelCell:
    """What a 公开渠道和载体 cell says."""

    checked: list[str] = field(default_factory=list)  # wordings marked as applying, as printed (spaces removed)
    options: int = 0  # how many options the form listed (checked or not); 0 for plain names
    boxed: bool = False  # a checkbox form rather than plain names


def parse_channel_cell(text: str, cmap: ChannelMap) -> ChannelCell:
    text = text or ""
    markers = list(_MARKER.finditer(text))
    if not markers:
        names = [n for part in _PLAIN_SPLIT.split(text) for n in cmap.segment(part) if n]
        return ChannelCell(checked=names)
    cell = ChannelCell(boxed=True)
    for i, m in enumerate(markers):
        end = markers[i + 1].start() if i + 1 < len(markers) else len(text)
        label = _SPACES.sub("", text[m.end() : end])  # as printed, minus the export's broken spaces
        if not label:
            continue
        token = m.group(0)
        checked = bool(_INPUT_CHECKED.search(token)) if token.startswith("<") else token in _CHECKED
        cell.options += 1
        if checked:
            cell.checked.append(label)
    return cell
