"""Targeted push through the real fan-out: submit once, Celery worker processes, PostgreSQL, Redis, aiosmtpd.

A document for 履职依据/规范性文件 must reach every member of the configured groups exactly once — also when the worker
is killed with SIGKILL in the middle of the push.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import select

from channels.push.models import PushRecipientDelivery
from orchestrator.db import get_sessionmaker
from tests.fanout_harness import FanoutStack
from tests.push_support import SmtpServer, WebhookReceiver

pytestmark = pytest.mark.slow

DATA = Path(__file__).parent / "data"
CATALOG = [DATA / "catalogs" / "test-publisher.yaml"]
PUBLISHER = "测试市司法局"  # the publisher of the test catalog
EMAILS = {
    "企业": ["fawu@forestry.example.cn", "legal@dairy.example.cn", "office@mining.example.cn"],
    "律师": ["office@beiji-law.example.cn", "zhang@hulun-law.example.cn"],
    "社区办公室": ["shequ@haolibao.example.cn", "shequ@hexi.example.cn"],
}
ALL = [a for group in EMAILS.values() for a in group]


def subscribers_file(path: Path, smtp: SmtpServer, hooks: WebhookReceiver) -> Path:
    lines = [
        "publishers:",
        f"  - publisher: {PUBLISHER}",
        f"    mail_server: {smtp.mail_server_url()}",
        "    groups:",
    ]
    n = 0
    for group, addrs in EMAILS.items():
        lines += [f"      - name: {group}", "        members:"]
        for addr in addrs:
            n += 1
            lines += [f"          - id: m{n}", f"            name: 成员{n}", f"            email: {addr}"]
    lines += [
        f"          - id: hook{n}",
        "            name: 社区网格平台",
        f"            routes: [json://127.0.0.1:{hooks.port}/grid]",
        "    pushes:",
        "      - entries: [履职依据/规范性文件]",
        "        groups: [企业, 律师, 社区办公室]",
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def push_channels(path: Path) -> dict[str, list[dict]]:
    return {
        "targeted_push": [
            {
                "name": "subscribers",
                "adapter": "push",
                "subscribers_file": str(path),
                "timeout_seconds": 3,
                # Under the harness' 10 s task limit and 15 s lease, so one run never overlaps the next.
                "run_budget_seconds": 8,
                "recipient_lease_seconds": 4,
                "unsubscribe_secret": "fanout-test",
                "public_url": "http://127.0.0.1:8000",
            }
        ]
    }


def push_row(rows: list[dict]) -> dict:
    return next(r for r in rows if r["channel"] == "targeted_push")


def assert_each_once(smtp: SmtpServer, hooks: WebhookReceiver, title: str) -> None:
    got = [r for m in smtp.handler.received if title in m.subject for r in m.rcpt]
    assert sorted(got) == sorted(ALL), f"expected each address once, got {sorted(got)}"
    assert len([h for h in hooks.at("/grid") if h.json()["document"]["title"] == title]) == 1


def ledger(delivery_id: int) -> list[PushRecipientDelivery]:
    with get_sessionmaker()() as s:
        return list(s.scalars(select(PushRecipientDelivery).where(PushRecipientDelivery.delivery_id == delivery_id)))


def test_document_reaches_every_member_once(orch_env, redis_server, tmp_path, smtp, hooks):
    path = subscribers_file(tmp_path / "subscribers.yaml", smtp, hooks)
    with FanoutStack(orch_env, tmp_path, channels=push_channels(path), catalogs=CATALOG, redis=redis_server) as stack:
        title = "关于印发《测试市行政规范性文件管理办法》的通知"
        res = stack.submit(entry="履职依据/规范性文件", title=title, body="<p>各单位：现将办法印发给你们。</p>",
                           doc_number="测司发〔2026〕5号", formed_on="2026-11-02")
        rows = stack.wait_until(res.document_id, lambda ds: push_row(ds)["status"] in ("delivered", "verified", "failed"),
                                timeout=60, what="targeted_push delivered")
        push = push_row(rows)
        assert push["status"] in ("delivered", "verified"), push["last_error"]
        assert push["receipt"]["data"]["sent"] == len(ALL) + 1
        assert_each_once(smtp, hooks, title)
        mail = smtp.handler.to("zhang@hulun-law.example.cn")[0]
        assert mail.subject == f"【政务公开】{PUBLISHER}：{title}"
        assert "测司发〔2026〕5号" in mail.part("plain")


def test_worker_killed_mid_push_still_reaches_every_member_once(orch_env, redis_server, tmp_path, smtp, hooks):
    path = subscribers_file(tmp_path / "subscribers.yaml", smtp, hooks)
    # Slow SMTP: each RCPT TO waits, so the push takes seconds. When the third message's RCPT arrives, the first two
    # have been accepted *and* marked sent; killing now lands mid-push, inside a conversation the server never
    # completes (no DATA), which is exactly the crash a retry must recover from without duplicates.
    third_rcpt = threading.Event()
    rcpts: list[str] = []

    def on_rcpt(address: str) -> None:
        rcpts.append(address)
        if len(rcpts) == 3:
            third_rcpt.set()

    smtp.handler.rcpt_delay = 1.5
    smtp.handler.on_rcpt = on_rcpt
    with FanoutStack(orch_env, tmp_path, channels=push_channels(path), catalogs=CATALOG, redis=redis_server) as stack:
        title = "关于废止部分行政规范性文件的决定"
        res = stack.submit(entry="履职依据/规范性文件", title=title, body="<p>经清理，决定废止以下文件。</p>",
                           formed_on="2026-11-02")
        assert third_rcpt.wait(30), stack.logs_tail()
        stack.kill_worker(0)
        delivered_before_kill = smtp.handler.count()
        assert 1 <= delivered_before_kill < len(ALL)

        push_id = push_row(stack.deliveries(res.document_id))["id"]
        by_status = {r.status for r in ledger(push_id)}
        assert "sent" in by_status and by_status - {"sent"}  # really mid-push

        smtp.handler.rcpt_delay = 0.2
        stack.start_worker()
        rows = stack.wait_until(res.document_id, lambda ds: push_row(ds)["status"] in ("delivered", "verified", "failed"),
                                timeout=90, what="targeted_push delivered after the kill")
        push = push_row(rows)
        assert push["status"] in ("delivered", "verified"), push["last_error"]
        assert_each_once(smtp, hooks, title)
        recipients = ledger(push_id)
        assert {r.status for r in recipients} == {"sent"}
        assert len(recipients) == len(ALL) + 1
        # The route cut off by the kill was tried twice; the ones sent before it only once.
        assert max(r.attempts for r in recipients) == 2
