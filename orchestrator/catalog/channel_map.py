"""Channel wordings → canonical channel codes, driven by ``config/channel_map.yaml``.

Also parses a 公开渠道和载体 cell in every form seen in exported catalogs: ■/□ (口 for □), ☑/☐, √,
``<input type="checkbox" [checked]/>`` followed by a name, or just the names of the channels that apply.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

from orchestrator.catalog.errors import CatalogError
from orchestrator.catalog.textnorm import compact
from orchestrator.settings import get_settings

# þ/ý and ¨ are the Wingdings checkbox symbols when a Word file's symbol font is lost in a copy.
_CHECKED = "■☑☒✓✔√▣◼▪þý"
_UNCHECKED = "□☐◻¨"
# 口 (the ideograph "mouth") is how OCR and some fonts render □; only a box at the start of a name counts.
_MARKER = re.compile(rf"<input\b[^>]*>|[{_CHECKED}{_UNCHECKED}]|(?:(?<=\s)|^)口(?=\s*[\u4e00-\u9fff])", re.IGNORECASE)
_INPUT_CHECKED = re.compile(r"\bchecked\b", re.IGNORECASE)
_OTHER_NAMED = re.compile(r"^(其他|其它)[(\[【](.+?)[)\]】]?$")
_PLAIN_SPLIT = re.compile(r"[、,，;；\n]+|\s+(?=\d{1,2}[.、．])")
_LIST_NUMBER = re.compile(r"^(?:\d{1,2}|[(（]\d{1,2}[)）]|[①-⑳])[.、．)）]?")
_OTHER_PLAIN = re.compile(r"^(其他|其它)[\u4e00-\u9fffA-Za-z0-9]{1,12}(网|网站|平台|栏|屏|站|中心|会|号|端|报|刊|台|媒体)$")
_OWN_PORTAL = re.compile(r"(政府网站|门户网站|人民政府网|政府网|政务网)$")
_NOTE = re.compile(r"(注|备注|说明)[:：].*$", re.S)
# Words that suggest a channel for a wording the map does not know (only ever a proposal).
_PROPOSE_HINTS = (
    (re.compile(r"网站|网$|平台|在线|信用中国"), "website"),
    (re.compile(r"纸质|报刊|报纸|载体"), "print"),
    (re.compile(r"服务中心|服务大厅|办事大厅|政务服务|政府服务"), "service_center"),
    (re.compile(r"发布会|听证会"), "press"),
    (re.compile(r"公示栏|公开栏|宣传栏|电子屏|显示屏"), "bulletin_board"),
    (re.compile(r"微信|微博|客户端|公众号|新媒体"), "wechat"),
    (re.compile(r"广播|电视"), "broadcast"),
    (re.compile(r"查阅"), "reading_room"),
    (re.compile(r"便民"), "service_station"),
)


def _loose(key: str) -> str:
    """A wording without slashes, dots and brackets: 发布会听证会 = 发布会/听证会."""
    return re.sub(r"[/、·.()\s]", "", key)
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
    loose: dict[str, str] = field(default_factory=dict)  # wording without slashes/brackets → code
    finder: re.Pattern[str] = field(default=re.compile(r"(?!)"))  # every wording, longest first
    memo: dict = field(default_factory=dict, compare=False, hash=False)  # wording → code, filled by match()

    def __post_init__(self) -> None:
        if self.wordings:
            words = sorted(self.wordings, key=len, reverse=True)
            object.__setattr__(self, "finder", re.compile("|".join(re.escape(w) for w in words)))
        if not self.loose:
            table: dict[str, str] = {}
            for w, code in self.wordings.items():
                table.setdefault(_loose(w), code)
            object.__setattr__(self, "loose", table)

    @property
    def codes(self) -> frozenset[str]:
        return frozenset(self.labels)

    def match(self, wording: str) -> str | None:
        memo = self.memo
        if wording in memo:
            return memo[wording]
        code = self._match(wording)
        if len(memo) < 20000:
            memo[wording] = code
        return code

    def _match(self, wording: str) -> str | None:
        key = norm_wording(wording)
        if not key:
            return None
        if key in self.wordings:
            return self.wordings[key]
        if _OTHER_NAMED.match(key) and "other" in self.labels:
            return "other"
        # The same wording printed with a list number ("1.政府网站") or without its slash ("发布会听证会").
        bare = _LIST_NUMBER.sub("", key)
        if bare != key and bare in self.wordings:
            return self.wordings[bare]
        loose = _loose(bare)
        if loose and loose in self.loose:
            return self.loose[loose]
        if _OTHER_PLAIN.match(bare) and "other" in self.labels:
            return "other"  # 其他法律服务网: 其他 followed by what it is, without brackets
        # A site's own name for its portal (高新区(掇刀区)政府网站) is that agency's 政府网站.
        if _OWN_PORTAL.search(bare) and "website" in self.labels:
            return "website"
        for kw, code in self.keywords:
            if kw in key:
                return code
        return None

    def propose(self, wording: str, loose: bool = True) -> tuple[str, str] | None:
        """(code, nearest known wording) for a wording the map does not know: a suggestion a person confirms.
        ``loose`` also proposes by string similarity (for the review screen, not for telling cells apart)."""
        key = _loose(_LIST_NUMBER.sub("", norm_wording(wording)))
        if not key or len(key) > 40:
            return None
        for hint, code in _PROPOSE_HINTS:
            if hint.search(key) and code in self.labels:
                like = next((w for w, c in self.wordings.items() if c == code), code)
                return code, like
        if not loose:
            return None
        best: tuple[float, str, str] | None = None
        for w, code in self.wordings.items():
            ratio = difflib.SequenceMatcher(None, key, _loose(w)).ratio()
            if best is None or ratio > best[0]:
                best = (ratio, code, w)
        if best and best[0] >= 0.5:
            return best[1], best[2]
        return None

    def segment(self, text: str) -> list[str]:
        """Split a run of channel names printed without separators ("政府网站政府公报") by longest known wording."""
        key, out, pos = norm_wording(text), [], 0
        for m in self.finder.finditer(key):
            if m.start() > pos:
                out.append(key[pos : m.start()])  # unknown stretch: kept whole so the warning shows it
            out.append(m.group(0))
            pos = m.end()
        if pos < len(key):
            out.append(key[pos:])
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
    # Wordings a person confirmed while reviewing an import (added by add_confirmed_wordings).
    confirmed = raw.get("confirmed") if isinstance(raw, dict) else None
    for w, code in (confirmed or {}).items() if isinstance(confirmed, dict) else ():
        if str(code) in labels and w:
            wordings.setdefault(norm_wording(str(w)), str(code))
    return ChannelMap(labels, wordings, tuple(keywords))


CONFIRMED_HEADER = "\n# 导入目录时人工确认的渠道写法（写法: 渠道代码）。由导入核对页面追加；也可手工编辑。必须是本文件的最后一段。\nconfirmed:\n"


def add_confirmed_wordings(confirmed: dict[str, str], path: Path | None = None) -> Path:
    """Append confirmed wording → code pairs to the channel map (its last section ``confirmed:``), keeping the
    file's comments; written atomically, and the loaded map is refreshed."""
    # lazy: settings only where a user map file is looked up
    import json

    # lazy: settings only where a user map file is looked up
    import os

    # lazy: settings only where a user map file is looked up
    import tempfile

    if path is None:
        # lazy: settings only where a user map file is looked up
        from orchestrator.settings import get_settings

        path = get_settings().config_dir / "channel_map.yaml"
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    current = _load(path.resolve())
    lines = []
    for wording, code in confirmed.items():
        if code not in current.labels:
            raise CatalogError(f"渠道代码“{code}”不在渠道映射表中")
        if current.wordings.get(norm_wording(wording)) == code:
            continue  # already known
        lines.append(f"  {json.dumps(wording, ensure_ascii=False)}: {code}\n")
    if not lines:
        return path
    if "\nconfirmed:\n" not in text:
        text = text.rstrip("\n") + "\n" + CONFIRMED_HEADER
    text = text.rstrip("\n") + "\n" + "".join(lines)
    try:
        parsed = yaml.safe_load(text)
    except yaml.YAMLError:
        parsed = None
    ok = isinstance(parsed, dict) and isinstance(parsed.get("confirmed"), dict)
    if not ok or any(parsed["confirmed"].get(w) != c for w, c in confirmed.items()):
        # The section is not the last one any more: refuse rather than break the file.
        raise CatalogError(f"渠道映射表 {path} 的 confirmed 段不在文件末尾，无法自动追加，请手工编辑")
    fd, tmp = tempfile.mkstemp(prefix=".channel_map-", suffix=".yaml", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)
    _load.cache_clear()
    return path


