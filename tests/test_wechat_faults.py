"""The WeChat adapter under the stricter stand-in's faults: busy (-1) every Nth call, the token dying every Mth call,
answers lost after WeChat carried the call out. One draft and one publish, whatever happens.

Also the local server's own fault modes and stricter rules, checked over plain HTTP so the adapter tests stand on them.
"""

# Fixtures are imported from tests/wechat_support.py, so pytest's parameter injection shadows the imports.
# ruff: noqa: F811

from __future__ import annotations

import base64
import json

import pytest
import redis
import requests

from channels.base import TransientError
from tests.wechat_server import WeChatServer
from tests.wechat_support import (  # noqa: F401 - fixtures
    Delivery,
    attachment,
    make_channel,
    make_document,
    png_bytes,
    run_to_completion,
    wechat,
    wechat_env,
)


# --- the server's fault modes ------------------------------------------------------------------------------------------
def _token(server: WeChatServer) -> str:
    res = requests.post(server.api_base + "stable_token", json={
        "grant_type": "client_credential", "appid": server.state.appid, "secret": server.state.secret}, timeout=5).json()
    return res["access_token"]


def test_server_busy_every_nth_call_over_all_endpoints_does_nothing(wechat: WeChatServer):
    token = _token(wechat)
    wechat.strict(busy_every=3)
    codes = []
    for endpoint in ["draft/count", "draft/batchget", "stable_token", "draft/count", "freepublish/batchget", "token"]:
        if endpoint == "stable_token":
            res = requests.post(wechat.api_base + endpoint, json={"grant_type": "client_credential",
                                "appid": wechat.state.appid, "secret": wechat.state.secret}, timeout=5).json()
        elif endpoint == "token":
            res = requests.get(wechat.api_base + endpoint, params={"grant_type": "client_credential",
                               "appid": wechat.state.appid, "secret": wechat.state.secret}, timeout=5).json()
        else:
            res = requests.post(wechat.api_base + endpoint, params={"access_token": token}, json={}, timeout=5).json()
        codes.append(res.get("errcode", 0))
    # The 3rd (a token fetch) and the 6th call (a token fetch) answer -1; the others are served.
    assert codes == [0, 0, -1, 0, 0, -1]
    assert wechat.state.busy_replies == 2 and wechat.applied("stable_token") == 1  # only the fetch before strict()


def test_server_token_dies_every_mth_call(wechat: WeChatServer):
    token = _token(wechat)
    wechat.strict(token_death_every=2)
    first = requests.get(wechat.api_base + "draft/count", params={"access_token": token}, timeout=5).json()
    second = requests.get(wechat.api_base + "draft/count", params={"access_token": token}, timeout=5).json()
    assert first == {"total_count": 0} and second["errcode"] == 40001
    third = requests.get(wechat.api_base + "draft/count", params={"access_token": token}, timeout=5).json()
    assert third["errcode"] == 40001  # dead for good: only a new token helps
    fresh = _token(wechat)  # the 4th call: every token dies again, then this fetch issues a new one
    assert fresh != token
    assert requests.get(wechat.api_base + "draft/count", params={"access_token": fresh}, timeout=5).json() == {
        "total_count": 0}


def test_server_draft_add_and_submit_are_not_idempotent_and_lost_replies_are_carried_out(wechat: WeChatServer, make_channel):
    token = _token(wechat)
    up = requests.post(wechat.api_base + "material/add_material", params={"access_token": token, "type": "image"},
                       files={"media": ("c.png", png_bytes(), "image/png")}, timeout=5).json()
    article = {"title": "标题", "content": "<p>正文</p>", "thumb_media_id": up["media_id"]}
    wechat.fail("draft/add", -1, after=True)
    body = json.dumps({"articles": [article]}, ensure_ascii=False).encode()
    lost = requests.post(wechat.api_base + "draft/add", params={"access_token": token}, data=body, timeout=5)
    assert lost.json()["errcode"] == -1 and wechat.state.drafts_created == 1  # made, though the caller heard -1
    again = requests.post(wechat.api_base + "draft/add", params={"access_token": token}, data=body, timeout=5)
    assert wechat.state.drafts_created == 2 and wechat.applied("draft/add") == 2
    media_id = again.json()["media_id"]
    for _ in range(2):
        requests.post(wechat.api_base + "freepublish/submit", params={"access_token": token}, json={"media_id": media_id},
                      timeout=5)
    assert len(wechat.state.jobs) == 2  # a second submit of the same draft publishes it a second time


def test_server_quota_whitelist_and_unverified_account(wechat: WeChatServer):
    token = _token(wechat)
    wechat.state.daily_limits["draft/count"] = 1
    assert "total_count" in requests.get(wechat.api_base + "draft/count", params={"access_token": token}, timeout=5).json()
    assert requests.get(wechat.api_base + "draft/count", params={"access_token": token}, timeout=5).json()["errcode"] == 45009
    retired = requests.post(wechat.api_base + "material/add_news", params={"access_token": token}, json={}, timeout=5)
    assert retired.json()["errcode"] == 45103
    wechat.state.unverified = True
    res = requests.post(wechat.api_base + "freepublish/batchget", params={"access_token": token}, json={}, timeout=5)
    assert res.json()["errcode"] == 48001
    wechat.state.ip_whitelist = {"198.51.100.1"}
    res = requests.post(wechat.api_base + "stable_token", json={"grant_type": "client_credential",
                        "appid": wechat.state.appid, "secret": wechat.state.secret}, timeout=5).json()
    assert res["errcode"] == 40164 and wechat.state.client_ip in res["errmsg"]


