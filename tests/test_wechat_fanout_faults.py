"""WeChat through the real fan-out (Celery worker processes, beat, PostgreSQL, Redis, the local WeChat server) when the
platform misbehaves: busy every third call and the token dying every fourth; the poll path ending ``verified``; and an
article WeChat deletes later found by the periodic re-check and marked ``removed``.
"""

from __future__ import annotations

import base64
import time
import uuid

import pytest
from sqlalchemy import select

from tests.fanout_harness import FanoutStack
from tests.test_wechat_fanout import CATALOG, ENTRY, wait_wechat, wechat_dest, wechat_rows
from tests.wechat_server import WeChatServer
from tests.wechat_support import png_bytes

pytestmark = pytest.mark.slow
SETTLED = {"delivered", "verified", "failed", "removed"}


@pytest.fixture
def wechat():
    server = WeChatServer()
    server.state.appid = f"wx{uuid.uuid4().hex[:16]}"  # a fresh token cache key in the session's Redis
    with server:
        yield server


def _history(delivery_id: int) -> tuple[list[tuple[str, str, str, str]], list[tuple[int, str, str]]]:
    """(transitions as (from, to, reason, actor), attempts as (number, operation, outcome)) of one delivery."""
    from orchestrator.db import session_scope
    from orchestrator.models import DeliveryAttempt, DeliveryTransition

    with session_scope() as s:
        transitions = [(t.from_status, t.to_status, t.reason, t.actor) for t in s.scalars(
            select(DeliveryTransition).where(DeliveryTransition.delivery_id == delivery_id).order_by(DeliveryTransition.id))]
        attempts = [(a.number, a.operation, a.outcome) for a in s.scalars(
            select(DeliveryAttempt).where(DeliveryAttempt.delivery_id == delivery_id).order_by(DeliveryAttempt.id))]
    return transitions, attempts


def _recheck_only(delivery_ids: list[int]) -> None:
    """The session's database holds other tests' WeChat deliveries (their servers long gone): push their next re-check
    a day ahead, so the re-check under test sees only this test's rows."""
    import datetime as dt

    from sqlalchemy import update

    from orchestrator.db import session_scope
    from orchestrator.models import Delivery, utcnow

    with session_scope() as s:
        s.execute(update(Delivery).where(Delivery.id.not_in(delivery_ids))
                  .values(rechecked_at=utcnow() + dt.timedelta(days=1)))


def test_busy_every_third_call_and_token_dying_every_fourth_publishes_exactly_once(orch_env, redis_server, wechat,
                                                                                    tmp_path):
    wechat.state.publish_delay = 1.0
    wechat.strict(busy_every=3, token_death_every=4)
    cover = tmp_path / "cover.png"
    cover.write_bytes(png_bytes((900, 383), (30, 90, 160)))
    body_img = base64.b64encode(png_bytes((60, 40), (200, 30, 30))).decode()
    # Lease and time limit as generous as production's (120 s / 300 s) relative to one attempt's in-step waits.
    with FanoutStack(orch_env, tmp_path, catalogs=CATALOG, redis=redis_server,
                     channels=wechat_dest(wechat, timeout=5, retry_backoff=0.2, publish_settle_seconds=3),
                     settings={"ORCH_LEASE_SECONDS": "60", "ORCH_TASK_TIME_LIMIT_SECONDS": "45"}) as stack:
        res = stack.submit(uploads=[cover], entry=ENTRY, title="系统繁忙与令牌失效下的发布",
                           body=f'<p>会议研究了法律援助工作。</p><p><img src="data:image/png;base64,{body_img}"></p>')
        rows = wait_wechat(stack, res.document_id, lambda ds: ds and ds[0]["status"] in SETTLED, timeout=120,
                           what="wechat settled")
        row = rows[0]
        assert row["status"] == "verified", (row["status"], row["last_error"])
        assert row["receipt"]["url"].startswith("https://mp.weixin.qq.com/s/")
        st = wechat.state
        # The platform carried out exactly one draft and one publish, whatever answers the adapter heard.
        assert wechat.applied("draft/add") == 1 and st.drafts_created == 1
        assert wechat.applied("freepublish/submit") == 1 and len(st.jobs) == 1
        assert wechat.applied("media/uploadimg") == 1 and wechat.applied("material/add_material") == 1
        (draft,) = st.drafts.values()
        assert "mmbiz.qpic.cn" in draft["articles"][0]["content"] and draft["stripped"]["images"] == 0
        # The faults hit for real, token fetches included.
        assert st.busy_replies >= 5 and st.token_deaths >= 5
        assert st.calls["stable_token"] > 1
        transitions, attempts = _history(row["id"])
        assert ("delivered", "verified") in [(f, t) for f, t, _r, _a in transitions]
        # Never near the cap: attempts that failed without progress stay well below max_attempts (6).
        stalled = [a for a in attempts if a[2] == "transient"]
        assert len(stalled) < 6, attempts