@dataclass
class ChannelCell:
    """What a 公开渠道和载体 cell says."""

    checked: list[str] = field(default_factory=list)  # wordings marked as applying, as printed (spaces removed)
    options: int = 0  # how many options the form listed (checked or not); 0 for plain names
    boxed: bool = False  # a checkbox form rather than plain names
    listed: list[str] = field(default_factory=list)  # every option printed, checked or not (boxed forms)
    note: str = ""  # a 注:/说明: note inside the cell, kept out of the channel names


def parse_channel_cell(text: str, cmap: ChannelMap) -> ChannelCell:
    text = text or ""
    note = ""
    if m := _NOTE.search(text):
        note = _SPACES.sub(" ", m.group(0)).strip()
        text = text[: m.start()]
    markers = list(_MARKER.finditer(text))
    if not markers:
        names = []
        for part in _PLAIN_SPLIT.split(text):
            part = part.strip()
            bare = _LIST_NUMBER.sub("", part)
            if not bare:
                continue
            pieces = [n for n in cmap.segment(part) if n]
            if len(pieces) > 1 and all(n in cmap.wordings for n in pieces):
                names.extend(pieces)  # names printed without separators ("政府网站政府公报")
            elif cmap.match(part) or bare != part:
                names.append(norm_wording(part))  # as printed: a whole wording, numbered list items kept whole
            else:
                names.extend(pieces)
        return ChannelCell(checked=names, note=note)
    cell = ChannelCell(boxed=True, note=note)
    for i, m in enumerate(markers):
        end = markers[i + 1].start() if i + 1 < len(markers) else len(text)
        label = _SPACES.sub("", text[m.end() : end])  # as printed, minus the export's broken spaces
        if not label:
            continue
        token = m.group(0)
        checked = bool(_INPUT_CHECKED.search(token)) if token.startswith("<") else token in _CHECKED
        cell.options += 1
        cell.listed.append(label)
        if checked:
            cell.checked.append(label)
    return cell
