"""The gazette through the real fan-out: submit once, a real Celery worker (PostgreSQL + Redis) writes the feeds and
the issue page, and a subscriber reads them over HTTP with feedparser; then a correction and a withdrawal."""

from __future__ import annotations

from pathlib import Path

import feedparser
import pytest
import requests

from tests.fanout_harness import FanoutStack
from tests.static_channel_helpers import Page, serve

CATALOG = [Path(__file__).parent / "data" / "catalogs" / "test-publisher.yaml"]


def feed(url: str) -> feedparser.FeedParserDict:
    parsed = feedparser.parse(requests.get(url, timeout=10).content)
    assert not parsed.bozo, parsed.get("bozo_exception")
    return parsed


def gazette(rows: list[dict], action: str = "publish") -> dict:
    (row,) = [r for r in rows if r["channel"] == "gazette" and r["action"] == action]
    return row


@pytest.mark.slow
def test_gazette_through_fanout(orch_env, redis_server, tmp_path: Path) -> None:
    from orchestrator.documents import versions

    out = tmp_path / "gazette"
    pdf = tmp_path / "公示办法.pdf"
    pdf.write_bytes(b"%PDF-1.4\n% gazette fan-out test\n")
    with serve(out) as base:
        dest = {"name": "gazette", "adapter": "gazette", "output_dir": str(out), "public_base_url": base,
                "first_issue_total_no": 41, "first_issue_year_no": 3}
        with FanoutStack(orch_env, tmp_path / "stack", channels={"gazette": [dest]}, catalogs=CATALOG,
                         redis=redis_server) as stack:
            res = stack.submit(uploads=[pdf], entry="履职依据/规范性文件", title="关于印发《行政执法公示办法》的通知",
                               body="<p>各科室：现将办法印发给你们。</p>", doc_number="测司发〔2026〕3号",
                               formed_on="2026-11-02")
            row = gazette(stack.wait_settled(res.document_id, timeout=90))
            assert row["status"] == "verified", row
            receipt = row["receipt"]
            assert receipt["data"]["issue"]["label"].endswith("第3期 总第41期")
            entry_id = receipt["external_id"]
            assert entry_id.startswith("tag:127.0.0.1,2019:" + res.index_no.split("/")[0])

            atom = feed(base + "feeds/all/atom.xml")
            (entry,) = atom.entries
            assert entry.id == entry_id and entry.title == "关于印发《行政执法公示办法》的通知"
            (enc,) = entry.enclosures
            assert enc["type"] == "application/pdf" and enc["length"] == str(len(pdf.read_bytes()))
            assert requests.get(enc["href"], timeout=10).content == pdf.read_bytes()
            assert feed(base + "feeds/all/rss.xml").entries[0].enclosures[0]["length"] == enc["length"]
            assert [e.id for e in feed(base + "feeds/entry/01-01/atom.xml").entries] == [entry_id]
            issue = Page(requests.get(receipt["data"]["issue"]["url"], timeout=10).content.decode("utf-8"))
            assert "关于印发《行政执法公示办法》的通知" in issue.text and "总第41期" in issue.text

            versions.new_version(res.document_id, {"title": "关于印发《行政执法公示办法》的通知（更正）",
                                                  "change_note": "更正标题"})
            urow = gazette(stack.wait_settled(res.document_id, timeout=90), "update")
            assert urow["status"] == "verified", urow
            (corrected,) = [e for e in feed(base + "feeds/all/atom.xml").entries if e.id == entry_id]
            assert corrected.title.endswith("（更正）") and corrected.updated_parsed > entry.updated_parsed

            versions.withdraw(res.document_id, "文件已废止", actor="ops")
            wrow = gazette(stack.wait_settled(res.document_id, timeout=90), "withdraw")
            assert wrow["status"] == "verified", wrow
            entries = {e.id: e for e in feed(base + "feeds/all/atom.xml").entries}
            assert entries[entry_id + "/withdrawal"].title.startswith("撤销公告：")
            assert "文件已废止" in entries[entry_id + "/withdrawal"].content[0].value
            assert entries[entry_id].title.startswith("【已撤销】")
