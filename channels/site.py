"""The built-in disclosure column (政府信息公开专栏): static pages rendered with Jinja2 from ``templates/website/``.

Layout of the output directory (any web server can serve it as-is; every link is relative):

- ``index.html`` landing page: guide summary, the catalog tree, the newest items; ``guide.html`` the full 指南;
  ``search.html`` + ``static/search.js`` search over titles and 文号.
- ``art/<document_id>.html`` one page per document (information block, body, attachments, related documents);
  after a withdrawal the same URL shows a withdrawal notice instead (a government page does not just vanish).
- ``files/<document_id>/<sha256 prefix><ext>`` attachments under generated names (the user's file name is only
  ever shown, never used as a path).
- ``list/<entry>/index.html`` the newest ``page_size`` items of a catalog entry, and ``list/<entry>/p<N>.html``
  numbered pages of older items.
- ``search/manifest.json`` + ``search/s<N>.json`` the search index in fixed-size shards.

Why publishing stays O(page size): every document gets a per-entry sequence number when first published and
page N of an entry holds sequence numbers ((N-1)*page_size, N*page_size]. Pages are numbered from the *oldest*,
so a new document lands on the last page and the older pages never change; a withdrawal or update touches exactly
the one page holding that document. The search index is sharded the same way on a site-wide sequence. Nothing
a publish writes is proportional to the number of documents already published; the state (a SQLite file beside
the output directory) is reached through indexed lookups.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
import math
import shutil
import sqlite3
from collections.abc import Mapping
from html import escape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import yaml
from feedgen.feed import FeedGenerator
from pydantic import Field
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from channels import gongwen_html
from channels.base import (
    Action,
    Capability,
    Channel,
    ChannelPreview,
    DeliveryContext,
    DocumentPayload,
    PermanentError,
    Receipt,
    TransientError,
)
from channels.plugin import ChannelPlugin
from channels.registry import destination_config
from channels.staticout import (
    CST,
    StateDB,
    StaticOutputConfig,
    aware,
    clean_body,
    copy_verified,
    display_filename,
    fetch,
    inside,
    public_base,
    resolve_dirs,
    safe_extension,
    slug,
    static_app,
    write_atomic,
)
from channels.templating import environment
from orchestrator.settings import get_settings

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS docs (
    document_id INTEGER PRIMARY KEY,
    entry_code TEXT NOT NULL,
    entry_seq INTEGER NOT NULL,
    global_seq INTEGER NOT NULL,
    status TEXT NOT NULL,            -- live | withdrawn
    version INTEGER NOT NULL,
    title TEXT NOT NULL,
    doc_number TEXT NOT NULL,
    index_no TEXT NOT NULL,
    formed_on TEXT NOT NULL,
    published_on TEXT NOT NULL,
    validity TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    withdrawn_at TEXT,
    page TEXT NOT NULL               -- JSON: everything needed to re-render the article page
);
CREATE UNIQUE INDEX IF NOT EXISTS docs_entry_seq ON docs (entry_code, entry_seq);
CREATE UNIQUE INDEX IF NOT EXISTS docs_global_seq ON docs (global_seq);
CREATE TABLE IF NOT EXISTS entries (
    code TEXT PRIMARY KEY,
    slug TEXT NOT NULL,
    path TEXT NOT NULL,              -- JSON list
    next_seq INTEGER NOT NULL,
    live_count INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS relations (
    src INTEGER NOT NULL,
    dst INTEGER NOT NULL,
    relation TEXT NOT NULL,
    dst_title TEXT NOT NULL,
    dst_url TEXT NOT NULL,
    PRIMARY KEY (src, dst)
);
CREATE INDEX IF NOT EXISTS relations_dst ON relations (dst);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""

# Relation words that mean "this document explains that policy" (a 政策解读); the reverse direction is shown on
# the policy's page. Anything else is shown as 相关文件 both ways.
# The fan-out core sends "explains" / "explained_by" (orchestrator/delivery/store/context.py).
INTERPRETS = {"explains", "interprets", "interpretation", "interpretation_of", "解读", "政策解读"}
INTERPRETED_BY = {"explained_by", "interpreted_by", "has_interpretation"}

TEMPLATES_SUBDIR = "website"
# The 指南 fields (条例 Art. 12); all optional, the templates fall back to standard wording.
GUIDE_FIELDS = ("intro", "proactive", "on_request", "office", "address", "hours", "phone", "fax", "email", "postcode",
                "remedy")


def content_hash(doc: DocumentPayload) -> str:
    """Hash of what a reader sees of one version: verify compares it with the live page's meta tag."""
    canonical = {
        "title": doc.title,
        "body": clean_body(doc.body_html),
        "doc_number": doc.doc_number,
        "index_no": doc.index_no,
        "validity": doc.validity,
        "version": doc.version,
        "attachments": [a.sha256 for a in doc.attachments],
    }
    return hashlib.sha256(json.dumps(canonical, ensure_ascii=False, sort_keys=True).encode("utf-8")).hexdigest()


