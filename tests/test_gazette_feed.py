"""The gazette channel, driven through the adapter contract; feeds read back over HTTP with feedparser."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import feedparser
import pytest
import requests
from lxml import etree

from channels.base import Action, PermanentError
from channels.gazette import FH_NS, GazetteChannel, period_of
from tests.static_channel_helpers import CST, Page, attachment, context, payload, serve


def make(out: Path, base: str, **extra: Any) -> GazetteChannel:
    config = {
        "output_dir": str(out),
        "public_base_url": base,
        "tag_authority": "sfj.genhe.gov.cn",
        "subscription_size": 3,
        "archive_page_size": 5,
        **extra,
    }
    return GazetteChannel(config, name="gazette")


@pytest.fixture
def gazette(tmp_path: Path):
    out = tmp_path / "gazette"
    with serve(out) as base:
        yield make(out, base)


def feed(url: str) -> feedparser.FeedParserDict:
    resp = requests.get(url, timeout=5)
    assert resp.status_code == 200, url
    parsed = feedparser.parse(resp.content)
    assert not parsed.bozo, parsed.get("bozo_exception")
    return parsed


def links(parsed: feedparser.FeedParserDict) -> dict[str, str]:
    return {link["rel"]: link["href"] for link in parsed.feed.links}


def at(day: int, month: int = 3, year: int = 2026, hour: int = 9) -> dt.datetime:
    return dt.datetime(year, month, day, hour, 0, tzinfo=CST)


def test_atom_and_rss_with_enclosures_stable_ids_and_issue(tmp_path: Path) -> None:
    out = tmp_path / "gazette"
    with serve(out) as base:
        g = make(out, base, first_issue_total_no=41, first_issue_year_no=3)
        pdf = attachment(tmp_path, "实施办法.pdf", b"%PDF-1.7 body", "application/pdf")
        xls = attachment(tmp_path, "附表.xlsx", b"PK-xlsx-bytes", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
        doc = payload(1, attachments=(pdf, xls), published_at=at(3), updated_at=at(3, hour=10))
        ctx = context(doc)
        receipt = g.publish(ctx)
        assert receipt.external_id == "tag:sfj.genhe.gov.cn,2019:11150785MB1234567X/2026-00001"
        assert receipt.data["issue"]["label"] == "2026年第3期 总第41期"
        assert (receipt.data["issue"]["year_no"], receipt.data["issue"]["total_no"]) == (3, 41)

        atom = feed(base + "feeds/all/atom.xml")
        assert atom.feed.title == "政府公报"
        (entry,) = atom.entries
        assert entry.id == receipt.external_id
        assert entry.title == doc.title
        assert dt.datetime(*entry.updated_parsed[:6], tzinfo=dt.UTC) == at(3, hour=10)
        assert entry.link.endswith("issues/no-41.html#doc-1")
        assert len(entry.enclosures) == 2
        assert all(e["href"].startswith(base + "files/1/") for e in entry.enclosures)
        by_type = {e["type"]: e for e in entry.enclosures}
        assert by_type["application/pdf"]["length"] == str(len(b"%PDF-1.7 body"))
        assert requests.get(by_type["application/pdf"]["href"], timeout=5).content == b"%PDF-1.7 body"
        assert "2026年第3期 总第41期" in entry.content[0].value and "根司发〔2026〕1号" in entry.content[0].value

        rss = feed(base + "feeds/all/rss.xml")
        (item,) = rss.entries
        assert item.id == receipt.external_id
        assert len(item.enclosures) == 1 and item.enclosures[0]["type"] == "application/pdf"
        assert item.enclosures[0]["length"] == str(len(b"%PDF-1.7 body"))
        assert rss.feed.link == base + "index.html"

        assert base + "feeds/entry/GH-SFJ-001/atom.xml" in receipt.data["feeds"]
        assert any(u.startswith(base + "feeds/publisher/") for u in receipt.data["feeds"])
        entry_feed = feed(base + "feeds/entry/GH-SFJ-001/atom.xml")
        assert [e.id for e in entry_feed.entries] == [receipt.external_id]

        issue = Page(requests.get(receipt.data["issue"]["url"], timeout=5).content.decode("utf-8"))
        assert "2026年第3期 总第41期" in issue.text and doc.title in issue.text
        assert g.verify(ctx, receipt) is True

        # Re-rendering for another document leaves the first entry's updated alone (never "now").
        g.publish(context(payload(2, published_at=at(4), updated_at=at(4))))
        again = {e.id: e.updated for e in feed(base + "feeds/all/atom.xml").entries}
        assert again[receipt.external_id] == entry.updated


def test_rfc5005_archives_are_fixed_size_immutable_and_complete(gazette: GazetteChannel) -> None:
    base = gazette.base_url
    for i in range(1, 13):
        gazette.publish(context(payload(i, published_at=at(2), updated_at=at(2) + dt.timedelta(minutes=i))))
    current = feed(base + "feeds/all/atom.xml")
    assert "current" not in links(current)
    assert links(current)["prev-archive"] == base + "feeds/all/archive/2.xml"
    assert [e.title for e in current.entries][:3] == [payload(i).title for i in (12, 11, 10)]
    assert len(current.entries) <= 5

    archive_1 = gazette.output_dir / "feeds/all/archive/1.xml"
    frozen = archive_1.read_bytes()
    seen: list[str] = [e.id for e in current.entries]
    url: str | None = links(current)["prev-archive"]
    pages = 0
    while url:
        page = feed(url)
        pages += 1
        rels = links(page)
        assert rels["current"] == base + "feeds/all/atom.xml"
        assert rels["self"] == url
        root = etree.fromstring(requests.get(url, timeout=5).content)
        assert root.find(f"{{{FH_NS}}}archive") is not None
        assert len(page.entries) == 5
        seen.extend(e.id for e in page.entries)
        url = rels.get("prev-archive")
    assert pages == 2
    assert {gazette.tag_id(payload(i).index_no) for i in range(1, 13)} == set(seen)
    assert etree.fromstring(frozen).find(f"{{{FH_NS}}}archive") is not None

    for i in range(13, 20):
        gazette.publish(context(payload(i, published_at=at(2), updated_at=at(2) + dt.timedelta(minutes=i))))
    assert archive_1.read_bytes() == frozen  # sealed pages never change
    assert links(feed(base + "feeds/all/atom.xml"))["prev-archive"] == base + "feeds/all/archive/3.xml"
    assert gazette.archive_count() == 3


def test_correction_same_id_newer_updated(gazette: GazetteChannel) -> None:
    base = gazette.base_url
    v1 = payload(1, published_at=at(3), updated_at=at(3))
    r1 = gazette.publish(context(v1))
    v2 = payload(1, version=2, title="关于印发工作方案的通知（更正）", published_at=at(3), updated_at=at(5))
    ctx2 = context(v2, Action.update)
    r2 = gazette.update(ctx2)
    assert r2.external_id == r1.external_id
    entries = [e for e in feed(base + "feeds/all/atom.xml").entries if e.id == r1.external_id]
    assert len(entries) == 1
    assert entries[0].title == v2.title
    assert dt.datetime(*entries[0].updated_parsed[:6], tzinfo=dt.UTC) == at(5)
    # A correction whose version time is not newer still sorts after what readers have.
    v3 = payload(1, version=3, title="第三版", published_at=at(3), updated_at=at(4))
    gazette.update(context(v3, Action.update))
    (e3,) = [e for e in feed(base + "feeds/all/atom.xml").entries if e.id == r1.external_id]
    assert dt.datetime(*e3.updated_parsed[:6], tzinfo=dt.UTC) == at(5) + dt.timedelta(seconds=1)
    issue = Page(requests.get(r2.data["issue"]["url"], timeout=5).content.decode("utf-8"))
    assert "已更正" in issue.text
    assert r2.data["issue"]["total_no"] == r1.data["issue"]["total_no"]  # a correction stays in its issue
    assert gazette.verify(context(v3, Action.update), r2) is True
    assert gazette.verify(ctx2, r2) is False  # version 2 is no longer the live one


def test_withdrawal_publishes_notice_and_keeps_history(gazette: GazetteChannel, tmp_path: Path) -> None:
    base = gazette.base_url
    doc = payload(1, published_at=at(3), updated_at=at(3), attachments=(attachment(tmp_path, "a.pdf", b"x"),))
    r = gazette.publish(context(doc))
    gazette.publish(context(payload(2, published_at=at(20, month=4), updated_at=at(20, month=4))))
    wdoc = payload(1, extra={"withdraw_reason": "依法撤销", "withdrawn_at": at(21, month=4)})
    wctx = context(wdoc, Action.withdraw)
    rw = gazette.withdraw(wctx)
    entries = {e.id: e for e in feed(base + "feeds/all/atom.xml").entries}
    notice = entries[r.external_id + "/withdrawal"]
    assert notice.title.startswith("撤销公告：") and "依法撤销" in notice.content[0].value
    assert entries[r.external_id].title.startswith("【已撤销】")
    assert dt.datetime(*entries[r.external_id].updated_parsed[:6], tzinfo=dt.UTC) == at(21, month=4)
    entry_feed = feed(base + "feeds/entry/GH-SFJ-001/atom.xml")
    assert r.external_id + "/withdrawal" in {e.id for e in entry_feed.entries}

    # The original issue still lists the document, marked withdrawn; the current issue carries the notice.
    march = Page(requests.get(r.data["issue"]["url"], timeout=5).content.decode("utf-8"))
    assert doc.title in march.text and "已撤销" in march.text
    april = Page(requests.get(base + "issues/no-2.html", timeout=5).content.decode("utf-8"))
    assert "撤销公告：" + doc.title in april.text.replace("\n", "").replace(" ", "")
    assert gazette.verify(wctx, rw) is True

    # A retry of the same delivery returns the first outcome and appends nothing.
    size = len(feed(base + "feeds/all/atom.xml").entries)
    assert gazette.withdraw(wctx).to_dict() == rw.to_dict()
    assert len(feed(base + "feeds/all/atom.xml").entries) == size
    with pytest.raises(PermanentError):
        gazette.withdraw(context(payload(99), Action.withdraw))


def test_issue_numbering_per_cadence(gazette: GazetteChannel) -> None:
    r1 = gazette.publish(context(payload(1, published_at=at(3))))
    r2 = gazette.publish(context(payload(2, published_at=at(28))))
    r3 = gazette.publish(context(payload(3, published_at=at(2, month=4))))
    late = gazette.publish(context(payload(4, published_at=at(30))))  # March item after April opened
    r5 = gazette.publish(context(payload(5, published_at=at(5, month=1, year=2027))))
    labels = [r.data["issue"]["label"] for r in (r1, r2, r3, late, r5)]
    assert labels == ["2026年第1期 总第1期", "2026年第1期 总第1期", "2026年第2期 总第2期", "2026年第2期 总第2期",
                      "2027年第1期 总第3期"]
    april = Page(requests.get(r3.data["issue"]["url"], timeout=5).content.decode("utf-8"))
    titles = [t for t in (payload(3).title, payload(4).title) if t in april.text]
    assert len(titles) == 2
    year = Page(requests.get(gazette.base_url + "issues/year-2026.html", timeout=5).content.decode("utf-8"))
    assert "2026年第1期 总第1期" in year.text and "2026年第2期 总第2期" in year.text
    index = Page(requests.get(gazette.base_url + "index.html", timeout=5).content.decode("utf-8"))
    assert "2027年第1期 总第3期" in index.text and "订阅" in index.text


def test_period_of_cadences() -> None:
    d = dt.date(2026, 3, 16)
    assert period_of(d, "monthly").key == "2026-03"
    assert period_of(d, "semimonthly").key == "2026-03b"
    assert period_of(dt.date(2026, 3, 15), "semimonthly").ends_on == dt.date(2026, 3, 15)
    assert period_of(d, "quarterly").ends_on == dt.date(2026, 3, 31)
    assert period_of(dt.date(2026, 12, 31), "weekly").key == "2026-W53"
    with pytest.raises(PermanentError):
        period_of(d, "daily")


def test_feeds_per_publisher_and_entry_and_hostile_content(gazette: GazetteChannel, tmp_path: Path) -> None:
    base = gazette.base_url
    gazette.publish(context(payload(1, body_html='<p onclick="x()">好</p><script>alert(1)</script>'
                                    '<a href="javascript:alert(2)">链接</a>',
                                    attachments=(attachment(tmp_path, "../../../etc/passwd", b"secret?"),))))
    gazette.publish(context(payload(2, publisher="根河市人民政府", entry_code="GH-ZF-001", entry_path=("政府公报",))))
    index = Page(requests.get(base + "index.html", timeout=5).content.decode("utf-8"))
    feed_links = [link["href"] for link in index.links if link["href"].endswith("atom.xml")]
    pub_feeds = [h for h in feed_links if h.startswith("feeds/publisher/")]
    assert len(pub_feeds) == 2
    by_publisher = {}
    for href in pub_feeds:
        parsed = feed(base + href)
        by_publisher[parsed.entries[0].author] = [e.id for e in parsed.entries]
    assert by_publisher == {"根河市司法局": [gazette.tag_id(payload(1).index_no)],
                            "根河市人民政府": [gazette.tag_id(payload(2).index_no)]}
    raw = (gazette.output_dir / "feeds/all/atom.xml").read_text("utf-8")
    assert "<script" not in raw and "&lt;script" not in raw and "onclick" not in raw and "javascript:" not in raw
    files = [p for p in tmp_path.rglob("*") if p.is_file() and p.read_bytes() == b"secret?"]
    assert all(p.parent.name == "blobs" or p.parent == gazette.output_dir / "files" / "1" for p in files)
    assert len(files) == 2
