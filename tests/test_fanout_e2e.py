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


def test_submit_reaches_exactly_the_entry_channels(orch_env, redis_server, receiver, tmp_path):
    channels = four_push_channels(receiver)
    channels["reading_room"] = [{"name": "reading_room", "adapter": "manual"}]
    with FanoutStack(orch_env, tmp_path, channels=channels, catalogs=CATALOG, redis=redis_server) as stack:
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
    from orchestrator import service

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
        service.retry_delivery(rows["gazette"]["id"], actor="ops")
        # The retried row keeps its destination name ("gazette" placeholder) — now bound to a real adapter.
        stack.wait_until(res.document_id, lambda ds: next(d for d in ds if d["channel"] == "gazette")["status"] in DONE)


def test_transient_permanent_and_timeout_outcomes(orch_env, redis_server, receiver, tmp_path):
    receiver.script("五百", (500, {}, 0), (500, {}, 0), (500, {}, 0))
    receiver.script("限流", (429, {"Retry-After": "2"}, 0))
    receiver.script("拒绝", (400, {}, 0))
    receiver.script("超时", (201, {}, 3.0))  # hangs past the 1 s client timeout once
    with FanoutStack(orch_env, tmp_path, channels={"website": push_dest(receiver, timeout=1.0)}, catalogs=CATALOG,
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


def test_attempts_are_capped(orch_env, redis_server, receiver, tmp_path):
    receiver.script("总是失败", *[(503, {}, 0)] * 10)
    with FanoutStack(orch_env, tmp_path, channels={"website": push_dest(receiver)}, catalogs=CATALOG,
                     redis=redis_server, settings={"ORCH_MAX_ATTEMPTS": "3"}) as stack:
        doc = stack.submit(entry="03", title="总是失败", body="<p>正文</p>").document_id
        rows = stack.wait_settled(doc, timeout=60)
        web = next(r for r in rows if r["channel"] == "website")
        assert web["status"] == "failed" and web["attempts"] == 3
        assert "已尝试 3 次" in web["last_error"]


def test_worker_killed_mid_run_loses_nothing(orch_env, redis_server, tmp_path):
    with Receiver(delay=0.15) as receiver, FanoutStack(
        orch_env, tmp_path, channels=four_push_channels(receiver), catalogs=CATALOG, redis=redis_server,
        settings={"ORCH_LEASE_SECONDS": "12", "ORCH_TASK_TIME_LIMIT_SECONDS": "10"},
    ) as stack:
        docs = [stack.submit(entry="01-01", title=f"批量文件{i}", body="<p>正文</p>").document_id for i in range(15)]
        deadline = time.monotonic() + 30
        while len(receiver.applied) < 8 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(receiver.applied) < 60, "the kill must land in the middle of the run"
        stack.kill_worker(0)
        stack.start_worker()
        rows = stack.wait_until(docs, lambda ds: all(d["status"] in DONE for d in ds), timeout=120, what="all delivered")
        assert len(rows) == 60 and {r["document_id"] for r in rows} == set(docs)
        assert_applied_once(receiver, rows)


def test_redis_restart_without_persistence_loses_nothing(orch_env, redis_server, tmp_path):
    with Receiver(delay=0.1) as receiver, FanoutStack(
        orch_env, tmp_path, channels=four_push_channels(receiver), catalogs=CATALOG, redis=redis_server,
    ) as stack:
        docs = [stack.submit(entry="01-01", title=f"重启测试{i}", body="<p>正文</p>").document_id for i in range(15)]
        deadline = time.monotonic() + 30
        while len(receiver.applied) < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        redis_server.restart()  # every queued message is gone
        rows = stack.wait_until(docs, lambda ds: all(d["status"] in DONE for d in ds), timeout=120, what="all delivered")
        assert len(rows) == 60
        assert_applied_once(receiver, rows)


def test_duplicate_message_does_nothing(orch_env, redis_server, receiver, tmp_path):
    from orchestrator.fanout import run_delivery

    with FanoutStack(orch_env, tmp_path, channels={"website": push_dest(receiver)}, catalogs=CATALOG,
                     redis=redis_server) as stack:
        doc = stack.submit(entry="03", title="重复消息", body="<p>正文</p>").document_id
        rows = stack.wait_settled(doc)
        web = next(r for r in rows if r["channel"] == "website")
        assert run_delivery(web["id"]) is None  # a late duplicate message: nothing to claim
        assert stack.deliveries(doc)[0]["attempts"] == 1
        assert receiver.requests[web["idempotency_key"]] == 1


def test_embargo_is_released_by_beat(orch_env, redis_server, receiver, tmp_path):
    with FanoutStack(orch_env, tmp_path, channels={"website": push_dest(receiver)}, catalogs=CATALOG,
                     redis=redis_server) as stack:
        at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=3)
        doc = stack.submit(entry="03", title="定时发布", body="<p>正文</p>", publish_at=at.isoformat()).document_id
        web = next(r for r in stack.deliveries(doc) if r["channel"] == "website")
        assert web["status"] == "scheduled"
        rows = stack.wait_until(doc, lambda ds: next(d for d in ds if d["channel"] == "website")["status"] == "delivered", 30)
        assert receiver.times[rows[0]["idempotency_key"]][0] >= 0
        assert dt.datetime.now(dt.UTC) >= at


def test_new_version_and_withdrawal_round_trip(orch_env, redis_server, receiver, tmp_path):
    from orchestrator import service

    with FanoutStack(orch_env, tmp_path, channels=four_push_channels(receiver), catalogs=CATALOG,
                     redis=redis_server) as stack:
        doc = stack.submit(entry="01-01", title="原标题", body="<p>第一版</p>").document_id
        stack.wait_settled(doc)
        service.new_version(doc, {"body": "<p>第二版</p>", "change_note": "更正笔误"})
        rows = stack.wait_settled(doc)
        updates = [r for r in rows if r["action"] == "update"]
        assert len(updates) == 4 and all(r["status"] == "delivered" and r["version"] == 2 for r in updates)
        assert all(receiver.applied[r["idempotency_key"]]["body_html"] == "<p>第二版</p>" for r in updates)
        assert all(receiver.applied[r["idempotency_key"]]["previous"]["external_id"] for r in updates)
        service.withdraw(doc, "文件已废止", actor="ops")
        rows = stack.wait_settled(doc)
        withdrawals = [r for r in rows if r["action"] == "withdraw"]
        assert len(withdrawals) == 4 and all(r["status"] == "delivered" for r in withdrawals)
        assert all(receiver.applied[r["idempotency_key"]]["action"] == "withdraw" for r in withdrawals)


def test_withdrawal_cancels_what_has_not_gone_out(orch_env, redis_server, receiver, tmp_path):
    from orchestrator import service

    with FanoutStack(orch_env, tmp_path, channels={"website": push_dest(receiver)}, catalogs=CATALOG,
                     redis=redis_server) as stack:
        at = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
        doc = stack.submit(entry="03", title="尚未发布即撤回", body="<p>正文</p>", publish_at=at.isoformat()).document_id
        service.withdraw(doc, "提交有误")
        rows = stack.deliveries(doc)
        assert {r["status"] for r in rows} == {"cancelled"}
        assert not [r for r in rows if r["action"] == "withdraw"]  # it never reached any channel
        assert receiver.requests == {}
