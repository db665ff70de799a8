"""Real local counterparts for targeted-push tests: an SMTP server (aiosmtpd) and a webhook receiver (http.server).

Both record what they receive and can be told to fail or to be slow, so tests drive partial failures, retries and
crashes against real protocols rather than mocks.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPProtocol
from aiosmtpd.smtp import Envelope, Session

from tests.services import free_port  # noqa: F401  (re-exported for the test modules)


@dataclass
class ReceivedMail:
    rcpt: list[str]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    def part(self, subtype: str) -> str:
        for p in self.message.walk():
            if p.get_content_type() == f"text/{subtype}":
                return str(p.get_content())
        return ""


@dataclass
class SmtpHandler:
    received: list[ReceivedMail] = field(default_factory=list)
    # Recipients answered with a temporary failure (451) while listed.
    refuse: set[str] = field(default_factory=set)
    # Seconds to wait before answering each RCPT TO (so a test can kill a sender mid-conversation).
    rcpt_delay: float = 0.0
    # Called with the address whenever a RCPT TO arrives (before the delay).
    on_rcpt: Callable[[str], None] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(self, server: SMTPProtocol, session: Session, envelope: Envelope, address: str, options):  # noqa: N802
        if self.on_rcpt:
            self.on_rcpt(address)
        if self.rcpt_delay:
            import asyncio

            await asyncio.sleep(self.rcpt_delay)
        if address.lower() in self.refuse:
            return "451 4.3.0 请稍后重试"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTPProtocol, session: Session, envelope: Envelope):  # noqa: N802
        msg = email.message_from_bytes(envelope.original_content or b"", policy=email.policy.default)
        with self.lock:
            self.received.append(ReceivedMail(list(envelope.rcpt_tos), msg))  # type: ignore[arg-type]
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[ReceivedMail]:
        with self.lock:
            return [m for m in self.received if address.lower() in (r.lower() for r in m.rcpt)]

    def count(self) -> int:
        with self.lock:
            return len(self.received)


class SmtpServer:
    def __init__(self) -> None:
        self.handler = SmtpHandler()
        self.port = free_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)

    def start(self) -> SmtpServer:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def mail_server_url(self) -> str:
        return f"mailto://127.0.0.1:{self.port}?from=gkpush@genhe.gov.cn&mode=insecure"


@dataclass
class ReceivedHook:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode("utf-8")).items()}


class WebhookReceiver:
    """A real HTTP server on 127.0.0.1 that records every request; ``failing`` paths answer 503."""

    def __init__(self) -> None:
        self.received: list[ReceivedHook] = []
        self.failing: set[str] = set()
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if self.path in outer.failing:
                    self.send_response(503)
                    self.end_headers()
                    return
                with outer.lock:
                    outer.received.append(ReceivedHook(self.path, dict(self.headers.items()), body))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"ok": true}')

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> WebhookReceiver:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def at(self, path: str) -> list[ReceivedHook]:
        with self.lock:
            return [h for h in self.received if h.path == path]


def write_subscribers(path: Path, publisher: str, smtp: SmtpServer, hooks: WebhookReceiver, **group_flags: Any) -> Path:
    """Three groups like the shipped file: 企业 (2 emails), 律师 (email + JSON webhook), 社区办公室 (email + form webhook)."""
    text = f"""
publishers:
  - publisher: {publisher}
    mail_server: {smtp.mail_server_url()}
    groups:
      - name: 企业
        notify_update: {str(group_flags.get("enterprise_update", True)).lower()}
        notify_withdraw: true
        members:
          - id: ent-forestry
            name: 根河林业发展有限公司
            email: fawu@forestry.example.cn
          - id: ent-dairy
            name: 根河乳业有限公司
            email: legal@dairy.example.cn
      - name: 律师
        members:
          - id: law-beiji
            name: 北极律师事务所
            email: office@beiji-law.example.cn
            routes:
              - json://127.0.0.1:{hooks.port}/hook/lawfirm
      - name: 社区办公室
        notify_withdraw: {str(group_flags.get("community_withdraw", True)).lower()}
        members:
          - id: community-haolibao
            name: 好里堡街道社区办公室
            email: shequ@haolibao.example.cn
          - id: community-hexi
            name: 河西街道社区办公室
            routes:
              - form://127.0.0.1:{hooks.port}/hook/hexi
    pushes:
      - entries: [履职依据/规范性文件]
        groups: [企业, 律师, 社区办公室]
"""
    path.write_text(text, encoding="utf-8")
    return path


ALL_EMAILS = [
    "fawu@forestry.example.cn",
    "legal@dairy.example.cn",
    "office@beiji-law.example.cn",
    "shequ@haolibao.example.cn",
]
ALL_HOOKS = ["/hook/lawfirm", "/hook/hexi"]


def make_delivery(publisher: str, *, action: str = "publish", follows_id: int | None = None) -> int:
    """Real rows (publisher, entry, document, version, delivery) so the ledger's foreign key holds; the delivery id."""
    from orchestrator.db import get_sessionmaker
    from orchestrator.models import CatalogEntryRow, Delivery, Document, DocumentVersion, Publisher

    tag = uuid.uuid4().hex[:10]
    with get_sessionmaker().begin() as s:
        pub = s.query(Publisher).filter_by(name=publisher).one_or_none()
        if pub is None:
            pub = Publisher(name=publisher)
            s.add(pub)
            s.flush()
        # An inactive entry with its own path: the session's database is shared with other tests, whose submissions
        # resolve entries by path (a second active 履职依据/规范性文件 would make theirs ambiguous).
        entry = CatalogEntryRow(
            publisher_id=pub.id, code=f"PUSHTEST-{tag}", path=["精准推送测试", tag], path_text=f"精准推送测试/{tag}",
            active=False,
        )
        s.add(entry)
        s.flush()
        doc = Document(
            publisher_id=pub.id, entry_id=entry.id, index_no=f"TEST-{tag}", title="测试文件", formed_on=dt.date(2025, 3, 1)
        )
        s.add(doc)
        s.flush()
        ver = DocumentVersion(document_id=doc.id, version=1, title="测试文件", body_html="<p>正文</p>", content_hash=tag)
        s.add(ver)
        s.flush()
        delivery = Delivery(
            document_id=doc.id,
            version_id=ver.id,
            version=1,
            channel="targeted_push",
            destination="subscribers",
            action=action,
            idempotency_key=f"push-test-{tag}",
            follows_id=follows_id,
        )
        s.add(delivery)
        s.flush()
        return int(delivery.id)


def wait_until(predicate: Callable[[], bool], timeout: float = 30.0, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


# --- fixtures (imported by the push test modules) ---------------------------------------------------------------------

@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    """A real SMTP server (aiosmtpd) on a free port, recording every message."""
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def hooks() -> Iterator[WebhookReceiver]:
    """A real webhook receiver on a free port, recording every POST."""
    receiver = WebhookReceiver().start()
    yield receiver
    receiver.stop()
