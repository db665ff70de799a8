"""Helpers shared by the site and gazette tests: payload builders, a real local HTTP server, an HTML reader."""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from channels.base import Action, AttachmentInfo, DeliveryContext, DocumentPayload

CST = dt.timezone(dt.timedelta(hours=8))


def attachment(tmp: Path, filename: str, data: bytes, content_type: str = "application/pdf") -> AttachmentInfo:
    digest = hashlib.sha256(data).hexdigest()
    store = tmp / "blobs"
    store.mkdir(parents=True, exist_ok=True)
    path = store / digest
    path.write_bytes(data)
    return AttachmentInfo(filename=filename, content_type=content_type, size=len(data), sha256=digest, path=path)


def payload(document_id: int, **kw: Any) -> DocumentPayload:
    base: dict[str, Any] = {
        "document_id": document_id,
        "version": 1,
        "index_no": f"11150785MB1234567X/2026-{document_id:05d}",
        "title": f"关于印发第{document_id}号工作方案的通知",
        "body_html": f"<p>正文第{document_id}号。</p>",
        "doc_number": f"根司发〔2026〕{document_id}号",
        "formed_on": dt.date(2026, 3, 2),
        "publisher": "根河市司法局",
        "entry_code": "GH-SFJ-001",
        "entry_path": ("法定主动公开内容", "规范性文件"),
        "published_at": dt.datetime(2026, 3, 3, 9, 0, tzinfo=CST),
        "updated_at": dt.datetime(2026, 3, 3, 9, 0, tzinfo=CST),
    }
    base.update(kw)
    return DocumentPayload(**base)


def context(doc: DocumentPayload, action: Action = Action.publish, delivery_id: int | None = None) -> DeliveryContext:
    did = delivery_id if delivery_id is not None else doc.document_id * 100 + doc.version
    return DeliveryContext(
        delivery_id=did,
        idempotency_key=f"delivery-{did}-{action.value}",
        channel="website",
        destination="site",
        action=action,
        document=doc,
    )


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass


@contextmanager
def serve(directory: Path) -> Iterator[str]:
    """Serve ``directory`` with the standard library's HTTP server on a free port; yields the base URL."""
    directory.mkdir(parents=True, exist_ok=True)
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(directory)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


class Page(HTMLParser):
    """A parsed page: meta tags, title, text, links (href, text, attributes), elements by class, scripts."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.meta: dict[str, str] = {}
        self.title = ""
        self.links: list[dict[str, str]] = []
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text_parts: list[str] = []
        self.by_class: dict[str, list[str]] = {}
        self._stack: list[tuple[str, list[str], list[str]]] = []
        self._link: dict[str, str] | None = None
        self._in_title = False
        self.feed(html)
        self.text = "".join(self.text_parts)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: (v or "") for k, v in attrs}
        self.tags.append((tag, a))
        if tag == "meta" and "name" in a:
            self.meta[a["name"]] = a.get("content", "")
        if tag == "title":
            self._in_title = True
        if tag == "a":
            self._link = {**a, "text": ""}
        if tag not in {"meta", "link", "br", "img", "input", "hr", "col"}:
            self._stack.append((tag, a.get("class", "").split(), []))

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        if tag == "a" and self._link is not None:
            self.links.append(self._link)
            self._link = None
        while self._stack:
            t, classes, buf = self._stack.pop()
            text = "".join(buf).strip()
            for c in classes:
                self.by_class.setdefault(c, []).append(text)
            if self._stack:
                self._stack[-1][2].append("".join(buf))
            if t == tag:
                break

    def handle_data(self, data: str) -> None:
        self.text_parts.append(data)
        if self._in_title:
            self.title += data
        if self._link is not None:
            self._link["text"] += data
        if self._stack:
            self._stack[-1][2].append(data)

    def first(self, cls: str) -> str:
        return (self.by_class.get(cls) or [""])[0]
