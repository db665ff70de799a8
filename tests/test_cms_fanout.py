"""The Wagtail adapter through the real fan-out: submit once, a real Celery worker delivers to a real Wagtail,
and the page is read back through Wagtail's own API and its public HTML (then a new version and a withdrawal)."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from tests.cms_wagtail import WagtailServer, build_site
from tests.fanout_harness import FanoutStack

CATALOG = [Path(__file__).parent / "data" / "catalogs" / "test-publisher.yaml"]


@pytest.fixture
def wagtail(tmp_path_factory):
    server = WagtailServer(build_site(), tmp_path_factory.mktemp("wagtail-fanout")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.slow
def test_submit_through_fanout_to_wagtail(orch_env, redis_server, wagtail: WagtailServer, tmp_path: Path) -> None:
    from orchestrator.documents import versions

    dest = {"name": "门户网站", "adapter": "wagtail", "base_url": wagtail.base_url, "token": wagtail.token,
            "parent_id": wagtail.section_id, "withdraw_mode": "unpublish", "timeout": 10}
    pdf = tmp_path / "执法公示办法.pdf"
    pdf.write_bytes(b"%PDF-1.4\n% orchestrator fan-out test\n")
    with FanoutStack(orch_env, tmp_path / "stack", channels={"website": [dest]}, catalogs=CATALOG,
                     redis=redis_server) as stack:
        res = stack.submit(uploads=[pdf], entry="履职依据/规范性文件", title="关于印发《行政执法公示办法》的通知",
                           body="<p>各科室：现将办法印发给你们。</p>", doc_number="根司发〔2026〕3号",
                           formed_on="2026-11-02")
        rows = [r for r in stack.wait_settled(res.document_id, timeout=90) if r["channel"] == "website"]
        assert len(rows) == 1 and rows[0]["status"] == "verified", rows  # verify() fetched the public page
        receipt = rows[0]["receipt"]
        page_id = receipt["external_id"]

        # Read back through Wagtail's API: one page, carrying the delivery's idempotency key and the 索引号.
        page = wagtail.api("GET", f"/pages/{page_id}/").json()
        assert page["title"] == "关于印发《行政执法公示办法》的通知"
        assert page["orch_key"] == rows[0]["idempotency_key"]
        assert page["index_no"] == res.index_no and page["doc_number"] == "根司发〔2026〕3号"
        found = wagtail.api("GET", "/pages/", params={"type": "disclosure.DisclosurePage",
                                                      "orch_key": rows[0]["idempotency_key"]}).json()
        assert found["count"] == 1
        (doc_meta,) = receipt["data"]["documents"].values()
        assert requests.get(doc_meta["url"], timeout=10).content == pdf.read_bytes()
        public = requests.get(receipt["url"], timeout=10)
        assert public.status_code == 200 and "执法公示办法.pdf" in public.text

        # A new version updates the same page in place.
        versions.new_version(res.document_id, {"body": "<p>第二版：更正笔误。</p>", "change_note": "更正笔误"})
        rows = stack.wait_settled(res.document_id, timeout=90)
        (update,) = [r for r in rows if r["action"] == "update" and r["channel"] == "website"]
        assert update["status"] == "verified", update
        assert update["receipt"]["external_id"] == page_id
        assert "第二版" in wagtail.api("GET", f"/pages/{page_id}/").json()["body"]

        # A withdrawal unpublishes it: gone for readers, still in the CMS for staff.
        versions.withdraw(res.document_id, "文件已废止", actor="ops")
        rows = stack.wait_settled(res.document_id, timeout=90)
        (withdrawal,) = [r for r in rows if r["action"] == "withdraw" and r["channel"] == "website"]
        assert withdrawal["status"] == "verified", withdrawal  # verified gone for readers
        assert requests.get(receipt["url"], timeout=10).status_code == 404
        assert wagtail.api("GET", f"/pages/{page_id}/", params={"version": "draft"}).status_code == 200
