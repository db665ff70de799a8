"""How well the importer reads the development corpus (tests/data/catalog_corpus/), scored against its answer keys.

For every catalog: the share of clear rows whose path, channels and time-limit rule all match the key, and the count
of invented values (must be 0): an entry that is no row of the catalog, a channel the row does not mark, a typed time
limit where the key says the wording cannot be typed, an office or a publisher the file does not give, 长期公开 the
row does not say, a file that should be refused but imports silently. The key format is in the corpus README.

    .venv/bin/python bench/catalog_accuracy.py [-v] [--json] [FILE ...]

Always exits 0: it is a measurement. tests/test_catalog_corpus.py holds the floor.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from orchestrator.catalog.errors import CatalogError  # noqa: E402
from orchestrator.catalog.importer import import_catalog  # noqa: E402
from orchestrator.catalog.schema import Catalog, CatalogEntry  # noqa: E402
from orchestrator.catalog.textnorm import compact  # noqa: E402

CORPUS = ROOT / "tests" / "data" / "catalog_corpus"
_NUMBERING = re.compile(r"^\d+(?:\.\d+)*[.、．]?")
_CJK = re.compile(r"[\u4e00-\u9fff]")
UNKNOWN = "（未确定）"  # the importer's placeholder when nothing in the file names the publisher: not an invention


@dataclass
class FileScore:
    name: str
    shapes: list[str] = field(default_factory=list)
    clear: int = 0
    right: int = 0
    path_ok: int = 0
    channels_ok: int = 0
    time_ok: int = 0
    offices_ok: int = 0
    warnings_expected: int = 0
    warnings_ok: int = 0
    invented: list[str] = field(default_factory=list)
    misses: list[str] = field(default_factory=list)
    error: str | None = None
    skipped: str | None = None  # the file needs a tool this machine lacks; not counted
    publisher_misses: list[str] = field(default_factory=list)  # a wrong publisher that is not invented (shortened name)

    @property
    def share(self) -> float:
        return self.right / self.clear if self.clear else 1.0


def _norm_path(path: list[str]) -> list[str]:
    return [_NUMBERING.sub("", compact(p)) for p in path]


def _rule_matches(entry: CatalogEntry, key: dict) -> bool:
    tl = entry.time_limit
    if tl.kind.value != key["kind"]:
        return False
    if key["kind"] == "unknown":
        return True
    want_from = key.get("from")
    if want_from == "!formed":
        if tl.from_ in (None, "formed"):
            return False
    elif tl.from_ != want_from:
        return False
    return all(getattr(tl, f) == key.get(f) for f in ("days", "months", "counting", "grace_days"))


def _warned(wording: str, entry: CatalogEntry, catalog: Catalog) -> bool:
    w = compact(wording)
    return any(w in compact(x) for x in [*entry.warnings, *catalog.warnings])


def _channels_ok(entry: CatalogEntry, key: dict, catalog: Catalog) -> bool:
    want = set(key["channels"])
    got = set(entry.channels)
    # Channels a header note makes optional (■ mandatory, 口 optional): taking them too is a reading of the note.
    optional = set(key.get("optional") or ())
    if optional and got - optional != got and want <= got:
        got = got - (optional - want)
    pending = key.get("pending") or {}
    # A pending wording left out and named in a warning is as right as mapping it (the person confirms the mapping).
    removable = {code for wording, code in pending.items() if _warned(wording, entry, catalog)}
    others = {code for wording, code in pending.items() if not _warned(wording, entry, catalog)}
    required = want - (removable - others)
    return required <= got <= want


def _warning_ok(tag: str, entry: CatalogEntry, key: dict, catalog: Catalog) -> bool:
    if tag == "unknown_channel":
        pending = key.get("pending") or {}
        unknown = [w for w, code in pending.items() if code not in entry.channels]
        return all(_warned(w, entry, catalog) for w in unknown) if unknown else True
    if tag == "incomplete":
        return bool(getattr(entry, "incomplete", None)) or bool(entry.warnings)
    return bool(entry.warnings)


def _import(source: Path, publisher: str | None) -> list[Catalog]:
    """Every catalog the file holds (several catalogs on one page), or the one the older API returns."""
    try:
        from orchestrator.catalog.importer import import_catalogs
    except ImportError:
        return [import_catalog(source, publisher=publisher)]
    catalogs = import_catalogs(source, publisher=publisher).catalogs
    if not catalogs:
        raise CatalogError("no catalog")
    return catalogs


def score_file(key_path: Path) -> FileScore:
    key = yaml.safe_load(key_path.read_text(encoding="utf-8"))
    source = key_path.parent / key["file"]
    fs = FileScore(key["file"], list(key.get("shapes") or []))
    rows = key["rows"]
    if key["form"] == "doc":
        from orchestrator.catalog.formats.legacy import soffice

        if soffice() is None:
            fs.skipped = "LibreOffice (soffice) is not installed: .doc cannot be converted here"
            return fs
    fs.clear = sum(1 for r in rows if r["clear"])
    try:
        catalogs = _import(source, (key.get("import_args") or {}).get("publisher"))
    except CatalogError as exc:
        fs.error = str(exc)
        if key["outcome"] == "error" and not _CJK.search(fs.error):
            fs.invented.append(f"refused without a Chinese message: {fs.error}")
        if key["outcome"] != "error":
            fs.misses.append(f"import failed: {fs.error}")
        return fs

    publishers = key.get("publishers") or [key.get("publisher")]
    for i, (catalog, want) in enumerate(zip(catalogs, publishers, strict=False)):
        if want and compact(catalog.publisher) != compact(want) and catalog.publisher != UNKNOWN:
            if compact(catalog.publisher) and compact(catalog.publisher) in compact(want):
                fs.publisher_misses.append(f"catalog {i + 1}: “{catalog.publisher}”, a shortened form of {want}")
            else:
                fs.invented.append(f"publisher of catalog {i + 1} “{catalog.publisher}” (key: {want})")
    entries = [e for c in catalogs for e in c.entries]
    home = {id(e): i for i, c in enumerate(catalogs) for e in c.entries}
    if key["outcome"] == "error" and not all(e.warnings for e in entries):
        fs.invented.append("imported without flagging entries a file that cannot be read as a catalog")

    used: set[int] = set()
    matched: dict[int, CatalogEntry] = {}
    # An entry is the row whose content it holds; failing that (fields shifted by a column), the row whose content
    # it holds anywhere: a misread row is a miss, not an invention. An entry that holds no row's content is invented.
    unmatched = []
    for entry in entries:
        text = compact(entry.content)
        hit = next((i for i, r in enumerate(rows) if i not in used and compact(r["id"]) in text), None)
        if hit is None:
            unmatched.append(entry)
            continue
        used.add(hit)
        matched[hit] = entry
    for entry in unmatched:
        text = compact("".join([*entry.path, entry.content, entry.basis, entry.time_limit.text]))
        hit = next((i for i, r in enumerate(rows) if i not in used and compact(r["id"]) in text), None)
        if hit is None:
            fs.invented.append(f"entry {entry.code} “{'/'.join(entry.path)}｜{entry.content[:30]}” is no row of the catalog")
            continue
        used.add(hit)
        matched[hit] = entry

    for i, r in enumerate(rows):
        entry = matched.get(i)
        if entry is None:
            if r["clear"]:
                fs.misses.append(f"row “{r['id']}”: no entry")
            continue
        label = f"row “{r['id']}” ({entry.code})"
        catalog = catalogs[home[id(entry)]]
        # Invented values: anything the row does not say.
        allowed = set(r["channels"]) | set((r.get("pending") or {}).values()) | set(r.get("optional") or ())
        for code in entry.channels:
            if code not in allowed:
                fs.invented.append(f"{label}: channel {code} the row does not mark")
        if (r["time_limit"]["kind"] == "unknown" and entry.time_limit.kind.value != "unknown"
                and not any(_rule_matches(entry, k) for k in r.get("also") or [])):
            fs.invented.append(f"{label}: time limit typed as {entry.time_limit.kind.value} from “{entry.time_limit.text}”")
        want_offices = {compact(o) for o in r["offices"]}
        for o in entry.offices:
            if compact(o) not in want_offices:
                fs.invented.append(f"{label}: office “{o}”")
        if entry.keep_public and not r.get("keep_public"):
            fs.invented.append(f"{label}: 长期公开 the row does not say")
        if not r["clear"]:
            continue
        p_ok = _norm_path(entry.path) == _norm_path(r["path"]) and home[id(entry)] == r.get("catalog", 0)
        c_ok = _channels_ok(entry, r, catalog)
        t_ok = any(_rule_matches(entry, k) for k in [r["time_limit"], *(r.get("also") or [])])
        fs.path_ok += p_ok
        fs.channels_ok += c_ok
        fs.time_ok += t_ok
        fs.offices_ok += [compact(o) for o in entry.offices] == [compact(o) for o in r["offices"]]
        for tag in r.get("warnings") or []:
            fs.warnings_expected += 1
            fs.warnings_ok += _warning_ok(tag, entry, r, catalog)
        if p_ok and c_ok and t_ok:
            fs.right += 1
            continue
        why = []
        if not p_ok:
            why.append(f"path {'/'.join(entry.path)} (catalog {home[id(entry)] + 1}) ≠ {'/'.join(r['path'])} (catalog {r.get('catalog', 0) + 1})")
        if not c_ok:
            why.append(f"channels {entry.channels} ≠ {r['channels']}")
        if not t_ok:
            tl = entry.time_limit
            why.append(f"time {tl.kind.value}/{tl.days}/{tl.from_} “{tl.text}” ≠ {r['time_limit']}")
        fs.misses.append(f"{label}: " + "; ".join(why))
    return fs


def score_corpus(files: list[Path] | None = None) -> list[FileScore]:
    keys = sorted(CORPUS.glob("*.key.yaml"))
    if files:
        names = {Path(f).name for f in files}
        keys = [k for k in keys if k.name.removesuffix(".key.yaml") in names or k.name in names]
    return [score_file(k) for k in keys]


def totals(scores: list[FileScore]) -> dict:
    clear = sum(s.clear for s in scores)
    right = sum(s.right for s in scores)
    return {
        "files": len(scores),
        "clear_rows": clear,
        "right": right,
        "accuracy": right / clear if clear else 1.0,
        "invented": sum(len(s.invented) for s in scores),
        "path_ok": sum(s.path_ok for s in scores),
        "channels_ok": sum(s.channels_ok for s in scores),
        "time_ok": sum(s.time_ok for s in scores),
        "offices_ok": sum(s.offices_ok for s in scores),
        "warnings_ok": sum(s.warnings_ok for s in scores),
        "warnings_expected": sum(s.warnings_expected for s in scores),
        "failed_files": [s.name for s in scores if s.error and s.clear],
        "skipped_files": [s.name for s in scores if s.skipped],
        "publisher_misses": sum(len(s.publisher_misses) for s in scores),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="*", help="corpus file names (default: all)")
    ap.add_argument("-v", "--verbose", action="store_true", help="list every miss and invented value")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    ap.add_argument("--shapes", action="store_true", help="also the share per shape of catalog-shapes.md (A1…F)")
    args = ap.parse_args()
    scores = score_corpus([Path(f) for f in args.files])
    t = totals(scores)
    if args.json:
        print(json.dumps({"totals": t, "files": [s.__dict__ | {"share": s.share} for s in scores]}, ensure_ascii=False, indent=2))
        return 0
    for s in scores:
        status = f"error: {s.error[:60]}" if s.error else (f"SKIPPED: {s.skipped}" if s.skipped else "")
        print(f"{s.name:42} {s.right:2}/{s.clear:<2} clear rows right ({s.share:6.1%})  invented {len(s.invented):2}  {status}")
        if args.verbose:
            for m in [*s.misses, *s.publisher_misses]:
                print(f"    miss: {m}")
            for v in s.invented:
                print(f"    INVENTED: {v}")
    if args.shapes:
        print("\nper shape (files showing it):")
        for shape in sorted({x for s in scores for x in s.shapes}):
            group = [s for s in scores if shape in s.shapes]
            c, r = sum(s.clear for s in group), sum(s.right for s in group)
            print(f"  {shape:3} {r:3}/{c:<3} ({r / c if c else 1:6.1%})  invented {sum(len(s.invented) for s in group)}")
    print(
        f"\noverall: {t['right']}/{t['clear_rows']} clear rows right ({t['accuracy']:.1%}) in {t['files']} catalogs; "
        f"invented values: {t['invented']}\n"
        f"  path {t['path_ok']}, channels {t['channels_ok']}, time limit {t['time_ok']}, offices {t['offices_ok']} "
        f"of {t['clear_rows']}; expected warnings present {t['warnings_ok']}/{t['warnings_expected']}; "
        f"publishers wrong (shortened, not invented): {t['publisher_misses']}"
        + (f"\n  not counted (tool missing here): {', '.join(t['skipped_files'])}" if t["skipped_files"] else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
