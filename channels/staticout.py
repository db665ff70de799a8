"""Shared plumbing for the channels that write static files (the built-in disclosure site and the gazette feed).

Both adapters keep their state in a small SQLite file *beside* the published directory (never inside it: a web
server serves the output directory as-is, and the state must not be downloadable), serialise writers with an
advisory file lock (several Celery worker processes may publish to one destination at once), and replace files
atomically so a reader never sees half a page.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import os
import re
import sqlite3
import tempfile
import unicodedata
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import nh3
import requests
from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles

from channels.base import ChannelConfig, NotConfigured, PermanentError, TransientError
from orchestrator.settings import get_settings

CST = dt.timezone(dt.timedelta(hours=8), "CST")

# Tags and attributes a disclosure body may keep. Everything else (script, style, iframe, form, event handlers,
# inline style, width/height) is dropped: the core already sanitises, this is the second line of defence.
BODY_TAGS = {
    "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "b", "em", "i", "u", "s", "sub", "sup",
    "blockquote", "pre", "code", "span", "div", "ul", "ol", "li", "dl", "dt", "dd",
    "table", "thead", "tbody", "tfoot", "tr", "th", "td", "caption", "colgroup", "col", "a", "img",
}
BODY_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
    "ol": {"start"},
}
URL_SCHEMES = {"http", "https", "mailto"}


def clean_body(html: str) -> str:
    """Allow-list sanitising of a document body (defence in depth on top of the core's sanitiser)."""
    return nh3.clean(
        html or "",
        tags=BODY_TAGS,
        attributes=BODY_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer",
        strip_comments=True,
    )


_SAFE_EXT = re.compile(r"^\.[a-z0-9]{1,8}$")
_SLUG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def safe_extension(filename: str) -> str:
    """The lower-cased extension of a user-supplied file name, or "" when it is anything but plain letters/digits."""
    name = PurePosixPath((filename or "").replace("\\", "/")).name
    suffix = PurePosixPath(name).suffix.lower()
    return suffix if _SAFE_EXT.match(suffix) else ""


def display_filename(filename: str) -> str:
    """A user-supplied file name reduced to something safe to show (no directories, no control characters)."""
    name = PurePosixPath((filename or "").replace("\\", "/")).name
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip().strip(".")
    return name[:200] or "附件"


def slug(value: str) -> str:
    """A file-system and URL safe name for a catalog code or publisher: the value itself when already safe
    (and not something like ``..``), otherwise a short stable hash."""
    if _SLUG.match(value) and value not in {".", ".."} and ".." not in value:
        return value
    return "x" + hashlib.sha1(value.encode("utf-8")).hexdigest()[:12]


def inside(root: Path, relative: str) -> Path:
    """``root / relative``, refusing anything that would resolve outside ``root``."""
    root_resolved = root.resolve()
    target = (root_resolved / relative).resolve()
    if target != root_resolved and root_resolved not in target.parents:
        raise PermanentError("生成的文件路径越出了发布目录，已拒绝", detail=relative)
    return target


def write_atomic(path: Path, data: bytes | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def copy_verified(src: Path, dest: Path, sha256: str) -> int:
    """Copy an attachment, checking its digest on the way; returns the size. The copy lands atomically."""
    if not src.is_file():
        raise PermanentError("附件文件不存在，无法发布", detail=str(src))
    dest.parent.mkdir(parents=True, exist_ok=True)
    h = hashlib.sha256()
    size = 0
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".tmp-")
    try:
        with open(src, "rb") as fin, os.fdopen(fd, "wb") as fout:
            for chunk in iter(lambda: fin.read(1 << 20), b""):
                h.update(chunk)
                size += len(chunk)
                fout.write(chunk)
        if sha256 and h.hexdigest() != sha256.lower():
            raise PermanentError("附件内容与登记的校验值不一致，已拒绝发布", detail=f"{src}: {h.hexdigest()} != {sha256}")
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return size


class StateDB:
    """A SQLite state file plus an exclusive lock file. Use as ``with state.locked() as db: ...``:
    the lock serialises writers across processes, the transaction commits only if the block succeeds."""

    def __init__(self, path: Path, schema: str):
        self.path = path
        self.schema = schema

    def connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.executescript(self.schema)
        return conn

    @contextlib.contextmanager
    def locked(self) -> Iterator[sqlite3.Connection]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(".lock"), "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            conn = self.connect()
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            finally:
                conn.close()
                fcntl.flock(lock, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        conn = self.connect()
        try:
            yield conn
        finally:
            conn.close()


class StaticOutputConfig(ChannelConfig):
    """Settings every static-output channel (site, gazette) shares."""

    output_dir: Path | None = None  # default: <var_dir>/<channel>
    state_dir: Path | None = None  # default: <output_dir>.state beside it (never inside: the output is public)
    public_base_url: str = ""  # default: <public_url>/<mount>/
    templates_dir: Path | None = None  # default: <templates_dir>/<channel>


def resolve_dirs(config: StaticOutputConfig, default_name: str) -> tuple[Path, Path]:
    """(output_dir, state_dir) from a destination's config; defaults live under ``settings.var_dir``."""
    settings = get_settings()
    out = Path(config.output_dir or settings.var_dir / default_name)
    state = Path(config.state_dir or out.with_name(out.name + ".state"))
    if state.resolve() == out.resolve() or out.resolve() in state.resolve().parents:
        raise NotConfigured("状态目录不能位于发布目录之内（发布目录会被公开访问）")
    return out, state


def public_base(config: StaticOutputConfig, mount: str) -> str:
    """Public base URL of the output directory, always ending in "/"."""
    base = config.public_base_url
    if not base:
        base = get_settings().public_url.rstrip("/") + "/" + mount.strip("/") + "/"
    return base if base.endswith("/") else base + "/"


def fetch(url: str, timeout: float | None = None) -> requests.Response:
    """GET a public URL; connection trouble is transient (the server may be restarting)."""
    if timeout is None:
        timeout = get_settings().http_timeout_seconds
    try:
        return requests.get(url, timeout=timeout, headers={"Cache-Control": "no-cache"})
    except requests.RequestException as exc:
        raise TransientError("无法访问公开地址，稍后重试", detail=f"{url}: {exc}") from exc


def aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=CST)


def date_start(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=CST)


# Statuses a visitor can meet on a public page, in words (Starlette's own answer is English "Not Found").
PUBLIC_STATUS_TEXT = {404: ("找不到页面", "您访问的页面不存在，可能已被撤回、移动，或地址输入有误。"),
                      405: ("不支持该操作", "该地址不支持这种访问方式。")}


def status_page(status: int, home: str = "/") -> HTMLResponse:
    """A plain Chinese page for a public 404/405 (no scripts or inline styles: it passes the public pages' CSP)."""
    heading, text = PUBLIC_STATUS_TEXT.get(status, ("无法访问", "该地址暂时无法访问。"))
    return HTMLResponse(
        f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{heading}</title></head>'
        f"<body><h1>{heading}</h1><p>{text}</p><p><a href=\"{home}\">返回首页</a></p></body></html>",
        status_code=status)


class PublicStaticFiles(StaticFiles):
    """StaticFiles whose "not found" is the Chinese page above, linking to the front page of where it is mounted."""

    async def get_response(self, path: str, scope: Any) -> Response:
        try:
            return await super().get_response(path, scope)
        except HTTPException as exc:
            if exc.status_code in PUBLIC_STATUS_TEXT:
                return status_page(exc.status_code, scope.get("root_path", "").rstrip("/") + "/")
            raise


def static_app(directory: Path) -> Any:
    """A Starlette app serving ``directory`` (index.html for directories), for mounting under the web app."""
    directory.mkdir(parents=True, exist_ok=True)
    return PublicStaticFiles(directory=str(directory), html=True, check_dir=False)
