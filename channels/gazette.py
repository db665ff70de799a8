"""The government gazette (政府公报) feed: Atom and RSS 2.0 with feedgen 1.0.0, RFC 5005 archives, numbered issues.

Output directory (served as-is, every file static):

- ``feeds/<feed>/atom.xml`` subscription document: the newest entries plus a ``prev-archive`` link;
  ``feeds/<feed>/rss.xml`` the same entries as RSS 2.0 (one enclosure per item, RSS allows no more);
  ``feeds/<feed>/archive/<n>.xml`` immutable archive pages of exactly ``archive_page_size`` entries with
  ``<fh:archive/>``, ``rel=current`` and ``rel=prev-archive``. ``<feed>`` is ``all``, ``publisher/<slug>`` or
  ``entry/<catalog code>``.
- ``issues/no-<总期数>.html`` one page per issue (期) listing its contents; ``issues/year-<year>.html``; ``index.html``.
- ``files/<document_id>/<sha256 prefix><ext>`` enclosures under generated names.

Every feed is an append-only log of entry snapshots (a publish, a correction, a withdrawal each append one).
Archive page n holds log positions ((n-1)*K, n*K] and is written once, when it fills up; the subscription
document is re-rendered from the newest positions only. So publishing the 100,001st entry writes the same
handful of files as publishing the 101st. Entry ids are tag: URIs built from the index number (索引号), so a
correction is the same entry with a newer ``updated``; ``updated`` comes from the document version, never the clock.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from html import escape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.feed import FeedGenerator
from lxml import etree
from markupsafe import Markup
from pydantic import Field

from channels import gongwen_html
from channels.base import (
    Action,
    AttachmentInfo,
    Capability,
    Channel,
    ChannelPreview,
    DeliveryContext,
    DocumentPayload,
    NotConfigured,
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
    copy_verified,
    date_start,
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
from orchestrator.channel_api import cached_profile
from orchestrator.settings import get_settings

FH_NS = "http://purl.org/syndication/history/1.0"
ATOM_NS = "http://www.w3.org/2005/Atom"

SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    document_id INTEGER PRIMARY KEY,
    entry_id TEXT NOT NULL,
    issue_no INTEGER NOT NULL,          -- 总期数 of the issue that carries the document
    status TEXT NOT NULL,               -- live | corrected | withdrawn
    version INTEGER NOT NULL,
    updated TEXT NOT NULL,              -- the last emitted atom:updated (ISO 8601)
    title TEXT NOT NULL,
    doc_number TEXT NOT NULL,
    publisher TEXT NOT NULL,
    href TEXT NOT NULL,
    enclosures TEXT NOT NULL,           -- JSON
    feeds TEXT NOT NULL                 -- JSON list of feed keys the document was emitted into
);
CREATE TABLE IF NOT EXISTS feeds (
    key TEXT PRIMARY KEY,
    path TEXT NOT NULL,                 -- directory under the output dir, ending in "/"
    title TEXT NOT NULL,
    next_seq INTEGER NOT NULL,
    archived INTEGER NOT NULL           -- number of complete (immutable) archive pages written
);
CREATE TABLE IF NOT EXISTS log (
    feed TEXT NOT NULL,
    seq INTEGER NOT NULL,
    entry TEXT NOT NULL,                -- JSON snapshot of the entry as emitted
    PRIMARY KEY (feed, seq)
);
CREATE TABLE IF NOT EXISTS issues (
    total_no INTEGER PRIMARY KEY,
    year INTEGER NOT NULL,
    year_no INTEGER NOT NULL,
    period TEXT NOT NULL UNIQUE,
    label TEXT NOT NULL,
    starts_on TEXT NOT NULL,
    ends_on TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS issue_items (
    total_no INTEGER NOT NULL,
    position INTEGER NOT NULL,
    document_id INTEGER NOT NULL,
    kind TEXT NOT NULL,                 -- document | withdrawal
    PRIMARY KEY (total_no, position)
);
CREATE INDEX IF NOT EXISTS issue_items_doc ON issue_items (document_id);
CREATE TABLE IF NOT EXISTS applied (
    key TEXT PRIMARY KEY,               -- delivery idempotency key: a retry returns the first outcome
    receipt TEXT NOT NULL
);
"""

CADENCES = ("monthly", "semimonthly", "weekly", "quarterly")


# --- feedgen extensions ------------------------------------------------------------------------------------------
class _AtomLinksEntry(BaseEntryExtension):
    """Writes Atom entry links with rel/type/length/title intact. feedgen 1.0.0 drops everything but href on entry
    links (issue #135), which would turn an enclosure into a plain alternate link."""

    def __init__(self) -> None:
        self.links: list[dict[str, str]] = []

    def extend_atom(self, entry: Any) -> Any:
        for link in self.links:
            el = etree.SubElement(entry, "link")
            for key in ("href", "rel", "type", "length", "title"):
                if link.get(key):
                    el.attrib[key] = str(link[key])
        return entry

    def extend_rss(self, item: Any) -> Any:
        return item


