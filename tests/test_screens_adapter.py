"""The ``screens`` adapter driven directly: placement, export bundle, incremental rebuilds, withdrawal, expiry, bad config."""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import shutil
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from channels.base import Action, NotConfigured, PermanentError
from channels.registry import ChannelRegistry
from channels.screens.adapter import PAPER_TASK, ScreensChannel
from channels.screens.config import ScreensConfigError, load_screens_config
from tests.screens_support import (  # noqa: F401  (clean_screens is a fixture)
    ARTIFACTS,
    ROOT,
    SCREENS,
    clean_screens,
    context,
    make_channel,
    payload,
    sha256,
    write_screens_file,
)


def manifest_of(channel: ScreensChannel, screen_id: str) -> dict:
    return json.loads((channel.service.bundle_dir(screen_id) / "manifest.json").read_text(encoding="utf-8"))


def entry_for(manifest: dict, document_id: int) -> dict | None:
    return next((e for e in manifest["slides"] if e["document"] == document_id), None)


@pytest.mark.usefixtures("clean_screens")
def test_publish_places_on_every_matching_screen_with_exact_bundle(tmp_path):
    ch = make_channel(tmp_path)
    doc = payload()
    receipt = ch.run(context(doc))

    assert {s["id"] for s in receipt.data["screens"]} == {"lobby", "hall", "community"}
    assert receipt.url.endswith("/screens/community")  # sorted ids; every screen has its own page
    sizes = {"lobby": (1920, 1080), "hall": (1080, 1920), "community": (1280, 720)}
    for sid, size in sizes.items():
        bundle = ch.service.bundle_dir(sid)
        manifest = manifest_of(ch, sid)
        e = entry_for(manifest, doc.document_id)
        assert e is not None
        assert e["title"] == doc.title and e["version"] == 1 and e["order"] == 1
        png = bundle / e["file"]
        assert e["file"].startswith("slides/") and len(Path(e["file"]).stem) == 4
        with Image.open(png) as im:
            assert im.size == size and im.format == "PNG"
        assert sha256(png) == e["sha256"]
        # Start and end carry the configured time zone.
        assert e["start"].endswith("+08:00") and e["end"].endswith("+08:00")
        assert (manifest["screen"]["width"], manifest["screen"]["height"]) == size
        playlist = (bundle / "playlist.m3u").read_text(encoding="utf-8").splitlines()
        assert playlist[0] == "#EXTM3U" and e["file"] in playlist and f"#EXTINF:{e['duration']},{doc.title}" in playlist
        with zipfile.ZipFile(ch.service.zip_path(sid)) as zf:
            assert {"manifest.json", "playlist.m3u", e["file"]} <= set(zf.namelist())
            assert hashlib_hex(zf.read(e["file"])) == e["sha256"]
    # Default display periods: the community board's own 15 days, the others the file-wide 30 for 部门会议.
    by_id = {s["id"]: s for s in receipt.data["screens"]}
    for sid, days in (("community", 15), ("lobby", 30), ("hall", 30)):
        start = dt.datetime.fromisoformat(by_id[sid]["start"])
        end = dt.datetime.fromisoformat(by_id[sid]["end"])
        assert end - start == dt.timedelta(days=days)
    assert ch.verify(context(doc), receipt)

    ARTIFACTS.mkdir(exist_ok=True)
    for sid in sizes:
        e = entry_for(manifest_of(ch, sid), doc.document_id)
        shutil.copy(ch.service.bundle_dir(sid) / e["file"], ARTIFACTS / f"screens-slide-chromium-{sid}.png")


