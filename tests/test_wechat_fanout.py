"""The WeChat channel through the real fan-out: Celery worker processes, beat, PostgreSQL, Redis and the local WeChat server.

The workers are separate processes: they reach the WeChat server over HTTP and share the access token only through Redis
(the broker's Redis, as in production: the destination has no ``redis_url`` of its own).
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from tests.fanout_harness import FanoutStack
from tests.wechat_server import WeChatServer

DATA = Path(__file__).parent / "data"
CATALOG = [DATA / "catalogs" / "test-publisher.yaml"]
ENTRY = "02"  # 部门会议: website, wechat, bulletin_board (only wechat is configured here)
DONE = {"delivered", "verified"}

pytestmark = pytest.mark.slow


@pytest.fixture
def wechat():
    server = WeChatServer()
    server.state.appid = f"wx{uuid.uuid4().hex[:16]}"  # a fresh token cache key in the session's Redis
    with server:
        yield server


def wechat_dest(server: WeChatServer, **extra) -> dict[str, list[dict]]:
    return {"wechat": [{"name": "公众号", "adapter": "wechat", "appid": server.state.appid, "secret": server.state.secret,
                        "api_base": server.api_base, "timeout": 20, **extra}]}


def wechat_rows(stack: FanoutStack, document_id: int | None = None) -> list[dict]:
    return [r for r in stack.deliveries(document_id) if r["channel"] == "wechat"]


def wait_wechat(stack: FanoutStack, document_id: int | None, pred, timeout: float = 60, what: str = "") -> list[dict]:
    rows = stack.wait_until(document_id, lambda ds: pred([d for d in ds if d["channel"] == "wechat"]), timeout, what)
    return [d for d in rows if d["channel"] == "wechat"]


def test_publish_await_channel_update_withdraw(orch_env, redis_server, wechat, tmp_path):
    from orchestrator.documents import versions

    wechat.state.publish_delay = 3.0  # WeChat reports "publishing" (1) for a while
    with FanoutStack(orch_env, tmp_path, channels=wechat_dest(wechat, delete_old_on_update=True), catalogs=CATALOG,
                     redis=redis_server) as stack:
        res = stack.submit(entry=ENTRY, title="2026年第3次局务会议", body="<p>会议研究了法律援助工作。</p>")
        rows = wait_wechat(stack, res.document_id, lambda ds: ds and ds[0]["status"] == "awaiting_channel",
                           what="awaiting_channel")
        assert rows[0]["receipt"]["pending"] is True and rows[0]["receipt"]["data"]["publish_id"]
        rows = wait_wechat(stack, res.document_id, lambda ds: ds[0]["status"] in DONE | {"failed"}, what="delivered")
        first = rows[0]
        assert first["status"] in DONE, first["last_error"]
        assert first["receipt"]["url"].startswith("https://mp.weixin.qq.com/s/")
        assert first["receipt"]["external_id"].startswith("ART_")

        # A correction: a new article goes out, then the old one is deleted; the receipt keeps both.
        wechat.state.publish_delay = 0.5
        versions.new_version(res.document_id, {"title": "2026年第3次局务会议（更正）", "body": "<p>更正后的内容。</p>",
                                              "change_note": "更正会议内容"})
        rows = wait_wechat(stack, res.document_id,
                           lambda ds: any(d["action"] == "update" and d["status"] in DONE | {"failed"} for d in ds),
                           what="update delivered")
        update = next(d for d in rows if d["action"] == "update")
        assert update["status"] in DONE, update["last_error"]
        assert update["receipt"]["data"]["superseded"][0]["article_id"] == first["receipt"]["external_id"]
        assert wechat.state.deleted_articles == [first["receipt"]["external_id"]]
        assert wechat.state.drafts_created == 2

        # Withdrawal: the live article is deleted from the account.
        versions.withdraw(res.document_id, "信息有误，撤回")
        rows = wait_wechat(stack, res.document_id,
                           lambda ds: any(d["action"] == "withdraw" and d["status"] in DONE | {"failed"} for d in ds),
                           what="withdraw delivered")
        withdraw = next(d for d in rows if d["action"] == "withdraw")
        assert withdraw["status"] in DONE, withdraw["last_error"]
        assert wechat.state.deleted_articles == [first["receipt"]["external_id"], update["receipt"]["external_id"]]
        assert wechat.state.calls["freepublish/submit"] == 2


def test_failed_review_fails_the_delivery_with_the_reason(orch_env, redis_server, wechat, tmp_path):
    wechat.force_publish_status(4, [1])
    with FanoutStack(orch_env, tmp_path, channels=wechat_dest(wechat), catalogs=CATALOG, redis=redis_server) as stack:
        res = stack.submit(entry=ENTRY, title="审核不通过测试", body="<p>内容</p>")
        rows = wait_wechat(stack, res.document_id, lambda ds: ds[0]["status"] == "failed", what="failed")
        assert "平台审核不通过" in rows[0]["last_error"]


def test_worker_killed_between_draft_and_submit_resumes_without_second_draft(orch_env, redis_server, wechat, tmp_path):
    # freepublish/submit hangs, then answers 503 (nothing published): the worker is killed -9 while it waits.
    wechat.fail("freepublish/submit", http_status=503, hang=8)
    with FanoutStack(orch_env, tmp_path, channels=wechat_dest(wechat), catalogs=CATALOG, redis=redis_server) as stack:
        res = stack.submit(entry=ENTRY, title="进程被杀测试", body="<p>内容</p>")
        deadline = time.monotonic() + 60
        while wechat.calls("freepublish/submit") == 0:
            assert time.monotonic() < deadline, stack.logs_tail()
            time.sleep(0.05)
        assert wechat.state.drafts_created == 1
        row = wechat_rows(stack, res.document_id)[0]
        assert row["status"] == "sending"
        stack.kill_worker(0)
        stack.start_worker()
        # The lease expires, the sweeper re-enqueues, the new worker resumes at freepublish/submit.
        rows = wait_wechat(stack, res.document_id, lambda ds: ds[0]["status"] in DONE | {"failed"}, timeout=90,
                           what="delivered after crash")
        assert rows[0]["status"] in DONE, rows[0]["last_error"]
        assert wechat.state.drafts_created == 1 and wechat.calls("draft/add") == 1
        assert wechat.calls("material/add_material") == 1
        assert len(wechat.state.jobs) == 1  # published exactly once
        assert rows[0]["attempts"] >= 2


def test_twenty_concurrent_deliveries_fetch_the_token_once(orch_env, redis_server, wechat, tmp_path):
    wechat.state.token_ttl = 120  # a token that expires soon; nobody holds one when the burst starts
    wechat.state.publish_delay = 0.5
    with FanoutStack(orch_env, tmp_path, channels=wechat_dest(wechat), catalogs=CATALOG, redis=redis_server,
                     workers=2, concurrency=4) as stack:
        ids = [stack.submit(entry=ENTRY, title=f"并发测试第{i}号", body=f"<p>内容{i}</p>").document_id for i in range(20)]
        rows = stack.wait_until(None, lambda ds: len([d for d in ds if d["channel"] == "wechat" and d["document_id"] in ids
                                                      and d["status"] in DONE | {"failed"}]) == 20,
                                timeout=120, what="20 wechat deliveries")
        mine = [d for d in rows if d["channel"] == "wechat" and d["document_id"] in ids]
        assert {d["status"] for d in mine} <= DONE, {d["last_error"] for d in mine}
        assert wechat.token_fetches == 1
        assert wechat.state.drafts_created == 20 and len(wechat.state.jobs) == 20


def test_long_title_is_refused_at_submission_and_short_wechat_title_goes_out(orch_env, redis_server, wechat, tmp_path):
    from orchestrator.documents.inputs import ServiceError

    long_title = "关于" + "根河市司法局法律援助进社区进农村进牧区活动实施方案" * 2 + "的通知"
    with FanoutStack(orch_env, tmp_path, channels=wechat_dest(wechat), catalogs=CATALOG, redis=redis_server) as stack:
        with pytest.raises(ServiceError) as err:
            stack.submit(entry=ENTRY, title=long_title, body="<p>内容</p>")
        assert "渠道“两微一端”" in str(err.value) and "32 个字" in str(err.value)
        assert sum(wechat.state.calls.values()) == 0  # refused before anything was stored or sent

        res = stack.submit(entry=ENTRY, title=long_title, body="<p>内容</p>",
                           channel_options={"wechat": {"title": "法律援助进社区活动实施方案"}})
        rows = wait_wechat(stack, res.document_id, lambda ds: ds[0]["status"] in DONE | {"failed"}, what="delivered")
        assert rows[0]["status"] in DONE, rows[0]["last_error"]
        (draft,) = wechat.state.drafts.values()
        assert draft["articles"][0]["title"] == "法律援助进社区活动实施方案"