class _HistoryFeed(BaseExtension):
    """RFC 5005 ``<fh:archive/>`` on archive documents."""

    def __init__(self) -> None:
        self.archive = False

    def extend_ns(self) -> dict[str, str]:
        return {"fh": FH_NS}

    def extend_atom(self, feed: Any) -> Any:
        if self.archive:
            etree.SubElement(feed, f"{{{FH_NS}}}archive")
        return feed

    def extend_rss(self, channel: Any) -> Any:
        return channel


class _NoopEntry(BaseEntryExtension):
    def extend_atom(self, entry: Any) -> Any:
        return entry

    def extend_rss(self, item: Any) -> Any:
        return item


# --- issues -------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Period:
    key: str
    year: int
    starts_on: dt.date
    ends_on: dt.date


def period_of(day: dt.date, cadence: str) -> Period:
    if cadence == "monthly":
        start = day.replace(day=1)
        end = (start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1))
        return Period(f"{day.year}-{day.month:02d}", day.year, start, end - dt.timedelta(days=1))
    if cadence == "semimonthly":
        monthly = period_of(day, "monthly")
        if day.day <= 15:
            return Period(monthly.key + "a", day.year, monthly.starts_on, day.replace(day=15))
        return Period(monthly.key + "b", day.year, day.replace(day=16), monthly.ends_on)
    if cadence == "weekly":
        iso_year, week, weekday = day.isocalendar()
        start = day - dt.timedelta(days=weekday - 1)
        return Period(f"{iso_year}-W{week:02d}", iso_year, start, start + dt.timedelta(days=6))
    if cadence == "quarterly":
        q = (day.month - 1) // 3
        start = dt.date(day.year, 3 * q + 1, 1)
        end = dt.date(day.year + 1, 1, 1) if q == 3 else dt.date(day.year, 3 * q + 4, 1)
        return Period(f"{day.year}-Q{q + 1}", day.year, start, end - dt.timedelta(days=1))
    raise NotConfigured(f"公报出版周期“{cadence}”无效，可选：monthly、semimonthly、weekly、quarterly")


def issue_label(year: int, year_no: int, total_no: int) -> str:
    return f"{year}年第{year_no}期 总第{total_no}期"