# --- the adapter under faults ------------------------------------------------------------------------------------------
def _doc_with_images(tmp_path):
    cover = attachment(tmp_path, "封面.png", png_bytes((900, 383)), "image/png")
    body = "".join(f'<p><img src="data:image/png;base64,{base64.b64encode(png_bytes(color=(i, 9, 9))).decode()}"></p>'
                   for i in range(2))
    return make_document(body_html=f"<p>正文</p>{body}", attachments=(cover,))


def _deliver_like_the_fanout(channel_factory, delivery: Delivery, max_stalled: int = 6) -> tuple[object, int, int]:
    """publish/poll like the fan-out: a TransientError ends the attempt; it counts only when no step progressed."""
    import time

    attempts = stalled = 0
    while True:
        attempts += 1
        ctx = delivery.ctx()
        try:
            receipt = channel_factory().run(ctx)
            break
        except TransientError:
            if not ctx.progressed:
                stalled += 1
            assert stalled < max_stalled, "gave up: attempts without progress"
    deadline = time.monotonic() + 30
    while receipt.pending:
        try:
            final = channel_factory().poll(delivery.ctx(), receipt)
        except TransientError:
            final = None
        if final is not None:
            receipt = final
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return receipt, attempts, stalled


@pytest.mark.parametrize("token_mode", ["stable", "client_credential"])
def test_busy_every_third_call_and_token_dying_every_fourth_publishes_once(wechat: WeChatServer, make_channel,
                                                                           wechat_env, token_mode):
    wechat.state.publish_delay = 0.3
    wechat.strict(busy_every=3, token_death_every=4)

    def channel():
        return make_channel(token_mode=token_mode, retry_backoff=0.02, publish_settle_seconds=2)

    delivery = Delivery(_doc_with_images(wechat_env))
    receipt, attempts, stalled = _deliver_like_the_fanout(channel, delivery)
    assert receipt.url and receipt.external_id.startswith("ART_")
    assert retry_verify(channel, delivery, receipt)
    st = wechat.state
    # Exactly one draft and one publish job were carried out by the platform, whatever the adapter heard.
    assert wechat.applied("draft/add") == 1 and st.drafts_created == 1
    assert wechat.applied("freepublish/submit") == 1 and len(st.jobs) == 1
    assert wechat.applied("media/uploadimg") == 2
    # The faults really happened, on token fetches too.
    assert st.busy_replies >= 5 and st.token_deaths >= 5
    assert stalled == 0, f"{attempts} attempts, {stalled} without progress"


def retry_verify(channel_factory, delivery: Delivery, receipt) -> bool:
    return channel_factory().verify(delivery.ctx(), receipt)


def test_lost_draft_add_reply_is_resolved_by_looking_not_by_a_second_draft(wechat: WeChatServer, make_channel):
    wechat.fail("draft/add", -1, after=True)  # WeChat made the draft; the answer says "system busy"
    delivery = Delivery(make_document())
    receipt = make_channel(retry_backoff=0.01).publish(delivery.ctx())
    assert receipt.pending and delivery.checkpoint["draft_recovered"] is True
    assert wechat.calls("draft/add") == 1 and wechat.state.drafts_created == 1 and wechat.calls("draft/batchget") == 1
    assert receipt.data["media_id"] in wechat.state.drafts


def test_busy_draft_add_that_made_nothing_is_sent_again_after_looking(wechat: WeChatServer, make_channel):
    wechat.fail("draft/add", -1)  # answered before anything was made
    receipt = make_channel(retry_backoff=0.01).publish(Delivery(make_document()).ctx())
    assert receipt.pending
    assert wechat.calls("draft/add") == 2 and wechat.state.drafts_created == 1 and wechat.calls("draft/batchget") == 1


def test_lost_submit_reply_is_found_in_the_publish_records(wechat: WeChatServer, make_channel):
    wechat.state.publish_delay = 0.5  # the article is listed only once publishing finished
    wechat.fail("freepublish/submit", http_status=502, after=True)
    delivery = Delivery(make_document())
    receipt = make_channel(retry_backoff=0.01, publish_settle_seconds=10).publish(delivery.ctx())
    assert not receipt.pending and receipt.external_id.startswith("ART_") and "未重复发表" in receipt.data["recovered"]
    assert wechat.calls("freepublish/submit") == 1 and len(wechat.state.jobs) == 1
    assert wechat.calls("freepublish/batchget") >= 2  # looked again while the job was still publishing
    assert make_channel().verify(delivery.ctx(), receipt) is True


def test_failed_refresh_never_keeps_the_dead_token(wechat: WeChatServer, make_channel, redis_server):
    key = f"orch:wechat:{wechat.state.appid}:access_token"
    store = redis.Redis.from_url(redis_server.url)
    run_to_completion(make_channel(), Delivery(make_document()))
    assert store.get(key) is not None
    wechat.expire_all_tokens()  # the cached token is dead on the platform (42001)
    wechat.fail("stable_token", -1, times=10)  # and no new token can be had for now
    delivery = Delivery(make_document(document_id=2))
    with pytest.raises(TransientError) as err:
        make_channel(call_retries=1, retry_backoff=0.01).publish(delivery.ctx())
    assert err.value.code == "-1" and "access_token" in err.value.message
    assert store.get(key) is None  # dropped: nobody starts the next attempt with a token WeChat rejected
    wechat.state.faults.clear()
    uploads_before = wechat.calls("material/add_material")
    receipt = make_channel().publish(delivery.ctx())
    assert receipt.pending
    # The next attempt began with a fresh token: its first call was not rejected and sent again.
    assert wechat.calls("material/add_material") - uploads_before == 1
