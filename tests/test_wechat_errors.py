"""Every error code in the WeChat reference maps to the right outcome (transient/permanent) and a Chinese message."""

# Fixtures are imported from tests/wechat_support.py, so pytest's parameter injection shadows the imports.
# ruff: noqa: F811

from __future__ import annotations

import base64
import time

import pytest

from channels.base import PermanentError, TransientError
from channels.wechat import map_wechat_error, seconds_until_next_day
from tests.wechat_server import WeChatServer
from tests.wechat_support import (  # noqa: F401 - fixtures
    Delivery,
    make_channel,
    make_document,
    png_bytes,
    run_to_completion,
    wechat,
    wechat_env,
)

# (errcode, expected outcome, a phrase the staff message must contain)
TRANSIENT = [
    (-1, "系统繁忙"),
    (45011, "每分钟上限"),
    (53501, "过于频繁"),
    (45009, "今日接口调用次数已用完"),
]
PERMANENT = [
    (40164, "IP 白名单"),
    (40013, "AppID 无效"),
    (40125, "AppSecret 无效"),
    (48001, "没有发布接口权限"),
    (40007, "media_id 无效"),
    (40005, "文件类型"),
    (40009, "文件大小"),
    (44003, "内容为空"),
    (45002, "正文内容超过"),
    (45003, "标题超过"),
    (45004, "摘要超过"),
    (53402, "封面裁剪失败"),
    (53503, "未通过微信发布检查"),
    (53504, "网页端"),
    (53505, "手动保存"),
    (45103, "已被微信停用"),
    (45106, "已被微信停用"),
]


@pytest.mark.parametrize(("code", "phrase"), TRANSIENT)
def test_transient_codes_at_draft_add(wechat: WeChatServer, make_channel, code, phrase):
    # A wait WeChat names (45009 tomorrow, 45011 next minute) goes to the fan-out at once; -1 and 53501 are tried again
    # in the step (3 retries here), each time only after looking for the draft the failed call might have made.
    tries = 1 if code in (45009, 45011) else 4
    wechat.fail("draft/add", code, times=tries)
    delivery = Delivery(make_document())
    with pytest.raises(TransientError) as err:
        make_channel(call_retries=3, retry_backoff=0.01).publish(delivery.ctx())
    assert err.value.code == str(code) and phrase in err.value.message and "保存微信草稿" in err.value.message
    assert wechat.calls("draft/add") == tries and wechat.calls("draft/batchget") == tries - 1
    assert wechat.state.drafts_created == 0
    if code == 45009:
        assert err.value.retry_after == pytest.approx(seconds_until_next_day(), abs=5)
        assert err.value.retry_after > 60
    elif code == 45011:
        assert 1 <= err.value.retry_after <= 61
    # The retry resumes after the uploads and makes exactly one draft.
    receipt = make_channel().publish(delivery.ctx())
    assert receipt.pending and wechat.state.drafts_created == 1
    assert wechat.calls("material/add_material") == 1


@pytest.mark.parametrize(("code", "phrase"), PERMANENT)
def test_permanent_codes_at_freepublish_submit(wechat: WeChatServer, make_channel, code, phrase):
    wechat.fail("freepublish/submit", code)
    with pytest.raises(PermanentError) as err:
        make_channel(manual_on_48001=False).publish(Delivery(make_document()).ctx())
    assert err.value.code == str(code) and phrase in err.value.message
    assert f"errcode={code}" in err.value.detail


def test_ip_whitelist_error_names_the_ip(wechat: WeChatServer, make_channel):
    wechat.state.client_ip = "198.51.100.23"
    wechat.fail("media/uploadimg", 40164)
    doc = make_document(body_html=f'<p><img src="data:image/png;base64,{base64.b64encode(png_bytes()).decode()}"></p>')
    with pytest.raises(PermanentError) as err:
        make_channel().publish(Delivery(doc).ctx())
    assert "198.51.100.23" in err.value.message and "IP白名单" in err.value.message
    assert "上传正文图片" in err.value.message


@pytest.mark.parametrize("code", [40013, 40125])
def test_bad_credentials_at_token_fetch_are_permanent(wechat: WeChatServer, make_channel, code):
    secret = "wrong" if code == 40125 else wechat.state.secret
    appid = "wx_wrong" if code == 40013 else wechat.state.appid
    with pytest.raises(PermanentError) as err:
        make_channel(appid=appid, secret=secret).publish(Delivery(make_document()).ctx())
    assert err.value.code == str(code) and "获取微信 access_token" in err.value.message