def _cn_date(day: dt.date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def _iso(value: dt.datetime) -> str:
    return value.astimezone(CST).isoformat()


class GazetteConfig(StaticOutputConfig):
    gazette_title: str = "政府公报"
    issue_cadence: str = "monthly"  # one of CADENCES (checked with its own message below)
    subscription_size: int = Field(20, ge=1)
    archive_page_size: int = Field(50, ge=1)
    first_issue_total_no: int = Field(1, ge=1)
    first_issue_year_no: int = Field(1, ge=1)
    tag_authority: str = ""  # default: the host of the public base URL
    tag_date: str = "2019"


class GazetteChannel(Channel):
    adapter = "gazette"
    capabilities = frozenset({Capability.update, Capability.delete, Capability.verify})
    config_model = GazetteConfig
    settings: GazetteConfig

    preview_caption = "政府公报页面预览（公报刊登的样子，含期号）"

    def __init__(self, config: dict[str, Any] | None = None, *, name: str = ""):
        super().__init__(config, name=name)
        cfg = self.settings
        self.output_dir, self.state_dir = resolve_dirs(cfg, "gazette")
        self.title = cfg.gazette_title
        self.cadence = cfg.issue_cadence
        if self.cadence not in CADENCES:
            raise NotConfigured(f"公报出版周期“{self.cadence}”无效，可选：{'、'.join(CADENCES)}")
        self.subscription_size = cfg.subscription_size
        self.page_size = cfg.archive_page_size
        self.first_total_no = cfg.first_issue_total_no
        self.first_year_no = cfg.first_issue_year_no
        self.state = StateDB(self.state_dir / "gazette.sqlite3", SCHEMA)

        templates = Path(cfg.templates_dir or get_settings().templates_dir / "gazette")
        self.env = environment(templates)

    @property
    def base_url(self) -> str:
        return public_base(self.settings, "gazette")

    def tag_id(self, index_no: str) -> str:
        """A stable tag: URI (RFC 4151) for a document, from its index number; the same in every feed and forever."""
        authority = self.settings.tag_authority or urllib.parse.urlsplit(self.base_url).hostname or "localhost"
        date = self.settings.tag_date
        return f"tag:{authority},{date}:{urllib.parse.quote(index_no, safe='/-._~!$&()*+,;=:@')}"

    # --- actions --------------------------------------------------------------------------------------------------
    def publish(self, ctx: DeliveryContext) -> Receipt:
        return self._apply(ctx)

    def update(self, ctx: DeliveryContext) -> Receipt:
        return self._apply(ctx)

    def withdraw(self, ctx: DeliveryContext) -> Receipt:
        return self._apply(ctx)

    def verify(self, ctx: DeliveryContext, receipt: Receipt) -> bool:
        issue = receipt.data.get("issue") or {}
        url = issue.get("url")
        if not url:
            return False
        resp = fetch(url)
        if resp.status_code >= 500:
            raise TransientError("公报页面暂时无法访问，稍后重试核验", detail=f"{url}: HTTP {resp.status_code}")
        if resp.status_code != 200:
            return False
        resp.encoding = "utf-8"
        rows = _IssueRows.parse(resp.text)
        row = rows.get(f"doc-{ctx.document.document_id}")
        if row is None or row.get("data-entry-id") != self.tag_id(ctx.document.index_no):
            return False
        if ctx.action is Action.withdraw:
            return row.get("data-status") == "withdrawn"
        return row.get("data-status") in {"live", "corrected"} and row.get("data-version") == str(ctx.document.version)

    # --- the one write path -----------------------------------------------------------------------------------------
    def _apply(self, ctx: DeliveryContext) -> Receipt:
        doc = ctx.document
        with self.state.locked() as db:
            done = db.execute("SELECT receipt FROM applied WHERE key = ?", (ctx.idempotency_key,)).fetchone()
            if done is not None:
                receipt = Receipt.from_dict(json.loads(done["receipt"]))
                assert receipt is not None
                return receipt
            item = db.execute("SELECT * FROM items WHERE document_id = ?", (doc.document_id,)).fetchone()
            if ctx.action is Action.withdraw:
                if item is None:
                    raise PermanentError("该文件尚未在公报发布，无需撤销")
                touched = self._withdraw(db, doc, item)
            else:
                touched = self._emit(db, doc, item)
            for key in touched:
                self._render_feed(db, key)
            item = db.execute("SELECT * FROM items WHERE document_id = ?", (doc.document_id,)).fetchone()
            issues = {item["issue_no"]}
            current = db.execute("SELECT MAX(total_no) FROM issues").fetchone()[0]
            if ctx.action is Action.withdraw and current:
                issues.add(current)  # the withdrawal notice is carried by the current issue
            for no in issues:
                self._render_issue(db, no)
            self._render_index(db)
            receipt = self._receipt(db, item)
            db.execute(
                "INSERT INTO applied (key, receipt) VALUES (?, ?)",
                (ctx.idempotency_key, json.dumps(receipt.to_dict(), ensure_ascii=False)),
            )
        return receipt

    def _receipt(self, db: sqlite3.Connection, item: sqlite3.Row) -> Receipt:
        issue = db.execute("SELECT * FROM issues WHERE total_no = ?", (item["issue_no"],)).fetchone()
        feeds = json.loads(item["feeds"])
        paths = {r["key"]: r["path"] for r in db.execute(
            f"SELECT key, path FROM feeds WHERE key IN ({','.join('?' * len(feeds))})", feeds
        )}
        return Receipt(
            external_id=item["entry_id"],
            url=self.base_url + f"issues/no-{issue['total_no']}.html#doc-{item['document_id']}",
            data={
                "entry_id": item["entry_id"],
                "updated": item["updated"],
                "status": item["status"],
                "issue": {
                    "label": issue["label"],
                    "year": issue["year"],
                    "year_no": issue["year_no"],
                    "total_no": issue["total_no"],
                    "url": self.base_url + f"issues/no-{issue['total_no']}.html",
                },
                "feeds": [self.base_url + paths[k] + "atom.xml" for k in feeds if k in paths],
            },
        )

    def _version_time(self, doc: DocumentPayload) -> dt.datetime:
        value = aware(doc.updated_at) or aware(doc.published_at)
        return value if value is not None else date_start(doc.formed_on)

    def _emit(self, db: sqlite3.Connection, doc: DocumentPayload, item: sqlite3.Row | None) -> list[str]:
        entry_id = self.tag_id(doc.index_no)
        updated = self._version_time(doc)
        if item is not None:
            previous = dt.datetime.fromisoformat(item["updated"])
            if item["version"] == doc.version and item["status"] != "withdrawn":
                return []  # the same version again (a new delivery of an unchanged document): nothing new to say
            # A correction must be newer than what readers already have, even if the clocks disagree.
            if updated <= previous:
                updated = previous + dt.timedelta(seconds=1)
        issue_no = item["issue_no"] if item is not None else self._issue_for(db, doc)
        href = self._alternate(doc, issue_no)
        copied = self._copy_enclosures(doc)
        # Body images are shown in the text (from the copies under files/<id>/), not offered again as enclosures.
        shown = gongwen_html.referenced_images(doc.body_html)
        enclosures = [e for e in copied if not (e["type"].startswith("image/") and e["title"] in shown)]
        page_url = self.base_url + f"docs/{int(doc.document_id)}.html"
        images = {e["title"]: e["href"] for e in copied}
        feeds = self._feed_keys(db, doc)
        published = aware(doc.published_at) or updated
        issue = db.execute("SELECT label FROM issues WHERE total_no = ?", (issue_no,)).fetchone()
        body = gongwen_html.render(doc.body_html, images, absolute_base=page_url)
        meta = (
            f"<p>{escape(issue['label'])}　文号：{escape(doc.doc_number or '无')}　索引号：{escape(doc.index_no)}"
            f"　发布机构：{escape(doc.publisher)}　生成日期：{_cn_date(doc.formed_on)}"
            + (f"　有效性：{escape(doc.validity)}" if doc.validity and doc.validity != "有效" else "")
            + "</p>"
        )
        snapshot = {
            "id": entry_id,
            "title": doc.title,
            "updated": _iso(updated),
            "published": _iso(published),
            "summary": doc.summary or gongwen_html.plain_summary(doc.body_html),
            "content": meta + body + (f'<p><a href="{escape(page_url)}">公报全文</a></p>' if body else ""),
            "link": href,
            "enclosures": enclosures,
            "categories": ["/".join(doc.entry_path)] if doc.entry_path else [],
            "author": doc.publisher,
            "kind": "document" if item is None else "correction",
        }
        if item is None:
            db.execute(
                "INSERT INTO issue_items (total_no, position, document_id, kind) VALUES (?, "
                "(SELECT COALESCE(MAX(position), 0) + 1 FROM issue_items WHERE total_no = ?), ?, 'document')",
                (issue_no, issue_no, doc.document_id),
            )
        # A re-publication after a withdrawal is live again; a new version of a live document is a correction.
        status = "corrected" if item is not None and item["status"] != "withdrawn" else "live"
        db.execute(
            """INSERT INTO items (document_id, entry_id, issue_no, status, version, updated, title, doc_number,
                   publisher, href, enclosures, feeds) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (document_id) DO UPDATE SET entry_id = excluded.entry_id, status = excluded.status,
                   version = excluded.version, updated = excluded.updated, title = excluded.title,
                   doc_number = excluded.doc_number, publisher = excluded.publisher, href = excluded.href,
                   enclosures = excluded.enclosures, feeds = excluded.feeds""",
            (
                doc.document_id, entry_id, issue_no, status, doc.version, _iso(updated), doc.title, doc.doc_number,
                doc.publisher, href, json.dumps(enclosures, ensure_ascii=False),
                json.dumps(sorted(set(feeds) | set(json.loads(item["feeds"]) if item else [])), ensure_ascii=False),
            ),
        )
        for key in feeds:
            self._append(db, key, snapshot)
        self._render_document(doc, issue["label"], issue_no, status, body_images=images, enclosures=enclosures)
        return feeds

    def _render_document(self, doc: DocumentPayload, issue_label: str, issue_no: int, status: str, *,
                         body_images: dict[str, str], enclosures: list[dict[str, Any]]) -> None:
        """``docs/<id>.html``: the document as the gazette prints it (公文 layout, images from files/<id>/)."""
        local = {k: "../" + v.removeprefix(self.base_url) for k, v in body_images.items()}
        html = self._document_html(
            doc, issue_label, issue_no, status, body_images=local,
            attachments=[{"href": "../" + e["href"].removeprefix(self.base_url), "name": e["title"],
                          "kind": gongwen_html.file_kind(safe_extension(e["title"]), e["type"]),
                          "size_text": gongwen_html.size_text(int(e["length"]))} for e in enclosures])
        write_atomic(inside(self.output_dir, f"docs/{int(doc.document_id)}.html"), html)

    def _document_html(self, doc: DocumentPayload, issue_label: str, issue_no: int, status: str, *,
                       body_images: dict[str, str], attachments: list[dict[str, Any]], root: str = "../") -> str:
        return self.env.get_template("document.html").render(
            gazette_title=self.title, agency=cached_profile().as_dict(), root=root,
            doc={"document_id": doc.document_id, "title": doc.title, "doc_number": doc.doc_number,
                 "publisher": doc.publisher, "index_no": doc.index_no, "formed_on": _cn_date(doc.formed_on),
                 "version": doc.version, "validity": doc.validity or "有效"},
            issue_label=issue_label, issue_href=f"{root}issues/no-{issue_no}.html#doc-{int(doc.document_id)}",
            status=status,
            body_html=gongwen_html.render(doc.body_html, body_images),
            change_note=str(doc.extra.get("change_note") or "") if doc.version > 1 else "",
            corrected_on=_cn_date(aware(doc.updated_at).astimezone(CST).date()) if doc.version > 1 and doc.updated_at
            else "",
            attachments=attachments,
            notice="",
        )

    def preview(self, document: DocumentPayload, urls: Mapping[str, str] | None = None) -> ChannelPreview:
        """The gazette's document page as :meth:`publish` writes it, in the issue it would go into now (worked out
        on the state file and rolled back), images and attachments from ``urls``."""
        urls = urls or {}
        with self.state.locked() as db:
            issue_no = self._issue_for(db, document)
            label = db.execute("SELECT label FROM issues WHERE total_no = ?", (issue_no,)).fetchone()["label"]
            db.execute("ROLLBACK")  # nothing of the preview stays
            db.execute("BEGIN")
        shown = gongwen_html.referenced_images(document.body_html)
        attachments = [{"href": urls.get(a.filename, ""), "name": display_filename(a.filename),
                        "kind": gongwen_html.file_kind(safe_extension(a.filename), a.content_type),
                        "size_text": gongwen_html.size_text(a.size)}
                       for a in document.attachments
                       if not (a.content_type.startswith("image/") and display_filename(a.filename) in shown)]
        images = {a.filename: urls[a.filename] for a in document.attachments if a.filename in urls}
        html = self._document_html(document, label, issue_no, "live", body_images=images, attachments=attachments,
                                   root=self.base_url)
        return ChannelPreview(caption=self.preview_caption, html=html, content=gongwen_html.render(document.body_html,
                                                                                                     images))

    def _withdraw(self, db: sqlite3.Connection, doc: DocumentPayload, item: sqlite3.Row) -> list[str]:
        if item["status"] == "withdrawn":
            return []
        raw = doc.extra.get("withdrawn_at")
        when = aware(raw) if isinstance(raw, dt.datetime) else None
        if when is None and isinstance(raw, str) and raw:
            try:
                when = aware(dt.datetime.fromisoformat(raw))
            except ValueError:
                when = None
        # The withdrawal is an event of its own; its time is recorded once here and never recomputed.
        when = when or dt.datetime.now(CST)
        previous = dt.datetime.fromisoformat(item["updated"])
        if when <= previous:
            when = previous + dt.timedelta(seconds=1)
        reason = str(doc.extra.get("withdraw_reason") or "")
        notice_html = (
            f"<p>《{escape(item['title'])}》（{escape(item['doc_number'] or '无文号')}）已于{_cn_date(when.astimezone(CST).date())}撤销，"
            f"不再公开。</p>" + (f"<p>撤销原因：{escape(reason)}</p>" if reason else "")
        )
        feeds = json.loads(item["feeds"])
        current_issue = db.execute("SELECT MAX(total_no) FROM issues").fetchone()[0] or item["issue_no"]
        issue = db.execute("SELECT label FROM issues WHERE total_no = ?", (current_issue,)).fetchone()
        base = {
            "updated": _iso(when),
            "published": _iso(when),
            "summary": "",
            "enclosures": [],
            "categories": [],
            "author": item["publisher"],
        }
        # The entry itself, re-emitted with the same id so readers' copies change; history stays in the archives.
        withdrawn = {**base, "id": item["entry_id"], "title": f"【已撤销】{item['title']}", "content": notice_html,
                     "link": item["href"], "kind": "withdrawn"}
        notice = {**base, "id": f"{item['entry_id']}/withdrawal", "title": f"撤销公告：{item['title']}",
                  "content": f"<p>{escape(issue['label'])}</p>" + notice_html,
                  "link": self.base_url + f"issues/no-{current_issue}.html#doc-{item['document_id']}-withdrawal",
                  "kind": "notice"}
        for key in feeds:
            self._append(db, key, withdrawn)
            self._append(db, key, notice)
        db.execute(
            "UPDATE items SET status = 'withdrawn', updated = ? WHERE document_id = ?", (_iso(when), item["document_id"])
        )
        if inside(self.output_dir, f"docs/{int(item['document_id'])}.html").is_file():
            self._render(
                f"docs/{int(item['document_id'])}.html", "document.html", root="../",
                doc={"document_id": item["document_id"], "title": item["title"], "doc_number": item["doc_number"],
                     "publisher": item["publisher"], "index_no": "", "formed_on": "", "version": item["version"],
                     "validity": "已撤销"},
                issue_label=issue["label"], issue_href=f"../issues/no-{current_issue}.html", status="withdrawn",
                body_html="", change_note="", corrected_on="",
                attachments=[], notice=Markup(notice_html),
            )
        db.execute(
            "INSERT INTO issue_items (total_no, position, document_id, kind) VALUES (?, "
            "(SELECT COALESCE(MAX(position), 0) + 1 FROM issue_items WHERE total_no = ?), ?, 'withdrawal')",
            (current_issue, current_issue, item["document_id"]),
        )
        return feeds

    # --- issues ---------------------------------------------------------------------------------------------------
    def _issue_for(self, db: sqlite3.Connection, doc: DocumentPayload) -> int:
        """The issue that carries a newly published document: the one for its publication period, or the current
        issue when that period is already closed (a gazette prints late items in the next issue, never backwards)."""
        when = aware(doc.published_at) or aware(doc.updated_at)
        day = when.astimezone(CST).date() if when else doc.formed_on
        period = period_of(day, self.cadence)
        latest = db.execute("SELECT * FROM issues ORDER BY total_no DESC LIMIT 1").fetchone()
        if latest is not None and (latest["period"] == period.key or latest["ends_on"] >= period.starts_on.isoformat()):
            return int(latest["total_no"])
        if latest is None:
            total_no, year_no = self.first_total_no, self.first_year_no
        else:
            total_no = latest["total_no"] + 1
            same_year = db.execute("SELECT MAX(year_no) FROM issues WHERE year = ?", (period.year,)).fetchone()[0]
            year_no = (same_year or 0) + 1
        db.execute(
            "INSERT INTO issues (total_no, year, year_no, period, label, starts_on, ends_on) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (total_no, period.year, year_no, period.key, issue_label(period.year, year_no, total_no),
             period.starts_on.isoformat(), period.ends_on.isoformat()),
        )
        return total_no

    def _alternate(self, doc: DocumentPayload, issue_no: int) -> str:
        if doc.site_url.startswith(("http://", "https://")):
            return doc.site_url
        return self.base_url + f"issues/no-{issue_no}.html#doc-{doc.document_id}"

    def _copy_enclosures(self, doc: DocumentPayload) -> list[dict[str, Any]]:
        out = []
        folder = inside(self.output_dir, f"files/{int(doc.document_id)}")
        for att in doc.attachments:
            out.append(self._copy_one(folder, doc.document_id, att))
        return out

    def _copy_one(self, folder: Path, document_id: int, att: AttachmentInfo) -> dict[str, Any]:
        digest = (att.sha256 or "").lower()
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise PermanentError(f"附件“{display_filename(att.filename)}”缺少有效的校验值，无法发布")
        name = digest[:16] + safe_extension(att.filename)
        dest = inside(folder, name)
        size = dest.stat().st_size if dest.is_file() else copy_verified(att.path, dest, digest)
        return {
            "href": self.base_url + f"files/{int(document_id)}/{name}",
            "type": att.content_type or "application/octet-stream",
            "length": str(size),
            "title": display_filename(att.filename),
        }

    # --- feeds ----------------------------------------------------------------------------------------------------
    def _feed_keys(self, db: sqlite3.Connection, doc: DocumentPayload) -> list[str]:
        specs = [
            ("all", "feeds/all/", self.title),
            (f"publisher:{doc.publisher}", f"feeds/publisher/{slug(doc.publisher)}/", f"{self.title}（{doc.publisher}）"),
            (f"entry:{doc.entry_code}", f"feeds/entry/{slug(doc.entry_code)}/",
             f"{self.title}（{'/'.join(doc.entry_path) or doc.entry_code}）"),
        ]
        for key, path, title in specs:
            db.execute(
                "INSERT INTO feeds (key, path, title, next_seq, archived) VALUES (?, ?, ?, 1, 0) "
                "ON CONFLICT (key) DO NOTHING",
                (key, path, title),
            )
        return [k for k, _, _ in specs]

    def _append(self, db: sqlite3.Connection, key: str, snapshot: dict[str, Any]) -> None:
        feed = db.execute("SELECT * FROM feeds WHERE key = ?", (key,)).fetchone()
        seq = int(feed["next_seq"])
        db.execute(
            "INSERT INTO log (feed, seq, entry) VALUES (?, ?, ?)", (key, seq, json.dumps(snapshot, ensure_ascii=False))
        )
        db.execute("UPDATE feeds SET next_seq = ? WHERE key = ?", (seq + 1, key))

    def _render_feed(self, db: sqlite3.Connection, key: str) -> None:
        feed = db.execute("SELECT * FROM feeds WHERE key = ?", (key,)).fetchone()
        total = feed["next_seq"] - 1
        archived = int(feed["archived"])
        # Seal every archive page that has filled up (normally at most one per publish). Sealed pages never change.
        while (archived + 1) * self.page_size <= total:
            archived += 1
            rows = db.execute(
                "SELECT entry FROM log WHERE feed = ? AND seq BETWEEN ? AND ? ORDER BY seq",
                (key, (archived - 1) * self.page_size + 1, archived * self.page_size),
            ).fetchall()
            self._write_atom(feed, [json.loads(r["entry"]) for r in rows], archive_no=archived)
        db.execute("UPDATE feeds SET archived = ? WHERE key = ?", (archived, key))
        # The subscription document: everything not yet archived, topped up to subscription_size with the newest
        # archived entries (overlap is allowed by RFC 5005 and keeps the document from ever being near-empty).
        start = min(archived * self.page_size, max(0, total - self.subscription_size))
        rows = db.execute("SELECT entry FROM log WHERE feed = ? AND seq > ? ORDER BY seq", (key, start)).fetchall()
        latest: dict[str, dict[str, Any]] = {}
        for r in rows:
            e = json.loads(r["entry"])
            latest.pop(e["id"], None)
            latest[e["id"]] = e  # a correction replaces the older snapshot of the same entry
        entries = list(latest.values())
        self._write_atom(feed, entries, archive_no=None, newest_archive=archived)
        self._write_rss(feed, entries)

    def _feed_id(self, feed: sqlite3.Row) -> str:
        return self.tag_id("feed/" + feed["path"].removeprefix("feeds/").strip("/"))

    def _new_generator(self, feed: sqlite3.Row, entries: list[dict[str, Any]]) -> FeedGenerator:
        fg = FeedGenerator()
        fg.register_extension("history", _HistoryFeed, _NoopEntry, atom=True, rss=False)
        fg.register_extension("atomlinks", BaseExtension, _AtomLinksEntry, atom=True, rss=False)
        fg.id(self._feed_id(feed))
        fg.title(feed["title"])
        fg.language("zh-CN")
        fg.generator("政府信息主动公开发布系统")
        fg.description(f"{feed['title']}订阅")
        # The feed's updated is the newest entry's version time, so an unchanged feed re-renders byte-identical.
        newest = max((e["updated"] for e in entries), default=None, key=lambda v: dt.datetime.fromisoformat(v))
        fg.updated(dt.datetime.fromisoformat(newest) if newest else dt.datetime(2019, 5, 15, tzinfo=CST))
        return fg

    def _add_entries(self, fg: FeedGenerator, entries: list[dict[str, Any]], *, atom: bool) -> None:
        # Newest first, ties broken by log position (entries arrive oldest first; the sort is stable);
        # order='append' keeps our order (feedgen's default prepends).
        ordered = sorted(reversed(entries), key=lambda x: dt.datetime.fromisoformat(x["updated"]), reverse=True)
        for e in ordered:
            fe = fg.add_entry(order="append")
            fe.id(e["id"])
            fe.title(e["title"])
            fe.updated(dt.datetime.fromisoformat(e["updated"]))
            fe.published(dt.datetime.fromisoformat(e["published"]))
            fe.author({"name": e["author"] or self.title})
            fe.content(e["content"], type="CDATA" if not atom else "html")
            if e.get("summary"):
                fe.summary(e["summary"])
            for c in e.get("categories", []):
                fe.category(term=c, label=c)
            if atom:
                fe.atomlinks.links = [{"href": e["link"], "rel": "alternate", "type": "text/html"}] + [
                    {"href": enc["href"], "rel": "enclosure", "type": enc["type"], "length": enc["length"],
                     "title": enc["title"]}
                    for enc in e.get("enclosures", [])
                ]
            else:
                fe.guid(e["id"], permalink=False)
                fe.link(href=e["link"])
                if e.get("enclosures"):  # RSS 2.0 allows one enclosure: the first (main) attachment
                    enc = e["enclosures"][0]
                    fe.enclosure(enc["href"], enc["length"], enc["type"])

    def _write_atom(
        self, feed: sqlite3.Row, entries: list[dict[str, Any]], *, archive_no: int | None, newest_archive: int = 0
    ) -> None:
        fg = self._new_generator(feed, entries)
        base = self.base_url + feed["path"]
        if archive_no is None:
            fg.link(href=base + "atom.xml", rel="self", type="application/atom+xml")
            if newest_archive:
                fg.link(href=base + f"archive/{newest_archive}.xml", rel="prev-archive", type="application/atom+xml")
        else:
            fg.history.archive = True
            fg.link(href=base + f"archive/{archive_no}.xml", rel="self", type="application/atom+xml")
            fg.link(href=base + "atom.xml", rel="current", type="application/atom+xml")
            if archive_no > 1:
                fg.link(href=base + f"archive/{archive_no - 1}.xml", rel="prev-archive", type="application/atom+xml")
        fg.link(href=self.base_url + "index.html", rel="alternate", type="text/html")
        self._add_entries(fg, entries, atom=True)
        name = "atom.xml" if archive_no is None else f"archive/{archive_no}.xml"
        write_atomic(inside(self.output_dir, feed["path"] + name), fg.atom_str(pretty=True))

    def _write_rss(self, feed: sqlite3.Row, entries: list[dict[str, Any]]) -> None:
        fg = self._new_generator(feed, entries)
        base = self.base_url + feed["path"]
        fg.link(href=base + "rss.xml", rel="self", type="application/rss+xml")
        # feedgen takes the RSS <link> from the last link() call whatever its rel: alternate goes last.
        fg.link(href=self.base_url + "index.html", rel="alternate")
        self._add_entries(fg, entries, atom=False)
        write_atomic(inside(self.output_dir, feed["path"] + "rss.xml"), fg.rss_str(pretty=True))

    # --- pages ----------------------------------------------------------------------------------------------------
    def _render(self, relative: str, template: str, **context: Any) -> None:
        html = self.env.get_template(template).render(gazette_title=self.title, agency=cached_profile().as_dict(),
                                                      **context)
        write_atomic(inside(self.output_dir, relative), html)

    def _issue_summaries(self, rows: list[sqlite3.Row], db: sqlite3.Connection) -> list[dict[str, Any]]:
        out = []
        for r in rows:
            count = db.execute(
                "SELECT COUNT(*) FROM issue_items WHERE total_no = ? AND kind = 'document'", (r["total_no"],)
            ).fetchone()[0]
            out.append({"total_no": r["total_no"], "label": r["label"], "count": count})
        return out

    def _render_issue(self, db: sqlite3.Connection, total_no: int) -> None:
        issue = db.execute("SELECT * FROM issues WHERE total_no = ?", (total_no,)).fetchone()
        if issue is None:
            return
        items = []
        for r in db.execute(
            "SELECT ii.kind, i.* FROM issue_items ii JOIN items i ON i.document_id = ii.document_id "
            "WHERE ii.total_no = ? ORDER BY ii.position",
            (total_no,),
        ):
            items.append(
                {
                    "document_id": r["document_id"],
                    "entry_id": r["entry_id"] if r["kind"] == "document" else r["entry_id"] + "/withdrawal",
                    "kind": r["kind"],
                    "status": r["status"],
                    "version": r["version"],
                    "title": r["title"],
                    "doc_number": r["doc_number"],
                    "publisher": r["publisher"],
                    # A withdrawn document is no longer linked or offered for download from the issue page.
                    "href": r["href"] if r["status"] != "withdrawn" and r["kind"] == "document" else "",
                    "enclosures": [
                        {**e, "kind": gongwen_html.file_kind(safe_extension(e["title"]), e["type"]),
                         "size_text": gongwen_html.size_text(int(e["length"]))}
                        for e in (json.loads(r["enclosures"]) if r["status"] != "withdrawn" else [])
                    ],
                    "has_page": inside(self.output_dir, f"docs/{int(r['document_id'])}.html").is_file(),
                }
            )
        self._render(
            f"issues/no-{total_no}.html", "issue.html", root="../",
            issue={**dict(issue), "starts_on": _cn_date(dt.date.fromisoformat(issue["starts_on"])),
                   "ends_on": _cn_date(dt.date.fromisoformat(issue["ends_on"]))},
            items=items,
        )
        year_rows = db.execute("SELECT * FROM issues WHERE year = ? ORDER BY total_no DESC", (issue["year"],)).fetchall()
        self._render(f"issues/year-{issue['year']}.html", "year.html", root="../", year=issue["year"],
                     issues=self._issue_summaries(year_rows, db))

    def profile_changed(self) -> None:
        """Rewrite the gazette's index page (its footer shows the agency's name and phone)."""
        with self.state.locked() as db:
            self._render_index(db)

    def _render_index(self, db: sqlite3.Connection) -> None:
        latest = db.execute("SELECT * FROM issues ORDER BY total_no DESC LIMIT 12").fetchall()
        years = [r[0] for r in db.execute("SELECT DISTINCT year FROM issues ORDER BY year DESC")]
        feeds = [
            {"title": r["title"], "path": r["path"]}
            for r in db.execute("SELECT title, path FROM feeds ORDER BY key = 'all' DESC, key")
        ]
        self._render("index.html", "index.html", root="", latest=self._issue_summaries(latest, db), years=years,
                     feeds=feeds)

    # --- helpers for benches and the API ------------------------------------------------------------------------------
    def archive_count(self, key: str = "all") -> int:
        with self.state.reading() as db:
            row = db.execute("SELECT archived FROM feeds WHERE key = ?", (key,)).fetchone()
        return int(row[0]) if row else 0


class _IssueRows(HTMLParser):
    """Attributes of the rows of an issue page, by element id (for verify)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: dict[str, dict[str, str]] = {}

    @classmethod
    def parse(cls, html: str) -> dict[str, dict[str, str]]:
        p = cls()
        p.feed(html)
        return p.rows

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "tr" and a.get("id"):
            self.rows[a["id"]] = a


def gazette_static_app(settings: Any = None, destination: str | None = None) -> Any:
    """An ASGI app serving the gazette output directory, for the web app to mount at ``/gazette``."""
    config = destination_config("gazette", "gazette", destination, settings=settings) or {}
    return static_app(GazetteChannel(config, name=destination or "gazette").output_dir)


plugin = ChannelPlugin(
    name="gazette",
    adapters={"gazette": "channels.gazette:GazetteChannel"},
    static_mounts=(("/gazette", "channels.gazette:gazette_static_app"),),
    channel_codes=("gazette",),
)
