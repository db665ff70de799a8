"""Shared access token across concurrent workers, and resuming after a crash without a second draft or publish."""

# Fixtures are imported from tests/wechat_support.py, so pytest's parameter injection shadows the imports.
# ruff: noqa: F811

from __future__ import annotations

import threading

import pytest

from tests.wechat_server import WeChatServer
from tests.wechat_support import (  # noqa: F401 - fixtures
    Delivery,
    make_channel,
    make_document,
    run_to_completion,
    wechat,
    wechat_env,
)


@pytest.mark.parametrize("token_mode", ["stable", "client_credential"])
def test_twenty_concurrent_deliveries_fetch_the_token_once(wechat: WeChatServer, make_channel, token_mode):
    wechat.state.token_ttl = 30  # a short-lived token, as in the last minutes of a real one
    barrier = threading.Barrier(20)
    results: list[str] = []
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        # A channel per thread, as each worker process builds its own adapter: only Redis is shared.
        channel = make_channel(token_mode=token_mode)
        try:
            barrier.wait()
            results.append(run_to_completion(channel, Delivery(make_document(document_id=i))).url or "")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert len(results) == 20 and all(results)
    assert wechat.token_fetches == 1
    assert wechat.state.drafts_created == 20


def test_token_expiry_in_cache_leads_to_one_new_fetch(wechat: WeChatServer, make_channel):
    wechat.state.token_ttl = 2  # cached for ~1.8 s
    channel = make_channel()
    run_to_completion(channel, Delivery(make_document()))
    assert wechat.token_fetches == 1
    import time

    time.sleep(2.1)
    threads = [threading.Thread(target=lambda i=i: run_to_completion(make_channel(), Delivery(make_document(document_id=i))))
               for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert wechat.token_fetches == 2


def test_crash_between_draft_add_and_submit_resumes_with_one_draft(wechat: WeChatServer, make_channel):
    delivery = Delivery(make_document(body_html='<p>正文</p>'),
                        fail_on_save=lambda cp: "draft_media_id" in cp and "publish_id" not in cp)
    with pytest.raises(SystemExit):
        make_channel().publish(delivery.ctx())  # the worker dies right after saving the draft step
    assert wechat.state.drafts_created == 1 and wechat.calls("freepublish/submit") == 0

    delivery.fail_on_save = None
    final = run_to_completion(make_channel(), delivery)
    assert final.url
    assert wechat.state.drafts_created == 1 and wechat.calls("draft/add") == 1
    assert wechat.calls("freepublish/submit") == 1
    assert wechat.calls("material/add_material") == 1


def test_crash_after_submit_never_publishes_twice(wechat: WeChatServer, make_channel):
    delivery = Delivery(make_document(), fail_on_save=lambda cp: "publish_id" in cp)
    with pytest.raises(SystemExit):
        make_channel().publish(delivery.ctx())
    delivery.fail_on_save = None
    receipt = make_channel().publish(delivery.ctx())  # the redelivered task
    assert receipt.pending and receipt.data["publish_id"] == delivery.checkpoint["publish_id"]
    assert wechat.calls("freepublish/submit") == 1 and wechat.state.drafts_created == 1


def test_transient_failure_midway_keeps_uploaded_images(wechat: WeChatServer, make_channel):
    import base64

    from tests.wechat_support import png_bytes

    imgs = "".join(f'<img src="data:image/png;base64,{base64.b64encode(png_bytes(color=(i, 0, 0))).decode()}">'
                   for i in range(3))
    delivery = Delivery(make_document(body_html=f"<p>{imgs}</p>"))
    wechat.fail("material/add_material", -1, times=4)  # busy on the first try and on all 3 in-step retries
    with pytest.raises(Exception):  # noqa: B017 - TransientError, asserted in test_wechat_errors
        make_channel(call_retries=3, retry_backoff=0.01).publish(delivery.ctx())
    assert len(delivery.checkpoint["images"]) == 3
    make_channel().publish(delivery.ctx())
    assert wechat.calls("media/uploadimg") == 3  # not uploaded again


def test_broker_urls_become_redis_py_urls():
    from channels.wechat import redis_url_for_redis_py

    assert redis_url_for_redis_py("redis+socket:///srv/var/redis.sock") == "unix:///srv/var/redis.sock"
    assert redis_url_for_redis_py("redis+socket:///srv/var/redis.sock?virtual_host=2") == "unix:///srv/var/redis.sock?db=2"
    assert redis_url_for_redis_py("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
    assert redis_url_for_redis_py("unix:///tmp/r.sock") == "unix:///tmp/r.sock"
    assert redis_url_for_redis_py("amqp://guest@localhost//") is None
    assert redis_url_for_redis_py("") is None


def test_token_cache_over_a_unix_socket_redis(wechat: WeChatServer, make_channel, tmp_path):
    """The embedded default: the broker is a private Redis on a unix socket, named by a kombu redis+socket:// URL."""
    import subprocess

    from tests.services import redis_server_binary

    sock = tmp_path / "r.sock"
    proc = subprocess.Popen([redis_server_binary(), "--port", "0", "--unixsocket", str(sock), "--save", "",
                             "--appendonly", "no", "--dir", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        import time

        deadline = time.monotonic() + 10
        while not sock.exists():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        for i in range(3):
            run_to_completion(make_channel(redis_url=f"redis+socket://{sock}"), Delivery(make_document(document_id=i)))
        assert wechat.token_fetches == 1
    finally:
        proc.terminate()
        proc.wait(10)


def test_crash_after_draft_add_before_checkpoint_reuses_the_draft(wechat: WeChatServer, make_channel):
    delivery = Delivery(make_document(), crash_before_store=True, fail_on_save=lambda cp: "draft_media_id" in cp)
    with pytest.raises(SystemExit):
        make_channel().publish(delivery.ctx())
    assert wechat.state.drafts_created == 1 and "draft_media_id" not in delivery.checkpoint
    delivery.fail_on_save = None
    final = run_to_completion(make_channel(), delivery)
    assert final.url and wechat.state.drafts_created == 1 and wechat.calls("draft/batchget") == 1


def test_crash_after_submit_before_checkpoint_never_publishes_twice(wechat: WeChatServer, make_channel):
    wechat.state.publish_delay = 0
    delivery = Delivery(make_document(), crash_before_store=True, fail_on_save=lambda cp: "publish_id" in cp)
    with pytest.raises(SystemExit):
        make_channel().publish(delivery.ctx())
    assert wechat.calls("freepublish/submit") == 1 and "publish_id" not in delivery.checkpoint
    delivery.fail_on_save = None
    receipt = make_channel().publish(delivery.ctx())
    assert not receipt.pending and receipt.url and receipt.external_id
    assert "未重复发表" in receipt.data["recovered"]
    assert wechat.calls("freepublish/submit") == 1 and len(wechat.state.jobs) == 1
