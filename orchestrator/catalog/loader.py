"""Read, check, find and write catalog YAML files (``config/catalogs/*.yaml``)."""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from collections import Counter
from pathlib import Path

import yaml
from pydantic import ValidationError

from orchestrator.catalog.channel_map import load_channel_map
from orchestrator.catalog.errors import CatalogError, CatalogValidationError
from orchestrator.catalog.schema import Catalog, CatalogEntry, TimeLimitKind
from orchestrator.catalog.textnorm import compact
from orchestrator.settings import get_settings


def _entry_name(raw_entries: list, idx: int) -> str:
    item = raw_entries[idx] if 0 <= idx < len(raw_entries) else None
    if isinstance(item, dict):
        code = item.get("code") or "（无编码）"
        path = item.get("path")
        return f"条目 {code}" + (f"（{'/'.join(map(str, path))}）" if isinstance(path, list) else "")
    return f"第{idx + 1}个条目"


def _pydantic_problems(exc: ValidationError, raw: dict) -> list[str]:
    entries = raw.get("entries") if isinstance(raw.get("entries"), list) else []
    out = []
    for err in exc.errors():
        loc = list(err["loc"])
        if len(loc) >= 2 and loc[0] == "entries" and isinstance(loc[1], int):
            where = _entry_name(entries, loc[1])
            field = ".".join(str(p) for p in loc[2:]) or "（整个条目）"
        else:
            where, field = "目录", ".".join(str(p) for p in loc) or "（整个文件）"
        out.append(f"{where} 的字段 {field}：{err['msg']}")
    return out


def check_catalog(catalog: Catalog, channel_codes: frozenset[str] | None = None, strict: bool = False) -> list[str]:
    """Rule problems beyond the schema. ``strict`` also rejects untyped rules (kind: unknown)."""
    codes = channel_codes if channel_codes is not None else load_channel_map().codes
    problems: list[str] = []
    counts = Counter(e.code for e in catalog.entries)
    for code, n in counts.items():
        if n > 1:
            problems.append(f"条目编码 {code} 重复出现 {n} 次（字段 code 必须唯一）")
    for e in catalog.entries:
        where = f"条目 {e.code}（{e.path_text}）"
        for ch in e.channels:
            if ch not in codes:
                problems.append(f"{where} 的字段 channels：未知渠道代码“{ch}”（可用：{'、'.join(sorted(codes))}；见 config/channel_map.yaml）")
        if e.channel_labels and len(e.channel_labels) != len(e.channels):
            problems.append(f"{where} 的字段 channel_labels：应与 channels 一一对应（{len(e.channel_labels)} 个标签，{len(e.channels)} 个渠道）")
        r = e.time_limit
        if r.kind in (TimeLimitKind.working_days, TimeLimitKind.calendar_days) and not r.days:
            problems.append(f"{where} 的字段 time_limit.days：{r.kind.value} 规则必须写天数")
        if r.kind == TimeLimitKind.months and not r.months:
            problems.append(f"{where} 的字段 time_limit.months：months 规则必须写月数")
        if r.kind == TimeLimitKind.after_event:
            if not r.from_:
                problems.append(f"{where} 的字段 time_limit.from：after_event 规则必须写起算事件（approval、comment_period_end、review…）")
            if r.days is not None and r.counting is None:
                problems.append(f"{where} 的字段 time_limit.counting：写了天数就必须写 working_days 或 calendar_days")
        if strict and r.kind == TimeLimitKind.unknown:
            problems.append(f"{where} 的字段 time_limit.kind：规则未定型（unknown），原文“{r.text}”，请补充 kind 及天数/月数")
    return problems


def load_catalog(path: Path | str, strict: bool = False, channel_codes: frozenset[str] | None = None) -> Catalog:
    """Parse and check one catalog YAML; raises CatalogValidationError listing every problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CatalogError(f"找不到目录文件：{path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(f"无法读取目录文件 {path}：{exc}") from None
    try:
        raw = yaml.safe_load(text)
    except (yaml.YAMLError, ValueError) as exc:  # ValueError: PyYAML on impossible dates
        raise CatalogValidationError(str(path), [f"不是有效的 YAML：{exc}"]) from None
    if not isinstance(raw, dict):
        raise CatalogValidationError(str(path), ["文件内容应为一个目录（含 publisher 和 entries），不是目录 YAML"])
    try:
        catalog = Catalog.model_validate(raw)
    except ValidationError as exc:
        raise CatalogValidationError(str(path), _pydantic_problems(exc, raw)) from None
    problems = check_catalog(catalog, channel_codes, strict)
    if problems:
        raise CatalogValidationError(str(path), problems)
    return catalog


def load_catalogs(directory: Path | str | None = None) -> list[Catalog]:
    """Every catalog in ``directory`` (default: settings.catalogs_dir), in file-name order."""
    if directory is None:
        directory = get_settings().catalogs_dir
    directory = Path(directory)
    catalogs = [load_catalog(p) for p in sorted(directory.glob("*.yaml"))] if directory.is_dir() else []
    dupes = [p for p, n in Counter(c.publisher for c in catalogs).items() if n > 1]
    if dupes:
        raise CatalogError(f"{directory} 中有多个目录属于同一发布机构：{'、'.join(dupes)}")
    return catalogs


def find_entry(
    ref: str, publisher: str | None = None, catalogs: list[Catalog] | None = None
) -> tuple[Catalog, CatalogEntry]:
    """An entry by code (``01-02``) or path (``一级/二级[/三级]``); raises CatalogError if none or several match."""
    catalogs = load_catalogs() if catalogs is None else catalogs
    if publisher:
        catalogs = [c for c in catalogs if c.publisher == publisher.strip()]
        if not catalogs:
            raise CatalogError(f"没有发布机构为“{publisher}”的目录")
    key = compact(ref).strip("/")
    hits = [(c, e) for c in catalogs for e in c.entries if e.code == key]
    if not hits:
        hits = [(c, e) for c in catalogs for e in c.entries if "/".join(compact(p) for p in e.path) == key]
    if not hits:
        raise CatalogError(f"找不到目录事项“{ref}”（请填写条目编码，如 01-02，或路径“一级/二级[/三级]”）")
    if len(hits) > 1:
        if len({c.publisher for c, _ in hits}) > 1:
            names = "、".join(sorted({c.publisher for c, _ in hits}))
            raise CatalogError(f"“{ref}”在多个发布机构的目录中都有（{names}），请用 --publisher 指定")
        listing = "；".join(f"{e.code}（{e.content[:20]}…，{e.time_limit.text}）" for _, e in hits)
        raise CatalogError(f"“{ref}”对应多个条目：{listing}。请用条目编码指定")
    return hits[0]


def dump_catalog(catalog: Catalog, note: str = "") -> str:
    data = catalog.model_dump(mode="json", by_alias=True, exclude_none=True)
    head = note or f"由 orchestrator catalog import 于 {dt.date.today().isoformat()} 从 {catalog.source or '（未知文件）'} 生成。"
    header = (
        f"# {head}\n# 请对照原表人工核对；带 warnings 的条目需要处理。字段说明见 orchestrator/catalog/schema.py。\n"
    )
    return header + yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=200)


def write_catalog(catalog: Catalog, path: Path | str) -> Path:
    """Write atomically: a temporary file in the same directory, then rename over the target."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = dump_catalog(catalog)
    # Round-trip before replacing anything: what we write must load again.
    Catalog.model_validate(yaml.safe_load(text))
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
