"""The dictionaries in the database: entries, the version counter, the cached matcher, and import/export files.

File formats (docs/content-checks.md): YAML (``terms:`` a list of mappings), CSV with a header row, and plain text
(one term per line, category and severity chosen on the import form). An import is checked whole before anything is
written: one bad line refuses the file, with the line number and a Chinese reason, and nothing is half-imported.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import threading
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from orchestrator import audit
from orchestrator.checks.matcher import CATEGORIES, SEVERITIES, EntrySpec, Matcher, normalise_term
from orchestrator.checks.models import ContentCheckState, ContentCheckTerm
from orchestrator.db import session_scope
from orchestrator.models import utcnow
from orchestrator.settings import get_settings

MAX_IMPORT_BYTES = 8 * 1024 * 1024
MAX_IMPORT_ENTRIES = 200_000
MAX_TERM = 100
MAX_SUGGESTION = 200
MAX_NOTE = 500
MAX_VARIANTS = 20
MAX_ERRORS_SHOWN = 20

# Chinese spellings accepted in files and forms, besides the codes.
CATEGORY_ALIASES = {v: k for k, v in CATEGORIES.items()} | {"敏感词": "sensitive", "错词": "typo", "更名": "renamed",
                                                             "领导": "leader", "领导职务": "leader", "白名单": "allow"}
SEVERITY_ALIASES = {v: k for k, v in SEVERITIES.items()} | {"禁止": "block", "提醒": "note"}
CSV_COLUMNS = ("category", "term", "suggestion", "severity", "since", "note", "variants")
CSV_HEADER_ALIASES = {"类别": "category", "词语": "term", "姓名": "term", "建议": "suggestion", "正确写法": "suggestion",
                      "级别": "severity", "起始日期": "since", "说明": "note", "变体": "variants"}
DEFAULT_SEVERITY = {"sensitive": "block", "typo": "warn", "renamed": "warn", "leader": "warn", "allow": "note"}


class DictionaryError(ValueError):
    """A refused entry or file; ``problems`` are Chinese, one per line or field."""

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else problems
        shown = self.problems[:MAX_ERRORS_SHOWN]
        more = len(self.problems) - len(shown)
        super().__init__("；".join(shown) + (f"；另有 {more} 处错误未列出" if more > 0 else ""))


@dataclass
class EntryInput:
    category: str
    term: str
    suggestion: str = ""
    severity: str = ""
    since: dt.date | None = None
    note: str = ""
    variants: list[str] = field(default_factory=list)


def _text(value: object, what: str, limit: int, problems: list[str], where: str) -> str:
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int, float, dt.date)):
        problems.append(f"{where}{what}应为文字")
        return ""
    text = str(value).strip()
    if "\x00" in text or any(ord(c) < 32 and c not in "\t" for c in text):
        problems.append(f"{where}{what}含有控制字符")
        return ""
    if len(text) > limit:
        problems.append(f"{where}{what}过长（上限 {limit} 字）")
        return ""
    return text


def validate(raw: dict, where: str = "") -> tuple[EntryInput | None, list[str]]:
    """One entry from a form or a file row: codes or Chinese names, lengths, dates; problems in Chinese."""
    problems: list[str] = []
    if not isinstance(raw, dict):
        return None, [f"{where}应为一个词条（键值对）"]
    unknown = set(raw) - set(CSV_COLUMNS)
    if unknown:
        problems.append(f"{where}不认识的字段：{'、'.join(sorted(map(str, unknown)))[:100]}")
    cat_raw = _text(raw.get("category"), "类别", 20, problems, where)
    category = CATEGORY_ALIASES.get(cat_raw, cat_raw)
    if category not in CATEGORIES:
        problems.append(f"{where}类别“{cat_raw}”不正确（应为 {'、'.join(CATEGORIES.values())}）")
    term = _text(raw.get("term"), "词语", MAX_TERM, problems, where)
    if not normalise_term(term):
        problems.append(f"{where}词语不能为空")
    elif len(normalise_term(term)) < 2 and category != "allow":
        problems.append(f"{where}词语“{term}”太短（至少 2 个字，单字会命中大量正常文字）")
    suggestion = _text(raw.get("suggestion"), "建议", MAX_SUGGESTION, problems, where)
    sev_raw = _text(raw.get("severity"), "级别", 10, problems, where)
    severity = SEVERITY_ALIASES.get(sev_raw, sev_raw) or DEFAULT_SEVERITY.get(category, "warn")
    if severity not in SEVERITIES:
        problems.append(f"{where}级别“{sev_raw}”不正确（应为 阻止、警告 或 提示）")
    since = None
    since_raw = raw.get("since")
    if isinstance(since_raw, dt.date):
        since = since_raw
    elif since_raw not in (None, ""):
        text = _text(since_raw, "起始日期", 20, problems, where)
        try:
            since = dt.date.fromisoformat(text) if text else None
        except ValueError:
            problems.append(f"{where}起始日期“{text}”格式不正确（应为 YYYY-MM-DD）")
    if since is not None and not dt.date(1949, 10, 1) <= since <= dt.date(2100, 12, 31):
        problems.append(f"{where}起始日期超出范围")
    note = _text(raw.get("note"), "说明", MAX_NOTE, problems, where)
    variants_raw = raw.get("variants") or []
    if isinstance(variants_raw, str):
        variants_raw = [v for v in variants_raw.replace("｜", "|").split("|")]
    if not isinstance(variants_raw, list):
        problems.append(f"{where}变体应为列表")
        variants_raw = []
    variants = [v for v in (_text(v, "变体", MAX_TERM, problems, where) for v in variants_raw[:MAX_VARIANTS + 1]) if v]
    if len(variants) > MAX_VARIANTS:
        problems.append(f"{where}变体过多（上限 {MAX_VARIANTS} 个）")
    if category == "leader" and not suggestion:
        problems.append(f"{where}领导“{term}”未填写职务（建议一栏填写准确职务，多个职务用、分隔）")
    if variants and category != "leader":
        problems.append(f"{where}只有领导姓名职务词条可以填写变体")
    if problems:
        return None, problems
    return EntryInput(category, term, suggestion, severity, since, note, variants), []


# --- files -----------------------------------------------------------------------------------------

def decode(data: bytes) -> str:
    if len(data) > MAX_IMPORT_BYTES:
        raise DictionaryError(f"文件过大（上限 {MAX_IMPORT_BYTES // (1024 * 1024)} MB），未导入任何词条")
    if b"\x00" in data:
        raise DictionaryError("文件含有空字符，可能不是文本文件（请上传 UTF-8 或 GB18030 编码的 .yaml/.csv/.txt）")
    for enc in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(enc)
        except UnicodeDecodeError:
            continue
    raise DictionaryError("无法识别文件编码（请使用 UTF-8 或 GB18030）")


class _NoAliasLoader(yaml.SafeLoader):
    """YAML without anchors/aliases: a small file cannot expand into millions of entries."""

    def compose_node(self, parent, index):  # type: ignore[override]
        if self.check_event(yaml.AliasEvent):
            raise DictionaryError("YAML 文件不能使用锚点或别名（& 与 *）")
        return super().compose_node(parent, index)


# Dates stay text until validate() reads them (a date like 2018-13-01 is then a clear error, not a crash).
_NoAliasLoader.add_constructor("tag:yaml.org,2002:timestamp", lambda loader, node: loader.construct_scalar(node))


def parse_file(filename: str, data: bytes, *, category: str = "", severity: str = "") -> list[EntryInput]:
    """Entries of an uploaded file; refuses the whole file on any problem."""
    name = (filename or "").lower()
    text = decode(data)
    if name.endswith((".yaml", ".yml")):
        rows = _yaml_rows(text)
    elif name.endswith(".csv"):
        rows = _csv_rows(text)
    elif name.endswith(".txt"):
        rows = _txt_rows(text, category, severity)
    else:
        raise DictionaryError("只能导入 .yaml、.yml、.csv 或 .txt 文件")
    if len(rows) > MAX_IMPORT_ENTRIES:
        raise DictionaryError(f"词条过多（每次最多 {MAX_IMPORT_ENTRIES} 条），未导入任何词条")
    entries: list[EntryInput] = []
    problems: list[str] = []
    seen: dict[tuple[str, str], str] = {}
    for where, raw in rows:
        entry, errs = validate(raw, where)
        problems += errs
        if entry is not None:
            key = (entry.category, normalise_term(entry.term))
            if key in seen:
                problems.append(f"{where}“{entry.term}”与{seen[key]}重复")
            seen[key] = where.rstrip("：")
            entries.append(entry)
        if len(problems) > 200:
            break
    if problems:
        raise DictionaryError(problems)
    if not entries:
        raise DictionaryError("文件中没有词条")
    return entries


def _yaml_rows(text: str) -> list[tuple[str, dict]]:
    try:
        doc = yaml.load(text, Loader=_NoAliasLoader)  # noqa: S506 - a SafeLoader subclass (no aliases either)
    except DictionaryError:
        raise
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f"第 {mark.line + 1} 行附近" if mark is not None else ""
        raise DictionaryError(f"YAML 格式不正确{at}：{getattr(exc, 'problem', '') or exc}") from exc
    except RecursionError as exc:
        raise DictionaryError("YAML 嵌套层次过深") from exc
    if isinstance(doc, dict):
        doc = doc.get("terms")
    if not isinstance(doc, list):
        raise DictionaryError("YAML 文件应含有 terms: 词条列表（见 docs/content-checks.md）")
    return [(f"第 {i + 1} 个词条：", row) for i, row in enumerate(doc)]


def _csv_rows(text: str) -> list[tuple[str, dict]]:
    try:
        reader = csv.reader(io.StringIO(text))
        header = next(reader, None)
        if not header:
            raise DictionaryError("CSV 文件为空")
        cols = [CSV_HEADER_ALIASES.get(h.strip(), h.strip()) for h in header]
        if "category" not in cols or "term" not in cols:
            raise DictionaryError("CSV 首行应为列名，至少含 category（类别）和 term（词语）")
        bad = [h for h in cols if h not in CSV_COLUMNS]
        if bad:
            raise DictionaryError(f"CSV 不认识的列：{'、'.join(bad)[:100]}")
        rows = []
        for n, values in enumerate(reader, start=2):
            if not any(v.strip() for v in values):
                continue
            if len(values) > len(cols):
                rows.append((f"第 {n} 行：", {"_": "列数多于表头"}))
                continue
            rows.append((f"第 {n} 行：", {c: v for c, v in zip(cols, values, strict=False) if v.strip()}))
            if len(rows) > MAX_IMPORT_ENTRIES:
                break
        return rows
    except csv.Error as exc:
        raise DictionaryError(f"CSV 格式不正确：{exc}") from exc


def _txt_rows(text: str, category: str, severity: str) -> list[tuple[str, dict]]:
    if not category:
        raise DictionaryError("导入 .txt 时请选择类别（每行一个词语）")
    rows = []
    for n, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        term, _, suggestion = line.partition("\t") if "\t" in line else line.partition("=>")
        rows.append((f"第 {n} 行：", {"category": category, "term": term.strip(), "suggestion": suggestion.strip(),
                                       "severity": severity}))
        if len(rows) > MAX_IMPORT_ENTRIES:
            break
    return rows


def export_yaml(entries: list[ContentCheckTerm]) -> str:
    out = []
    for e in entries:
        row: dict = {"category": e.category, "term": e.term}
        if e.suggestion:
            row["suggestion"] = e.suggestion
        row["severity"] = e.severity
        if e.since:
            row["since"] = e.since.isoformat()
        if e.note:
            row["note"] = e.note
        if e.variants:
            row["variants"] = list(e.variants)
        out.append(row)
    return yaml.safe_dump({"version": 1, "terms": out}, allow_unicode=True, sort_keys=False)


def _cell(value: str) -> str:
    """No formula injection when the file is opened in a spreadsheet."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def export_csv(entries: list[ContentCheckTerm]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(CSV_COLUMNS)
    for e in entries:
        w.writerow([_cell(x) for x in (e.category, e.term, e.suggestion, e.severity,
                                        e.since.isoformat() if e.since else "", e.note, "|".join(e.variants or []))])
    return "\ufeff" + buf.getvalue()  # a BOM: Excel opens UTF-8 CSV correctly