def test_poll_path_goes_on_to_verify(orch_env, redis_server, wechat, tmp_path):
    wechat.state.publish_delay = 2.0  # freepublish/get answers "publishing" for a while: the poll task finishes it
    with FanoutStack(orch_env, tmp_path, channels=wechat_dest(wechat), catalogs=CATALOG, redis=redis_server) as stack:
        res = stack.submit(entry=ENTRY, title="轮询后核验", body="<p>内容</p>")
        wait_wechat(stack, res.document_id, lambda ds: ds and ds[0]["status"] == "awaiting_channel", what="awaiting")
        rows = wait_wechat(stack, res.document_id, lambda ds: ds[0]["status"] in SETTLED, what="settled")
        row = rows[0]
        assert row["status"] == "verified", row["last_error"]
        transitions, attempts = _history(row["id"])
        pairs = [(f, t) for f, t, _r, _a in transitions]
        assert pairs[-3:] == [("sending", "awaiting_channel"), ("awaiting_channel", "delivered"), ("delivered", "verified")]
        assert attempts[-1][1:] == ("poll", "success")
        # Verification asked WeChat about the article itself (present, not deleted, at the receipt's URL).
        assert wechat.calls("freepublish/getarticle") >= 1


def test_article_deleted_on_wechat_is_found_by_the_recheck_and_marked_removed(orch_env, redis_server, wechat, tmp_path):
    from orchestrator.api.views import delivery_json
    from orchestrator.db import session_scope
    from orchestrator.delivery.tasks import housekeeping
    from orchestrator.models import Delivery

    wechat.state.publish_delay = 0.3
    with FanoutStack(orch_env, tmp_path, channels=wechat_dest(wechat), catalogs=CATALOG, redis=redis_server,
                     settings={"ORCH_RECHECK_INTERVAL_SECONDS": "0"}) as stack:
        res = stack.submit(entry=ENTRY, title="稍后被公众号删除的文章", body="<p>内容</p>")
        rows = wait_wechat(stack, res.document_id, lambda ds: ds and ds[0]["status"] in SETTLED, what="verified")
        row = rows[0]
        assert row["status"] == "verified", row["last_error"]
        _recheck_only([row["id"]])

        def rechecked_at():
            with session_scope() as s:
                return s.get(Delivery, row["id"]).rechecked_at

        # A re-check while the article is live changes nothing but the time it was checked.
        gets = wechat.calls("freepublish/get")
        housekeeping.apply_async(queue="orchestrator")
        deadline = time.monotonic() + 30
        while rechecked_at() is None:
            assert time.monotonic() < deadline, stack.logs_tail()
            time.sleep(0.2)
        assert wechat.calls("freepublish/get") > gets
        assert wechat_rows(stack, res.document_id)[0]["status"] == "verified"

        wechat.remove_article(row["receipt"]["external_id"], status=5)  # the account deleted it on mp.weixin.qq.com
        housekeeping.apply_async(queue="orchestrator")
        rows = wait_wechat(stack, res.document_id, lambda ds: ds[0]["status"] == "removed", timeout=30, what="removed")
        assert "发表成功后已被公众号删除" in rows[0]["last_error"]
        transitions, _ = _history(row["id"])
        assert transitions[-1][:2] == ("verified", "removed") and "已被公众号删除" in transitions[-1][2]
        assert transitions[-1][3] == "recheck"
        with session_scope() as s:
            assert delivery_json(s.get(Delivery, row["id"]))["status_label"] == "已被渠道删除"


