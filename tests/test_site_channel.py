"""The built-in disclosure column, driven through the adapter contract and read back over HTTP as a visitor would."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests

from channels.base import Action, PermanentError
from channels.site import SiteChannel, site_static_app
from tests.static_channel_helpers import Page, attachment, context, payload, serve


@pytest.fixture
def site(tmp_path: Path):
    out = tmp_path / "site"
    with serve(out) as base:
        yield make_site(out, base)


def make_site(out: Path, base: str, **extra: Any) -> SiteChannel:
    config = {
        "output_dir": str(out),
        "public_base_url": base,
        "page_size": 3,
        "show_catalog_entries": False,
        "org_name": "根河市司法局",
        "guide": {"address": "根河市好里堡街道", "phone": "0470-5201234"},
        **extra,
    }
    return SiteChannel(config, name="site")


def get(url: str) -> Page:
    resp = requests.get(url, timeout=5)
    assert resp.status_code == 200, url
    resp.encoding = "utf-8"
    return Page(resp.text)


def test_publish_renders_article_list_landing_and_verifies(site: SiteChannel, tmp_path: Path) -> None:
    pdf = attachment(tmp_path, "实施方案.pdf", b"%PDF-1.4 test")
    doc = payload(1, attachments=(pdf,), summary="摘要")
    ctx = context(doc)
    receipt = site.publish(ctx)
    assert receipt.url == site.base_url + "art/1.html"

    page = get(receipt.url)
    assert page.title.startswith(doc.title)
    assert page.first("index-no") == doc.index_no
    assert page.first("category") == "法定主动公开内容 / 规范性文件"
    assert page.first("publisher") == "根河市司法局"
    assert page.first("formed-on") == "2026年03月02日"
    assert page.first("doc-number") == "根司发〔2026〕1号"
    assert page.first("validity") == "有效"
    assert "正文第1号。" in page.first("doc-body")
    for label in ("索引号", "信息分类", "发布机构", "生成日期", "有效性", "附件"):
        assert label.replace("", "") in page.text.replace("　", "").replace(" ", "")
    assert page.meta["disclosure-status"] == "live"

    download = next(link for link in page.links if link.get("download"))
    assert download["download"] == "实施方案.pdf"
    file_url = requests.compat.urljoin(receipt.url, download["href"])
    assert requests.get(file_url, timeout=5).content == b"%PDF-1.4 test"

    landing = get(site.base_url + "index.html")
    entry_link = next(link for link in landing.links if link["text"] == "规范性文件")
    assert "政府信息公开指南" in landing.text
    assert any(link["text"] == doc.title for link in landing.links)
    listing = get(requests.compat.urljoin(site.base_url, entry_link["href"]))
    assert [link["text"] for link in listing.links if "art/" in link["href"]] == [doc.title]

    guide = get(site.base_url + "guide.html")
    assert "根河市好里堡街道" in guide.text and "0470-5201234" in guide.text
    assert site.verify(ctx, receipt) is True


def test_lists_are_newest_first_and_old_pages_stay_untouched(site: SiteChannel) -> None:
    for i in range(1, 8):
        site.publish(context(payload(i)))
    list_dir = site.output_dir / "list" / "GH-SFJ-001"
    newest = get(site.base_url + "list/GH-SFJ-001/index.html")
    titles = [link["text"] for link in newest.links if "art/" in link["href"]]
    assert titles == [payload(i).title for i in (7, 6, 5)]
    p1 = get(site.base_url + "list/GH-SFJ-001/p1.html")
    assert [link["text"] for link in p1.links if "art/" in link["href"]] == [payload(i).title for i in (3, 2, 1)]
    p2 = Page((list_dir / "p2.html").read_text("utf-8"))
    assert any(link["href"] == "p3.html" and link["text"] == "较新一页" for link in p2.links)
    assert any(link["href"] == "p1.html" for link in p2.links)

    before = {p.name: p.stat().st_mtime_ns for p in list_dir.glob("p*.html")}
    site.publish(context(payload(8)))
    after = {p.name: p.stat().st_mtime_ns for p in list_dir.glob("p*.html")}
    assert after["p1.html"] == before["p1.html"] and after["p2.html"] == before["p2.html"]
    assert after["p3.html"] != before["p3.html"]

    # Page 3 is full after #9; #10 opens page 4 and gives page 3 its "newer" link.
    site.publish(context(payload(9)))
    site.publish(context(payload(10)))
    p3 = Page((list_dir / "p3.html").read_text("utf-8"))
    assert any(link["href"] == "p4.html" for link in p3.links)
    assert (list_dir / "p1.html").stat().st_mtime_ns == before["p1.html"]

    # Re-delivering the same document (a retry) does not list it twice.
    site.publish(context(payload(10)))
    newest = get(site.base_url + "list/GH-SFJ-001/index.html")
    assert [link["text"] for link in newest.links if "art/" in link["href"]].count(payload(10).title) == 1


def test_update_rerenders_and_verify_tracks_the_version(site: SiteChannel, tmp_path: Path) -> None:
    v1 = payload(5, attachments=(attachment(tmp_path, "旧.pdf", b"old"),))
    r1 = site.publish(context(v1))
    v2 = payload(
        5,
        version=2,
        title="关于印发工作方案的通知（修订）",
        body_html="<p>修订后的正文。</p>",
        validity="已修改",
        extra={"validity_note": "已被根司发〔2026〕9号文件修改"},
        attachments=(attachment(tmp_path, "新.pdf", b"new"),),
    )
    ctx2 = context(v2, Action.update)
    r2 = site.update(ctx2)
    assert r2.url == r1.url
    page = get(r2.url)
    assert page.first("doc-title") == v2.title
    assert "修订后的正文。" in page.text and "正文第5号" not in page.text
    assert "本文件已修改" in page.text and "已被根司发〔2026〕9号文件修改" in page.text
    assert site.verify(ctx2, r2) is True
    assert site.verify(context(v1), r1) is False  # the old version is no longer what is live
    files = sorted(p.name for p in (site.output_dir / "files" / "5").iterdir())
    assert len(files) == 1  # the replaced attachment is gone
    listing = get(site.base_url + "list/GH-SFJ-001/index.html")
    assert [link["text"] for link in listing.links if "art/" in link["href"]] == [v2.title]


def test_withdraw_replaces_page_with_notice_and_removes_from_lists(site: SiteChannel, tmp_path: Path) -> None:
    doc = payload(3, attachments=(attachment(tmp_path, "a.pdf", b"bytes"),))
    r = site.publish(context(doc))
    site.publish(context(payload(4)))
    file_href = next(link["href"] for link in get(r.url).links if link.get("download"))
    wctx = context(payload(3, extra={"withdraw_reason": "内容有误"}), Action.withdraw)
    rw = site.withdraw(wctx)
    assert rw.url == r.url
    page = get(r.url)  # still there: a notice, not a 404
    assert page.meta["disclosure-status"] == "withdrawn"
    assert "已于" in page.text and "撤销" in page.text and "内容有误" in page.text
    assert page.first("validity") == "已撤销"  # the info table agrees with the notice (not 有效)
    assert not any(link.get("download") for link in page.links)
    assert requests.get(requests.compat.urljoin(r.url, file_href), timeout=5).status_code == 404
    listing = get(site.base_url + "list/GH-SFJ-001/index.html")
    titles = [link["text"] for link in listing.links if "art/" in link["href"]]
    assert titles == [payload(4).title]
    assert "本目录共有公开信息 1 条" in listing.text
    shard = json.loads((site.output_dir / "search" / "s1.json").read_text("utf-8"))
    assert [item["u"] for item in shard] == ["art/4.html"]
    assert site.verify(wctx, rw) is True
    assert site.verify(context(doc), r) is False

    # Publishing it again (a re-release) brings it back to the list.
    site.publish(context(payload(3, version=2)))
    listing = get(site.base_url + "list/GH-SFJ-001/index.html")
    assert payload(3).title in [link["text"] for link in listing.links]


def test_hostile_body_and_title_are_neutralised(site: SiteChannel) -> None:
    body = (
        '<p onclick="steal()">正文<script>alert(1)</script></p>'
        '<a href="javascript:alert(2)">点我</a><a href="https://www.gov.cn/" onmouseover="x()">政府网</a>'
        '<img src="https://example.gov.cn/big.png" width="99999" height="99999" style="width:99999px" onerror="boom()">'
        '<iframe src="https://evil.example/"></iframe><style>body{display:none}</style>'
    )
    doc = payload(7, title='通知<script>alert("t")</script>', body_html=body, doc_number='"><img src=x onerror=y>')
    r = site.publish(context(doc))
    raw = requests.get(r.url, timeout=5).content.decode("utf-8")
    page = Page(raw)
    scripts = [a for t, a in page.tags if t == "script"]
    assert scripts == []  # article pages carry no script at all
    for tag, attrs in page.tags:
        assert not any(k.startswith("on") for k in attrs), (tag, attrs)
        assert tag not in {"iframe", "style"}
        if tag == "img":
            assert set(attrs) <= {"src", "alt", "title"}
        if tag == "a":
            assert not attrs.get("href", "").lower().startswith("javascript")
    assert page.first("doc-title") == '通知<script>alert("t")</script>'  # shown as text, not run
    assert "alert(1)" not in raw
    assert any(link.get("href") == "https://www.gov.cn/" for link in page.links)
    assert any(link["text"] == "点我" and "href" not in link for link in page.links)


@pytest.mark.parametrize(
    "name",
    ["../../etc/passwd", "..\\..\\..\\windows\\win.ini", "/etc/shadow", "a/../../../../x.pdf", "evil\n.pdf", ".."],
)
def test_attachment_names_cannot_escape_the_output_dir(tmp_path: Path, name: str) -> None:
    out = tmp_path / "deep" / "site"
    with serve(out) as base:
        site = make_site(out, base)
        att = attachment(tmp_path, name, b"payload-" + name.encode())
        r = site.publish(context(payload(11, attachments=(att,))))
        written = [p for p in tmp_path.rglob("*") if p.is_file() and p.read_bytes() == att.path.read_bytes()]
        for p in written:
            assert p == att.path or out.resolve() in p.resolve().parents
        copies = [p for p in written if p != att.path]
        assert len(copies) == 1 and copies[0].parent == out / "files" / "11"
        assert not (tmp_path / "etc").exists() and not Path("/etc/passwd").read_bytes().startswith(b"payload-")
        link = next(link for link in get(r.url).links if link.get("download"))
        assert "/" not in link["download"] and "\\" not in link["download"] and "\n" not in link["download"]
        assert requests.get(requests.compat.urljoin(r.url, link["href"]), timeout=5).content == att.path.read_bytes()


def test_attachment_with_wrong_digest_is_refused(site: SiteChannel, tmp_path: Path) -> None:
    att = attachment(tmp_path, "a.pdf", b"real")
    att.path.write_bytes(b"tampered")
    with pytest.raises(PermanentError) as err:
        site.publish(context(payload(12, attachments=(att,))))
    assert "校验值" in err.value.message


def test_policy_interpretation_links_both_ways(site: SiteChannel) -> None:
    policy = payload(20, title="根河市行政执法公示办法")
    site.publish(context(policy))
    interp = payload(
        21,
        title="《根河市行政执法公示办法》政策解读",
        entry_code="GH-SFJ-002",
        entry_path=("法定主动公开内容", "政策解读"),
        related=({"document_id": 20, "title": policy.title, "relation": "interprets"},),
    )
    r = site.publish(context(interp))
    ipage = get(r.url)
    assert "解读的政策文件" in ipage.text
    assert any(link["href"] == "../art/20.html" and link["text"] == policy.title for link in ipage.links)
    ppage = get(site.base_url + "art/20.html")
    assert "政策解读" in ppage.text
    assert any(link["href"] == "../art/21.html" and link["text"] == interp.title for link in ppage.links)
    # Withdrawing the interpretation marks the link on the policy page.
    site.withdraw(context(interp, Action.withdraw))
    ppage = get(site.base_url + "art/20.html")
    assert "已撤销" in ppage.text


def test_search_index_static_and_server_route(site: SiteChannel) -> None:
    site.publish(context(payload(30, title="关于公布权责清单的通知", doc_number="根司发〔2026〕30号")))
    site.publish(context(payload(31, title="年度工作报告", doc_number="根司发〔2026〕31号")))
    manifest = requests.get(site.base_url + "search/manifest.json", timeout=5).json()
    assert manifest["shards"] == 1
    shard = requests.get(site.base_url + "search/s1.json", timeout=5).json()
    assert {item["t"] for item in shard} == {"关于公布权责清单的通知", "年度工作报告"}
    search_page = get(site.base_url + "search.html")
    assert ("script", {"src": "static/search.js"}) in search_page.tags
    assert requests.get(site.base_url + "static/search.js", timeout=5).status_code == 200

    from starlette.testclient import TestClient

    from orchestrator.settings import Settings

    channels_file = site.output_dir.parent / "channels.yaml"
    channels_file.write_text(
        "channels:\n  website:\n    destinations:\n      - name: site\n        adapter: site\n"
        f"        output_dir: {site.output_dir}\n",
        encoding="utf-8",
    )
    app = site_static_app(Settings(channels_file=str(channels_file)))
    client = TestClient(app)
    found = client.get("/api/search", params={"q": "〔2026〕31"}).json()
    assert [item["t"] for item in found] == ["年度工作报告"]
    assert client.get("/api/search", params={"q": "权责清单"}).json()[0]["u"] == "art/30.html"
    assert "关于公布权责清单的通知" in client.get("/art/30.html").text
    assert client.get("/").status_code == 200


def test_verify_is_false_for_a_missing_page(site: SiteChannel) -> None:
    doc = payload(40)
    assert site.verify(context(doc), site.publish(context(payload(41)))) is False


def _publish_range(args: tuple[str, str, int, int]) -> None:
    out, base, start, count = args
    site = make_site(Path(out), base)
    for i in range(start, start + count):
        site.publish(context(payload(i)))


def test_concurrent_workers_share_one_site(tmp_path: Path) -> None:
    """Several worker processes publishing to one column at once: the file lock keeps the index consistent."""
    import multiprocessing

    out = tmp_path / "site"
    with serve(out) as base:
        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(4) as pool:
            pool.map(_publish_range, [(str(out), base, 1 + 5 * k, 5) for k in range(4)])
        site = make_site(out, base)
        with site.state.reading() as db:
            seqs = [r[0] for r in db.execute("SELECT entry_seq FROM docs ORDER BY entry_seq")]
        assert seqs == list(range(1, 21))
        listed = []
        for n in range(1, 8):
            page = get(f"{base}list/GH-SFJ-001/p{n}.html")
            listed += [link["href"] for link in page.links if "art/" in link["href"]]
        assert sorted(listed) == sorted(f"../../art/{i}.html" for i in range(1, 21))


def test_related_links_never_carry_script_urls(site: SiteChannel) -> None:
    doc = payload(50, related=({"title": "外部链接", "url": "javascript:alert(1)", "relation": "related"},
                               {"title": "国务院文件", "url": "https://www.gov.cn/zhengce/", "relation": "related"}))
    page = get(site.publish(context(doc)).url)
    assert not any(link.get("href", "").startswith("javascript") for link in page.links)
    assert any(link.get("href") == "https://www.gov.cn/zhengce/" for link in page.links)
    assert "外部链接" in page.text
