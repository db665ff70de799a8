"""Deadline warnings through the real stack: a Celery worker process runs the checker (with a clock the test sets),
the notifications go out through Apprise to a local SMTP server (aiosmtpd) and a webhook receiver.

One document with two channels: the website (HTTP push to a local receiver) delivers, the notice board (manual)
waits. The document crosses every level — 3 working days before, due today, overdue, overdue past the escalation
limit — and each level is sent once to the office (e-mail + webhook), to the office's clerks as each chose, and the
escalation to the leader; a repeated check sends nothing; the board is late, the website is not.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from tests.api_helpers import ROOT
from tests.fanout_harness import FanoutStack
from tests.push_support import wait_until
from tests.receiver import Receiver

CATALOG = ROOT / "tests" / "data" / "catalogs" / "deadline-test.yaml"
TZ = ZoneInfo("Asia/Shanghai")
OFFICE_MAIL = "bangongshi@deadline.example.cn"
LEADER_MAIL = "leader@deadline.example.cn"
CLERK_MAIL = "clerk-a@deadline.example.cn"


def at(day: str, hour: int = 9) -> str:
    return dt.datetime.fromisoformat(f"{day}T{hour:02d}:00:00").replace(tzinfo=TZ).isoformat()


def _check(now: str, task: str = "orchestrator.check_deadlines") -> None:
    from orchestrator.delivery.celery_app import DEFAULT_QUEUE, app

    app.send_task(task, kwargs={"now": now}, queue=DEFAULT_QUEUE)


def _warnings(document_id: int) -> set[tuple[str, str]]:
    from orchestrator.db import session_scope
    from orchestrator.notify.models import DeadlineWarning

    with session_scope() as s:
        return {(w.channel, w.level) for w in s.scalars(select(DeadlineWarning).where(DeadlineWarning.document_id == document_id))}


def _sends() -> list[tuple[str, str, str, str, int]]:
    from orchestrator.db import session_scope
    from orchestrator.notify.models import NotifySend

    with session_scope() as s:
        return [(r.target, r.way, r.kind, r.status, r.attempts) for r in s.scalars(select(NotifySend).order_by(NotifySend.id))]


@pytest.mark.timeout(300)
def test_a_document_crosses_every_warning_level(orch_env, redis_server, tmp_path: Path, smtp, hooks):
    from orchestrator import auth
    from orchestrator.db import session_scope
    from orchestrator.documents import deliveries
    from orchestrator.notify import LEADER
    from orchestrator.notify.models import Notification, NotifyOfficeAddress, NotifyPreference

    with Receiver() as site, FanoutStack(
        orch_env, tmp_path, redis=redis_server, catalogs=[CATALOG], beat=False, concurrency=1,
        channels={"website": [{"name": "push", "adapter": "http_push", "url": site.url, "secret": site.secret}],
                  "bulletin_board": [{"name": "bulletin_board", "adapter": "manual"}]},
        settings={"ORCH_NOTIFY_MAIL_SERVER": smtp.mail_server_url(), "ORCH_NOTIFY_WEBHOOK_ALLOW_PRIVATE": "true",
                  "ORCH_NOTIFY_RETRY_SECONDS": "0.3", "ORCH_DEADLINE_WARN_WORKING_DAYS": "3",
                  "ORCH_DEADLINE_ESCALATE_DAYS": "5"},
    ) as stack:
        tag = uuid.uuid4().hex[:6]
        # Two clerks of the office: A wants e-mail and webhook (no in-app), B keeps the default (in-app only).
        # A clerk of another office hears nothing.
        a = auth.create_user(f"clerk-a-{tag}", "clerk", office="办公室")
        b = auth.create_user(f"clerk-b-{tag}", "clerk", office="办公室")
        other = auth.create_user(f"clerk-c-{tag}", "clerk", office="财务科")
        hook = f"http://127.0.0.1:{hooks.port}/hook/clerk-a"
        with session_scope() as s:
            s.add(NotifyPreference(user_id=a.id, email=CLERK_MAIL, webhook_url=hook, kinds={"deadline": ["email", "webhook"]}))
            s.add(NotifyOfficeAddress(office="办公室", email=OFFICE_MAIL, webhook_url=f"http://127.0.0.1:{hooks.port}/hook/office"))
            s.add(NotifyOfficeAddress(office=LEADER, email=LEADER_MAIL))
        # Formed Monday 2026-11-02: 5 working days → due Monday 2026-11-09.
        res = stack.submit(entry="期限测试/按工作日", title=f"关于期限测试的通知{tag}", body="<p>正文</p>",
                           formed_on="2026-11-02", submitted_by=a.username)
        assert res.due_date == dt.date(2026, 11, 9)
        stack.wait_until(res.document_id, lambda ds: {d["channel"]: d["status"] for d in ds}
                         == {"website": "delivered", "bulletin_board": "awaiting_confirmation"}, what="site delivered, board waiting")

        # 2026-11-04: three working days left. The clerk's webhook fails at first: the send retries until it lands.
        hooks.failing.add("/hook/clerk-a")
        _check(at("2026-11-04"))
        assert wait_until(lambda: len(smtp.handler.to(OFFICE_MAIL)) == 1, 60), stack.logs_tail()
        assert wait_until(lambda: any(t == f"user:{a.id}" and w == "webhook" and n >= 2 for t, w, _k, _s, n in _sends()), 30)
        hooks.failing.clear()
        assert wait_until(lambda: len(hooks.at("/hook/clerk-a")) == 1, 30), _sends()
        assert _warnings(res.document_id) == {("", "before"), ("bulletin_board", "before")}  # the website is on time
        mail = smtp.handler.to(OFFICE_MAIL)[0]
        assert "即将到期" in mail.subject and f"关于期限测试的通知{tag}" in mail.subject
        text = mail.part("plain") or str(mail.message.get_content())
        assert "还有 3 个工作日" in text and "公示栏" in text and "政府网站" not in text
        office_hook = hooks.at("/hook/office")[0].json()
        assert "即将到期" in office_hook["title"] and office_hook["kind"] == "deadline"
        assert office_hook["link"] == f"/documents/{res.document_id}"

        # The same day again: nothing new. Then the due date itself.
        _check(at("2026-11-04", 15))
        _check(at("2026-11-09"))
        assert wait_until(lambda: len(smtp.handler.to(OFFICE_MAIL)) == 2, 60), stack.logs_tail()
        assert "今日到期" in smtp.handler.to(OFFICE_MAIL)[1].subject

        # Overdue, then overdue for more than five days: the leader is told once.
        _check(at("2026-11-10"))
        assert wait_until(lambda: len(smtp.handler.to(OFFICE_MAIL)) == 3, 60)
        assert "已逾期" in smtp.handler.to(OFFICE_MAIL)[2].subject
        _check(at("2026-11-16"))
        assert wait_until(lambda: len(smtp.handler.to(LEADER_MAIL)) == 1, 60)
        leader = smtp.handler.to(LEADER_MAIL)[0]
        assert "逾期升级" in leader.subject and "已逾期 7 天" in (leader.part("plain") or str(leader.message.get_content()))
        _check(at("2026-11-17"))

        # The board is put up and confirmed: nothing is owed, later checks stay silent.
        board = next(d for d in stack.deliveries(res.document_id) if d["channel"] == "bulletin_board")
        deliveries.confirm_delivery(board["id"], "张三", "已张贴")
        _check(at("2026-11-20"))
        _check(at("2026-11-20"), "orchestrator.notify_sweep")
        time.sleep(1.0)
        assert wait_until(lambda: all(st in ("sent", "failed") for *_x, st, _n in _sends()), 30), _sends()

        levels = ("before", "due", "overdue", "escalated")
        assert _warnings(res.document_id) == {(c, lv) for c in ("", "bulletin_board") for lv in levels}
        sends = _sends()
        assert all(st == "sent" for *_x, st, _n in sends), sends
        office = [s for s in sends if s[0] == "office:办公室"]
        assert sorted(w for _t, w, *_ in office) == ["email"] * 3 + ["webhook"] * 3
        assert len(smtp.handler.to(OFFICE_MAIL)) == 3 and len(hooks.at("/hook/office")) == 3
        assert [s[1] for s in sends if s[0] == "leader"] == ["email"]
        assert len(smtp.handler.to(LEADER_MAIL)) == 1
        # Clerk A: e-mail and webhook per level, never in-app; clerk B: in-app only; the other office: nothing.
        assert len(smtp.handler.to(CLERK_MAIL)) == 3 and len(hooks.at("/hook/clerk-a")) == 3
        assert not [s for s in sends if s[0] in (f"user:{b.id}", f"user:{other.id}")]
        with session_scope() as s:
            inbox = {u: [n.title for n in s.scalars(select(Notification).where(Notification.user_id == u))]
                     for u in (a.id, b.id, other.id)}
        assert inbox[a.id] == [] and inbox[other.id] == []
        assert [t.split("】")[0] for t in inbox[b.id]] == ["【即将到期", "【今日到期", "【已逾期"]


@pytest.mark.timeout(300)
def test_the_weekly_digest_goes_once_per_office_and_week(orch_env, redis_server, tmp_path: Path, smtp, hooks):
    from orchestrator.db import session_scope
    from orchestrator.notify.models import NotifyOfficeAddress

    with Receiver() as site, FanoutStack(
        orch_env, tmp_path, redis=redis_server, catalogs=[CATALOG], beat=False, concurrency=1,
        channels={"website": [{"name": "push", "adapter": "http_push", "url": site.url, "secret": site.secret}],
                  "bulletin_board": [{"name": "bulletin_board", "adapter": "manual"}]},
        settings={"ORCH_NOTIFY_MAIL_SERVER": smtp.mail_server_url(), "ORCH_NOTIFY_WEBHOOK_ALLOW_PRIVATE": "true"},
    ) as stack:
        tag = uuid.uuid4().hex[:6]
        mail = f"digest-{tag}@deadline.example.cn"
        with session_scope() as s:
            row = s.get(NotifyOfficeAddress, "办公室") or NotifyOfficeAddress(office="办公室")
            row.email, row.webhook_url = mail, ""
            s.add(row)
        late = stack.submit(entry="期限测试/按工作日", title=f"已逾期的文件{tag}", body="<p>正文</p>", formed_on="2026-11-02")
        near = stack.submit(entry="期限测试/按工作日", title=f"快到期的文件{tag}", body="<p>正文</p>", formed_on="2026-11-13")
        stack.wait_until([late.document_id, near.document_id],
                         lambda ds: sorted(d["status"] for d in ds) == ["awaiting_confirmation"] * 2 + ["delivered"] * 2)
        # Wednesday 11-18: the first is 9 days overdue (past the escalation limit), the second due Friday 11-20
        # with 2 working days left. The week (ISO week 47) gets one digest, the next week another.
        _check(at("2026-11-18", 8), "orchestrator.deadline_digest")
        _check(at("2026-11-19", 8), "orchestrator.deadline_digest")
        assert wait_until(lambda: len(smtp.handler.to(mail)) >= 1, 60), stack.logs_tail()
        _check(at("2026-11-23", 8), "orchestrator.deadline_digest")  # the next week: a new digest
        assert wait_until(lambda: len(smtp.handler.to(mail)) == 2, 60), stack.logs_tail()
        time.sleep(1.0)
        got = smtp.handler.to(mail)
        assert len(got) == 2
        first = got[0].part("plain") or str(got[0].message.get_content())
        assert "第 47 周" in got[0].subject and "第 48 周" in got[1].subject
        assert f"已逾期的文件{tag}" in first and f"快到期的文件{tag}" in first
        assert first.index(f"已逾期的文件{tag}") < first.index(f"快到期的文件{tag}")  # by due date
        assert "【逾期升级】" in first and "已逾期 9 天" in first and "【即将到期】" in first and "还有 2 个工作日" in first
        assert "公示栏" in first


@pytest.mark.timeout(300)
def test_beat_runs_the_checker_on_the_shifted_clock(orch_env, redis_server, tmp_path: Path, smtp, hooks):
    """No task sent by hand: the real beat schedules the checker, which reads the clock ORCH_CLOCK_OFFSET_SECONDS
    moves to Tuesday 2026-11-10, the day after the due date."""
    from orchestrator.db import session_scope
    from orchestrator.notify.models import NotifyOfficeAddress

    offset = dt.datetime.fromisoformat(at("2026-11-10")) - dt.datetime.now(dt.UTC)
    with Receiver() as site, FanoutStack(
        orch_env, tmp_path, redis=redis_server, catalogs=[CATALOG], beat=True,
        channels={"website": [{"name": "push", "adapter": "http_push", "url": site.url, "secret": site.secret}],
                  "bulletin_board": [{"name": "bulletin_board", "adapter": "manual"}]},
        settings={"ORCH_NOTIFY_MAIL_SERVER": smtp.mail_server_url(), "ORCH_DEADLINE_CHECK_SECONDS": "1",
                  "ORCH_CLOCK_OFFSET_SECONDS": str(offset.total_seconds())},
    ) as stack:
        tag = uuid.uuid4().hex[:6]
        mail = f"beat-{tag}@deadline.example.cn"
        with session_scope() as s:
            row = s.get(NotifyOfficeAddress, "办公室") or NotifyOfficeAddress(office="办公室")
            row.email, row.webhook_url = mail, ""
            s.add(row)
        res = stack.submit(entry="期限测试/按工作日", title=f"由定时任务发现逾期{tag}", body="<p>正文</p>", formed_on="2026-11-02")
        mine = lambda: [m for m in smtp.handler.to(mail) if tag in m.subject]  # noqa: E731
        assert wait_until(lambda: len(mine()) == 1, 90), stack.logs_tail()
        assert "已逾期" in mine()[0].subject and res.due_date == dt.date(2026, 11, 9)
        time.sleep(3)  # several more beat runs
        assert len(mine()) == 1
        # The first check may run before the website delivers (then the website was late too, and says so).
        got = _warnings(res.document_id)
        assert {("", "overdue"), ("bulletin_board", "overdue")} <= got and {lv for _c, lv in got} == {"overdue"}


def test_checker_and_digest_write_once_on_both_databases(both_databases, redis_server, tmp_path: Path, monkeypatch):
    """The checker's bookkeeping (savepoints, unique warnings, the digest's once-per-week key) on PostgreSQL and on
    the embedded default's SQLite, in-process: what it writes, not what the worker sends (tested above)."""
    from orchestrator.db import session_scope
    from orchestrator.documents import submission
    from orchestrator.notify import deadlines
    from orchestrator.notify.models import DeadlineWarning, NotifyOfficeAddress, NotifySend
    from tests.api_helpers import configure

    configure(monkeypatch, tmp_path, redis_server.url, {"website": [{"name": "bulletin_board", "adapter": "manual"}]},
              extra_catalogs=[CATALOG])
    tag = uuid.uuid4().hex[:6]
    with session_scope() as s:
        row = s.get(NotifyOfficeAddress, "办公室") or NotifyOfficeAddress(office="办公室")
        row.email, row.webhook_url = f"{tag}@deadline.example.cn", ""
        s.add(row)
    res = submission.submit({"entry": "期限测试/按工作日", "publisher": "期限测试局", "title": f"两库{tag}",
                             "body": "<p>正文</p>", "formed_on": "2026-11-02"}, enqueue=False)
    now = dt.datetime.fromisoformat(at("2026-11-10"))
    for _ in range(2):
        with session_scope() as s:
            deadlines.check(s, now)
        with session_scope() as s:
            deadlines.digest(s, now)
    with session_scope() as s:
        rows = {(w.channel, w.level) for w in s.scalars(select(DeadlineWarning).where(DeadlineWarning.document_id == res.document_id))}
        sends = [(x.kind, x.title) for x in s.scalars(select(NotifySend).where(NotifySend.address == f"{tag}@deadline.example.cn"))]
    assert rows == {("", "overdue"), ("website", "overdue"), ("bulletin_board", "overdue")}  # the board: not configured
    assert [k for k, _t in sends].count("deadline") == 1 and [k for k, _t in sends].count("digest") == 1, sends
