"""The embedded default's local outbox for targeted push: a real SMTP server and a webhook receiver on 127.0.0.1
that write what they receive under ``var/outbox/`` instead of sending it on.

``config/subscribers.yaml`` routes mail to 127.0.0.1:${ORCH_OUTBOX_SMTP_PORT:-2525} and webhooks to
127.0.0.1:${ORCH_OUTBOX_WEBHOOK_PORT:-8808} unless ORCH_PUSH_SMTP_URL (or the file) says otherwise, so a fresh install
shows every push as a file a person can open, rather than a delivery that retries against nothing. Production points
those routes at the agency's relay and services.

When a configured port is taken (a second ``serve`` on the same machine), the outbox listens on a free port instead and
sets ``ORCH_OUTBOX_SMTP_PORT`` / ``ORCH_OUTBOX_WEBHOOK_PORT`` in this process's environment, which the workers it starts
inherit: this instance's pushes land in its own outbox, not in the other instance's.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

SMTP_PORT = 2525
WEBHOOK_PORT = 8808
_counter = itertools.count(1)


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _any_free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


SMTP_PORT_ENV = "ORCH_OUTBOX_SMTP_PORT"
WEBHOOK_PORT_ENV = "ORCH_OUTBOX_WEBHOOK_PORT"


def _name(suffix: str) -> str:
    return f"{dt.datetime.now(dt.UTC).strftime('%Y%m%dT%H%M%S%f')}-{next(_counter):05d}{suffix}"


class LocalOutbox:
    def __init__(self, directory: Path, smtp_port: int = SMTP_PORT, webhook_port: int = WEBHOOK_PORT) -> None:
        self.directory = directory
        self.smtp_port = smtp_port
        self.webhook_port = webhook_port
        self.smtp = None
        self.http: ThreadingHTTPServer | None = None

    def start(self) -> list[str]:
        """Start both servers (on free ports when the configured ones are taken); returns what was started (for the
        start-up message)."""
        started = []
        mail_dir = self.directory / "mail"
        hook_dir = self.directory / "webhook"
        mail_dir.mkdir(parents=True, exist_ok=True)
        hook_dir.mkdir(parents=True, exist_ok=True)
        notes = []
        if not _free(self.smtp_port):
            taken, self.smtp_port = self.smtp_port, _any_free_port()
            notes.append(f"邮件端口 {taken} 已被占用（可能另有一个实例在运行），改用 {self.smtp_port}")
        if not _free(self.webhook_port):
            taken, self.webhook_port = self.webhook_port, _any_free_port()
            notes.append(f"网络推送端口 {taken} 已被占用，改用 {self.webhook_port}")
        # The routes in config/subscribers.yaml read these (${ORCH_OUTBOX_SMTP_PORT:-2525}); workers inherit them.
        os.environ[SMTP_PORT_ENV] = str(self.smtp_port)
        os.environ[WEBHOOK_PORT_ENV] = str(self.webhook_port)
        started.extend(notes)
        from aiosmtpd.controller import Controller  # only when the local outbox runs

        class Handler:
            async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
                (mail_dir / _name(".eml")).write_bytes(envelope.original_content or envelope.content)
                return "250 OK"

        self.smtp = Controller(Handler(), hostname="127.0.0.1", port=self.smtp_port)
        self.smtp.start()
        started.append(f"邮件 127.0.0.1:{self.smtp_port} → {mail_dir}")

        class Hook(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(min(int(self.headers.get("Content-Length") or 0), 10 * 1024 * 1024))
                suffix = ".json" if "json" in (self.headers.get("Content-Type") or "") else ".txt"
                (hook_dir / _name(suffix)).write_bytes(body)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.http = ThreadingHTTPServer(("127.0.0.1", self.webhook_port), Hook)
        self.http.daemon_threads = True
        threading.Thread(target=self.http.serve_forever, daemon=True, name="outbox-webhook").start()
        started.append(f"网络推送 127.0.0.1:{self.webhook_port} → {hook_dir}")
        return started

    def stop(self) -> None:
        if self.smtp is not None:
            self.smtp.stop()
        if self.http is not None:
            self.http.shutdown()
            self.http.server_close()
