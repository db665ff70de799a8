"""Unsubscribe end to end over HTTP: the link in a real email, the router served by a real uvicorn, the next push."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from fastapi import FastAPI

from channels.base import Action
from channels.push.adapter import PushChannel
from channels.push.tokens import UnsubscribeClaim, make_token
from tests.push_support import ALL_EMAILS, make_delivery, write_subscribers
from tests.test_push_adapter import context, payload
from tests.web_support import serve_app

SECRET = "web-test-secret"


@pytest.fixture
def web(orch_env, tmp_path: Path, monkeypatch) -> Iterator[str]:
    """The push router in a FastAPI app under a real uvicorn; the base URL."""
    from channels.push.web import router
    from orchestrator import settings

    subscribers = tmp_path / "subscribers.yaml"
    channels = {
        "channels": {
            "targeted_push": {
                "destinations": [
                    {"name": "subscribers", "adapter": "push", "subscribers_file": str(subscribers),
                     "unsubscribe_secret": SECRET}
                ]
            }
        }
    }
    (tmp_path / "channels.yaml").write_text(yaml.safe_dump(channels, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("ORCH_CHANNELS_FILE", str(tmp_path / "channels.yaml"))
    settings.get_settings.cache_clear()

    app = FastAPI()
    app.include_router(router)
    with serve_app(app) as url:
        yield url


def test_unsubscribe_end_to_end(web, tmp_path, smtp, hooks):
    publisher = f"根河市司法局{uuid.uuid4().hex[:6]}"
    subscribers = write_subscribers(tmp_path / "subscribers.yaml", publisher, smtp, hooks)
    ch = PushChannel(
        {"subscribers_file": str(subscribers), "public_url": web, "unsubscribe_secret": SECRET, "timeout_seconds": 3}
    )
    ch.publish(context(make_delivery(publisher), payload(publisher)))

    mail = smtp.handler.to("legal@dairy.example.cn")[0]
    link = re.search(r"(http://\S+/push/unsubscribe/[A-Za-z0-9_.\-]+)", mail.part("plain")).group(1)
    assert mail.message["List-Unsubscribe"] == f"<{link}>"

    with httpx.Client(timeout=10) as http:
        page = http.get(link)
        assert page.status_code == 200
        assert "确认退订" in page.text and "根河乳业有限公司" in page.text and publisher in page.text
        assert page.headers["cache-control"] == "no-store"
        # Opening the link (as a mail scanner would) has not unsubscribed anyone yet.
        ch.publish(context(make_delivery(publisher), payload(publisher, title="第二份文件")))
        assert len(smtp.handler.to("legal@dairy.example.cn")) == 2

        done = http.post(link)
        assert done.status_code == 200
        assert "退订成功" in done.text and "今后不会再收到" in done.text
        again = http.post(link)  # a double click is harmless
        assert again.status_code == 200 and "退订成功" in again.text
        assert "退订成功" in http.get(link).text

    # The next push skips that member and reaches everyone else once.
    did = make_delivery(publisher)
    receipt = ch.publish(context(did, payload(publisher, title="第三份文件")))
    third = [m for m in smtp.handler.received if "第三份文件" in m.subject]
    assert sorted(r for m in third for r in m.rcpt) == sorted(a for a in ALL_EMAILS if a != "legal@dairy.example.cn")
    assert receipt.data["recipients"] == 5
    # Withdrawal and correction notices respect it too.
    ch.withdraw(context(make_delivery(publisher, action="withdraw"), payload(publisher), Action.withdraw, receipt))
    assert len(smtp.handler.to("legal@dairy.example.cn")) == 2


def test_one_click_and_invalid_links(web, tmp_path, smtp, hooks):
    publisher = f"根河市司法局{uuid.uuid4().hex[:6]}"
    write_subscribers(tmp_path / "subscribers.yaml", publisher, smtp, hooks)
    token = make_token(SECRET, UnsubscribeClaim(publisher, "ent-forestry", "abc"))
    with httpx.Client(timeout=10) as http:
        # RFC 8058 one-click, as a mail client sends it.
        r = http.post(f"{web}/push/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"})
        assert r.status_code == 200 and "退订成功" in r.text

        tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
        bad = http.get(f"{web}/push/unsubscribe/{tampered}")
        assert bad.status_code == 400 and "退订链接无效" in bad.text
        forged = make_token("another-key", UnsubscribeClaim(publisher, "ent-dairy", "abc"))
        assert http.post(f"{web}/push/unsubscribe/{forged}").status_code == 400

    from sqlalchemy import select

    from channels.push.models import PushUnsubscription
    from orchestrator.db import get_sessionmaker

    with get_sessionmaker()() as s:
        rows = s.scalars(select(PushUnsubscription).where(PushUnsubscription.publisher == publisher)).all()
    assert [(r.member, r.method) for r in rows] == [("ent-forestry", "one-click")]