_size_text = gongwen_html.size_text


def _safe_external_url(url: str) -> str:
    url = (url or "").strip()
    return url if url.startswith(("http://", "https://")) else ""


def _publisher_of(rows: list[sqlite3.Row]) -> str:
    """The 发布机构 of the documents on a list page (its footer's 主办单位 when nothing more specific is set)."""
    for r in rows:
        name = str(json.loads(r["page"]).get("publisher") or "")
        if name:
            return name
    return ""


def _date_text(value: dt.date | dt.datetime | None) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        value = aware(value).astimezone(CST).date()  # type: ignore[union-attr]
    return f"{value.year}年{value.month:02d}月{value.day:02d}日"


def _when(value: Any) -> dt.datetime | None:
    """A timestamp handed over in ``DocumentPayload.extra`` (datetime or ISO text), timezone-aware."""
    if isinstance(value, dt.datetime):
        return aware(value)
    if isinstance(value, str) and value:
        try:
            return aware(dt.datetime.fromisoformat(value))
        except ValueError:
            return None
    return None


def _file_entry(att: Any, href: str, size: int) -> dict[str, Any]:
    """One attachment of the article page's download list (``href`` relative to the site root)."""
    return {
        "href": href,
        "name": display_filename(att.filename),
        "filename": att.filename,
        "content_type": att.content_type or "application/octet-stream",
        "kind": gongwen_html.file_kind(safe_extension(att.filename), att.content_type),
        "size": size,
        "size_text": _size_text(size),
        "sha256": (att.sha256 or "").lower(),
    }


@dataclasses.dataclass
class _TreeNode:
    name: str
    entry: dict[str, Any] | None = None
    children: list[_TreeNode] = dataclasses.field(default_factory=list)


_catalog_cache: dict[Path, tuple[float, list[tuple[str, list[str]]]]] = {}


def _catalog_entries(catalogs_dir: Path) -> list[tuple[str, list[str]]]:
    """(code, path) of every entry in the reviewed catalogs, cached by file mtime; empty when none are readable."""
    out: list[tuple[str, list[str]]] = []
    if not catalogs_dir.is_dir():
        return out
    for f in sorted(catalogs_dir.glob("*.yaml")):
        mtime = f.stat().st_mtime
        cached = _catalog_cache.get(f)
        if cached and cached[0] == mtime:
            out.extend(cached[1])
            continue
        items: list[tuple[str, list[str]]] = []
        try:
            raw = yaml.safe_load(f.read_text(encoding="utf-8")) or {}
            for e in raw.get("entries") or []:
                if isinstance(e, dict) and e.get("code") and e.get("path"):
                    items.append((str(e["code"]), [str(p) for p in e["path"]]))
        except (OSError, yaml.YAMLError) as exc:  # a broken catalog must not stop publishing
            log.warning("site: cannot read catalog %s: %s", f, exc)
        _catalog_cache[f] = (mtime, items)
        out.extend(items)
    return out


class SiteConfig(StaticOutputConfig):
    page_size: int = Field(20, ge=1)
    search_shard_size: int = Field(500, ge=1)
    latest_count: int = Field(10, ge=0)
    site_title: str = "政府信息公开专栏"
    guide: dict[str, Any] = {}  # 公开指南 fields (GUIDE_FIELDS)
    show_catalog_entries: bool = True
    org_name: str = ""


