"""The ``libresignage`` adapter against a real LibreSignage 0.9.0 started by the test."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from channels.base import Action, NotConfigured, PermanentError, Receipt
from channels.screens.libresignage import LibreSignageChannel
from tests.screens_support import context, free_port, payload, write_screens_file

_BOOTSTRAP = """
from libresignage import create_app
from libresignage.auth.store import create_api_token, create_user
app = create_app()
with app.app_context():
    uid = create_user(username="publisher", password="Pw-for-tests-1234", role="editor")
    _, token = create_api_token(uid, name="orchestrator", expires_at=None)
print(token)
"""


@pytest.fixture(scope="module")
def libresignage(tmp_path_factory) -> Iterator[tuple[str, str, Path]]:
    root = tmp_path_factory.mktemp("libresignage")
    env = {
        **os.environ,
        "LIBRESIGNAGE_DATABASE": str(root / "ls.sqlite"),
        "LIBRESIGNAGE_UPLOAD_FOLDER": str(root / "uploads"),
        "LIBRESIGNAGE_SECRET_KEY": "test-secret-key-for-screens",
        "LIBRESIGNAGE_VIDEO_TRANSCODING_ENABLED": "false",
    }
    token = subprocess.run(
        [sys.executable, "-c", _BOOTSTRAP], env=env, cwd=root, capture_output=True, text=True, check=True
    ).stdout.strip().splitlines()[-1]
    port = free_port()
    flask = Path(sys.executable).with_name("flask")
    proc = subprocess.Popen(
        [str(flask), "--app", "libresignage", "run", "--port", str(port), "--no-reload"],
        env=env, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"{url}/api/v1/openapi.json", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"LibreSignage did not start: {proc.stderr.read().decode(errors='replace')[-2000:]}")
            time.sleep(0.2)
        yield url, token, root
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def make(tmp_path: Path, url: str, token: str, **extra) -> LibreSignageChannel:
    screens_file = write_screens_file(tmp_path / "screens.yaml")
    config = {"base_url": url, "token": token, "screen": "lobby", "playlist": "政务公开", "renderer": "pillow",
              "screens_file": str(screens_file), **extra}
    return LibreSignageChannel(config, name="libresignage")


def api(url: str, token: str, path: str) -> requests.Response:
    return requests.get(f"{url}/api/v1{path}", headers={"Authorization": f"Bearer {token}"}, timeout=5)


def test_round_trip_publish_update_withdraw(orch_env, tmp_path, libresignage):
    url, token, _ = libresignage
    ch = make(tmp_path, url, token)
    end = dt.datetime(2027, 3, 1, tzinfo=dt.UTC)  # 2027-03-01 08:00 in Beijing: last day shown is 3月1日
    doc = payload(title="根河市司法局2026年第7次局务会议纪要", display_until=end)
    saved: dict = {}
    ctx = context(doc)
    ctx.save_checkpoint = saved.update
    receipt = ch.run(ctx)

    media = api(url, token, f"/media/{receipt.data['media_id']}").json()["data"]
    assert media["title"] == doc.title and media["kind"] == "image"
    assert media["expires_on"] == "2027-03-01" and media["duration_seconds"] == 5
    assert f"doc-{doc.document_id}" in media["tags"] and "gov-disclosure" in media["tags"]
    playlist = api(url, token, f"/playlists/{receipt.data['playlist_id']}").json()["data"]
    assert playlist["name"] == "政务公开"
    assert [e["media"]["id"] for e in playlist["entries"]] == [receipt.data["media_id"]]
    assert ch.verify(ctx, receipt)
    assert saved["media_id"] == receipt.data["media_id"]

    # A retry of the same delivery (lost response) creates nothing new: found by its idempotency tag.
    again = ch.run(context(doc))
    assert again.data["media_id"] == receipt.data["media_id"] and again.data["entry_id"] == receipt.data["entry_id"]
    assert len(api(url, token, f"/playlists/{receipt.data['playlist_id']}").json()["data"]["entries"]) == 1

    # A new version replaces the slide: new media in, old media and its playlist entry out.
    doc2 = payload(document_id=doc.document_id, version=2, title="根河市司法局2026年第7次局务会议纪要（更正）",
                   display_until=end)
    uctx = context(doc2, Action.update)
    uctx.previous_receipt = receipt
    updated = ch.run(uctx)
    assert updated.data["media_id"] != receipt.data["media_id"]
    assert api(url, token, f"/media/{receipt.data['media_id']}").status_code == 404
    entries = api(url, token, f"/playlists/{updated.data['playlist_id']}").json()["data"]["entries"]
    assert [e["media"]["id"] for e in entries] == [updated.data["media_id"]]

    # Withdrawal: off the playlist and deleted.
    wctx = context(doc2, Action.withdraw)
    wctx.previous_receipt = updated
    gone = ch.run(wctx)
    assert gone.data["removed_media"] == [updated.data["media_id"]]
    assert api(url, token, f"/media/{updated.data['media_id']}").status_code == 404
    assert api(url, token, f"/playlists/{updated.data['playlist_id']}").json()["data"]["entries"] == []
    assert ch.verify(wctx, gone)


def test_withdraw_without_receipt_finds_media_by_document_tag(orch_env, tmp_path, libresignage):
    url, token, _ = libresignage
    ch = make(tmp_path, url, token)
    doc = payload(title="关于开展法律援助进社区活动的会议纪要")
    published = ch.run(context(doc))
    gone = ch.run(context(doc, Action.withdraw))  # previous_receipt missing
    assert gone.data["removed_media"] == [published.data["media_id"]]
    assert api(url, token, f"/media/{published.data['media_id']}").status_code == 404


def test_entry_not_on_this_screen_is_skipped(orch_env, tmp_path, libresignage):
    url, token, _ = libresignage
    ch = make(tmp_path, url, token, screen="hall")  # the hall shows 部门会议 only
    receipt = ch.run(context(payload(entry_path=("履职依据", "规范性文件"))))
    assert receipt.data.get("skipped") and receipt.external_id is None


def test_bad_configuration_names_what_to_fix(orch_env, tmp_path, libresignage):
    url, token, _ = libresignage
    with pytest.raises(PermanentError) as err:
        make(tmp_path, f"http://127.0.0.1:{free_port()}", token).run(context(payload()))
    assert "无法连接" in err.value.message and "base_url" in err.value.message and "libresignage" in err.value.message
    with pytest.raises(NotConfigured) as err:
        make(tmp_path, url, "ls_pat_000000000000_wrong").run(context(payload()))
    assert "token" in err.value.message
    with pytest.raises(NotConfigured) as err:
        make(tmp_path, url, token, screen="gate").run(context(payload()))
    assert "gate" in err.value.message and "lobby" in err.value.message
    with pytest.raises(NotConfigured) as err:
        make(tmp_path, url, "").run(context(payload()))
    assert "token" in err.value.message
    with pytest.raises(NotConfigured):
        make(tmp_path, "signage.local:5000", token).run(context(payload()))
    assert not make(tmp_path, url, token).verify(
        context(payload()), Receipt(data={"media_id": 999999, "playlist_id": 1})
    )
