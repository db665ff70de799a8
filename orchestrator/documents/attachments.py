"""Attachments: checked (size, type by name *and* content), stored content-addressed under var/attachments."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from orchestrator.settings import Settings

# Magic numbers of the types we accept; a file whose content contradicts its extension is refused.
_MAGIC: dict[str, tuple[bytes, ...]] = {
    "pdf": (b"%PDF-",),
    "png": (b"\x89PNG\r\n\x1a\n",),
    "jpg": (b"\xff\xd8\xff",),
    "jpeg": (b"\xff\xd8\xff",),
    "gif": (b"GIF87a", b"GIF89a"),
    "zip": (b"PK\x03\x04", b"PK\x05\x06"),
    "docx": (b"PK\x03\x04",),
    "xlsx": (b"PK\x03\x04",),
    "ofd": (b"PK\x03\x04",),
    "doc": (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",),
    "xls": (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",),
    "wps": (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",),
    "et": (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",),
}
CONTENT_TYPES = {
    "pdf": "application/pdf",
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "zip": "application/zip",
    "doc": "application/msword",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xls": "application/vnd.ms-excel",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "wps": "application/vnd.ms-works",
    "et": "application/vnd.ms-excel",
    "ofd": "application/ofd",
    "txt": "text/plain; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
}


class AttachmentError(ValueError):
    """A refused attachment; the message is for the clerk."""


@dataclass(frozen=True)
class StoredAttachment:
    filename: str
    content_type: str
    size: int
    sha256: str
    path: Path
    # True when this upload put the blob in the store (it was not there before): only such a blob may be removed
    # again when the request that brought it is refused.
    created: bool = False


_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]")


def clean_filename(name: str) -> str:
    """The user's file name without any directory part or control characters (kept for display only)."""
    name = unicodedata.normalize("NFC", name or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE.sub("_", name).strip(" .")
    return name[:200] or "附件"


def extension(name: str) -> str:
    return name.rsplit(".", 1)[-1].lower() if "." in name else ""


def blob_path(settings: Settings, sha256: str) -> Path:
    return settings.attachments_dir / sha256[:2] / sha256[2:]


def store(settings: Settings, filename: str, stream: BinaryIO) -> StoredAttachment:
    """Copy a stream into the content-addressed store, enforcing the size limit while reading."""
    name = clean_filename(filename)
    ext = extension(name)
    if ext not in settings.allowed_attachment_types:
        allowed = "、".join(settings.allowed_attachment_types)
        raise AttachmentError(f"附件“{name}”的类型不允许上传（允许：{allowed}）")
    limit = settings.max_attachment_bytes
    settings.attachments_dir.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    head = b""
    fd, tmp = tempfile.mkstemp(dir=settings.attachments_dir, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := stream.read(1024 * 1024):
                size += len(chunk)
                if size > limit:
                    raise AttachmentError(f"附件“{name}”超过大小上限（{limit // (1024 * 1024)} MB）")
                if len(head) < 16:
                    head += chunk[:16]
                digest.update(chunk)
                out.write(chunk)
        if size == 0:
            raise AttachmentError(f"附件“{name}”是空文件")
        magics = _MAGIC.get(ext)
        if magics and not any(head.startswith(m) for m in magics):
            raise AttachmentError(f"附件“{name}”的内容与扩展名 .{ext} 不符，可能已损坏或被改名")
        sha = digest.hexdigest()
        dest = blob_path(settings, sha)
        dest.parent.mkdir(parents=True, exist_ok=True)
        created = not dest.exists()
        os.replace(tmp, dest)
        tmp = ""
    finally:
        if tmp and os.path.exists(tmp):
            os.unlink(tmp)
    return StoredAttachment(name, CONTENT_TYPES.get(ext, "application/octet-stream"), size, sha, dest, created)


def discard(stored: list[StoredAttachment]) -> None:
    """Remove the blobs a refused request added (never one that was already there: other documents use it)."""
    for s in stored:
        if s.created:
            s.path.unlink(missing_ok=True)
