"""The built-in column through the real fan-out: submit once, a real Celery worker (PostgreSQL + Redis) renders the
pages, and a visitor reads them over HTTP; then a policy interpretation, a new version and a withdrawal."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from tests.fanout_harness import FanoutStack
from tests.static_channel_helpers import Page, serve

CATALOG = [Path(__file__).parent / "data" / "catalogs" / "test-publisher.yaml"]


def get(url: str) -> Page:
    resp = requests.get(url, timeout=10)
    assert resp.status_code == 200, url
    resp.encoding = "utf-8"
    return Page(resp.text)


def website(rows: list[dict], action: str = "publish") -> dict:
    (row,) = [r for r in rows if r["channel"] == "website" and r["action"] == action]
    return row


@pytest.mark.slow
def test_site_through_fanout(orch_env, redis_server, tmp_path: Path) -> None:
    from orchestrator.documents import versions

    out = tmp_path / "site"
    pdf = tmp_path / "执法公示办法.pdf"
    pdf.write_bytes(b"%PDF-1.4\n% site fan-out test\n")
    with serve(out) as base:
        dest = {"name": "site", "adapter": "site", "output_dir": str(out), "public_base_url": base,
                "org_name": "测试市司法局"}
        with FanoutStack(orch_env, tmp_path / "stack", channels={"website": [dest]}, catalogs=CATALOG,
                         redis=redis_server) as stack:
            res = stack.submit(uploads=[pdf], entry="履职依据/规范性文件", title="关于印发《行政执法公示办法》的通知",
                               body='<p>各科室：现将办法印发给你们。</p><script>alert(1)</script>',
                               doc_number="测司发〔2026〕3号", formed_on="2026-11-02")
            row = website(stack.wait_settled(res.document_id, timeout=90))
            assert row["status"] == "verified", row  # delivered, then checked live over HTTP by verify()
            url = row["receipt"]["url"]
            page = get(url)
            assert page.first("index-no") == res.index_no
            assert page.first("category") == "履职依据 / 规范性文件"
            assert page.first("doc-number") == "测司发〔2026〕3号"
            assert "各科室：现将办法印发给你们。" in page.first("doc-body") and "alert(1)" not in page.text
            link = next(link for link in page.links if link.get("download"))
            assert link["download"] == "执法公示办法.pdf"
            assert requests.get(requests.compat.urljoin(url, link["href"]), timeout=10).content == pdf.read_bytes()
            landing = get(base + "index.html")
            listing = get(requests.compat.urljoin(base, next(x["href"] for x in landing.links if x["text"] == "规范性文件")))
            assert "关于印发《行政执法公示办法》的通知" in [x["text"] for x in listing.links]

            # A policy interpretation: the two pages link to each other.
            interp = stack.submit(entry="履职依据/规范性文件", title="《行政执法公示办法》政策解读",
                                  body="<p>一、制定背景……</p>", formed_on="2026-11-03",
                                  related_document_id=res.document_id)
            irow = website(stack.wait_settled(interp.document_id, timeout=90))
            assert irow["status"] == "verified", irow
            ipage = get(irow["receipt"]["url"])
            assert "解读的政策文件" in ipage.text
            assert any(x["href"] == f"../art/{res.document_id}.html" for x in ipage.links)
            assert any(x["href"] == f"../art/{interp.document_id}.html" and x["text"] == "《行政执法公示办法》政策解读"
                       for x in get(url).links)

            # A new version re-renders the same URL.
            versions.new_version(res.document_id, {"body": "<p>第二版：更正笔误。</p>", "change_note": "更正笔误"})
            urow = website(stack.wait_settled(res.document_id, timeout=90), "update")
            assert urow["status"] == "verified", urow
            assert urow["receipt"]["url"] == url and "第二版：更正笔误。" in get(url).text

            # A withdrawal leaves a notice at the same URL and takes the document off the list.
            versions.withdraw(res.document_id, "文件已废止", actor="ops")
            wrow = website(stack.wait_settled(res.document_id, timeout=90), "withdraw")
            assert wrow["status"] == "verified", wrow
            notice = get(url)
            assert notice.meta["disclosure-status"] == "withdrawn" and "文件已废止" in notice.text
            listing = get(base + "list/01-01/index.html")
            assert "关于印发《行政执法公示办法》的通知" not in [x["text"] for x in listing.links]
            assert "《行政执法公示办法》政策解读" in [x["text"] for x in listing.links]