def test_http_500_and_hang_and_refused_connection_are_transient(wechat: WeChatServer, make_channel):
    # Failing on every in-step try (1 + 3 retries): the delivery attempt ends transient.
    wechat.fail("draft/add", http_status=500, times=4)
    with pytest.raises(TransientError) as err:
        make_channel(retry_backoff=0.01).publish(Delivery(make_document()).ctx())
    assert err.value.code == "http_500" and "暂时不可用" in err.value.message
    # A 500 leaves the outcome unknown: before each repeat the step looked for the draft.
    assert wechat.calls("draft/add") == 4 and wechat.calls("draft/batchget") == 3

    wechat.fail("stable_token", hang=2.5, times=4)
    before = wechat.calls("stable_token")
    started = time.monotonic()
    with pytest.raises(TransientError) as err:
        make_channel(timeout=1, retry_backoff=0.01, appid=wechat.state.appid + "x").publish(Delivery(make_document()).ctx())
    assert err.value.code == "timeout" and "超时" in err.value.message
    assert wechat.calls("stable_token") - before == 4  # the fetch and its 3 in-step retries, not multiplied by the call's
    assert time.monotonic() - started < 4 * 2.4  # each try gave up after its 1 s timeout, not the 2.5 s hang

    with pytest.raises(TransientError) as err:
        make_channel(api_base="http://127.0.0.1:9/cgi-bin/", appid="wx_nowhere", retry_backoff=0.01).publish(
            Delivery(make_document()).ctx())
    assert err.value.code == "network"


def test_submit_that_timed_out_but_went_through_is_found_not_repeated(wechat: WeChatServer, make_channel):
    """The submit's answer never arrives in time (WeChat carries it out after our 1 s timeout): the step looks for the
    article in the publish records until it appears, and submits nothing a second time."""
    wechat.fail("freepublish/submit", hang=2.5)
    delivery = Delivery(make_document())
    receipt = make_channel(timeout=1, publish_settle_seconds=15).publish(delivery.ctx())
    assert not receipt.pending and receipt.external_id.startswith("ART_") and "未重复发表" in receipt.data["recovered"]
    assert wechat.calls("freepublish/submit") == 1 and len(wechat.state.jobs) == 1
    assert wechat.calls("freepublish/batchget") >= 1


@pytest.mark.parametrize("code", [40001, 40014, 42001])
def test_token_error_refreshes_once_and_retries_once(wechat: WeChatServer, make_channel, code):
    channel = make_channel()
    run_to_completion(channel, Delivery(make_document()))
    fetches = wechat.token_fetches
    wechat.fail("draft/add", code)
    receipt = make_channel().publish(Delivery(make_document(document_id=2)).ctx())
    assert receipt.pending
    # One refresh: stable_token returned the same (still valid) token, so a forced refresh followed.
    assert wechat.token_fetches - fetches in (1, 2)
    assert wechat.calls("draft/add") == 3  # first publish, the rejected call, the retry


def test_persistent_token_error_gives_up_after_one_retry(wechat: WeChatServer, make_channel, redis_server):
    import redis

    wechat.state.force_refresh_interval = 0
    wechat.fail("draft/add", 40001, times=10)
    with pytest.raises(TransientError) as err:
        make_channel(call_retries=0).publish(Delivery(make_document()).ctx())
    assert err.value.code == "40001" and "刷新后仍无效" in err.value.message
    assert wechat.calls("draft/add") == 2  # no recursion: exactly one retry after the refresh
    # The token WeChat rejected even after the refresh is not left in the shared cache for the next attempt.
    assert redis.Redis.from_url(redis_server.url).get(f"orch:wechat:{wechat.state.appid}:access_token") is None

    # With in-step retries each try gets its one refresh, and the number of calls stays bounded.
    wechat.fail("draft/add", 40001, times=10)
    with pytest.raises(TransientError):
        make_channel(call_retries=2, retry_backoff=0.01).publish(Delivery(make_document(document_id=2)).ctx())
    assert wechat.calls("draft/add") == 2 + 3 * 2


def test_expired_token_on_server_is_replaced_transparently(wechat: WeChatServer, make_channel):
    channel = make_channel(token_mode="client_credential")
    run_to_completion(channel, Delivery(make_document()))
    wechat.expire_all_tokens()  # the platform says 42001 while our cache still holds the token
    final = run_to_completion(make_channel(token_mode="client_credential"), Delivery(make_document(document_id=2)))
    assert final.url
    assert wechat.calls("token") == 2 and wechat.calls("stable_token") == 0


def test_unknown_code_is_permanent_with_code_shown():
    from wechatpy.exceptions import WeChatClientException

    err = map_wechat_error(WeChatClientException(99999, "weird"), "保存微信草稿")
    assert isinstance(err, PermanentError) and "99999" in err.message


def test_server_side_limits_would_catch_what_precheck_catches(wechat: WeChatServer, make_channel):
    """The server enforces the same limits; the adapter never reaches them because it checks first."""
    doc = make_document(title="标" * 33)
    with pytest.raises(PermanentError) as err:
        make_channel().publish(Delivery(doc).ctx())
    assert "33 个字" in err.value.message and "32 个字" in err.value.message
    assert wechat.calls("draft/add") == 0 and wechat.token_fetches == 0