# --- the database ----------------------------------------------------------------------------------

def current_version(session: Session) -> int:
    return session.scalar(select(ContentCheckState.version).where(ContentCheckState.id == 1)) or 0


def bump_version(session: Session) -> int:
    """Every change to the dictionary goes through here (same transaction): matchers rebuild on the new number."""
    state = session.scalars(select(ContentCheckState).where(ContentCheckState.id == 1).with_for_update()).first()
    if state is None:
        state = ContentCheckState(id=1, version=0)
        session.add(state)
    state.version = (state.version or 0) + 1
    state.updated_at = utcnow()
    session.flush()
    return state.version


def _apply(row: ContentCheckTerm, e: EntryInput, who: str) -> None:
    row.category, row.term, row.suggestion, row.severity = e.category, e.term, e.suggestion, e.severity
    row.since, row.note, row.variants, row.updated_by, row.updated_at = e.since, e.note, list(e.variants), who[:100], utcnow()


def _same_key(session: Session, e: EntryInput, exclude: int | None = None) -> ContentCheckTerm | None:
    q = select(ContentCheckTerm).where(ContentCheckTerm.category == e.category, ContentCheckTerm.term == e.term)
    if exclude:
        q = q.where(ContentCheckTerm.id != exclude)
    return session.scalars(q).first()