def hashlib_hex(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


@pytest.mark.usefixtures("clean_screens")
def test_feed_lists_current_notice_with_slide_html(tmp_path):
    ch = make_channel(tmp_path, renderer="pillow")
    doc = payload(title="关于召开2026年度述职述廉会议的通知", doc_number="根司发〔2026〕30号")
    ch.run(context(doc))
    feed = ch.service.feed(ch.screens.screen("lobby"))
    [n] = [n for n in feed["notices"] if n["document"] == doc.document_id]
    # The screen's slide time (5 s) is the minimum: a slide stays up long enough to read its text.
    text = re.sub(r"<[^>]+>", "", doc.body_html)
    assert n["duration"] == max(5, math.ceil(4 + len(text) / 4)) and n["start"].endswith("+08:00")
    assert n["page"] == n["pages"] == 1
    assert doc.title in n["html"] and "根司发〔2026〕30号" in n["html"] and "<svg" in n["html"]  # QR code, inline
    assert "扫码查看全文" in n["html"] and "发布日期" in n["html"]


@pytest.mark.usefixtures("clean_screens")
def test_display_period_from_submission_wins(tmp_path):
    ch = make_channel(tmp_path, renderer="pillow")
    start = dt.datetime(2026, 1, 5, 8, 0, tzinfo=dt.UTC)
    end = dt.datetime(2099, 1, 1, tzinfo=dt.UTC)
    doc = payload(display_from=start, display_until=end)
    receipt = ch.run(context(doc))
    for s in receipt.data["screens"]:
        assert dt.datetime.fromisoformat(s["start"]) == start
        assert dt.datetime.fromisoformat(s["end"]) == end


@pytest.mark.usefixtures("clean_screens")
def test_incremental_rebuild_rerenders_only_the_changed_slide(tmp_path):
    ch = make_channel(tmp_path)
    a, b = payload(title="第一份会议纪要"), payload(title="第二份会议纪要")
    ch.run(context(a))
    ch.run(context(b))
    bundle = ch.service.bundle_dir("lobby")
    fa = bundle / entry_for(manifest_of(ch, "lobby"), a.document_id)["file"]
    fb = bundle / entry_for(manifest_of(ch, "lobby"), b.document_id)["file"]
    a_stat, a_sha, b_sha = fa.stat(), sha256(fa), sha256(fb)

    # A retried delivery (same version) renders nothing.
    ch.run(context(b))
    assert ch.service.rebuild_bundle(ch.screens.screen("lobby")).rendered == []

    # A new version of B: only B's slide is rendered again, under the same file name.
    b2 = payload(document_id=b.document_id, version=2, title="第二份会议纪要（更正）")
    ch.run(context(b2, Action.update))
    m = manifest_of(ch, "lobby")
    eb = entry_for(m, b.document_id)
    assert eb["version"] == 2 and eb["title"] == "第二份会议纪要（更正）"
    assert bundle / eb["file"] == fb and sha256(fb) != b_sha and sha256(fb) == eb["sha256"]
    assert fa.stat().st_mtime_ns == a_stat.st_mtime_ns and fa.stat().st_ino == a_stat.st_ino
    assert sha256(fa) == a_sha == entry_for(m, a.document_id)["sha256"]

    # Direct check of what a rebuild does after a change: exactly one slide.
    b3 = payload(document_id=b.document_id, version=3, title="第二份会议纪要（再次更正）")
    ch.service.place(b3, [ch.screens.screen("lobby")], delivery_key="k3")
    result = ch.service.rebuild_bundle(ch.screens.screen("lobby"))
    assert result.rendered == [b.document_id] and result.kept == [a.document_id] and result.removed == []

    # A damaged file is noticed (sha256 mismatch) and rendered again.
    fa.write_bytes(b"not a png")
    result = ch.service.rebuild_bundle(ch.screens.screen("lobby"))
    assert result.rendered == [a.document_id] and sha256(fa) == entry_for(result.manifest, a.document_id)["sha256"]


@pytest.mark.usefixtures("clean_screens")
def test_stale_version_does_not_replace_newer(tmp_path):
    ch = make_channel(tmp_path, renderer="pillow")
    doc = payload()
    ch.run(context(payload(document_id=doc.document_id, version=2, title="新版本")))
    ch.run(context(doc))  # a late retry of version 1
    e = entry_for(manifest_of(ch, "lobby"), doc.document_id)
    assert e["version"] == 2 and e["title"] == "新版本"


@pytest.mark.usefixtures("clean_screens")
def test_withdrawal_removes_from_feed_and_bundle_and_asks_for_paper_removal(tmp_path):
    ch = make_channel(tmp_path)
    keep, gone = payload(title="保留的会议纪要"), payload(title="将被撤回的会议纪要")
    ch.run(context(keep))
    ch.run(context(gone))
    gone_files = {sid: ch.service.bundle_dir(sid) / entry_for(manifest_of(ch, sid), gone.document_id)["file"]
                  for sid in ("lobby", "hall", "community")}

    ctx = context(gone, Action.withdraw)
    receipt = ch.run(ctx)
    assert receipt.needs_person is True
    assert receipt.data["task"] == PAPER_TASK
    assert [b["id"] for b in receipt.data["boards"]] == ["community"]  # only the board with a paper copy
    assert "撤下纸质公示" in receipt.data["instructions"] or "纸质公示" in receipt.data["instructions"]
    for sid, f in gone_files.items():
        assert not f.exists()
        m = manifest_of(ch, sid)
        assert entry_for(m, gone.document_id) is None and entry_for(m, keep.document_id) is not None
        assert [e["order"] for e in m["slides"]] == [1]
        with zipfile.ZipFile(ch.service.zip_path(sid)) as zf:
            assert f"slides/{f.name}" not in zf.namelist()
        feed = ch.service.feed(ch.screens.screen(sid))
        assert [n["document"] for n in feed["notices"]] == [keep.document_id]
    assert ch.verify(ctx, receipt)
    # Withdrawing again (a retry) is harmless.
    assert ch.run(ctx).data["screens"] == ["community", "hall", "lobby"]


@pytest.mark.usefixtures("clean_screens")
def test_withdrawal_without_paper_copy_needs_no_person(tmp_path):
    ch = make_channel(tmp_path, renderer="pillow")
    doc = payload(entry_path=("履职依据", "规范性文件"), entry_code="LZYJ-GFXWJ")
    assert [s["id"] for s in ch.run(context(doc)).data["screens"]] == ["lobby"]
    receipt = ch.run(context(doc, Action.withdraw))
    assert receipt.needs_person is False and receipt.data["screens"] == ["lobby"]


@pytest.mark.usefixtures("clean_screens")
def test_expired_notice_leaves_feed_and_bundle(tmp_path):
    ch = make_channel(tmp_path, renderer="pillow")
    now = dt.datetime.now(dt.UTC)
    short = payload(title="即将到期的公示", display_from=now - dt.timedelta(days=1), display_until=now + dt.timedelta(hours=1))
    long = payload(title="长期公示")
    ch.run(context(short))
    ch.run(context(long))
    lobby = ch.screens.screen("lobby")
    assert entry_for(manifest_of(ch, "lobby"), short.document_id) is not None

    later = now + dt.timedelta(hours=2)
    assert [n["document"] for n in ch.service.feed(lobby, now=later)["notices"]] == [long.document_id]
    results = {r.screen_id: r for r in ch.service.refresh_bundles(now=later)}
    assert len(results["lobby"].removed) == 1 and results["lobby"].rendered == []
    m = manifest_of(ch, "lobby")
    assert entry_for(m, short.document_id) is None and entry_for(m, long.document_id) is not None


@pytest.mark.usefixtures("clean_screens")
def test_upcoming_notice_is_in_feed_but_not_yet_in_bundle(tmp_path):
    ch = make_channel(tmp_path, renderer="pillow")
    start = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)
    doc = payload(display_from=start)
    receipt = ch.run(context(doc))
    lobby = ch.screens.screen("lobby")
    # The page gets it ahead of time (so it starts on time even offline); the bundle holds what is on now.
    assert doc.document_id in [n["document"] for n in ch.service.feed(lobby)["notices"]]
    assert entry_for(manifest_of(ch, "lobby"), doc.document_id) is None
    assert ch.verify(context(doc), receipt)
    ch.service.refresh_bundles(now=start + dt.timedelta(minutes=1))
    assert entry_for(manifest_of(ch, "lobby"), doc.document_id) is not None


