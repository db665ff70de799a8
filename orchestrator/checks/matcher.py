"""The matcher: dictionary entries compiled into one Aho-Corasick automaton (ahocorasick-rs, a Rust Aho-Corasick), run over title and body text.

Matching is on a normalised form of both the terms and the text: full-width ASCII → half-width, Latin letters
lower-cased, the ideographic space and every other whitespace ignored (so "国土 资源部" and "国土<b>资源</b>部" still
match "国土资源部"), except a line or block boundary (``\\n``, and the end of a paragraph, cell or list item in HTML),
which no match crosses. Positions and contexts refer to the extracted plain text, not the normalised one.

Overlaps: every match is reported except one lying wholly inside a longer match (the longest match wins: "副市长张三"
hides "市长张三"). Entries of category ``allow`` (例外词) and a leader's correct "name + title" forms are never reported
but hide the matches they contain ("卫生部门" is not the abolished "卫生部").
"""

from __future__ import annotations

import html as _html
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

import ahocorasick_rs

CATEGORIES = {"sensitive": "错敏词", "typo": "错别字", "renamed": "机构更名", "leader": "领导姓名职务", "allow": "例外词"}
SEVERITIES = {"block": "阻止", "warn": "警告", "note": "提示"}
SEVERITY_RANK = {"block": 3, "warn": 2, "note": 1, "": 0}
CONTEXT_CHARS = 15

# Titles a leader's name is often written next to; with those in the leader table and their 副/常务副 forms, a name
# followed or preceded by any of these other than the person's own title is a wrong title.
COMMON_TITLES = (
    "书记", "主任", "主席", "部长", "厅长", "局长", "处长", "科长", "省长", "市长", "县长", "区长", "旗长", "盟长", "州长",
    "镇长", "乡长", "秘书长", "院长", "所长", "署长", "司长", "行长", "校长", "会长", "社长", "馆长", "队长", "站长",
    "主任委员", "委员", "总理", "调研员", "巡视员",
)

_BLOCK_TAGS = re.compile(r"(?is)<(?:/(?:p|div|li|td|th|tr|h[1-6]|blockquote|pre|section|article|table|ul|ol|dd|dt|caption)"
                         r"|br|hr)\b[^>]*>")
_SKIP = re.compile(r"(?is)<(script|style|template)\b.*?</\1\s*>|<!--.*?-->")
_TAG = re.compile(r"(?s)<[^>]*>")
_NEWLINES = re.compile(r"\s*\n\s*")

# Full-width letters and digits to half-width, A–Z to a–z, the ideographic space to a plain space. Full-width
# punctuation (，。：) is left as it is: it is what Chinese text is written with.
_FOLD = {c: c - 0xFEE0 for r in ((0xFF10, 0xFF19), (0xFF21, 0xFF3A), (0xFF41, 0xFF5A)) for c in range(r[0], r[1] + 1)}
_FOLD.update({c: c + 32 for c in range(ord("A"), ord("Z") + 1)})
_FOLD.update({c: c - 0xFEE0 + 32 for c in range(0xFF21, 0xFF3B)})  # Ａ–Ｚ straight to a–z
_FOLD[0x3000] = 0x20
_FOLDABLE = re.compile("[A-Z\u3000\uff10-\uff19\uff21-\uff3a\uff41-\uff5a]")
_IGNORED = re.compile(r"[^\S\n]|[\u200b\u200c\u200d\u2060\ufeff\u00ad]")  # whitespace but the boundary, invisible chars
_IGNORED_SET = frozenset(c for c in map(chr, range(0x3001)) if _IGNORED.match(c)) | frozenset("\u200b\u200c\u200d\u2060\ufeff")
_IGNORABLE = re.compile("[" + "".join(re.escape(c) for c in sorted(_IGNORED_SET)) + "]")


def html_text(html: str) -> str:
    """Plain text of a body's HTML: inline tags vanish (no space), block ends become a line boundary."""
    text = _SKIP.sub("", html)
    text = _BLOCK_TAGS.sub("\n", text)
    text = _TAG.sub("", text)
    text = _html.unescape(text)
    return _NEWLINES.sub("\n", text).strip()


def normalise(text: str) -> tuple[str, list[int] | None]:
    """The folded, whitespace-free text and, when anything was removed, each kept character's index in ``text``."""
    folded = text.translate(_FOLD) if _FOLDABLE.search(text) else text
    if not _IGNORABLE.search(folded):
        return folded, None
    ignored = _IGNORED_SET
    keep = [i for i, c in enumerate(folded) if c not in ignored]
    return "".join(folded[i] for i in keep), keep


def normalise_term(term: str) -> str:
    return _IGNORED.sub("", term.translate(_FOLD)).replace("\n", "")


@dataclass(frozen=True)
class Rule:
    """What one pattern means: the entry behind it and how to report it (``category`` "allow": never reported)."""

    category: str
    severity: str
    term: str  # as shown to people (the dictionary's spelling)
    suggestion: str
    note: str = ""
    entry_id: int = 0
    message: str = ""  # a ready sentence for leader checks