def test_attempts_that_progress_are_not_counted_against_the_cap(orch_env, redis_server, wechat, tmp_path):
    """With max_attempts 2 and no in-step retries: every attempt uploads one body image and then meets "system busy".
    Those attempts moved the delivery forward, so it goes on to publish; a delivery whose attempts all stall fails at 2."""
    imgs = "".join(f'<p><img src="data:image/png;base64,{base64.b64encode(png_bytes(color=(i, 5, 5))).decode()}"></p>'
                   for i in range(3))
    for _ in range(2):  # upload ok, then busy: twice
        wechat.fail("media/uploadimg")  # no fault: served normally
        wechat.fail("media/uploadimg", -1)
    with FanoutStack(orch_env, tmp_path, catalogs=CATALOG, redis=redis_server, channels=wechat_dest(wechat, call_retries=0),
                     settings={"ORCH_MAX_ATTEMPTS": "2"}) as stack:
        res = stack.submit(entry=ENTRY, title="每次尝试都有进展", body=f"<p>正文</p>{imgs}")
        rows = wait_wechat(stack, res.document_id, lambda ds: ds and ds[0]["status"] in SETTLED, timeout=90, what="settled")
        row = rows[0]
        assert row["status"] == "verified", (row["last_error"], _history(row["id"]))
        _, attempts = _history(row["id"])
        outcomes = [o for _n, op, o in attempts if op != "poll"]
        assert outcomes == ["progress", "progress", "pending"], attempts
        assert wechat.applied("media/uploadimg") == 3 and wechat.applied("freepublish/submit") == 1

        # The cap still holds for attempts that make no progress: the cover upload is busy every time.
        wechat.fail("material/add_material", -1, times=10)
        res2 = stack.submit(entry=ENTRY, title="每次尝试都无进展", body="<p>正文</p>")
        rows = wait_wechat(stack, res2.document_id, lambda ds: ds and ds[0]["status"] in SETTLED, timeout=90,
                           what="failed at the cap")
        assert rows[0]["status"] == "failed" and rows[0]["attempts"] == 2
        assert "已尝试 2 次仍未成功" in rows[0]["last_error"]


def test_progress_accounting_on_sqlite_the_embedded_default(redis_server, wechat, tmp_path, monkeypatch):
    """The portable (SQLite) finish path counts the same way: run_delivery as the worker's task runs it."""
    from orchestrator.delivery import engine
    from tests.conftest import run_migrations

    url = f"sqlite:///{tmp_path / 'orch.db'}"
    run_migrations(url)
    env = {"ORCH_DATABASE_URL": url, "ORCH_BROKER_URL": redis_server.url, "ORCH_VAR_DIR": str(tmp_path / "var"),
           "ORCH_MAX_ATTEMPTS": "2"}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    imgs = "".join(f'<p><img src="data:image/png;base64,{base64.b64encode(png_bytes(color=(i, 7, 7))).decode()}"></p>'
                   for i in range(3))
    for _ in range(2):
        wechat.fail("media/uploadimg")
        wechat.fail("media/uploadimg", -1)
    with FanoutStack(env, tmp_path, catalogs=CATALOG, redis=redis_server, channels=wechat_dest(wechat, call_retries=0),
                     workers=0, beat=False) as stack:
        res = stack.submit(entry=ENTRY, title="嵌入式数据库下的进展计数", body=f"<p>正文</p>{imgs}")
        (row,) = wechat_rows(stack, res.document_id)
        statuses = []
        deadline = time.monotonic() + 60
        while not statuses or statuses[-1] not in SETTLED:
            assert time.monotonic() < deadline, statuses
            current = wechat_rows(stack, res.document_id)[0]["status"]
            if current in ("queued", "retrying"):
                got = engine.run_delivery(row["id"])
            elif current == "awaiting_channel":
                got = engine.run_poll(row["id"])
            else:
                got = current
            if got and (not statuses or statuses[-1] != got):
                statuses.append(got)
            time.sleep(0.1)
        assert statuses == ["retrying", "awaiting_channel", "verified"], statuses
        _, attempts = _history(row["id"])
        assert [o for _n, op, o in attempts if op != "poll"] == ["progress", "progress", "pending"]