@pytest.mark.usefixtures("clean_screens")
def test_pillow_fallback_renders_exact_sizes(tmp_path):
    ch = make_channel(tmp_path, renderer="pillow")
    doc = payload(title="关于公布根河市司法局2026年度行政执法主体、执法人员名单及执法权责清单的公告（第二批）")
    ch.run(context(doc))
    ARTIFACTS.mkdir(exist_ok=True)
    for sid, size in (("lobby", (1920, 1080)), ("hall", (1080, 1920)), ("community", (1280, 720))):
        e = entry_for(manifest_of(ch, sid), doc.document_id)
        png = ch.service.bundle_dir(sid) / e["file"]
        with Image.open(png) as im:
            assert im.size == size
        assert sha256(png) == e["sha256"]
        assert manifest_of(ch, sid)["renderer"] == "pillow"
        shutil.copy(png, ARTIFACTS / f"screens-slide-pillow-{sid}.png")


# --- bad configuration ------------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("clean_screens")
def test_unknown_screen_in_destination_is_not_configured(tmp_path):
    ch = make_channel(tmp_path, renderer="pillow", screens=["lobby", "no-such-screen"])
    with pytest.raises(NotConfigured) as err:
        ch.run(context(payload()))
    assert "no-such-screen" in err.value.message and "config/channels.yaml" in err.value.message


