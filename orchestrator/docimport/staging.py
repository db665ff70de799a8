"""Files the import (or the editor's image upload) put in the attachment store before the document exists.

The editor shows a staged image by its URL (``/submit/staged/<sha256>/<name>``); on submission the body refers to it
by its attachment file name (what every channel resolves) and the blob becomes one of the version's attachments.
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote

from orchestrator.documents import attachments as att
from orchestrator.documents.inputs import FieldError, ServiceError, Upload
from orchestrator.settings import Settings

STAGED_PREFIX = "/submit/staged/"
_STAGED_SRC = re.compile(r'src="(?:https?://[^/"]+)?/submit/staged/([0-9a-f]{64})/([^"/]+)"')
_REF = re.compile(r"^([0-9a-f]{64})/(.+)$")


def staged_url(stored: att.StoredAttachment) -> str:
    return f"{STAGED_PREFIX}{stored.sha256}/{quote(stored.filename)}"


def localise_body(html: str) -> tuple[str, list[str]]:
    """The body with staged image URLs replaced by the attachment file name, and the ``sha/name`` refs found."""
    refs: list[str] = []

    def sub(m: re.Match[str]) -> str:
        name = att.clean_filename(unquote(m.group(2)))
        ref = f"{m.group(1)}/{name}"
        if ref not in refs:
            refs.append(ref)
        return f'src="{name}"'

    return _STAGED_SRC.sub(sub, html), refs


def staged_uploads(settings: Settings, refs: list[str]) -> list[Upload]:
    """Uploads reading staged blobs (re-storing them is a no-op for the store: same content, same address)."""
    ups: list[Upload] = []
    seen: set[str] = set()
    for ref in refs:
        m = _REF.match(ref.strip())
        if not m:
            raise ServiceError([FieldError("附件", f"无法识别的已上传文件引用：{ref[:80]}")])
        if ref in seen:
            continue
        seen.add(ref)
        path = att.blob_path(settings, m.group(1))
        if not path.is_file():
            raise ServiceError([FieldError("附件", f"已上传的文件“{m.group(2)}”已失效，请重新上传")])
        ups.append(Upload(m.group(2), path.open("rb")))
    return ups