class SiteChannel(Channel):
    adapter = "site"
    capabilities = frozenset({Capability.update, Capability.delete, Capability.verify})
    config_model = SiteConfig
    settings: SiteConfig
    preview_caption = "政府网站页面预览（公众在政府信息公开专栏看到的页面）"

    def __init__(self, config: dict[str, Any] | None = None, *, name: str = ""):
        super().__init__(config, name=name)
        cfg = self.settings
        self.output_dir, self.state_dir = resolve_dirs(cfg, "site")
        self.page_size = cfg.page_size
        self.shard_size = cfg.search_shard_size
        self.latest_count = cfg.latest_count
        self.site_title = cfg.site_title
        # Every guide field exists (empty when not configured): templates use StrictUndefined to catch typos.
        self.guide = {k: "" for k in GUIDE_FIELDS} | {k: str(v or "") for k, v in cfg.guide.items()}
        self.show_catalog = cfg.show_catalog_entries
        self.state = StateDB(self.state_dir / "site.sqlite3", SCHEMA)

        settings = get_settings()
        self.templates_dir = Path(cfg.templates_dir or settings.templates_dir / TEMPLATES_SUBDIR)
        self.catalogs_dir = settings.catalogs_dir
        # Autoescape everything: the only unescaped value is a body that has just been through nh3.
        self.env = environment(self.templates_dir)

    @property
    def base_url(self) -> str:
        return public_base(self.settings, "site")

    # --- actions ------------------------------------------------------------
    def publish(self, ctx: DeliveryContext) -> Receipt:
        return self._put(ctx.document)

    def update(self, ctx: DeliveryContext) -> Receipt:
        return self._put(ctx.document)

    def withdraw(self, ctx: DeliveryContext) -> Receipt:
        doc = ctx.document
        with self.state.locked() as db:
            row = db.execute("SELECT * FROM docs WHERE document_id = ?", (doc.document_id,)).fetchone()
            if row is None:
                # Never published here: record the withdrawal anyway so the URL shows a notice, not a 404.
                self._store(db, doc, status="withdrawn")
                row = db.execute("SELECT * FROM docs WHERE document_id = ?", (doc.document_id,)).fetchone()
            elif row["status"] != "withdrawn":
                when = _when(doc.extra.get("withdrawn_at")) or dt.datetime.now(CST)
                page = json.loads(row["page"])
                page["withdraw_reason"] = str(doc.extra.get("withdraw_reason") or "")
                db.execute(
                    "UPDATE docs SET status = 'withdrawn', withdrawn_at = ?, page = ? WHERE document_id = ?",
                    (when.isoformat(), json.dumps(page, ensure_ascii=False), doc.document_id),
                )
                db.execute("UPDATE entries SET live_count = live_count - 1 WHERE code = ?", (row["entry_code"],))
            shutil.rmtree(inside(self.output_dir, f"files/{doc.document_id}"), ignore_errors=True)
            self._render_article(db, doc.document_id)
            self._render_related_pages(db, doc.document_id, set())
            self._render_entry_pages(db, row["entry_code"], [row["entry_seq"]])
            self._render_search_shard(db, row["global_seq"])
            self._render_landing(db, doc.publisher)
            self._render_feed(db)
        return Receipt(
            external_id=f"site:{doc.document_id}",
            url=self._article_url(doc.document_id),
            data={"path": f"art/{doc.document_id}.html", "status": "withdrawn"},
        )

    def verify(self, ctx: DeliveryContext, receipt: Receipt) -> bool:
        url = receipt.url or self._article_url(ctx.document.document_id)
        resp = fetch(url)
        if resp.status_code >= 500:
            raise TransientError("网站暂时无法访问，稍后重试核验", detail=f"{url}: HTTP {resp.status_code}")
        if resp.status_code != 200:
            return False
        resp.encoding = "utf-8"
        page = _PageMeta.parse(resp.text)
        if ctx.action is Action.withdraw:
            return page.meta.get("disclosure-status") == "withdrawn"
        return (
            page.meta.get("disclosure-status") == "live"
            and page.meta.get("content-hash") == content_hash(ctx.document)
            and page.title.startswith(ctx.document.title)
        )

    # --- state ----------------------------------------------------------------
    def _put(self, doc: DocumentPayload) -> Receipt:
        with self.state.locked() as db:
            old = db.execute("SELECT * FROM docs WHERE document_id = ?", (doc.document_id,)).fetchone()
            old_targets = {r["dst"] for r in db.execute("SELECT dst FROM relations WHERE src = ?", (doc.document_id,))}
            attachments = self._copy_attachments(doc)
            row = self._store(db, doc, status="live", attachments=attachments)
            self._render_article(db, doc.document_id)
            self._render_related_pages(db, doc.document_id, old_targets)
            if old is not None and old["entry_code"] != row["entry_code"]:
                self._render_entry_pages(db, old["entry_code"], [old["entry_seq"]])
            self._render_entry_pages(db, row["entry_code"], [row["entry_seq"]])
            self._render_search_shard(db, row["global_seq"])
            self._render_landing(db, doc.publisher)
            self._render_feed(db)
            self._write_static_assets()
        return Receipt(
            external_id=f"site:{doc.document_id}",
            url=self._article_url(doc.document_id),
            data={
                "path": f"art/{doc.document_id}.html",
                "content_hash": row["content_hash"],
                "version": doc.version,
                "entry_code": row["entry_code"],
                "list_url": self.base_url + f"list/{slug(row['entry_code'])}/index.html",
            },
        )

    def profile_changed(self) -> None:
        """Rewrite the landing, guide and search pages (their footer and 指南 contact table show the profile)."""
        with self.state.locked() as db:
            rows = db.execute("SELECT page FROM docs WHERE status = 'live' ORDER BY global_seq DESC LIMIT 1").fetchall()
            self._render_landing(db, _publisher_of(rows))
            self._write_static_assets()

    def _next(self, db: sqlite3.Connection, name: str) -> int:
        db.execute("INSERT OR IGNORE INTO counters (name, value) VALUES (?, 0)", (name,))
        db.execute("UPDATE counters SET value = value + 1 WHERE name = ?", (name,))
        return int(db.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()[0])

    def _ensure_entry(self, db: sqlite3.Connection, doc: DocumentPayload) -> sqlite3.Row:
        db.execute(
            "INSERT INTO entries (code, slug, path, next_seq, live_count) VALUES (?, ?, ?, 1, 0) "
            "ON CONFLICT (code) DO UPDATE SET path = excluded.path",
            (doc.entry_code, slug(doc.entry_code), json.dumps(list(doc.entry_path), ensure_ascii=False)),
        )
        return db.execute("SELECT * FROM entries WHERE code = ?", (doc.entry_code,)).fetchone()

    def _store(
        self, db: sqlite3.Connection, doc: DocumentPayload, *, status: str, attachments: list[dict[str, Any]] | None = None
    ) -> sqlite3.Row:
        old = db.execute("SELECT * FROM docs WHERE document_id = ?", (doc.document_id,)).fetchone()
        entry = self._ensure_entry(db, doc)
        if old is not None and old["entry_code"] == doc.entry_code:
            entry_seq, global_seq = old["entry_seq"], old["global_seq"]
        else:
            # First publication here, or the document moved to another catalog entry: append to the entry's list.
            entry_seq = int(entry["next_seq"])
            db.execute("UPDATE entries SET next_seq = next_seq + 1 WHERE code = ?", (doc.entry_code,))
            global_seq = old["global_seq"] if old is not None else self._next(db, "global_seq")
        was_live_here = old is not None and old["status"] == "live" and old["entry_code"] == doc.entry_code
        if old is not None and old["status"] == "live" and old["entry_code"] != doc.entry_code:
            db.execute("UPDATE entries SET live_count = live_count - 1 WHERE code = ?", (old["entry_code"],))
        if status == "live" and not was_live_here:
            db.execute("UPDATE entries SET live_count = live_count + 1 WHERE code = ?", (doc.entry_code,))

        published = aware(doc.published_at) or (
            dt.datetime.fromisoformat(json.loads(old["page"])["published_at"]) if old is not None else None
        )
        published = published or dt.datetime.now(CST)
        # Body images are the attachments the body names: shown from the copies under files/<id>/ (the article
        # lives in art/, hence "../"), and not offered again in the download list.
        files = attachments or []
        images = {f[key]: "../" + f["href"] for f in files for key in ("filename", "name")}
        page = self._page(doc, files, images, published)
        chash = content_hash(doc)
        withdrawn_at = (
            (_when(doc.extra.get("withdrawn_at")) or dt.datetime.now(CST)).isoformat() if status == "withdrawn" else None
        )
        db.execute(
            """INSERT INTO docs (document_id, entry_code, entry_seq, global_seq, status, version, title, doc_number,
                   index_no, formed_on, published_on, validity, content_hash, withdrawn_at, page)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (document_id) DO UPDATE SET entry_code = excluded.entry_code, entry_seq = excluded.entry_seq,
                   status = excluded.status, version = excluded.version, title = excluded.title,
                   doc_number = excluded.doc_number, index_no = excluded.index_no, formed_on = excluded.formed_on,
                   published_on = excluded.published_on, validity = excluded.validity,
                   content_hash = excluded.content_hash, withdrawn_at = excluded.withdrawn_at, page = excluded.page""",
            (
                doc.document_id, doc.entry_code, entry_seq, global_seq, status, doc.version, doc.title,
                doc.doc_number, doc.index_no, page["formed_on"], _date_text(published), page["validity"], chash,
                withdrawn_at, json.dumps(page, ensure_ascii=False),
            ),
        )
        db.execute("DELETE FROM relations WHERE src = ?", (doc.document_id,))
        for r in page["related"]:
            if r["document_id"] is not None and r["document_id"] != doc.document_id:
                db.execute(
                    "INSERT OR REPLACE INTO relations (src, dst, relation, dst_title, dst_url) VALUES (?, ?, ?, ?, ?)",
                    (doc.document_id, r["document_id"], r["relation"], r["title"], r["url"]),
                )
        return db.execute("SELECT * FROM docs WHERE document_id = ?", (doc.document_id,)).fetchone()

    def _page(self, doc: DocumentPayload, files: list[dict[str, Any]], images: dict[str, str],
              published: dt.datetime) -> dict[str, Any]:
        """Everything the article page shows of ``doc`` (stored as JSON, re-rendered from it): the body in 公文
        layout with ``images`` (attachment file name → URL), the attachment list without the images the body shows."""
        shown = gongwen_html.referenced_images(doc.body_html)
        return {
            "document_id": doc.document_id,
            "version": doc.version,
            "index_no": doc.index_no,
            "title": doc.title,
            "body_html": gongwen_html.render(doc.body_html, images),
            # The feed's copy: image and link URLs absolute against the public base URL.
            "feed_html": gongwen_html.render(
                doc.body_html, {k: urljoin(self._article_url(doc.document_id), v) for k, v in images.items()},
                absolute_base=self._article_url(doc.document_id)),
            "doc_number": doc.doc_number,
            "formed_on": _date_text(doc.formed_on),
            "publisher": doc.publisher,
            "entry_code": doc.entry_code,
            "entry_path": list(doc.entry_path),
            "validity": doc.validity or "有效",
            "validity_note": str(doc.extra.get("validity_note") or ""),
            "attachments": [f for f in files if not (f["name"] in shown or f["filename"] in shown)
                            or not f["content_type"].startswith("image/")],
            "summary": doc.summary or gongwen_html.plain_summary(doc.body_html),
            "published_at": published.isoformat(),
            "updated_at": (aware(doc.updated_at) or published).isoformat(),
            "withdraw_reason": str(doc.extra.get("withdraw_reason") or ""),
            "related": [self._related_item(r) for r in doc.related],
            # A corrected version says what changed (更正说明) and when.
            "change_note": str(doc.extra.get("change_note") or "") if doc.version > 1 else "",
            "corrected_on": _date_text(aware(doc.updated_at)) if doc.version > 1 and doc.updated_at else "",
        }

    @staticmethod
    def _related_item(raw: dict[str, Any]) -> dict[str, Any]:
        doc_id = raw.get("document_id")
        try:
            doc_id = int(doc_id) if doc_id is not None else None
        except (TypeError, ValueError):
            doc_id = None
        return {
            "document_id": doc_id,
            "title": str(raw.get("title") or "相关文件"),
            "url": _safe_external_url(str(raw.get("url") or "")),
            "relation": str(raw.get("relation") or "related"),
        }

    def _copy_attachments(self, doc: DocumentPayload) -> list[dict[str, Any]]:
        """Copy attachments under generated names (sha256 prefix + an allow-listed extension); drop stale files."""
        folder = inside(self.output_dir, f"files/{int(doc.document_id)}")
        out: list[dict[str, Any]] = []
        keep: set[str] = set()
        for att in doc.attachments:
            digest = (att.sha256 or "").lower()
            if not digest or any(c not in "0123456789abcdef" for c in digest):
                raise PermanentError(f"附件“{display_filename(att.filename)}”缺少有效的校验值，无法发布")
            name = digest[:16] + safe_extension(att.filename)
            dest = inside(folder, name)
            size = dest.stat().st_size if dest.is_file() else copy_verified(att.path, dest, digest)
            keep.add(name)
            out.append(_file_entry(att, f"files/{int(doc.document_id)}/{name}", size))
        if folder.is_dir():
            for f in folder.iterdir():
                if f.name not in keep and not f.name.startswith(".tmp-"):
                    f.unlink(missing_ok=True)
        return out

    # --- rendering --------------------------------------------------------------
    def _common(self, root: str, publisher: str = "") -> dict[str, Any]:
        # The agency profile an admin keeps in the web app fills the footer and the guide's contact table; the
        # channel's own configuration is the fallback (and the only source when the adapter runs without a database).
        from orchestrator.channel_api import cached_profile

        agency = cached_profile()
        guide = dict(self.guide)
        for key, value in (("office", agency.name), ("address", agency.address), ("hours", agency.hours),
                           ("phone", agency.phone), ("email", agency.email)):
            if value:
                guide[key] = value
        return {
            "root": root,
            "site_title": self.site_title,
            "org_name": str(agency.name or self.settings.org_name or publisher or guide.get("office") or ""),
            "guide": guide,
        }

    def _write(self, relative: str, template: str, context: dict[str, Any]) -> None:
        html = self.env.get_template(template).render(**context)
        write_atomic(inside(self.output_dir, relative), html)

    def expected_url(self, document_id: int) -> str | None:
        return self._article_url(document_id)

    def _article_url(self, document_id: int) -> str:
        return self.base_url + f"art/{int(document_id)}.html"

    def _render_article(self, db: sqlite3.Connection, document_id: int) -> None:
        row = db.execute("SELECT * FROM docs WHERE document_id = ?", (document_id,)).fetchone()
        if row is None:
            return
        page = json.loads(row["page"])
        entry = db.execute("SELECT slug FROM entries WHERE code = ?", (row["entry_code"],)).fetchone()
        html = self._article_html(
            page, root="../", status=row["status"], content_hash=row["content_hash"],
            withdrawn_on=_date_text(dt.datetime.fromisoformat(row["withdrawn_at"])) if row["withdrawn_at"] else "",
            published_on=row["published_on"], list_href=f"../list/{entry['slug']}/index.html" if entry else "",
            related=self._related_groups(db, row))
        write_atomic(inside(self.output_dir, f"art/{int(document_id)}.html"), html)

    def _article_html(self, page: dict[str, Any], *, root: str, status: str, content_hash: str, withdrawn_on: str,
                      published_on: str, list_href: str, related: list[dict[str, Any]], **extra: Any) -> str:
        """The article page (``art/<id>.html``) of a stored ``page`` (see :meth:`_page`)."""
        ctx = self._common(root, page["publisher"])
        ctx.update(
            doc=page,
            status=status,
            content_hash=content_hash,
            body_html=page["body_html"],
            attachments=page["attachments"] if status == "live" else [],
            validity_note=page.get("validity_note", ""),
            change_note=page.get("change_note", ""),
            corrected_on=page.get("corrected_on", ""),
            withdrawn_on=withdrawn_on,
            withdraw_reason=page.get("withdraw_reason", ""),
            published_on=published_on,
            list_href=list_href,
            related=related,
            **extra,
        )
        return self.env.get_template("article.html").render(**ctx)

    def preview(self, document: DocumentPayload, urls: Mapping[str, str] | None = None) -> ChannelPreview:
        """The article page exactly as :meth:`publish` writes it, with body images and attachment links pointing at
        ``urls`` instead of copies in the output directory, and the column's style sheet inlined."""
        urls = urls or {}
        files = [_file_entry(a, "", a.size) | {"url": urls.get(a.filename, "")} for a in document.attachments]
        images = {f[key]: f["url"] for f in files if f["url"] for key in ("filename", "name")}
        published = aware(document.published_at) or dt.datetime.now(CST)
        page = self._page(document, files, images, published)
        with self.state.reading() as db:
            related = self._related_groups(db, {"page": json.dumps(page, ensure_ascii=False),
                                                "document_id": document.document_id})
        css_file = self.templates_dir / "static" / "site.css"
        css = css_file.read_text(encoding="utf-8") if css_file.is_file() else ""
        html = self._article_html(
            page, root=self.base_url, status="live", content_hash=content_hash(document), withdrawn_on="",
            published_on=_date_text(published), list_href=self.base_url + f"list/{slug(document.entry_code)}/index.html",
            related=related, inline_css=css)
        return ChannelPreview(caption=self.preview_caption, html=html, content=page["body_html"])

    def _related_groups(self, db: sqlite3.Connection, row: sqlite3.Row) -> list[dict[str, Any]]:
        groups: dict[str, dict[str, Any]] = {}
        seen: set[tuple[str, Any]] = set()

        def add(label: str, relation: str, other_id: int | None, title: str, url: str) -> None:
            other = (
                db.execute("SELECT title, status FROM docs WHERE document_id = ?", (other_id,)).fetchone()
                if other_id is not None
                else None
            )
            key = (label, other_id if other_id is not None else url or title)
            if key in seen:
                return
            seen.add(key)
            item = {
                "title": other["title"] if other else title,
                "href": f"../art/{other_id}.html" if other else url,
                "withdrawn": bool(other and other["status"] == "withdrawn"),
            }
            groups.setdefault(label, {"label": label, "relation": relation, "entries": []})["entries"].append(item)

        page = json.loads(row["page"])
        for r in page.get("related", []):
            rel = r["relation"]
            label = "解读的政策文件" if rel in INTERPRETS else "政策解读" if rel in INTERPRETED_BY else "相关文件"
            add(label, rel, r["document_id"], r["title"], r["url"])
        # The other direction: documents that declared a relation to this one (a 解读 pointing at its policy).
        for r in db.execute("SELECT src, relation FROM relations WHERE dst = ? ORDER BY src", (row["document_id"],)):
            rel = r["relation"]
            label = "政策解读" if rel in INTERPRETS else "解读的政策文件" if rel in INTERPRETED_BY else "相关文件"
            add(label, rel, r["src"], "", "")
        return list(groups.values())

    def _render_related_pages(self, db: sqlite3.Connection, document_id: int, extra: set[int]) -> None:
        """Re-render the pages on the other end of this document's relations (both directions), so links stay two-way."""
        others = set(extra)
        others.update(r["dst"] for r in db.execute("SELECT dst FROM relations WHERE src = ?", (document_id,)))
        others.update(r["src"] for r in db.execute("SELECT src FROM relations WHERE dst = ?", (document_id,)))
        others.discard(document_id)
        for other in sorted(others):
            self._render_article(db, other)

    def _list_row(self, r: sqlite3.Row) -> dict[str, Any]:
        return {
            "document_id": r["document_id"],
            "title": r["title"],
            "doc_number": r["doc_number"],
            "formed_on": r["formed_on"],
            "validity": r["validity"],
        }

    def _render_entry_pages(self, db: sqlite3.Connection, code: str, seqs: list[int]) -> None:
        entry = db.execute("SELECT * FROM entries WHERE code = ?", (code,)).fetchone()
        if entry is None:
            return
        size = self.page_size
        last_page = max(1, math.ceil((entry["next_seq"] - 1) / size))
        touched = {(s - 1) // size + 1 for s in seqs}
        # A document that opens a new page gives the previous page its first "newer" link: render that one too.
        for s in seqs:
            if s == entry["next_seq"] - 1 and (s - 1) % size == 0 and s > 1:
                touched.add((s - 1) // size)
        path = json.loads(entry["path"])
        name = path[-1] if path else code
        base = f"list/{entry['slug']}"
        for n in sorted(touched):
            lo, hi = (n - 1) * size + 1, n * size
            docs = db.execute(
                "SELECT * FROM docs WHERE entry_code = ? AND entry_seq BETWEEN ? AND ? AND status = 'live' "
                "ORDER BY entry_seq DESC",
                (code, lo, hi),
            ).fetchall()
            ctx = self._common("../../", _publisher_of(docs))
            ctx.update(
                entry_name=name,
                entry_path=path,
                page_label=f"第{n}页",
                docs=[self._list_row(r) for r in docs],
                empty_text="本页信息已全部撤销。",
                newest_link="index.html",
                newer_link=f"p{n + 1}.html" if n < last_page else "",
                older_link=f"p{n - 1}.html" if n > 1 else "",
                oldest_link="",
                page_links=[],
                total=None,
            )
            self._write(f"{base}/p{n}.html", "list.html", ctx)
        newest = db.execute(
            "SELECT * FROM docs WHERE entry_code = ? AND status = 'live' ORDER BY entry_seq DESC LIMIT ?",
            (code, size),
        ).fetchall()
        ctx = self._common("../../", _publisher_of(newest))
        ctx.update(
            entry_name=name,
            entry_path=path,
            page_label="",
            docs=[self._list_row(r) for r in newest],
            empty_text="本目录暂无公开信息。",
            newest_link="",
            newer_link="",
            older_link="",
            # A bounded pager (newest ten pages + the oldest) keeps this page O(1) however long the history grows.
            page_links=[{"href": f"p{n}.html", "number": n} for n in range(last_page, max(0, last_page - 10), -1)],
            oldest_link="p1.html" if last_page > 10 else "",
            total=entry["live_count"],
        )
        self._write(f"{base}/index.html", "list.html", ctx)

    def _render_search_shard(self, db: sqlite3.Connection, global_seq: int) -> None:
        size = self.shard_size
        n = (global_seq - 1) // size + 1
        rows = db.execute(
            "SELECT document_id, title, doc_number, formed_on, global_seq FROM docs "
            "WHERE global_seq BETWEEN ? AND ? AND status = 'live' ORDER BY global_seq",
            ((n - 1) * size + 1, n * size),
        ).fetchall()
        items = [
            {"u": f"art/{r['document_id']}.html", "t": r["title"], "n": r["doc_number"], "d": r["formed_on"],
             "s": r["global_seq"]}
            for r in rows
        ]
        write_atomic(inside(self.output_dir, f"search/s{n}.json"), json.dumps(items, ensure_ascii=False))
        top = db.execute("SELECT value FROM counters WHERE name = 'global_seq'").fetchone()
        shards = max(1, math.ceil((top[0] if top else 0) / size))
        write_atomic(
            inside(self.output_dir, "search/manifest.json"), json.dumps({"shards": shards, "size": size})
        )

    def _tree(self, db: sqlite3.Connection) -> list[_TreeNode]:
        entries: dict[str, dict[str, Any]] = {}
        if self.show_catalog:
            for code, path in _catalog_entries(self.catalogs_dir):
                entries[code] = {"code": code, "slug": slug(code), "path": path, "live_count": 0}
        for r in db.execute("SELECT code, slug, path, live_count FROM entries"):
            entries[r["code"]] = {"code": r["code"], "slug": r["slug"], "path": json.loads(r["path"]),
                                  "live_count": r["live_count"]}
        roots: list[_TreeNode] = []
        for e in entries.values():
            level = roots
            node: _TreeNode | None = None
            for part in e["path"] or [e["code"]]:
                node = next((n for n in level if n.name == part), None)
                if node is None:
                    node = _TreeNode(part)
                    level.append(node)
                level = node.children
            if node is not None:
                node.entry = e
        return roots

    def _render_landing(self, db: sqlite3.Connection, publisher: str) -> None:
        latest = db.execute(
            "SELECT document_id, title, published_on FROM docs WHERE status = 'live' ORDER BY global_seq DESC LIMIT ?",
            (self.latest_count,),
        ).fetchall()
        ctx = self._common("", publisher)
        ctx.update(
            tree=self._tree(db),
            latest=[{"document_id": r["document_id"], "title": r["title"], "date": r["published_on"]} for r in latest],
        )
        self._write("index.html", "index.html", ctx)
        self._write("guide.html", "guide.html", self._common("", publisher))
        self._write("search.html", "search.html", self._common("", publisher))

    def _render_feed(self, db: sqlite3.Connection) -> None:
        """``atom.xml``: the newest live documents, each with a plain-text summary and its full body (type html)
        whose image and link URLs are absolute (a feed reader resolves nothing against the page)."""
        rows = db.execute(
            "SELECT document_id, page FROM docs WHERE status = 'live' ORDER BY global_seq DESC LIMIT ?",
            (max(self.latest_count, 1),),
        ).fetchall()
        fg = FeedGenerator()
        fg.id(self.base_url + "atom.xml")
        fg.title(self.site_title)
        fg.language("zh-CN")
        fg.generator("政府信息主动公开发布系统")
        fg.link(href=self.base_url + "atom.xml", rel="self", type="application/atom+xml")
        fg.link(href=self.base_url + "index.html", rel="alternate", type="text/html")
        newest = dt.datetime(2019, 5, 15, tzinfo=CST)
        for r in reversed(rows):  # feedgen prepends: oldest first gives newest on top
            page = json.loads(r["page"])
            url = self._article_url(r["document_id"])
            updated = dt.datetime.fromisoformat(page.get("updated_at") or page["published_at"])
            newest = max(newest, updated)
            fe = fg.add_entry()
            fe.id(url)
            fe.title(page["title"])
            fe.link(href=url, rel="alternate", type="text/html")
            fe.published(dt.datetime.fromisoformat(page["published_at"]))
            fe.updated(updated)
            fe.author({"name": page.get("publisher") or self.site_title})
            summary = page.get("summary") or gongwen_html.plain_summary(page["body_html"])
            if summary:
                fe.summary(summary)
            fe.content(self._feed_content(page, url), type="html")
        fg.updated(newest)
        write_atomic(inside(self.output_dir, "atom.xml"), fg.atom_str(pretty=True))

    def _feed_content(self, page: dict[str, Any], url: str) -> str:
        head = "".join(
            f'<p class="{cls}">{escape(text)}</p>' for cls, text in (("doc-number", page.get("doc_number") or ""),)
            if text
        )
        # Pages stored before feeds carried the body have no feed copy: their body, made absolute, stands in.
        body = page["feed_html"] if "feed_html" in page else gongwen_html.render(page["body_html"], {},
                                                                                 absolute_base=url)
        files = "".join(
            f'<li><a href="{escape(urljoin(url, "../" + a["href"]))}">{escape(a["name"])}</a>'
            f'（{escape(a.get("kind") or "文件")}，{escape(a["size_text"])}）</li>'
            for a in page.get("attachments", [])
        )
        return head + body + (f"<p>附件：</p><ol>{files}</ol>" if files else "")

    def _write_static_assets(self) -> None:
        src = self.templates_dir / "static"
        for f in sorted(src.glob("*")):
            if not f.is_file():
                continue
            dest = inside(self.output_dir, f"static/{f.name}")
            data = f.read_bytes()
            if not dest.is_file() or dest.read_bytes() != data:
                write_atomic(dest, data)

    # --- reading (for the API's search route) -----------------------------------
    def search(self, query: str, limit: int = 200) -> list[dict[str, Any]]:
        query = (query or "").strip()
        if not query:
            return []
        with self.state.reading() as db:
            rows = db.execute(
                "SELECT document_id, title, doc_number, formed_on, global_seq FROM docs WHERE status = 'live' "
                "AND (instr(title, ?) > 0 OR instr(doc_number, ?) > 0) ORDER BY global_seq DESC LIMIT ?",
                (query, query, limit),
            ).fetchall()
        return [
            {"u": f"art/{r['document_id']}.html", "t": r["title"], "n": r["doc_number"], "d": r["formed_on"],
             "s": r["global_seq"]}
            for r in rows
        ]


class _PageMeta(HTMLParser):
    """Reads <meta name=...> and <title> from a page (for verify)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.meta: dict[str, str] = {}
        self.title = ""
        self._in_title = False

    @classmethod
    def parse(cls, html: str) -> _PageMeta:
        p = cls()
        p.feed(html)
        p.title = p.title.strip()
        return p

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "meta" and a.get("name"):
            self.meta[str(a["name"])] = str(a.get("content") or "")
        elif tag == "title":
            self._in_title = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data


def site_static_app(settings: Any = None, destination: str | None = None) -> Any:
    """An ASGI app serving the built-in column, for the web app to mount at ``/site``.

    Static files come straight from the output directory; ``api/search?q=`` answers from the state file so search
    works without downloading every shard (``search.js`` falls back to the shards on a plain web server).
    """
    config = destination_config("website", "site", destination, settings=settings) or {}
    channel = SiteChannel(config, name=destination or "site")

    async def search(request: Request) -> JSONResponse:
        return JSONResponse(channel.search(request.query_params.get("q", "")))

    return Starlette(
        routes=[Route("/api/search", search), Mount("/", app=static_app(channel.output_dir))],
    )


plugin = ChannelPlugin(
    name="site",
    adapters={"site": "channels.site:SiteChannel"},
    static_mounts=(("/site", "channels.site:site_static_app"),),
    channel_codes=("website",),
)
