"""The ``wagtail`` adapter against a real Wagtail 8.0.1 site (SQLite, runserver) started by these tests.

Everything is read back the way a person would see it: through Wagtail's own v3 API and the public HTML pages.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from channels.base import (
    Action,
    NotConfigured,
    PermanentError,
    TransientError,
)
from channels.cms.common import content_hash
from channels.cms.wagtail import WagtailChannel
from channels.registry import ChannelRegistry
from tests.cms_payloads import ENTRY_PATH, make_ctx, make_doc
from tests.cms_wagtail import WagtailServer, build_site


@pytest.fixture(scope="module")
def wagtail(tmp_path_factory) -> Iterator[WagtailServer]:
    server = WagtailServer(build_site(), tmp_path_factory.mktemp("wagtail")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def channel(wagtail: WagtailServer) -> WagtailChannel:
    return make_channel(wagtail)


def make_channel(wagtail: WagtailServer, **overrides) -> WagtailChannel:
    config = {"base_url": wagtail.base_url, "token": wagtail.token, "parent_id": wagtail.section_id, "timeout": 10}
    return WagtailChannel({**config, **overrides}, name="门户网站")


def api_page(wagtail: WagtailServer, page_id: str | int, **params) -> requests.Response:
    return wagtail.api("GET", f"/pages/{page_id}/", params=params)


def test_openapi_schema_shapes_the_adapter(wagtail: WagtailServer) -> None:
    """meta.action only knows "publish"; unpublishing is its own action endpoint (why withdraw calls it)."""
    schema = wagtail.api("GET", "/openapi.json").json()
    assert "/api/v3/pages/{page_id}/actions/unpublish/" in schema["paths"]
    assert "/api/v3/documents/" in schema["paths"]
    for name in ("DisclosurePageCreateMetaSchema", "DisclosurePagePatchMetaSchema"):
        action = schema["components"]["schemas"][name]["properties"]["action"]
        assert [c.get("const") for c in action["anyOf"] if "const" in c] == ["publish"]


def test_publish_with_attachment_and_category(wagtail: WagtailServer, channel: WagtailChannel, tmp_path: Path) -> None:
    doc = make_doc(tmp_path, attachments=2)
    ctx = make_ctx(doc)
    receipt = channel.run(ctx)

    assert receipt.external_id and receipt.url and receipt.url.startswith(wagtail.base_url)
    assert receipt.data["content_hash"] == content_hash(doc)
    assert ctx.checkpoint["page_id"] == int(receipt.external_id)

    # Read it back through Wagtail's own API.
    page = api_page(wagtail, receipt.external_id).json()
    assert page["title"] == doc.title
    assert page["meta"]["type"] == "disclosure.DisclosurePage"
    assert page["orch_key"] == ctx.idempotency_key
    assert page["index_no"] == doc.index_no and page["doc_number"] == doc.doc_number
    assert page["formed_on"] == "2026-03-02" and page["publisher"] == "根河市司法局"
    assert page["category"] == "行政执法 / 行政处罚 / 处罚决定"
    assert page["meta"]["first_published_at"]  # live

    # The catalog path is a branch of the page tree: 政府信息公开 > 行政执法 > 行政处罚 > 处罚决定 > the document.
    ancestors = wagtail.api("GET", "/pages/", params={"ancestor_of": receipt.external_id}).json()["items"]
    titles = [p["title"] for p in ancestors]
    assert titles[-4:] == ["政府信息公开", *ENTRY_PATH]

    # Attachments are Wagtail documents with the right bytes, linked from the body.
    for att in doc.attachments:
        stored = receipt.data["documents"][att.sha256]
        meta = wagtail.api("GET", f"/documents/{stored['id']}/").json()
        assert meta["title"] == att.filename
        assert requests.get(meta["meta"]["download_url"], timeout=10).content == att.path.read_bytes()
        assert f'linktype="document" id="{stored["id"]}"' in page["body"]

    # The public page, as a reader sees it.
    html = requests.get(receipt.url, timeout=10)
    assert html.status_code == 200
    assert doc.title in html.text and doc.index_no in html.text and f"校验码：{content_hash(doc)}" in html.text
    assert "/documents/" in html.text and "处罚决定书（1）.pdf" in html.text
    assert channel.verify(ctx, receipt) is True

    # A second document under the same catalog entry reuses the catalog nodes (no duplicates).
    receipt2 = channel.run(make_ctx(make_doc(tmp_path, attachments=0)))
    page2 = api_page(wagtail, receipt2.external_id).json()
    assert page2["meta"]["parent"]["id"] == page["meta"]["parent"]["id"]
    siblings = wagtail.api("GET", "/pages/", params={"child_of": wagtail.section_id, "title": "行政执法"}).json()
    assert siblings["count"] == 1


def test_update_round_trip(wagtail: WagtailServer, channel: WagtailChannel, tmp_path: Path) -> None:
    v1 = make_doc(tmp_path)
    first = channel.run(make_ctx(v1))
    v2 = make_doc(tmp_path, document_id=v1.document_id, version=2, title="关于行政处罚决定的公告（更正）")
    ctx2 = make_ctx(v2, Action.update, previous=first)
    second = channel.run(ctx2)

    assert second.external_id == first.external_id
    page = api_page(wagtail, second.external_id).json()
    assert page["title"] == v2.title
    assert page["orch_key"] == first.data["orch_key"]  # still findable by the key it was created with
    assert "第2条" in page["body"]
    public = requests.get(second.url, timeout=10).text
    assert v2.title in public and f"校验码：{content_hash(v2)}" in public
    assert channel.verify(ctx2, second) is True
    # The old version's receipt no longer verifies: the page shows other content now.
    assert channel.verify(make_ctx(v1), first) is False
    # The new attachment was uploaded; the old one stays in Wagtail's library.
    assert set(second.data["documents"]) == {v1.attachments[0].sha256, v2.attachments[0].sha256}
    revisions = wagtail.api("GET", f"/pages/{second.external_id}/revisions/").json()
    assert revisions["count"] == 2

    # Update with the receipt lost entirely: found by the document reference, still one page.
    v3 = make_doc(tmp_path, document_id=v1.document_id, version=3, title="第三版")
    third = channel.run(make_ctx(v3, Action.update))
    assert third.external_id == first.external_id
    assert api_page(wagtail, third.external_id).json()["title"] == "第三版"


@pytest.mark.parametrize("mode", ["unpublish", "delete"])
def test_withdraw_round_trip(wagtail: WagtailServer, tmp_path: Path, mode: str) -> None:
    channel = make_channel(wagtail, withdraw_mode=mode)
    doc = make_doc(tmp_path)
    published = channel.run(make_ctx(doc))
    assert requests.get(published.url, timeout=10).status_code == 200

    wctx = make_ctx(doc, Action.withdraw, previous=published)
    withdrawn = channel.run(wctx)
    assert withdrawn.data["withdrawn"] == mode
    assert requests.get(published.url, timeout=10).status_code == 404
    assert channel.verify(wctx, withdrawn) is True

    draft = api_page(wagtail, published.external_id, version="draft")
    if mode == "unpublish":
        # Kept in the CMS (a person can still see and restore it), but no longer public.
        assert draft.status_code == 200
        anonymous = requests.get(f"{wagtail.api_url}/pages/{published.external_id}/", timeout=10)
        assert anonymous.status_code == 404
    else:
        assert draft.status_code == 404

    # Retrying the withdrawal (e.g. after a lost answer) is harmless.
    again = channel.run(make_ctx(doc, Action.withdraw, previous=published))
    assert again.data["withdrawn"] == mode
    assert requests.get(published.url, timeout=10).status_code == 404


def test_retry_after_unknown_outcome_finds_page_by_key(wagtail: WagtailServer, channel: WagtailChannel,
                                                       tmp_path: Path) -> None:
    doc = make_doc(tmp_path)
    key = f"website:wagtail:{doc.document_id}:1:publish"
    first = channel.run(make_ctx(doc, key=key))
    # The page was created but the worker died before the receipt (and checkpoint) were stored: a fresh attempt.
    retry = make_channel(wagtail).run(make_ctx(doc, key=key))
    assert retry.external_id == first.external_id
    assert retry.url == first.url
    found = wagtail.api("GET", "/pages/", params={"type": "disclosure.DisclosurePage", "orch_key": key}).json()
    assert found["count"] == 1
    by_doc = wagtail.api("GET", "/pages/", params={"type": "disclosure.DisclosurePage",
                                                   "orch_doc": f"doc-{doc.document_id}"}).json()
    assert by_doc["count"] == 1

    # A new publish delivery of the same document (another key) updates the page in place instead of duplicating it.
    other = channel.run(make_ctx(doc, key=key + ":ops-retry"))
    assert other.external_id == first.external_id
    assert wagtail.api("GET", "/pages/", params={"type": "disclosure.DisclosurePage",
                                                 "orch_doc": f"doc-{doc.document_id}"}).json()["count"] == 1


def test_bad_token_is_a_configuration_error(wagtail: WagtailServer, tmp_path: Path) -> None:
    channel = make_channel(wagtail, token="wagtail_not-a-real-token")
    with pytest.raises(NotConfigured) as err:
        channel.run(make_ctx(make_doc(tmp_path, attachments=0)))
    assert "HTTP 401" in err.value.message and "api_tokens create" in err.value.message
    assert err.value.code == "http_401"


def test_missing_configuration(tmp_path: Path) -> None:
    with pytest.raises(NotConfigured, match="token"):
        WagtailChannel({"base_url": "http://127.0.0.1:9", "parent_id": 4}, name="门户网站").run(
            make_ctx(make_doc(tmp_path, attachments=0)))
    with pytest.raises(NotConfigured, match="withdraw_mode"):
        WagtailChannel({"base_url": "http://127.0.0.1:9", "token": "x", "parent_id": 4, "withdraw_mode": "hide"},
                       name="门户网站").run(make_ctx(make_doc(tmp_path, attachments=0)))


def test_validation_error_is_permanent(wagtail: WagtailServer, channel: WagtailChannel, tmp_path: Path) -> None:
    doc = make_doc(tmp_path, attachments=0, title="超长标题" * 80)  # 320 characters: Wagtail's title is max 255
    with pytest.raises(PermanentError) as err:
        channel.run(make_ctx(doc))
    assert not isinstance(err.value, NotConfigured)
    assert "HTTP 422" in err.value.message and "title" in err.value.message
    # A parent that does not exist is refused too, and nothing was created on the way.
    bad_parent = make_channel(wagtail, parent_id=999999, categories=False)
    with pytest.raises(PermanentError, match="HTTP 404"):
        bad_parent.run(make_ctx(make_doc(tmp_path, attachments=0)))


def test_server_down_is_transient(wagtail: WagtailServer, channel: WagtailChannel, tmp_path: Path) -> None:
    doc = make_doc(tmp_path, attachments=0)
    published = channel.run(make_ctx(doc))
    wagtail.stop()
    try:
        with pytest.raises(TransientError) as err:
            channel.run(make_ctx(make_doc(tmp_path, attachments=0)))
        assert "无法连接" in err.value.message
        with pytest.raises(TransientError):
            channel.verify(make_ctx(doc), published)
    finally:
        wagtail.start()
    assert channel.verify(make_ctx(doc), published) is True


class _Busy(http.server.BaseHTTPRequestHandler):
    """A gateway in front of the CMS that is overloaded: 503 or 429 with Retry-After."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        status = 429 if "busy" in self.path else 503
        self.send_response(status)
        self.send_header("Retry-After", "7")
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"try later")

    def log_message(self, *args) -> None:
        pass


@pytest.mark.parametrize("path", ["", "/busy"])
def test_overload_is_transient_with_retry_after(tmp_path: Path, path: str) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Busy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        channel = WagtailChannel(
            {"base_url": f"http://127.0.0.1:{server.server_address[1]}{path}", "token": "t", "parent_id": 4},
            name="门户网站",
        )
        with pytest.raises(TransientError) as err:
            channel.run(make_ctx(make_doc(tmp_path, attachments=0)))
        assert err.value.retry_after == 7
        assert ("HTTP 429" if path else "HTTP 503") in err.value.message
    finally:
        server.shutdown()
        server.server_close()


def test_registered_in_channel_registry(wagtail: WagtailServer) -> None:
    registry = ChannelRegistry.from_mapping({"channels": {"website": {"destinations": [
        {"name": "门户网站", "adapter": "wagtail", "base_url": wagtail.base_url, "token": wagtail.token,
         "parent_id": wagtail.section_id}]}}})
    adapter = registry.adapter_for(registry.destinations("website")[0])
    assert isinstance(adapter, WagtailChannel)