@dataclass
class Hit:
    term: str  # the text as written in the document
    category: str
    severity: str
    suggestion: str
    context: str
    position: int  # character offset in the field's plain text
    field: str = "正文"
    note: str = ""
    message: str = ""
    entry_id: int = 0
    length: int = 0

    @property
    def category_label(self) -> str:
        return CATEGORIES.get(self.category, self.category)

    @property
    def severity_label(self) -> str:
        return SEVERITIES.get(self.severity, self.severity)

    def describe(self) -> str:
        """One line for an error message: 【警告·错别字】“既使”→“即使”（……上下文……）."""
        what = self.message or (f"“{self.term}”" + (f"，应为“{self.suggestion}”" if self.suggestion else ""))
        return f"【{self.severity_label}·{self.category_label}】{what}（{self.context}）"

    def as_dict(self) -> dict:
        d = asdict(self)
        d["category_label"] = self.category_label
        d["severity_label"] = self.severity_label
        return d


@dataclass
class EntrySpec:
    """A dictionary entry as the matcher needs it (from the database or a file)."""

    category: str
    term: str
    suggestion: str = ""
    severity: str = "warn"
    note: str = ""
    variants: list[str] = field(default_factory=list)
    id: int = 0


def leader_titles(entries: Iterable[EntrySpec]) -> list[str]:
    titles: set[str] = set(COMMON_TITLES)
    for e in entries:
        if e.category == "leader":
            titles.update(t for t in split_titles(e.suggestion))
    for t in list(titles):
        base = t.removeprefix("常务").removeprefix("副")
        titles.update({base, "副" + base, "常务副" + base})
    return sorted(t for t in titles if t)


def split_titles(text: str) -> list[str]:
    return [t.strip() for t in re.split(r"[、,，;；/]", text or "") if t.strip()]


class Matcher:
    """One automaton for one dictionary version. Build once, then ``check`` from any thread."""

    def __init__(self, entries: Iterable[EntrySpec], version: int = 0):
        self.version = version
        self.key: tuple[str, int] = ("", version)
        entries = list(entries)
        self.size = 0
        self._rules: dict[str, Rule] = {}
        titles = leader_titles(entries)
        for e in entries:
            if e.category == "leader":
                self._add_leader(e, titles)
            else:
                self._add(e.term, Rule(e.category, e.severity if e.category != "allow" else "", e.term, e.suggestion,
                                       e.note, e.id))
        self.size = len(self._rules)
        self._patterns = list(self._rules)
        self._by_index = [self._rules[k] for k in self._patterns]
        # Standard match kind with overlapping matches: every occurrence of every pattern (the longest-wins rule is
        # applied below, so an allow entry or a longer term can cover a shorter one). Offsets are in characters.
        self._automaton = (ahocorasick_rs.AhoCorasick(self._patterns, matchkind=ahocorasick_rs.MatchKind.Standard)
                           if self.size else None)

    def _add(self, raw: str, rule: Rule) -> None:
        key = normalise_term(raw)
        if not key:
            return
        old = self._rules.get(key)
        # One rule per pattern: an explicit hit beats an allow entry, a stronger severity a weaker one.
        if old is None or (old.category == "allow" and rule.category != "allow") or (
                rule.category != "allow" and SEVERITY_RANK[rule.severity] > SEVERITY_RANK[old.severity]):
            self._rules[key] = rule

    def _add_leader(self, e: EntrySpec, titles: list[str]) -> None:
        own = split_titles(e.suggestion)
        title_text = "、".join(own)
        for t in own:
            for form in (e.term + t, t + e.term):
                self._add(form, Rule("allow", "", form, "", entry_id=e.id))
        for t in titles:
            if t in own:
                continue
            for form in (e.term + t, t + e.term):
                self._add(form, Rule("leader", e.severity, form, f"{e.term}{own[0] if own else ''}", e.note, e.id,
                                     f"“{form}”职务不符：{e.term}的职务为{title_text or '（未填写）'}"))
        for v in e.variants:
            if normalise_term(v) and normalise_term(v) != normalise_term(e.term):
                self._add(v, Rule("leader", e.severity, v, e.term, e.note, e.id,
                                  f"“{v}”疑似领导姓名写错，应为“{e.term}”（{title_text}）"))

    def check(self, text: str, field: str = "正文") -> list[Hit]:
        """Hits in ``text`` (plain text), in order of position."""
        if not self.size or not text:
            return []
        norm, index = normalise(text)
        rules = self._by_index
        found = [(start, end, rules[i]) for i, start, end in
                 self._automaton.find_matches_as_indexes(norm, overlapping=True)]  # (start, end exclusive) in norm
        if not found:
            return []
        found.sort(key=lambda m: (m[0], -m[1]))
        hits: list[Hit] = []
        reach = -1
        for start, end, rule in found:
            if end <= reach:
                continue  # wholly inside a longer (or equal, earlier) match
            reach = end
            if rule.category == "allow":
                continue
            o_start = index[start] if index else start
            o_end = (index[end - 1] if index else end - 1) + 1
            before = text[max(0, o_start - CONTEXT_CHARS):o_start]
            after = text[o_end:o_end + CONTEXT_CHARS]
            context = (("…" if o_start > CONTEXT_CHARS else "") + before + "【" + text[o_start:o_end] + "】" + after
                       + ("…" if o_end + CONTEXT_CHARS < len(text) else "")).replace("\n", " ")
            hits.append(Hit(text[o_start:o_end], rule.category, rule.severity, rule.suggestion, context, o_start, field,
                            rule.note, rule.message, rule.entry_id, o_end - o_start))
        return hits

    def check_document(self, title: str, body_html: str) -> list[Hit]:
        return self.check(title or "", "标题") + self.check(html_text(body_html or ""), "正文")
