"""``serve --port N`` with ORCH_PUBLIC_URL unset: every public link the product hands out points at port N.

Receipts, the site and gazette pages, the Atom feed, the WeChat article's 阅读原文, the screens' QR codes (decoded
from the exported slide PNG) and the push e-mail's 查看原文 / 退订 links; and since the links are right, the website
and gazette deliveries are checked live (verified). Two seed catalog entries between them mark every kind of channel.
"""

from __future__ import annotations

import email
import email.policy
import json
import sys
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import zxingcpp
from PIL import Image

from tests.api_helpers import ROOT
from tests.serve_support import Serve, clean_env, local_urls, outbox_subscribers, submit_seed_documents
from tests.services import free_port


def seed_env(tmp_path: Path) -> dict[str, str]:
    smtp, hook = free_port(), free_port()
    return clean_env(
        ORCH_VAR_DIR=str(tmp_path / "var"), PYTHONPATH=str(ROOT), ORCH_SWEEP_INTERVAL_SECONDS="2",
        ORCH_OUTBOX_SMTP_PORT=str(smtp), ORCH_OUTBOX_WEBHOOK_PORT=str(hook),
        ORCH_PUSH_SUBSCRIBERS=str(outbox_subscribers(tmp_path, ROOT / "config" / "subscribers.yaml", smtp, hook)),
    )


def mail_texts(mail_dir: Path) -> list[str]:
    texts = []
    for f in sorted(mail_dir.glob("*.eml")):
        msg = email.message_from_bytes(f.read_bytes(), policy=email.policy.default)
        texts.extend(part.get_content() for part in msg.walk() if part.get_content_maintype() == "text")
    return texts


def decoded_qr_codes(png: Path) -> list[str]:
    return [r.text for r in zxingcpp.read_barcodes(Image.open(png).convert("RGB"))]


@pytest.mark.slow
def test_public_links_follow_the_port_serve_listens_on(tmp_path):
    env = seed_env(tmp_path)
    serve = Serve([sys.executable, "-m", "orchestrator.cli"], env, tmp_path)
    assert serve.port != 8000
    try:
        serve.start()
        seed = submit_seed_documents(serve)
        policy, news = seed["policy"], seed["news"]
        policy_ds, news_ds = seed["policy_deliveries"], seed["news_deliveries"]
        port = serve.port

        def ours(urls: list[str], what: str, required: bool = True) -> None:
            assert urls or not required, f"no link in {what}"
            wrong = [u for u in urls if urlsplit(u).port != port]
            assert not wrong, f"{what} links not on port {port}: {wrong}"

        # Receipts: every link in every receipt.
        receipts = [json.dumps(d["receipt"], ensure_ascii=False) for d in policy_ds + news_ds]
        ours(local_urls(receipts), "receipts")
        site_urls = {d["document_id"]: d["receipt"]["url"] for d in policy_ds + news_ds if d["channel"] == "website"}
        for url in site_urls.values():
            assert httpx.get(url, timeout=10).status_code == 200, url
        # WeChat 阅读原文 in the paste-ready article.
        wechat = next(d for d in news_ds if d["channel"] == "wechat")
        assert wechat["receipt"]["data"]["content_source_url"] == site_urls[news["document_id"]]

        var = Path(env["ORCH_VAR_DIR"])
        # Site and gazette pages (mostly relative links), the Atom feed (absolute ones).
        ours(local_urls(p.read_text() for p in (var / "site").rglob("*.html")), "site pages", required=False)
        ours(local_urls(p.read_text() for p in (var / "gazette").rglob("*.html")), "gazette pages", required=False)
        feeds = [p for p in (var / "gazette").rglob("*.xml") if "<feed" in p.read_text()]
        assert feeds, "no Atom feed written"
        ours(local_urls(p.read_text() for p in feeds), "Atom feed")
        feed_url = next(u for u in local_urls(p.read_text() for p in feeds) if u.endswith(".xml"))
        assert httpx.get(feed_url, timeout=10).status_code == 200, feed_url

        # Screens: the QR code on each exported slide, decoded from the PNG.
        slides = sorted((var / "screens").rglob("*.png"))
        assert slides, "no slide exported"
        codes = [c for png in slides for c in decoded_qr_codes(png)]
        assert len(codes) == len(slides), f"a slide without a readable QR code: {slides} → {codes}"
        ours(codes, "screen QR codes")
        assert set(codes) <= set(site_urls.values()), codes
        for item in next(d for d in news_ds if d["channel"] == "bulletin_board")["receipt"]["data"]["screens"]:
            assert urlsplit(item["url"]).port == port
            feed = httpx.get(f"{item['url']}/feed.json", timeout=10)  # the live page works and shows the notice
            assert feed.status_code == 200 and news["document_id"] in [n["document"] for n in feed.json()["notices"]]

        # The push e-mail in the local outbox: 查看原文 and 退订.
        texts = mail_texts(var / "outbox" / "mail")
        assert texts, "no push e-mail in the outbox"
        links = local_urls(texts)
        ours(links, "push e-mail")
        assert site_urls[policy["document_id"]] in links
        unsubscribe = [u for u in links if "unsubscribe" in u]
        assert unsubscribe, links
        assert httpx.get(unsubscribe[0], timeout=10).status_code == 200
        hooks = [p.read_text() for p in (var / "outbox" / "webhook").glob("*")]
        ours(local_urls(hooks), "push webhooks")
    finally:
        try:
            code = serve.stop() if serve.proc and serve.proc.poll() is None else None
        finally:
            serve.kill()
    assert code == 0, serve.log()


def test_public_url_defaults_to_the_address_served_on(monkeypatch):
    from orchestrator.settings import Settings, local_url

    for key in ("ORCH_PUBLIC_URL", "ORCH_HOST", "ORCH_PORT"):
        monkeypatch.delenv(key, raising=False)
    assert Settings().public_url == "http://127.0.0.1:8000"
    assert Settings(port=8123).public_url == "http://127.0.0.1:8123"
    assert Settings(host="10.1.2.3", port=9000).public_url == "http://10.1.2.3:9000"
    assert Settings(port=8123, public_url="https://gk.example.gov.cn").public_url == "https://gk.example.gov.cn"
    monkeypatch.setenv("ORCH_PORT", "8124")
    assert Settings().public_url == "http://127.0.0.1:8124"
    # A wildcard listen address is this machine; IPv6 addresses get brackets.
    assert local_url("0.0.0.0", 8123) == "http://127.0.0.1:8123"
    assert local_url("::1", 8123) == "http://[::1]:8123"