def save_entry(raw: dict, who: str, entry_id: int | None = None) -> ContentCheckTerm:
    entry, problems = validate(raw)
    if entry is None:
        raise DictionaryError(problems)
    with session_scope() as s:
        if _same_key(s, entry, entry_id) is not None:
            raise DictionaryError(f"词库中已有{CATEGORIES[entry.category]}“{entry.term}”")
        if entry_id is None:
            row = ContentCheckTerm()
            s.add(row)
        else:
            row = s.get(ContentCheckTerm, entry_id)
            if row is None:
                raise DictionaryError(f"词条 {entry_id} 不存在")
        _apply(row, entry, who)
        bump_version(s)
        s.flush()
        audit.record(s, who, "content_checks.create" if entry_id is None else "content_checks.update",
                     f"{CATEGORIES[entry.category]}“{entry.term}”", {"after": raw})
        s.expunge(row)
        return row


def delete_entry(entry_id: int, who: str = "") -> str:
    with session_scope() as s:
        row = s.get(ContentCheckTerm, entry_id)
        if row is None:
            raise DictionaryError(f"词条 {entry_id} 不存在")
        term = row.term
        audit.record(s, who, "content_checks.delete", f"{CATEGORIES.get(row.category, row.category)}“{term}”",
                     {"before": {"category": row.category, "term": term, "suggestion": row.suggestion,
                                 "severity": row.severity}})
        s.delete(row)
        bump_version(s)
        return term


