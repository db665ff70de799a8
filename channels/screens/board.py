"""What each screen shows, and the export bundle derived from it.

``ScreenBoardService`` is shared by the ``screens`` adapter (workers place and remove notices), the live screen page
(``channels/screens/web.py`` reads the feed) and the periodic refresh (expired notices leave the bundles).

Bundle layout, per screen, under ``<bundle_root>/<screen_id>/``::

    slides/NNNN.png   a notice's first slide, at the screen's exact resolution; NNNN is the notice's stable slot number
    slides/NNNN-KK.png  its further slides (page KK) when the document is longer than one slide
    manifest.json     id, document, version, page, pages, title, file, sha256, duration, start, end (with time zone),
                      order; duration is long enough to read the slide's text
    playlist.m3u      the slides in order, with durations, for players that take a playlist
and ``<bundle_root>/<screen_id>.zip`` holding the three.

Rebuilds are incremental: a slide is re-rendered only when what it shows (or the template/renderer) changed, which
``render_key`` in the manifest records. Slot numbers are never reused, so adding a notice never renames other slides.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import os
import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from channels.base import DocumentPayload
from channels.screens.config import ScreensConfig, ScreenSpec
from channels.screens.models import NoticeStatus, ScreenBoard, ScreenNotice
from channels.screens.pages import screen_body
from channels.screens.render import (
    RenderJob,
    SlideNotice,
    SlideRenderer,
    cn_date,
    period_text,
    seconds_for,
    slide_fragment,
    slide_pages,
    template_env,
)
from orchestrator.channel_api import session_scope

SessionFactory = Callable[[], AbstractContextManager[Session]]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _aware(value: dt.datetime) -> dt.datetime:
    # SQLite hands back naive datetimes even for timezone=True columns; everything we store is UTC.
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


# Bump when channels/screens/pages.py cuts pages differently, so exported slides are re-rendered.
PAGES_LAYOUT = "pages-1"


def _image_size(att: Any) -> tuple[int, int] | None:
    """Pixel size of a stored body image (for the slide layout); None when it cannot be read."""
    try:
        with Image.open(att.path) as im:
            return im.size
    except (OSError, ValueError, Image.DecompressionBombError):
        return None


def notice_body(doc: DocumentPayload) -> str:
    """What a notice stores of the body: the whole body for the slides, images as attachment-store references."""
    return screen_body(doc.body_html, doc.summary.strip(), doc.attachments, _image_size)


@dataclass(frozen=True)
class ShownNotice:
    """A notice on one screen, detached from the database session."""

    screen_id: str
    document_id: int
    version: int
    slot: int
    start: dt.datetime
    end: dt.datetime
    slide: SlideNotice

    @property
    def file(self) -> str:
        return self.page_file(1)

    def page_file(self, page: int) -> str:
        return f"slides/{self.slot:04d}.png" if page == 1 else f"slides/{self.slot:04d}-{page:02d}.png"

    def is_live(self, now: dt.datetime) -> bool:
        return self.start <= now < self.end


@dataclass(frozen=True)
class Placement:
    shown: list[ShownNotice]  # the document's notice on each target screen
    pruned: list[str]  # screens it was taken off (an update whose entry those screens no longer show)


@dataclass
class BundleResult:
    screen_id: str
    directory: Path
    zip_path: Path
    rendered: list[int] = field(default_factory=list)  # document ids whose slide was (re-)rendered
    kept: list[int] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)  # slide files deleted
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.rendered or self.removed)


class ScreenBoardService:
    def __init__(
        self,
        config: ScreensConfig,
        *,
        bundle_root: Path,
        templates_dir: Path,
        renderer: SlideRenderer,
        session_factory: SessionFactory | None = None,
    ):
        self.config = config
        self.bundle_root = Path(bundle_root)
        self.templates_dir = Path(templates_dir)
        self.renderer = renderer
        if session_factory is None:
            session_factory = session_scope
        self.session_factory = session_factory

    # --- database: placing and removing notices ---------------------------------------------------------------------

    @staticmethod
    def _lock_board(session: Session, screen_id: str) -> ScreenBoard:
        """The screen's counter row, locked for this transaction (created on first use)."""
        board = session.get(ScreenBoard, screen_id, with_for_update=True)
        if board is not None:
            return board
        dialect = session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        # Two workers may create the same board at once: let the database pick one, then lock it.
        session.execute(
            insert(ScreenBoard)
            .values(screen_id=screen_id, next_slot=1, revision=0, updated_at=utcnow())
            .on_conflict_do_nothing(index_elements=["screen_id"])
        )
        board = session.get(ScreenBoard, screen_id, with_for_update=True, populate_existing=True)
        assert board is not None
        return board

    def place(
        self,
        doc: DocumentPayload,
        screens: Sequence[ScreenSpec],
        *,
        delivery_key: str,
        now: dt.datetime | None = None,
        prune: bool = False,
    ) -> Placement:
        """Show ``doc`` on ``screens`` (insert or replace its notice). ``prune`` takes it off any other screen.

        Idempotent: placing the same version again changes nothing but the row's timestamps. An older version arriving
        after a newer one (a late retry) is ignored.
        """
        now = now or utcnow()
        start_default = doc.published_at or doc.updated_at or now
        # The whole body (the slides page through it), images as references into the attachment store.
        excerpt = notice_body(doc)
        target_ids = {s.id for s in screens}
        with self.session_factory() as session:
            affected = set(target_ids)
            if prune:  # find the other screens first, so their boards are locked before their rows change
                others = session.scalars(
                    select(ScreenNotice).where(
                        ScreenNotice.document_id == doc.document_id,
                        ScreenNotice.status == NoticeStatus.active,
                        ScreenNotice.screen_id.not_in(target_ids),
                    )
                ).all()
                affected |= {n.screen_id for n in others}
            boards = {sid: self._lock_board(session, sid) for sid in sorted(affected)}  # fixed order: no deadlocks
            pruned: set[str] = set()
            if prune:
                for n in session.scalars(
                    select(ScreenNotice).where(
                        ScreenNotice.document_id == doc.document_id,
                        ScreenNotice.status == NoticeStatus.active,
                        ScreenNotice.screen_id.not_in(target_ids),
                    )
                ):
                    n.status, n.withdrawn_at, n.delivery_key = NoticeStatus.withdrawn, now, delivery_key
                    boards[n.screen_id].revision += 1
                    pruned.add(n.screen_id)
            for screen in screens:
                start, end = self._period(screen, doc, start_default)
                row = session.scalars(
                    select(ScreenNotice).where(
                        ScreenNotice.screen_id == screen.id, ScreenNotice.document_id == doc.document_id
                    )
                ).one_or_none()
                if row is not None and row.version > doc.version:
                    continue
                board = boards[screen.id]
                if row is None:
                    row = ScreenNotice(screen_id=screen.id, document_id=doc.document_id, slot=board.next_slot)
                    board.next_slot += 1
                    session.add(row)
                row.version = doc.version
                row.status = NoticeStatus.active
                row.withdrawn_at = None
                row.index_no = doc.index_no
                row.title = doc.title
                row.doc_number = doc.doc_number
                row.publisher = doc.publisher
                row.entry_code = doc.entry_code
                row.entry_path = "/".join(doc.entry_path)
                row.formed_on = doc.formed_on
                row.published_at = doc.published_at
                row.excerpt = excerpt
                row.site_url = doc.site_url
                row.display_from = start
                row.display_until = end
                row.delivery_key = delivery_key
                board.revision += 1
            session.flush()
        shown = [
            n
            for sid in sorted(target_ids)
            for n in self.notices(sid, now=now, include_ended=True)
            if n.document_id == doc.document_id
        ]
        return Placement(shown=shown, pruned=sorted(pruned))

    def remove(self, document_id: int, *, delivery_key: str, now: dt.datetime | None = None) -> list[str]:
        """Take a document off every screen; returns the ids of the screens it was on (active or not)."""
        now = now or utcnow()
        with self.session_factory() as session:
            rows = session.scalars(select(ScreenNotice).where(ScreenNotice.document_id == document_id)).all()
            screen_ids = sorted({r.screen_id for r in rows})
            boards = {sid: self._lock_board(session, sid) for sid in screen_ids}
            for r in session.scalars(
                select(ScreenNotice).where(
                    ScreenNotice.document_id == document_id, ScreenNotice.status == NoticeStatus.active
                )
            ):
                r.status, r.withdrawn_at, r.delivery_key = NoticeStatus.withdrawn, now, delivery_key
                boards[r.screen_id].revision += 1
        return screen_ids

    def revision(self, screen_id: str) -> int:
        with self.session_factory() as session:
            board = session.get(ScreenBoard, screen_id)
            return board.revision if board else 0

    def notices(self, screen_id: str, *, now: dt.datetime | None = None, include_ended: bool = False) -> list[ShownNotice]:
        """Active notices of a screen whose display period has not ended, newest first (the rotation order)."""
        now = now or utcnow()
        query = select(ScreenNotice).where(
            ScreenNotice.screen_id == screen_id, ScreenNotice.status == NoticeStatus.active
        )
        if not include_ended:
            query = query.where(ScreenNotice.display_until > now)
        query = query.order_by(ScreenNotice.display_from.desc(), ScreenNotice.document_id.desc())
        with self.session_factory() as session:
            rows = session.scalars(query).all()
            return [self._shown(r) for r in rows]

    def _period(self, screen: ScreenSpec, doc: DocumentPayload, start_default: dt.datetime
                ) -> tuple[dt.datetime, dt.datetime]:
        return self.config.display_period(
            screen,
            entry_code=doc.entry_code,
            entry_path=doc.entry_path,
            start=start_default,
            display_from=doc.display_from,
            display_until=doc.display_until,
        )

    def _shown(self, r: ScreenNotice) -> ShownNotice:
        start, end = _aware(r.display_from), _aware(r.display_until)
        slide = self._slide(r, start, end)
        return ShownNotice(r.screen_id, r.document_id, r.version, r.slot, start, end, slide)

    def _slide(self, r: Any, start: dt.datetime, end: dt.datetime) -> SlideNotice:
        """The slide view of a notice row (or of anything with the row's fields: see :meth:`preview_notice`)."""
        tz = self.config.tz
        published = _aware(r.published_at) if r.published_at else None
        return SlideNotice(
            document_id=r.document_id,
            version=r.version,
            title=r.title,
            doc_number=r.doc_number,
            publisher=r.publisher,
            category=r.entry_path,
            date_text=cn_date(published, tz) if published else cn_date(r.formed_on),
            period_text=period_text(start, end, tz),
            index_no=r.index_no,
            excerpt=r.excerpt,
            site_url=r.site_url,
        )

    def preview_notice(self, doc: DocumentPayload, screen: ScreenSpec, *, now: dt.datetime | None = None
                       ) -> SlideNotice:
        """The slide view :meth:`place` would record for ``doc`` on ``screen``, without recording anything."""
        start, end = self._period(screen, doc, doc.published_at or doc.updated_at or now or utcnow())
        row = ScreenNotice(screen_id=screen.id, document_id=doc.document_id, version=doc.version, index_no=doc.index_no,
                           title=doc.title, doc_number=doc.doc_number, publisher=doc.publisher,
                           entry_code=doc.entry_code, entry_path="/".join(doc.entry_path), formed_on=doc.formed_on,
                           published_at=doc.published_at, excerpt=notice_body(doc), site_url=doc.site_url)
        return self._slide(row, _aware(start), _aware(end))

    # --- live page feed -----------------------------------------------------------------------------------------------

    def feed(self, screen: ScreenSpec, *, now: dt.datetime | None = None, media_base: str = "/screens/_media/"
             ) -> dict[str, Any]:
        """What the live page polls: current and upcoming notices, one entry per slide (page) with its HTML.

        Upcoming ones are included so a screen that loses the network still starts (and ends) them on time. Body
        images load from ``media_base`` (the screens router's media route).
        """
        now = now or utcnow()
        env = template_env(str(self.templates_dir))
        tz = self.config.tz
        entries = []
        for n in self.notices(screen.id, now=now):
            for pg in slide_pages(screen, n.slide, lambda ref: media_base + ref):
                entries.append({
                    "document": n.document_id,
                    "version": n.version,
                    "page": pg.index,
                    "pages": pg.count,
                    "title": n.slide.title,
                    "start": n.start.astimezone(tz).isoformat(),
                    "end": n.end.astimezone(tz).isoformat(),
                    "duration": seconds_for(screen, pg),
                    "html": slide_fragment(env, screen, n.slide, pg),
                })
        return {
            "screen": screen.id,
            "revision": self.revision(screen.id),
            "generated_at": now.astimezone(tz).isoformat(),
            "poll_seconds": self.config.poll_seconds,
            "notices": entries,
        }

    # --- export bundle ------------------------------------------------------------------------------------------------

    def bundle_dir(self, screen_id: str) -> Path:
        return self.bundle_root / screen_id

    def zip_path(self, screen_id: str) -> Path:
        return self.bundle_root / f"{screen_id}.zip"

    @contextmanager
    def _bundle_lock(self, screen_id: str) -> Iterator[None]:
        # Two workers rebuilding the same screen would interleave files; a file lock serialises them on this host
        # (the bundle lives on this host's disk anyway).
        lock_dir = self.bundle_root / ".locks"
        lock_dir.mkdir(parents=True, exist_ok=True)
        with (lock_dir / f"{screen_id}.lock").open("w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _render_key(self, screen: ScreenSpec, n: ShownNotice, page: int, pages: int) -> str:
        parts = [n.slide.fingerprint(), self.renderer.fingerprint(), screen.resolution, screen.orientation, screen.heading,
                 f"{page}/{pages}", PAGES_LAYOUT, str(screen.slide_seconds)]
        return hashlib.sha256("|".join(parts).encode()).hexdigest()

    def read_manifest(self, screen_id: str) -> dict[str, Any] | None:
        path = self.bundle_dir(screen_id) / "manifest.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        return data if isinstance(data, dict) else None

    def rebuild_bundle(self, screen: ScreenSpec, *, now: dt.datetime | None = None) -> BundleResult:
        """Bring the screen's bundle in line with what it should show now, re-rendering only changed slides."""
        now = now or utcnow()
        tz = self.config.tz
        directory = self.bundle_dir(screen.id)
        slides_dir = directory / "slides"
        result = BundleResult(screen.id, directory, self.zip_path(screen.id))
        live = [n for n in self.notices(screen.id, now=now) if n.is_live(now)]
        with self._bundle_lock(screen.id):
            slides_dir.mkdir(parents=True, exist_ok=True)
            previous = {
                (e.get("document"), e.get("file")): e
                for e in (self.read_manifest(screen.id) or {}).get("slides", [])
                if isinstance(e, dict)
            }
            # One job per slide: (notice, page). The pages are cut the same way as for the live page.
            slides = [(n, pg) for n in live for pg in slide_pages(screen, n.slide)]
            keys = {(n.document_id, pg.index): self._render_key(screen, n, pg.index, pg.count) for n, pg in slides}
            to_render: list[tuple[ShownNotice, Any]] = []
            digests: dict[tuple[int, int], str] = {}
            for n, pg in slides:
                file = n.page_file(pg.index)
                old = previous.get((n.document_id, file))
                path = directory / file
                if old and old.get("render_key") == keys[(n.document_id, pg.index)] and path.exists():
                    digest = sha256_file(path)
                    if digest == old.get("sha256"):  # the file is the one we rendered, not a damaged copy
                        digests[(n.document_id, pg.index)] = digest
                        if n.document_id not in result.kept:
                            result.kept.append(n.document_id)
                        continue
                to_render.append((n, pg))
            images = self.renderer.render([RenderJob(screen, n.slide, pg) for n, pg in to_render])
            for (n, pg), png in zip(to_render, images, strict=True):
                _atomic_write(directory / n.page_file(pg.index), png)
                digests[(n.document_id, pg.index)] = hashlib.sha256(png).hexdigest()
                if n.document_id not in result.rendered:
                    result.rendered.append(n.document_id)
            result.kept = [d for d in result.kept if d not in result.rendered]
            wanted = {n.page_file(pg.index) for n, pg in slides}
            for f in sorted(slides_dir.glob("*.png")):
                if f"slides/{f.name}" not in wanted:
                    f.unlink()
                    result.removed.append(f"slides/{f.name}")

            entries = [
                {
                    "id": f"{screen.id}-{n.document_id}" + (f"-{pg.index}" if pg.index > 1 else ""),
                    "document": n.document_id,
                    "version": n.version,
                    "page": pg.index,
                    "pages": pg.count,
                    "title": n.slide.title,
                    "doc_number": n.slide.doc_number,
                    "index_no": n.slide.index_no,
                    "file": n.page_file(pg.index),
                    "sha256": digests[(n.document_id, pg.index)],
                    "duration": seconds_for(screen, pg),
                    "start": n.start.astimezone(tz).isoformat(),
                    "end": n.end.astimezone(tz).isoformat(),
                    "order": i,
                    "render_key": keys[(n.document_id, pg.index)],
                }
                for i, (n, pg) in enumerate(slides, start=1)
            ]
            manifest = {
                "format": "gov-disclosure-screen-bundle/1",
                "screen": {
                    "id": screen.id,
                    "name": screen.name,
                    "location": screen.location,
                    "width": screen.width,
                    "height": screen.height,
                    "orientation": screen.orientation,
                },
                "timezone": self.config.timezone,
                "generated_at": now.astimezone(tz).isoformat(),
                "renderer": self.renderer.name,
                "slides": entries,
            }
            manifest_bytes = json.dumps(manifest, ensure_ascii=False, indent=2).encode("utf-8")
            playlist = ["#EXTM3U", f"#PLAYLIST:{screen.name}"]
            for e in entries:
                playlist += [f"#EXTINF:{e['duration']},{e['title']}", e["file"]]
            playlist_bytes = ("\n".join(playlist) + "\n").encode("utf-8")
            _atomic_write(directory / "manifest.json", manifest_bytes)
            _atomic_write(directory / "playlist.m3u", playlist_bytes)
            self._write_zip(result.zip_path, manifest_bytes, playlist_bytes, directory, [e["file"] for e in entries])
            result.manifest = manifest
        return result

    @staticmethod
    def _write_zip(path: Path, manifest: bytes, playlist: bytes, directory: Path, files: list[str]) -> None:
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        path.parent.mkdir(parents=True, exist_ok=True)
        # PNGs are already compressed: store them, deflate only the text files.
        with zipfile.ZipFile(tmp, "w") as zf:
            zf.writestr("manifest.json", manifest, compress_type=zipfile.ZIP_DEFLATED)
            zf.writestr("playlist.m3u", playlist, compress_type=zipfile.ZIP_DEFLATED)
            for f in files:
                zf.write(directory / f, f, compress_type=zipfile.ZIP_STORED)
        os.replace(tmp, path)

    def refresh_bundles(self, *, now: dt.datetime | None = None) -> list[BundleResult]:
        """Rebuild every screen's bundle (cheap when nothing changed): run periodically so expired notices leave."""
        return [self.rebuild_bundle(s, now=now) for s in self.config.screens]
