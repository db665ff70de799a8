"""Submit once, fan out through real Celery worker processes, a real beat, PostgreSQL and Redis.

Every fault test counts what the receiver got per idempotency key: every delivery must end in the right state,
none may be lost, and the receiver must apply each at most once.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pytest

from tests.fanout_harness import FanoutStack
from tests.receiver import Receiver

DATA = Path(__file__).parent / "data"
CATALOG = [DATA / "catalogs" / "test-publisher.yaml"]
DONE = {"delivered", "verified"}
# Worker processes and beat in every test; the both_databases ones run twice (PostgreSQL and SQLite).
pytestmark = pytest.mark.slow


def push_dest(receiver: Receiver, name: str = "push", timeout: float = 2.0) -> list[dict]:
    return [{"name": name, "adapter": "http_push", "url": receiver.url, "secret": receiver.secret, "timeout": timeout}]


def four_push_channels(receiver: Receiver, timeout: float = 2.0) -> dict[str, list[dict]]:
    return {c: push_dest(receiver, timeout=timeout) for c in ("website", "gazette", "bulletin_board", "targeted_push")}


@pytest.fixture
def receiver():
    with Receiver() as r:
        yield r


def assert_applied_once(receiver: Receiver, rows: list[dict]) -> None:
    keys = {r["idempotency_key"] for r in rows}
    assert keys <= set(receiver.applied), f"lost: {sorted(keys - set(receiver.applied))}"
    # applied is a dict keyed by idempotency key: each applied exactly once; repeats were answered 409.
    assert len(receiver.applied) == len(keys)


def test_submit_reaches_exactly_the_entry_channels(both_databases, redis_server, receiver, tmp_path):
    channels = four_push_channels(receiver)
    channels["reading_room"] = [{"name": "reading_room", "adapter": "manual"}]
    with FanoutStack(both_databases, tmp_path, channels=channels, catalogs=CATALOG, redis=redis_server) as stack:
        res = stack.submit(entry="履职依据/规范性文件", title="关于印发《行政执法公示办法》的通知",
                           body="<p>各科室：现将办法印发给你们。</p>", doc_number="根司发〔2026〕3号", formed_on="2026-11-02")
        rows = stack.wait_settled(res.document_id)
        assert sorted(r["channel"] for r in rows) == ["bulletin_board", "gazette", "targeted_push", "website"]
        assert {r["status"] for r in rows} == {"delivered"}
        assert_applied_once(receiver, rows)
        body = receiver.applied[rows[0]["idempotency_key"]]
        assert body["index_no"] == res.index_no and body["doc_number"] == "根司发〔2026〕3号"
        assert res.index_no.startswith("11150000TEST0001X/2026-")
        assert res.due_date == dt.date(2026, 11, 30)  # 20 working days after 2026-11-02, the start day not counted

        # An entry with a manual channel and an unconfigured one.
        res2 = stack.submit(entry="03", title="工作动态", body="<p>内容</p>")
        rows2 = {r["channel"]: r for r in stack.wait_settled(res2.document_id)}
        assert rows2["website"]["status"] == "delivered"
        assert rows2["reading_room"]["status"] == "awaiting_confirmation"
        assert rows2["reading_room"]["receipt"]["data"]["packet"]["title"] == "工作动态"


def test_unconfigured_channel_is_visible_and_retryable(orch_env, redis_server, receiver, tmp_path):
    from orchestrator.documents import deliveries

    with FanoutStack(orch_env, tmp_path, channels={"website": push_dest(receiver)}, catalogs=CATALOG,
                     redis=redis_server) as stack:
        res = stack.submit(entry="01-01", title="未配置渠道测试", body="<p>正文</p>")
        rows = {r["channel"]: r for r in stack.wait_settled(res.document_id)}
        assert rows["website"]["status"] == "delivered"
        assert rows["gazette"]["status"] == "not_configured"
        assert "尚未配置" in rows["gazette"]["last_error"]
        # Ops configure the gazette destination (same file the workers read), then retry.
        import yaml

        path = stack.config_dir / "channels.yaml"
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
        spec["channels"]["gazette"] = {"destinations": push_dest(receiver, name="gazette")}
        path.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
        deliveries.retry_delivery(rows["gazette"]["id"], actor="ops")
        # The retried row keeps its destination name ("gazette" placeholder) — now bound to a real adapter.
        stack.wait_until(res.document_id, lambda ds: next(d for d in ds if d["channel"] == "gazette")["status"] in DONE)


def test_transient_permanent_and_timeout_outcomes(both_databases, redis_server, receiver, tmp_path):
    receiver.script("五百", (500, {}, 0), (500, {}, 0), (500, {}, 0))
    receiver.script("限流", (429, {"Retry-After": "2"}, 0))
    receiver.script("拒绝", (400, {}, 0))
    receiver.script("超时", (201, {}, 3.0))  # hangs past the 1 s client timeout once
    with FanoutStack(both_databases, tmp_path, channels={"website": push_dest(receiver, timeout=1.0)}, catalogs=CATALOG,
                     redis=redis_server) as stack:
        ids = {k: stack.submit(entry="03", title=f"{k}测试", body="<p>正文</p>").document_id for k in ("五百", "限流", "拒绝", "超时")}
        for doc in ids.values():
            stack.wait_settled(doc, timeout=90)
        web = {k: next(r for r in stack.deliveries(v) if r["channel"] == "website") for k, v in ids.items()}
        assert web["五百"]["status"] == "delivered" and web["五百"]["attempts"] == 4
        assert web["限流"]["status"] == "delivered" and web["限流"]["attempts"] == 2
        t = receiver.times[web["限流"]["idempotency_key"]]
        assert t[1] - t[0] >= 1.9, "Retry-After: 2 was not honoured"
        assert web["拒绝"]["status"] == "failed" and web["拒绝"]["attempts"] == 1
        assert "拒绝" in web["拒绝"]["last_error"]
        assert web["超时"]["status"] == "delivered" and web["超时"]["attempts"] == 2
        for k in ("五百", "限流", "超时"):
            assert web[k]["idempotency_key"] in receiver.applied
        assert web["拒绝"]["idempotency_key"] not in receiver.applied
        # Attempts are recorded with their outcomes.
        from sqlalchemy import select

        from orchestrator.db import session_scope
        from orchestrator.models import DeliveryAttempt

        with session_scope() as s:
            outcomes = [a.outcome for a in s.scalars(select(DeliveryAttempt).where(
                DeliveryAttempt.delivery_id == web["五百"]["id"]).order_by(DeliveryAttempt.id))]
        assert outcomes == ["transient", "transient", "transient", "success"]


def test_attempts_are_capped(both_databases, redis_server, receiver, tmp_path):
    receiver.script("总是失败", *[(503, {}, 0)] * 10)
    with FanoutStack(both_databases, tmp_path, channels={"website": push_dest(receiver)}, catalogs=CATALOG,
                     redis=redis_server, settings={"ORCH_MAX_ATTEMPTS": "3"}) as stack:
        doc = stack.submit(entry="03", title="总是失败", body="<p>正文</p>").document_id
        rows = stack.wait_settled(doc, timeout=60)
        web = next(r for r in rows if r["channel"] == "website")
        assert web["status"] == "failed" and web["attempts"] == 3
        assert "已尝试 3 次" in web["last_error"]


# The product's own lease, renewal and sweep timing (the harness shortens them for speed; these tests must not).
PRODUCT_TIMING = {"ORCH_LEASE_SECONDS": None, "ORCH_SWEEP_INTERVAL_SECONDS": None}


def transitions(delivery_ids) -> list[tuple[int, str, str, str, str]]:
    from sqlalchemy import select

    from orchestrator.db import session_scope
    from orchestrator.models import DeliveryTransition as T

    with session_scope() as s:
        return [(t.delivery_id, t.from_status, t.to_status, t.reason, t.actor) for t in s.scalars(
            select(T).where(T.delivery_id.in_(list(delivery_ids))).order_by(T.id))]


def attempt_log(delivery_id: int) -> list[tuple[str, str, str]]:
    from sqlalchemy import select

    from orchestrator.db import session_scope
    from orchestrator.models import DeliveryAttempt as A

    with session_scope() as s:
        return [(a.operation, a.outcome, a.message) for a in s.scalars(
            select(A).where(A.delivery_id == delivery_id).order_by(A.id))]


def in_flight(stack: FanoutStack, docs: list[int], receiver: Receiver, n: int) -> dict[int, dict]:
    """Block until n deliveries are inside a request the receiver is holding; return those rows."""
    assert receiver.wait_held(n, timeout=60), f"no delivery reached the receiver\n{stack.logs_tail()}"
    sending = {r["id"]: r for r in stack.deliveries(docs) if r["status"] == "sending"}
    with receiver.lock:
        held = set(receiver.held)
    assert {r["idempotency_key"] for r in sending.values()} == held  # exactly the held requests are in flight
    return sending


def test_worker_killed_mid_delivery_recovers_within_30s(both_databases, redis_server, tmp_path):
    """kill -9 while two deliveries are inside a request: with the product's lease and sweep interval, both are
    sent again within 30 s, and the receiver (which applied the interrupted requests after the sender died) applies
    each idempotency key once."""
    with Receiver() as receiver, FanoutStack(
        both_databases, tmp_path, channels=four_push_channels(receiver, timeout=10), catalogs=CATALOG, redis=redis_server,
        settings=PRODUCT_TIMING,
    ) as stack:
        receiver.hold()
        docs = [stack.submit(entry="01-01", title=f"批量文件{i}", body="<p>正文</p>").document_id for i in range(3)]
        cut = in_flight(stack, docs, receiver, 2)  # -c 2: both pool children are blocked mid-request
        stack.kill_worker(0)
        killed = time.monotonic()
        receiver.release()  # the receiver finishes and applies the two requests; nobody reads the answers
        stack.start_worker()
        stack.wait_until(docs, lambda ds: all(d["status"] in DONE for d in ds if d["id"] in cut), timeout=60,
                         what="interrupted deliveries recovered")
        recovered_in = time.monotonic() - killed
        print(f"kill -9 → interrupted deliveries delivered again in {recovered_in:.1f} s")
        assert recovered_in < 30, f"recovery took {recovered_in:.1f} s"
        rows = stack.wait_until(docs, lambda ds: all(d["status"] in DONE for d in ds), timeout=60, what="all delivered")
        assert len(rows) == 12
        assert_applied_once(receiver, rows)
        for rid, row in cut.items():
            # The sweeper found the dead worker's lease expired and sent the row again: the second request was
            # answered 409 (already applied), so the key was applied once.
            assert any(t[0] == rid and t[4] == "sweeper" and "工作进程中断" in t[3] for t in transitions([rid]))
            key = row["idempotency_key"]
            assert receiver.requests[key] == 2 and receiver.duplicates[key] == 1
        assert sum(receiver.duplicates.values()) == 2  # nothing else was sent twice


def test_long_delivery_keeps_its_lease(orch_env, redis_server, tmp_path):
    """A receiver slower than the lease: the worker renews its lease, so the sweeper never takes the row away."""
    from orchestrator.settings import Settings

    lease = Settings().lease_seconds
    with Receiver() as receiver, FanoutStack(
        orch_env, tmp_path, channels={"website": push_dest(receiver, timeout=lease * 3)}, catalogs=CATALOG,
        redis=redis_server, settings={**PRODUCT_TIMING, "ORCH_TASK_TIME_LIMIT_SECONDS": str(lease * 4)},
    ) as stack:
        receiver.slow("慢速", lease * 1.8)
        doc = stack.submit(entry="03", title="慢速接收端", body="<p>正文</p>").document_id
        web = stack.wait_until(doc, lambda ds: ds[0]["status"] == "sending", timeout=30, what="sending")[0]
        first_lease = lease_until(web["id"])
        time.sleep(lease * 1.3)  # past the lease it was claimed with; the sweeper runs every few seconds meanwhile
        now = stack.deliveries(doc)[0]
        assert now["status"] == "sending" and now["attempts"] == 1  # the first attempt, still running
        assert lease_until(web["id"]) > first_lease + dt.timedelta(seconds=lease / 2)  # renewed while running
        rows = stack.wait_settled(doc, timeout=lease * 4)
        web = next(r for r in rows if r["channel"] == "website")
        assert web["status"] == "delivered" and web["attempts"] == 1, (transitions([web["id"]]), attempt_log(web["id"]))
        assert receiver.requests[web["idempotency_key"]] == 1
        assert not [t for t in transitions([web["id"]]) if t[4] == "sweeper"]
        assert [o for _, o, _ in attempt_log(web["id"])] == ["success"]


def lease_until(delivery_id: int) -> dt.datetime:
    from orchestrator.db import session_scope
    from orchestrator.models import Delivery

    with session_scope() as s:
        return s.get(Delivery, delivery_id).lease_until


def test_redis_restart_mid_delivery_loses_nothing_and_cancels_nothing(orch_env, redis_server, tmp_path):
    """Redis restarts (no persistence) while two deliveries are inside a request and more are queued: the queued
    messages are gone (the sweeper resends them), and the two in flight finish on their first attempt: a broker blip
    does not cancel running tasks."""
    with Receiver() as receiver, FanoutStack(
        orch_env, tmp_path, channels=four_push_channels(receiver, timeout=30), catalogs=CATALOG, redis=redis_server,
        settings={"ORCH_TASK_TIME_LIMIT_SECONDS": "60"},
    ) as stack:
        receiver.hold()
        docs = [stack.submit(entry="01-01", title=f"重启测试{i}", body="<p>正文</p>").document_id for i in range(4)]
        cut = in_flight(stack, docs, receiver, 2)
        worker_log = tmp_path / "worker0.log"
        seen = worker_log.read_text(errors="replace").count("Connection to broker lost")
        redis_server.restart()  # every queued message is gone
        deadline = time.monotonic() + 30
        while worker_log.read_text(errors="replace").count("Connection to broker lost") <= seen:
            assert time.monotonic() < deadline, f"the worker never noticed the restart\n{stack.logs_tail()}"
            time.sleep(0.1)
        assert {r["id"] for r in stack.deliveries(docs) if r["status"] == "sending"} == set(cut)  # still in flight
        receiver.release()
        rows = stack.wait_until(docs, lambda ds: all(d["status"] in DONE for d in ds), timeout=120, what="all delivered")
        assert len(rows) == 16
        assert_applied_once(receiver, rows)
        assert sum(receiver.duplicates.values()) == 0
        by_id = {r["id"]: r for r in rows}
        for rid in cut:
            assert by_id[rid]["attempts"] == 1, transitions([rid])
            assert [o for _, o, _ in attempt_log(rid)] == ["success"]


def test_retry_after_waits_do_not_consume_attempts(both_databases, redis_server, receiver, tmp_path):
    """An outage of 500s then 429s with Retry-After, longer than the attempt cap: the 429s are waits the channel
    asked for, recorded as deferred, and the delivery goes through when the receiver recovers."""
    receiver.script("限流风暴", (500, {}, 0), (500, {}, 0), *[(429, {"Retry-After": "1"}, 0)] * 6)
    with FanoutStack(both_databases, tmp_path, channels={"website": push_dest(receiver)}, catalogs=CATALOG,
                     redis=redis_server, settings={"ORCH_MAX_ATTEMPTS": "3"}) as stack:
        doc = stack.submit(entry="03", title="限流风暴", body="<p>正文</p>").document_id
        web = next(r for r in stack.wait_settled(doc, timeout=90) if r["channel"] == "website")
        assert web["status"] == "delivered", web["last_error"]
        assert web["attempts"] == 9 and receiver.requests[web["idempotency_key"]] == 9
        assert [o for _, o, _ in attempt_log(web["id"])] == ["transient"] * 2 + ["deferred"] * 6 + ["success"]
        reasons = [t[3] for t in transitions([web["id"]]) if t[2] == "retrying"]
        assert sum("不计入尝试次数" in r for r in reasons) == 6


def test_retry_after_storm_past_the_time_bound_fails(orch_env, redis_server, receiver, tmp_path):
    receiver.script("无尽限流", *[(429, {"Retry-After": "1"}, 0)] * 100)
    with FanoutStack(orch_env, tmp_path, channels={"website": push_dest(receiver)}, catalogs=CATALOG,
                     redis=redis_server, settings={"ORCH_MAX_ATTEMPTS": "3", "ORCH_MAX_DEFER_SECONDS": "6"}) as stack:
        doc = stack.submit(entry="03", title="无尽限流", body="<p>正文</p>").document_id
        started = time.monotonic()
        web = next(r for r in stack.wait_settled(doc, timeout=90) if r["channel"] == "website")
        assert web["status"] == "failed"
        assert time.monotonic() - started >= 5  # it kept trying for the allowed time, not just 3 attempts
        assert web["attempts"] > 3
        assert "持续要求稍后再试" in web["last_error"] and "6 秒" in web["last_error"]
        outcomes = [o for _, o, _ in attempt_log(web["id"])]
        assert outcomes[-1] == "transient" and set(outcomes[:-1]) == {"deferred"}


def test_duplicate_message_does_nothing(both_databases, redis_server, receiver, tmp_path):
    from orchestrator.delivery.engine import run_delivery

    with FanoutStack(both_databases, tmp_path, channels={"website": push_dest(receiver)}, catalogs=CATALOG,
                     redis=redis_server) as stack:
        doc = stack.submit(entry="03", title="重复消息", body="<p>正文</p>").document_id
        rows = stack.wait_settled(doc)
        web = next(r for r in rows if r["channel"] == "website")
        assert run_delivery(web["id"]) is None  # a late duplicate message: nothing to claim
        assert stack.deliveries(doc)[0]["attempts"] == 1
        assert receiver.requests[web["idempotency_key"]] == 1


def test_embargo_is_released_by_beat(orch_env, redis_server, receiver, tmp_path):
    """Nothing goes out before publish_at, and nothing goes out at all until beat runs: no ETA message does it."""
    with FanoutStack(orch_env, tmp_path, channels={"website": push_dest(receiver)}, catalogs=CATALOG,
                     redis=redis_server, beat=False) as stack:
        import redis

        # Earlier tests' beats left sweep messages on this Redis: drop them, or this stack's worker would sweep.
        redis.Redis.from_url(redis_server.url).delete("orchestrator")
        wall, mono = dt.datetime.now(dt.UTC), time.monotonic()
        at = wall + dt.timedelta(seconds=3)
        doc = stack.submit(entry="03", title="定时发布", body="<p>正文</p>", publish_at=at.isoformat()).document_id
        web = next(r for r in stack.deliveries(doc) if r["channel"] == "website")
        assert web["status"] == "scheduled"
        time.sleep(6)  # past publish_at, with a worker running but no beat
        waiting = next(r for r in stack.deliveries(doc) if r["channel"] == "website")
        assert waiting["status"] == "scheduled", transitions([waiting["id"]])
        assert receiver.requests == {}
        beat_started = time.monotonic()
        stack.start_beat()
        rows = stack.wait_until(doc, lambda ds: next(d for d in ds if d["channel"] == "website")["status"] == "delivered", 90)
        web = next(r for r in rows if r["channel"] == "website")
        first = receiver.times[web["idempotency_key"]][0]
        assert first >= beat_started > mono + 6, (first, beat_started, mono)  # the first request came after beat started
        released = [t for t in transitions([web["id"]]) if t[1] == "scheduled"]
        assert released == [(web["id"], "scheduled", "pending", "定时发布时间已到", "sweeper")], transitions([web["id"]])


def test_new_version_and_withdrawal_round_trip(both_databases, redis_server, receiver, tmp_path):
    from orchestrator.documents import versions

    with FanoutStack(both_databases, tmp_path, channels=four_push_channels(receiver), catalogs=CATALOG,
                     redis=redis_server) as stack:
        doc = stack.submit(entry="01-01", title="原标题", body="<p>第一版</p>").document_id
        stack.wait_settled(doc)
        versions.new_version(doc, {"body": "<p>第二版</p>", "change_note": "更正笔误"})
        rows = stack.wait_settled(doc)
        updates = [r for r in rows if r["action"] == "update"]
        assert len(updates) == 4 and all(r["status"] == "delivered" and r["version"] == 2 for r in updates)
        assert all(receiver.applied[r["idempotency_key"]]["body_html"] == "<p>第二版</p>" for r in updates)
        assert all(receiver.applied[r["idempotency_key"]]["previous"]["external_id"] for r in updates)
        versions.withdraw(doc, "文件已废止", actor="ops")
        rows = stack.wait_settled(doc)
        withdrawals = [r for r in rows if r["action"] == "withdraw"]
        assert len(withdrawals) == 4 and all(r["status"] == "delivered" for r in withdrawals)
        assert all(receiver.applied[r["idempotency_key"]]["action"] == "withdraw" for r in withdrawals)


def test_withdrawal_cancels_what_has_not_gone_out(orch_env, redis_server, receiver, tmp_path):
    from orchestrator.documents import versions

    with FanoutStack(orch_env, tmp_path, channels={"website": push_dest(receiver)}, catalogs=CATALOG,
                     redis=redis_server) as stack:
        at = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
        doc = stack.submit(entry="03", title="尚未发布即撤回", body="<p>正文</p>", publish_at=at.isoformat()).document_id
        versions.withdraw(doc, "提交有误")
        rows = stack.deliveries(doc)
        assert {r["status"] for r in rows} == {"cancelled"}
        assert not [r for r in rows if r["action"] == "withdraw"]  # it never reached any channel
        assert receiver.requests == {}