@pytest.mark.usefixtures("clean_screens")
def test_unknown_screen_requested_by_document_is_permanent(tmp_path):
    ch = make_channel(tmp_path, renderer="pillow")
    with pytest.raises(PermanentError) as err:
        ch.run(context(payload(extra={"screens": ["lobby", "gate"]})))
    assert "gate" in err.value.message and "lobby" in err.value.message
    # Naming an existing screen restricts the document to it.
    receipt = ch.run(context(payload(extra={"screens": ["hall"]})))
    assert [s["id"] for s in receipt.data["screens"]] == ["hall"]


@pytest.mark.usefixtures("clean_screens")
def test_entry_shown_on_no_screen_is_not_configured(tmp_path):
    ch = make_channel(tmp_path, renderer="pillow")
    with pytest.raises(NotConfigured) as err:
        ch.run(context(payload(entry_path=("人事信息",), entry_code="RSXX")))
    # The clerk's message is for people: no file name, YAML key or path; the ops-only detail says what to change.
    msg = err.value.message
    assert "人事信息" in msg and "系统管理员" in msg
    assert not any(word in msg for word in ("yaml", "entries", "publishers", "/"))
    assert "config/screens.yaml" in err.value.detail and "entries" in err.value.detail


@pytest.mark.usefixtures("clean_screens")
def test_invalid_screens_file_names_screen_and_field(tmp_path):
    bad = json.loads(json.dumps(SCREENS))
    bad["screens"][1]["resolution"] = "1080p"
    bad["screens"][2]["orientation"] = "sideways"
    screens_file = write_screens_file(tmp_path / "bad.yaml", bad)
    with pytest.raises(ScreensConfigError) as err:
        load_screens_config(screens_file)
    msg = str(err.value)
    assert "屏幕“hall”" in msg and "resolution" in msg and "1080p" in msg
    assert "屏幕“community”" in msg and "orientation" in msg
    ch = ScreensChannel({"screens_file": str(screens_file), "bundle_dir": str(tmp_path / "b")}, name="screens")
    with pytest.raises(NotConfigured) as nc:
        ch.run(context(payload()))
    assert "hall" in nc.value.message
    missing = ScreensChannel({"screens_file": str(tmp_path / "nope.yaml")}, name="screens")
    with pytest.raises(NotConfigured, match="找不到屏幕配置文件"):
        missing.run(context(payload()))


@pytest.mark.usefixtures("clean_screens")
def test_repository_screens_file_and_channels_yaml_are_valid():
    cfg = load_screens_config(ROOT / "config" / "screens.yaml")
    assert cfg.screens_for(publisher="根河市司法局", entry_code="", entry_path=("部门会议",))
    registry = ChannelRegistry.load(ROOT / "config" / "channels.yaml")
    dests = {d.name: d for d in registry.channels["bulletin_board"]}
    assert dests["screens"].enabled and not dests["libresignage"].enabled
    assert isinstance(registry.adapter_for(dests["screens"]), ScreensChannel)


@pytest.mark.usefixtures("clean_screens")
def test_repository_wiring_periodic_refresh_and_default_router(tmp_path, monkeypatch):
    """With the repository's channels.yaml: the adapter, the periodic refresh and the app's router share one state."""
    import time

    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from channels.screens.adapter import refresh_all_bundles
    from channels.screens.web import router
    from orchestrator.settings import get_settings

    monkeypatch.setenv("ORCH_SCREENS_FILE", str(write_screens_file(tmp_path / "screens.yaml")))
    get_settings.cache_clear()
    registry = ChannelRegistry.load(ROOT / "config" / "channels.yaml")
    ch = registry.adapter_for(next(d for d in registry.channels["bulletin_board"] if d.name == "screens"))
    now = dt.datetime.now(dt.UTC)
    # The window must outlast rendering three screens' slides on a loaded CI machine (~15 s seen), then it is waited out.
    doc = payload(display_from=now - dt.timedelta(hours=1), display_until=now + dt.timedelta(seconds=45))
    ch.run(context(doc))
    assert entry_for(manifest_of(ch, "community"), doc.document_id) is not None

    client = TestClient(FastAPI(routes=router.routes))
    assert [n["document"] for n in client.get("/screens/community/feed.json").json()["notices"]] == [doc.document_id]
    assert doc.title in client.get("/screens/community").text

    time.sleep(max(0.0, (doc.display_until - dt.datetime.now(dt.UTC)).total_seconds()) + 0.2)
    assert client.get("/screens/community/feed.json").json()["notices"] == []
    assert set(refresh_all_bundles()) == {"lobby", "hall", "community"}
    assert entry_for(manifest_of(ch, "community"), doc.document_id) is None
    assert refresh_all_bundles() == []  # nothing changed since: nothing rebuilt
