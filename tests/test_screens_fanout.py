"""Bulletin boards through the real fan-out: submit once, Celery worker processes, PostgreSQL, Redis, Debian Chromium.

A document for 部门会议 appears on the live screen page (headless Chromium) and in the export bundle (PNG at the exact
resolution, manifest sha256 matching), and leaves both when withdrawn or when its display period ends.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from PIL import Image

from channels.screens.adapter import build_service
from channels.screens.render import CHROMIUM_FLAGS
from channels.screens.web import make_router
from tests.fanout_harness import FanoutStack
from tests.screens_support import (  # noqa: F401  (clean_screens is a fixture)
    ARTIFACTS,
    SCREENS,
    ThreadedServer,
    clean_screens,
    sha256,
    write_screens_file,
)
from tests.web_support import chromium

pytestmark = [pytest.mark.slow, pytest.mark.browser]

DONE = ("delivered", "verified")


@pytest.fixture
def browser() -> Iterator:
    with chromium(CHROMIUM_FLAGS) as b:
        yield b


def board_rows(rows: list[dict], action: str) -> list[dict]:
    return [r for r in rows if r["channel"] == "bulletin_board" and r["action"] == action]


def screens_config(tmp_path: Path) -> dict:
    # The seed catalog's publisher; two screens that show 部门会议, one of them with a paper copy.
    data = json.loads(json.dumps(SCREENS))
    data["screens"] = [s for s in data["screens"] if s["id"] in ("lobby", "community")]
    path = write_screens_file(tmp_path / "screens.yaml", data)
    return {"screens_file": str(path), "bundle_dir": str(tmp_path / "bundles"), "renderer": "chromium"}


def bundle_entry(bundle_dir: Path, screen_id: str, document_id: int) -> dict | None:
    manifest = json.loads((bundle_dir / screen_id / "manifest.json").read_text(encoding="utf-8"))
    return next((e for e in manifest["slides"] if e["document"] == document_id), None)


@pytest.mark.usefixtures("clean_screens")  # the session's database may hold other tests' notices
def test_meeting_minutes_reach_screen_page_and_bundle_then_leave(orch_env, redis_server, tmp_path, browser):
    dest = screens_config(tmp_path)
    bundles = Path(dest["bundle_dir"])
    channels = {"bulletin_board": [{"name": "screens", "adapter": "screens", **dest}]}
    with FanoutStack(orch_env, tmp_path, channels=channels, redis=redis_server) as stack:
        app = FastAPI()
        app.include_router(make_router(lambda: build_service(dest)))
        server = ThreadedServer(app).start()
        try:
            page = browser.new_page(viewport={"width": 1920, "height": 1080})
            page.goto(f"{server.url}/screens/lobby")
            page.wait_for_selector("text=暂无公示信息")
            page.evaluate("window.__sameDocument = 'yes'")

            # --- a document arrives --------------------------------------------------------------------------------
            title = "根河市司法局2026年第8次局务会议纪要"
            res = stack.submit(
                entry="部门会议", title=title, doc_number="根司会〔2026〕8号",
                body="<p>会议研究决定：一、通过年度普法工作总结；二、部署冬季安全生产检查。</p>",
            )
            rows = stack.wait_until(
                res.document_id, lambda ds: any(r["status"] in (*DONE, "failed") for r in board_rows(ds, "publish")),
                timeout=90, what="bulletin_board publish",
            )
            [pub] = board_rows(rows, "publish")
            assert pub["status"] in DONE, pub["last_error"]
            assert {s["id"] for s in pub["receipt"]["data"]["screens"]} == {"lobby", "community"}

            page.wait_for_selector(f"text={title}", timeout=15_000)
            assert "根司会〔2026〕8号" in page.locator(".slide .meta").inner_text()
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "screens-fanout-lobby.png"))

            for sid, size in (("lobby", (1920, 1080)), ("community", (1280, 720))):
                e = bundle_entry(bundles, sid, res.document_id)
                assert e is not None and e["title"] == title
                png = bundles / sid / e["file"]
                with Image.open(png) as im:
                    assert im.size == size
                assert sha256(png) == e["sha256"]

            # --- withdrawn: gone from page and bundles; the paper copy needs a person -------------------------------
            from orchestrator.documents import versions

            versions.withdraw(res.document_id, "会议纪要内容有误，撤回后重新发布", actor="办公室")
            rows = stack.wait_until(
                res.document_id,
                lambda ds: any(r["status"] in (*DONE, "failed", "awaiting_confirmation") for r in board_rows(ds, "withdraw")),
                timeout=90, what="bulletin_board withdraw",
            )
            [wd] = board_rows(rows, "withdraw")
            assert wd["status"] == "awaiting_confirmation", wd["last_error"]
            assert wd["receipt"]["data"]["task"] == "撤下纸质公示"
            assert [b["id"] for b in wd["receipt"]["data"]["boards"]] == ["community"]
            page.wait_for_selector(f"text={title}", state="detached", timeout=15_000)
            page.wait_for_selector("text=暂无公示信息")
            assert page.evaluate("window.__sameDocument") == "yes"
            for sid in ("lobby", "community"):
                assert bundle_entry(bundles, sid, res.document_id) is None

            # --- a short display period: gone from page and bundle when it ends ------------------------------------
            until = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=25)
            short_title = "关于召开2026年度民主生活会的会议通知"
            res2 = stack.submit(
                entry="部门会议", title=short_title, body="<p>定于近日召开民主生活会。</p>",
                display_until=until.isoformat(),
            )
            rows = stack.wait_until(
                res2.document_id, lambda ds: any(r["status"] in (*DONE, "failed") for r in board_rows(ds, "publish")),
                timeout=90, what="bulletin_board publish (short period)",
            )
            assert board_rows(rows, "publish")[0]["status"] in DONE, board_rows(rows, "publish")[0]["last_error"]
            page.wait_for_selector(f"text={short_title}", timeout=15_000)
            e = bundle_entry(bundles, "lobby", res2.document_id)
            assert e is not None and dt.datetime.fromisoformat(e["end"]) == until

            page.wait_for_selector(f"text={short_title}", state="detached", timeout=40_000)
            assert dt.datetime.now(dt.UTC) >= until
            assert page.evaluate("window.__sameDocument") == "yes"
            feed = httpx.get(f"{server.url}/screens/lobby/feed.json").json()
            assert res2.document_id not in [n["document"] for n in feed["notices"]]
            # The bundle a person downloads for a USB stick is brought up to date: the expired slide is gone.
            r = httpx.get(f"{server.url}/screens/lobby/bundle.zip", timeout=60)
            with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
                manifest = json.loads(zf.read("manifest.json"))
                assert res2.document_id not in [s["document"] for s in manifest["slides"]]
                assert not [n for n in zf.namelist() if n.startswith("slides/")]
            assert bundle_entry(bundles, "lobby", res2.document_id) is None
        finally:
            server.stop()