@dataclass
class ImportResult:
    added: int
    updated: int
    removed: int


def import_entries(entries: list[EntryInput], who: str, *, replace: bool = False) -> ImportResult:
    """Merge (add or update by category + term), or replace the whole dictionary; one transaction."""
    with session_scope() as s:
        removed = 0
        if replace:
            removed = s.scalar(select(func.count()).select_from(ContentCheckTerm)) or 0
            s.execute(delete(ContentCheckTerm))
            existing: dict[tuple[str, str], ContentCheckTerm] = {}
        else:
            existing = {(r.category, r.term): r for r in s.scalars(select(ContentCheckTerm))}
        added = updated = 0
        for e in entries:
            row = existing.get((e.category, e.term))
            if row is None:
                row = ContentCheckTerm()
                s.add(row)
                existing[(e.category, e.term)] = row
                added += 1
            else:
                updated += 1
            _apply(row, e, who)
        bump_version(s)
        audit.record(s, who, "content_checks.import", "全部替换" if replace else "追加或更新",
                     {"added": added, "updated": updated, "removed": removed})
    return ImportResult(added, updated, removed)


def starter_path() -> Path:
    return get_settings().config_dir / "content_checks" / "starter.yaml"


def load_starter() -> list[EntryInput]:
    path = starter_path()
    if not path.is_file():
        raise DictionaryError(f"找不到内置词库文件 {path}")
    return parse_file(path.name, path.read_bytes())


# --- the cached matcher ------------------------------------------------------------------------------

_lock = threading.Lock()
_cached: Matcher | None = None


def entries_for_matcher(session: Session) -> list[EntrySpec]:
    return [EntrySpec(r.category, r.term, r.suggestion, r.severity, r.note, list(r.variants or []), r.id)
            for r in session.scalars(select(ContentCheckTerm).order_by(ContentCheckTerm.id))]


def matcher(session: Session | None = None, *, version: int | None = None) -> Matcher:
    """The matcher for the dictionary's current version: one small query (none when the caller read ``version`` in
    this transaction), the automaton rebuilt only on change."""
    global _cached
    if session is None:
        with session_scope() as s:
            return matcher(s)
    # One process may serve several databases (tests): the key names the database too.
    key = (str(session.get_bind().url), current_version(session) if version is None else version)
    m = _cached
    if m is not None and m.key == key:
        return m
    with _lock:
        if _cached is not None and _cached.key == key:
            return _cached
        built = Matcher(entries_for_matcher(session), key[1])
        built.key = key
        _cached = built
        return built


def reset_cache() -> None:
    global _cached
    _cached = None
