"""The embedded default's local outbox: push e-mail and webhooks land as files under var/outbox/."""

from __future__ import annotations

import email
import json
import os

import apprise
import requests

from orchestrator.serve.outbox import LocalOutbox
from tests.services import free_port


def test_outbox_keeps_mail_and_webhooks_as_files(tmp_path, monkeypatch):
    # start() publishes its ports in the environment (for the workers); keep that inside this test.
    monkeypatch.delenv("ORCH_OUTBOX_SMTP_PORT", raising=False)
    monkeypatch.delenv("ORCH_OUTBOX_WEBHOOK_PORT", raising=False)
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


def test_a_second_outbox_takes_free_ports_and_the_push_routes_follow(tmp_path, monkeypatch):
    """A second `serve` on the same machine: the configured ports are taken, so its outbox listens elsewhere and the
    shipped config/subscribers.yaml routes (read through ${ORCH_OUTBOX_*_PORT}) reach it, not the first instance."""
    import socket

    from channels.push.config import load_subscribers, member_urls
    from tests.api_helpers import ROOT

    monkeypatch.delenv("ORCH_PUSH_SMTP_URL", raising=False)
    monkeypatch.delenv("ORCH_OUTBOX_SMTP_PORT", raising=False)
    monkeypatch.delenv("ORCH_OUTBOX_WEBHOOK_PORT", raising=False)
    with socket.socket() as a, socket.socket() as b:
        for s in (a, b):
            s.bind(("127.0.0.1", 0))
            s.listen()
        busy_smtp, busy_hook = a.getsockname()[1], b.getsockname()[1]
        outbox = LocalOutbox(tmp_path / "outbox", smtp_port=busy_smtp, webhook_port=busy_hook)
        started = outbox.start()
        try:
            assert outbox.smtp_port != busy_smtp and outbox.webhook_port != busy_hook
            assert any(f"邮件端口 {busy_smtp} 已被占用" in line for line in started)
            assert any(f"邮件 127.0.0.1:{outbox.smtp_port}" in line for line in started)
            assert any(f"网络推送 127.0.0.1:{outbox.webhook_port}" in line for line in started)
            assert os.environ["ORCH_OUTBOX_SMTP_PORT"] == str(outbox.smtp_port)
            # The shipped subscribers file now routes to this outbox's ports.
            pub = load_subscribers(ROOT / "config" / "subscribers.yaml").publishers[0]
            lawyer = next(m for g in pub.groups for m in g.members if m.id == "law-beiji")
            urls = member_urls(pub, lawyer)
            assert any(u.startswith(f"mailto://127.0.0.1:{outbox.smtp_port}?") for u in urls), urls
            assert f"json://127.0.0.1:{outbox.webhook_port}/push/lawfirm-beiji" in urls
            r = requests.post(f"http://127.0.0.1:{outbox.webhook_port}/push/lawfirm-beiji", json={"title": "第二个实例"},
                              timeout=10)
            assert r.status_code == 200
            hooks = list((tmp_path / "outbox" / "webhook").glob("*.json"))
            assert [json.loads(h.read_text()) for h in hooks] == [{"title": "第二个实例"}]
        finally:
            outbox.stop()