def test_recheck_is_bounded_least_recently_checked_first_and_skips_superseded(orch_env, redis_server, wechat, tmp_path):
    from orchestrator.db import session_scope
    from orchestrator.delivery import sweeper
    from orchestrator.documents import versions
    from orchestrator.models import Delivery

    wechat.state.publish_delay = 0.3
    with FanoutStack(orch_env, tmp_path, channels=wechat_dest(wechat, delete_old_on_update=True), catalogs=CATALOG,
                     redis=redis_server, settings={"ORCH_RECHECK_INTERVAL_SECONDS": "0", "ORCH_RECHECK_BATCH": "1"}) as stack:
        a = stack.submit(entry=ENTRY, title="先发表的文章", body="<p>甲</p>").document_id
        a_row = wait_wechat(stack, a, lambda ds: ds and ds[0]["status"] in SETTLED, what="a")[0]
        b = stack.submit(entry=ENTRY, title="后发表的文章", body="<p>乙</p>").document_id
        b_row = wait_wechat(stack, b, lambda ds: ds and ds[0]["status"] in SETTLED, what="b")[0]
        assert a_row["status"] == b_row["status"] == "verified"
        FanoutStack._stop(stack.beat)  # from here on the test runs the periodic work itself, in a known order
        stack.beat = None
        _recheck_only([a_row["id"], b_row["id"]])

        def checked() -> dict[int, object]:
            with session_scope() as s:
                return {i: s.get(Delivery, i).rechecked_at for i in (a_row["id"], b_row["id"])}

        assert sweeper.recheck_removed() == {"checked": 1, "removed": 0, "errors": 0}  # a batch of one
        first = checked()
        assert first[a_row["id"]] is not None and first[b_row["id"]] is None  # never checked, delivered earliest
        sweeper.recheck_removed()
        second = checked()
        assert second[a_row["id"]] == first[a_row["id"]] and second[b_row["id"]] is not None
        sweeper.recheck_removed()
        third = checked()
        assert third[a_row["id"]] > second[a_row["id"]] and third[b_row["id"]] == second[b_row["id"]]

        # A correction goes out and deletes the old article on WeChat itself: the superseded delivery is not "removed".
        versions.new_version(a, {"title": "先发表的文章（更正）", "body": "<p>甲（更正）</p>", "change_note": "更正"})
        deadline = time.monotonic() + 60
        while not any(d["action"] == "update" and d["status"] in SETTLED for d in wechat_rows(stack, a)):
            assert time.monotonic() < deadline, wechat_rows(stack, a)
            sweeper.sweep()  # polls the update while it is awaiting_channel
            time.sleep(0.3)
        rows = {d["action"]: d for d in wechat_rows(stack, a)}
        assert rows["update"]["status"] == "verified" and wechat.state.deleted_articles == [a_row["receipt"]["external_id"]]
        counts = sweeper.recheck_removed(limit=10)
        assert counts["removed"] == 0 and counts["checked"] == 2  # the correction and b; not the superseded one
        assert {d["status"] for d in wechat_rows(stack, a)} == {"verified"}
