"""The embedded default's local outbox: push e-mail and webhooks land as files under var/outbox/."""

from __future__ import annotations

import email
import json

import apprise
import requests

from orchestrator.serve.outbox import LocalOutbox
from tests.services import free_port


def test_outbox_keeps_mail_and_webhooks_as_files(tmp_path):
    smtp, hook = free_port(), free_port()
    outbox = LocalOutbox(tmp_path / "outbox", smtp_port=smtp, webhook_port=hook)
    started = outbox.start()
    try:
        assert len(started) == 2
        a = apprise.Apprise()
        assert a.add(f"mailto://127.0.0.1:{smtp}?from=gkpush@genhe.gov.cn&to=fawu@example.cn&mode=insecure")
        assert a.notify(title="关于印发《行政执法公示办法》的通知", body="请查阅。")
        mails = list((tmp_path / "outbox" / "mail").glob("*.eml"))
        assert len(mails) == 1
        msg = email.message_from_bytes(mails[0].read_bytes())
        subject = str(email.header.make_header(email.header.decode_header(msg["Subject"])))
        assert subject == "关于印发《行政执法公示办法》的通知"
        r = requests.post(f"http://127.0.0.1:{hook}/push/x", json={"title": "通知"}, timeout=5)
        assert r.status_code == 200
        hooks = list((tmp_path / "outbox" / "webhook").glob("*.json"))
        assert [json.loads(h.read_text()) for h in hooks] == [{"title": "通知"}]
    finally:
        outbox.stop()


def test_outbox_leaves_busy_ports_alone(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        busy = s.getsockname()[1]
        outbox = LocalOutbox(tmp_path / "outbox", smtp_port=busy, webhook_port=free_port())
        started = outbox.start()
        try:
            assert len(started) == 1 and "网络推送" in started[0]
        finally:
            outbox.stop()
