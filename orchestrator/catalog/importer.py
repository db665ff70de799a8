"""Import an agency's disclosure catalog (主动公开目录) into a typed :class:`Catalog`.

Pipeline: ``readers`` recover the grid → ``layout`` finds the header and maps rows onto fields →
this module rebuilds what flattening broke and types every value.

Decisions (documented here because reviewers and clerks rely on them):

* **One entry per table row.** A row that only adds another content line under an item (the seed's
  意见征集及反馈 has "征求意见公告…" with 即时公开 and "公众意见采纳反馈情况" with 公告期后满一个月) becomes
  its own entry with the item's path, because each line has its own time limit. Such entries share a
  path; address them by code.
* **Codes** are ``SS-PP``: SS the row's numbered section (序号), PP the 1-based position of the row inside
  it (``01-03`` is the third row of section 1). Deterministic for a given table; a repeated 序号 gets
  ``SS.k`` for its k-th occurrence.
* **Blank cells** take the value above only within the same numbered section (merged cells printed once),
  and the entry lists those fields in ``inherited``. Across a section nothing is inherited: the entry gets
  a warning instead. Explicit merges in .docx/.xlsx are also recorded as inherited.
* **Never invents**: no channel marked → no channels and a warning; unknown wordings → a warning naming
  the wording (extend ``config/channel_map.yaml``); untypeable time limits → ``kind: unknown`` + warning.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from orchestrator.catalog.channel_map import ChannelMap, load_channel_map, parse_channel_cell
from orchestrator.catalog.errors import CatalogImportError
from orchestrator.catalog.layout import FIELD_LABELS, NOTE_ROW, Header, Record, join_spills, map_rows, pick_table
from orchestrator.catalog.readers import read_source
from orchestrator.catalog.schema import Catalog, CatalogEntry, TimeLimit, TimeLimitKind
from orchestrator.catalog.textnorm import clean, cn_number, compact
from orchestrator.catalog.timelimit import SAME_AS_ABOVE, parse_time_limit

# Fields that a blank cell inherits from the row above (within the section), with their schema names.
INHERITABLE = {
    "time": "time_limit", "publisher": "publisher", "channels": "channels", "audience": "audience",
    "offices": "offices", "basis": "basis", "method": "disclosure_method", "level": "level",
}
_TITLE = re.compile(r"^(?P<who>.+?)(?:政府信息|政务)?(?:主动)?公开(?:事项)?(?:标准)?目录")
_OFFICE_END = re.compile(r"(办公室|室|科|股|中心|队|所|站|部|处|组|办|局|委|团|会)$")
_OFFICE_SEP = re.compile(r"[、,，;；/]+")
_TICK = re.compile(r"^[√✓✔■☑●是]$")


@dataclass
class _Cell:
    """A field value as this row sees it: own text, or text inherited from the row above."""

    text: str
    line: int
    extra: dict = field(default_factory=dict)


def split_offices(text: str) -> list[str]:
    """Several offices in one cell, separated by punctuation or by spaces — spaces also break names
    ("普法与依法治 理办公室 人民参与和促 进法制办公室" is two offices), so a piece only ends at an office suffix."""
    out: list[str] = []
    for part in _OFFICE_SEP.split(text or ""):
        buf = ""
        for tok in part.split():
            buf += tok
            if _OFFICE_END.search(buf):
                out.append(buf)
                buf = ""
        if buf:
            out.append(buf)
    # Two names run together without a space ("…办公室人民参与…办公室").
    split = [s for o in out for s in re.split(r"(?<=办公室)(?=[\u4e00-\u9fff]{2,}(?:办公室|室|科|股|中心))", o)]
    return list(dict.fromkeys(clean(s) for s in split if s.strip()))


@lru_cache(maxsize=4096)
def _parse_time_cached(text: str) -> tuple[TimeLimit, bool, tuple[str, ...]]:
    rule, keep, warnings = parse_time_limit(text)
    return rule, keep, tuple(warnings)


def _audience(values: dict[str, str]) -> str:
    parts = []
    if _TICK.match(compact(values.get("audience_all", ""))):
        parts.append("全社会")
    if _TICK.match(compact(values.get("audience_group", ""))):
        parts.append("特定群体")
    if not parts and values.get("audience"):
        return clean(values["audience"])
    return "、".join(parts)


def _section_number(seq: str) -> int | None:
    return cn_number(compact(seq).rstrip(".、．"))


def import_catalog(path: Path | str, publisher: str | None = None, channel_map: ChannelMap | None = None) -> Catalog:
    """Read a catalog file (.txt/.docx/.xlsx) into a Catalog; raises CatalogImportError when it cannot."""
    path = Path(path)
    cmap = channel_map or load_channel_map()
    source = read_source(path)
    picked = pick_table(source.tables)
    if picked is None:
        raise CatalogImportError(
            f"{path.name} 中找不到主动公开目录的表头：需要一行列名，至少包含“序号、公开事项（或一级事项）、公开内容、"
            "公开时限、公开主体、公开渠道和载体、公开对象、责任科室”中的三项"
        )
    table, header, data = picked
    if table.group in ("tab", "pipe"):
        data = join_spills(data, header.width)

    def is_channels(text: str) -> bool:
        cell = parse_channel_cell(text, cmap)
        return cell.boxed or (len(cell.checked) >= 2 and all(cmap.match(c) for c in cell.checked))

    records, notes = map_rows(data, header, is_channels)
    catalog_warnings: list[str] = []
    for note in notes[:10]:
        where = f"第{note.first_line}行" if note.first_line == note.last_line else f"第{note.first_line}–{note.last_line}行"
        if note.fields is None:
            catalog_warnings.append(f"{where}有{note.width}列，多于表头的列，只能按位置读取，请核对")
        else:
            missing = [FIELD_LABELS[n] for n in header.names if n not in note.fields]
            catalog_warnings.append(
                f"{where}有{note.width}列，与表头（{header.width}列）不一致，已按单元格内容对齐"
                + (f"（这些行没有的列：{'、'.join(missing)}）" if missing else "")
            )
    if len(notes) > 10:
        catalog_warnings.append(f"另有{len(notes) - 10}段行的列数与表头不一致，已按内容对齐")
    if "channels" not in header.names:
        catalog_warnings.append("表格没有“公开渠道和载体”列，所有条目的公开渠道都需要人工补充")

    title = next((m.group("who") for line in source.preamble if (m := _TITLE.match(compact(line)))), None)
    entries = _build_entries(records, header, cmap, catalog_warnings)
    if not entries:
        raise CatalogImportError(f"{path.name} 找到了表头，但表头下面没有任何目录条目（文件可能被截断）")
    common = Counter(e.publisher for e in entries if e.publisher).most_common(1)
    who = (publisher or "").strip() or title or (common[0][0] if common else "")
    if not who:
        raise CatalogImportError("无法从文件中确定发布机构，请用 --publisher 指定")
    for e in entries:
        if not e.publisher:
            e.publisher = who
            if "publisher" in header.names:
                e.warnings.append(f"公开主体为空，已按目录发布机构“{who}”填写，请核对")
    _flag_truncated_channels(entries)
    return Catalog(publisher=who, source=path.name, entries=entries, warnings=catalog_warnings)


def _build_entries(records: list[Record], header: Header, cmap: ChannelMap, catalog_warnings: list[str]) -> list[CatalogEntry]:
    entries: list[CatalogEntry] = []
    has_seq = "seq" in header.names
    section_key = ""
    section_label = ""
    section_seen: Counter[int] = Counter()
    position = 0
    above: dict[str, _Cell] = {}  # last value of each inheritable field in the current section
    before: dict[str, _Cell] = {}  # ...and in the previous section (only to say why nothing was inherited)
    prev_path: list[str] = []
    prev_rule: TimeLimit | None = None
    ordinal = 0

    for rec in records:
        v = {k: t for k, t in rec.values.items() if t and t.strip()}
        if not v:
            continue
        if len(v) == 1 and NOTE_ROW.match(compact(next(iter(v.values())))):
            catalog_warnings.append(f"第{rec.line}行是说明文字，未作为条目导入：{clean(next(iter(v.values())))[:60]}")
            continue
        own_levels = [clean(v.get(f"level{i}", "")) for i in (1, 2, 3)]
        starts_section = bool(v.get("seq")) if has_seq else bool(own_levels[0])
        if starts_section or not section_key:
            ordinal += 1
            number = _section_number(v.get("seq", "")) if has_seq else ordinal
            if number is None:
                number = ordinal
                if v.get("seq"):
                    catalog_warnings.append(f"第{rec.line}行的序号“{v['seq']}”不是数字，按第{ordinal}段编码")
                else:
                    catalog_warnings.append(f"第{rec.line}行之前没有序号，这些行按第{ordinal}段编码，请核对")
            section_seen[number] += 1
            section_key = f"{number:02d}" + (f".{section_seen[number]}" if section_seen[number] > 1 else "")
            if section_seen[number] == 2:
                catalog_warnings.append(f"序号{number}重复出现（第{rec.line}行），其条目编码为 {section_key}-NN")
            section_label = f"第{number}项"
            position = 0
            before = {**before, **above}
            above = {}
            prev_path = []
            prev_rule = None
        position += 1
        warnings: list[str] = []
        inherited: list[str] = []

        # Path: own names, blanks above the deepest own level come from the row above (same section).
        deepest = max((i for i, n in enumerate(own_levels) if n), default=-1)
        if deepest < 0:
            path = list(prev_path)
        else:
            path = [own_levels[i] or (prev_path[i] if i < len(prev_path) else "") for i in range(deepest + 1)]
        if not any(path):
            catalog_warnings.append(f"第{rec.line}行没有事项名称，上方也没有可继承的事项，未导入：{clean(v.get('content', ''))[:40]}")
            position -= 1
            continue
        if "" in path:
            warnings.append("事项路径中有一级缺失（表格中为空且无法继承），请核对")
            path = [p for p in path if p]
        prev_path = path

        # Inheritable fields: own value, else the value above within this section, else a warning.
        cells: dict[str, _Cell | None] = {}
        for f in INHERITABLE:
            own = _audience(v) if f == "audience" else v.get(f, "")
            if f == "audience" and own and "audience" in rec.ambiguous and not v.get("audience"):
                warnings.append("公开对象勾选了一项，但原表的空列已丢失，无法确定是“全社会”还是“特定群体”，请人工确认")
                own = ""
                cells[f] = None
                continue
            if own.strip():
                cells[f] = above[f] = _Cell(own, rec.line)
                if f in rec.merged or (f == "audience" and rec.merged & {"audience_all", "audience_group"}):
                    inherited.append(INHERITABLE[f])
            elif f in above:
                cells[f] = above[f]
                inherited.append(INHERITABLE[f])
            else:
                cells[f] = None
                if f in header.names or (f == "audience" and {"audience_all", "audience_group"} & set(header.names)):
                    label = FIELD_LABELS[f]
                    if f in before:
                        warnings.append(f"{label}为空；上方的值属于另一编号，不跨编号继承，请人工确认")
                    elif f in ("time", "channels", "audience", "offices"):
                        warnings.append(f"{label}为空，请人工确认")

        # Time limit.
        tcell = cells["time"]
        keep_public = False
        if tcell and compact(tcell.text) in SAME_AS_ABOVE:
            if prev_rule is not None:
                rule = prev_rule.model_copy(update={"text": clean(tcell.text)})
                inherited.append("time_limit")
            else:
                rule = TimeLimit(text=clean(tcell.text), kind=TimeLimitKind.unknown)
                warnings.append("公开时限写的是“同上”，但本编号内上方没有时限可参照，请人工确认")
        elif tcell:
            rule, keep_public, tw = _parse_time_cached(clean(tcell.text))
            rule = rule.model_copy()
            warnings.extend(tw)
        else:
            rule = TimeLimit()
        if rule.kind != TimeLimitKind.unknown:
            prev_rule = rule
        keep_public = keep_public or (tcell is not None and "长期公开" in compact(tcell.text))

        # Channels.
        codes: list[str] = []
        labels: list[str] = []
        options = 0
        if ccell := cells["channels"]:
            parsed = ccell.extra.get("parsed") or parse_channel_cell(ccell.text, cmap)
            ccell.extra["parsed"] = parsed
            options = parsed.options
            for label in parsed.checked:
                code = cmap.match(label)
                if code is None:
                    warnings.append(f"未识别的公开渠道“{label}”，未导入该渠道；请在 config/channel_map.yaml 中补充映射后重新导入")
                elif code in codes:
                    labels[codes.index(code)] += f"、{label}"
                else:
                    codes.append(code)
                    labels.append(label)
            if "other" in codes and compact(labels[codes.index("other")]) in ("其他", "其它"):
                warnings.append("勾选了“其他”渠道但没有写明是哪个渠道，请人工确认")
            if not codes and not any("未识别" in w for w in warnings):
                warnings.append("公开渠道和载体一项也没有勾选，未自动补填，请人工确认")
        elif not any(w.startswith("公开渠道和载体") for w in warnings):
            warnings.append("公开渠道和载体为空，未自动补填，请人工确认")

        content = clean(v.get("content", ""))
        if not content:
            warnings.append("公开内容为空，请核对")
        entry = CatalogEntry(
            code=f"{section_key}-{position:02d}",
            path=path,
            content=content,
            basis=clean(cells["basis"].text) if cells["basis"] else "",
            time_limit=rule,
            keep_public=keep_public,
            publisher=clean(cells["publisher"].text) if cells["publisher"] else "",
            channels=codes,
            channel_labels=labels,
            audience=cells["audience"].text if cells["audience"] else "",
            disclosure_method=clean(cells["method"].text) if cells["method"] else "",
            level=clean(cells["level"].text) if cells["level"] else "",
            offices=split_offices(cells["offices"].text) if cells["offices"] else [],
            inherited=list(dict.fromkeys(inherited)),
            warnings=list(dict.fromkeys(warnings)),
            options={"_channel_options": options} if options else {},
        )
        entry.options["_source_line"] = rec.line
        entry.options["_section"] = section_label
        entries.append(entry)
    return entries


def _flag_truncated_channels(entries: list[CatalogEntry]) -> None:
    """A checkbox list shorter than the catalog's usual list was probably cut off: what is missing is unknown."""
    counts = [e.options.get("_channel_options", 0) for e in entries]
    full = max(counts, default=0)
    for e in entries:
        n = e.options.pop("_channel_options", 0)
        e.options.pop("_source_line", None)
        e.options.pop("_section", None)
        if 0 < n < full:
            e.warnings.append(f"公开渠道只列出{n}个选项（其他行列出{full}个），单元格可能被截断，未列出的渠道是否适用无法确定，请人工确认")


def catalog_to_dict(catalog: Catalog) -> dict:
    """The plain-data form written to YAML and printed by --json."""
    return catalog.model_dump(mode="json", by_alias=True, exclude_none=True)
