"""The targeted-push adapter against a real SMTP server (aiosmtpd) and a real webhook receiver, with the real database."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from channels.base import (
    Action,
    DeliveryContext,
    DocumentPayload,
    NotConfigured,
    PermanentError,
    Receipt,
    TransientError,
)
from channels.push.adapter import PushChannel, reset_failed_recipients
from channels.push.models import PushRecipientDelivery, RecipientStatus
from orchestrator.db import get_sessionmaker
from tests.push_support import (
    ALL_EMAILS,
    ALL_HOOKS,
    SmtpServer,
    WebhookReceiver,
    free_port,
    make_delivery,
    write_subscribers,
)

TITLE = "关于印发《根河市行政规范性文件管理办法》的通知"


@pytest.fixture
def publisher() -> str:
    # Unsubscriptions are per publisher and the database lives for the session: one publisher per test.
    return f"根河市司法局{uuid.uuid4().hex[:6]}"


@pytest.fixture
def subscribers(tmp_path: Path, publisher: str, smtp: SmtpServer, hooks: WebhookReceiver) -> Path:
    return write_subscribers(tmp_path / "subscribers.yaml", publisher, smtp, hooks)


def adapter(subscribers: Path, **extra: Any) -> PushChannel:
    config = {
        "subscribers_file": str(subscribers),
        "timeout_seconds": 3,
        "public_url": "http://127.0.0.1:8000",
        "unsubscribe_secret": "test-secret",
        **extra,
    }
    return PushChannel(config, name="subscribers")


def payload(publisher: str, **over: Any) -> DocumentPayload:
    values: dict[str, Any] = {
        "document_id": 42,
        "version": 1,
        "index_no": "11150785MB1234567X/2025-00003",
        "title": TITLE,
        "body_html": "<p>为规范行政规范性文件制定和监督管理工作，现将《办法》印发给你们，请认真贯彻执行。</p>",
        "doc_number": "根司发〔2025〕3号",
        "formed_on": dt.date(2025, 3, 1),
        "publisher": publisher,
        "entry_code": "LZYJ-GFXWJ",
        "entry_path": ("履职依据", "规范性文件"),
        "site_url": "http://127.0.0.1:8000/site/docs/42.html",
        "published_at": dt.datetime(2025, 3, 3, 9, 0, tzinfo=dt.UTC),
    }
    values.update(over)
    return DocumentPayload(**values)


def context(
    delivery_id: int, doc: DocumentPayload, action: Action = Action.publish, previous: Receipt | None = None
) -> DeliveryContext:
    return DeliveryContext(
        delivery_id=delivery_id,
        idempotency_key=f"delivery-{delivery_id}",
        channel="targeted_push",
        destination="subscribers",
        action=action,
        document=doc,
        previous_receipt=previous,
    )


def ledger(delivery_id: int) -> list[PushRecipientDelivery]:
    with get_sessionmaker()() as s:
        return list(
            s.scalars(
                select(PushRecipientDelivery)
                .where(PushRecipientDelivery.delivery_id == delivery_id)
                .order_by(PushRecipientDelivery.id)
            )
        )


def test_every_member_receives_exactly_once(orch_env, publisher, subscribers, smtp, hooks):
    did = make_delivery(publisher)
    ch = adapter(subscribers)
    receipt = ch.publish(context(did, payload(publisher)))

    for addr in ALL_EMAILS:
        assert len(smtp.handler.to(addr)) == 1, addr
    assert smtp.handler.count() == len(ALL_EMAILS)
    for path in ALL_HOOKS:
        assert len(hooks.at(path)) == 1, path
    assert receipt.data["sent"] == 6 and receipt.data["recipients"] == 6
    assert receipt.data["delivery_ids"] == [did]
    rows = ledger(did)
    assert {r.status for r in rows} == {RecipientStatus.sent}
    assert all(r.attempts == 1 and r.sent_at is not None for r in rows)
    assert {r.group for r in rows} == {"企业", "律师", "社区办公室"}
    assert ch.verify(context(did, payload(publisher)), receipt)

    # A duplicate run of the same delivery (a redelivered message) sends nothing more.
    ch.publish(context(did, payload(publisher)))
    assert smtp.handler.count() == len(ALL_EMAILS)
    assert sum(len(hooks.at(p)) for p in ALL_HOOKS) == len(ALL_HOOKS)


def test_chinese_subject_and_bodies_decode(orch_env, publisher, subscribers, smtp, hooks):
    did = make_delivery(publisher)
    adapter(subscribers).publish(context(did, payload(publisher)))

    mail = smtp.handler.to("office@beiji-law.example.cn")[0]
    assert mail.subject == f"【政务公开】{publisher}：{TITLE}"
    html = mail.part("html")
    text = mail.part("plain")
    for part in (html, text):
        assert "北极律师事务所" in part
        assert "根司发〔2025〕3号" in part
        assert "履职依据 / 规范性文件" in part
        assert "http://127.0.0.1:8000/site/docs/42.html" in part
        assert "http://127.0.0.1:8000/push/unsubscribe/" in part
    assert "在政府网站查看原文" in html
    assert mail.message["X-Push-Id"].startswith(f"delivery-{did}/law-beiji/")
    assert mail.message["List-Unsubscribe"].startswith("<http://127.0.0.1:8000/push/unsubscribe/")
    assert mail.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    hook = hooks.at("/hook/lawfirm")[0]
    body = hook.json()
    assert body["event"] == "publish" and body["event_label"] == "发布"
    assert body["title"] == f"【政务公开】{publisher}：{TITLE}"
    assert "北极律师事务所" in body["message"]
    doc = body["document"]
    assert doc["title"] == TITLE and doc["doc_number"] == "根司发〔2025〕3号"
    assert doc["entry_path"] == ["履职依据", "规范性文件"] and doc["url"] == "http://127.0.0.1:8000/site/docs/42.html"
    assert hook.headers["Idempotency-Key"] == body["push_id"]
    assert "unsubscribe" not in body["message"]  # links are for email; webhooks have no person to click them

    form = hooks.at("/hook/hexi")[0].form()
    assert form["title"] == f"【政务公开】{publisher}：{TITLE}"
    assert "河西街道社区办公室" in form["message"]
    assert form["doc_title"] == TITLE and form["doc_entry_path"] == "履职依据/规范性文件"
    assert form["doc_index_no"] == "11150785MB1234567X/2025-00003" and form["event_label"] == "发布"
    assert hooks.at("/hook/hexi")[0].headers["Idempotency-Key"] == form["push_id"]


def test_retry_after_partial_failure_sends_only_to_the_rest(orch_env, publisher, subscribers, smtp, hooks):
    did = make_delivery(publisher)
    ch = adapter(subscribers)
    smtp.handler.refuse = {"legal@dairy.example.cn"}
    hooks.failing = {"/hook/hexi"}

    with pytest.raises(TransientError) as err:
        ch.publish(context(did, payload(publisher)))
    assert "已送达 4/6" in err.value.message and "2 个稍后重试" in err.value.message
    by_member = {r.member: r for r in ledger(did)}
    assert by_member["ent-dairy"].status == RecipientStatus.retrying
    assert by_member["community-hexi"].status == RecipientStatus.retrying
    assert "第1次发送失败" in by_member["ent-dairy"].last_error

    # The servers recover; the retry reaches exactly the two that were missing.
    smtp.handler.refuse = set()
    hooks.failing = set()
    before_mail, before_hook = smtp.handler.count(), len(hooks.received)
    ch.publish(context(did, payload(publisher)))
    assert smtp.handler.count() - before_mail == 1
    assert len(hooks.received) - before_hook == 1
    for addr in ALL_EMAILS:
        assert len(smtp.handler.to(addr)) == 1, addr
    for path in ALL_HOOKS:
        assert len(hooks.at(path)) == 1, path
    by_member = {r.member: r for r in ledger(did)}
    assert by_member["ent-dairy"].attempts == 2 and by_member["ent-forestry"].attempts == 1


def test_attempts_are_capped_per_recipient(orch_env, publisher, subscribers, smtp, hooks):
    did = make_delivery(publisher)
    ch = adapter(subscribers, max_attempts_per_recipient=2)
    hooks.failing = {"/hook/lawfirm"}

    with pytest.raises(TransientError):
        ch.publish(context(did, payload(publisher)))
    with pytest.raises(PermanentError) as err:
        ch.publish(context(did, payload(publisher)))
    assert not isinstance(err.value, TransientError)
    assert "部分失败" in err.value.message and "北极律师事务所" in err.value.message
    assert "已送达的不会重复发送" in err.value.message
    assert smtp.handler.count() == len(ALL_EMAILS)  # nobody else was sent twice
    row = next(r for r in ledger(did) if r.route_kind == "webhook" and r.member == "law-beiji")
    assert row.status == RecipientStatus.failed and row.attempts == 2

    # Ops fixes the receiver and retries: only the failed route is tried again.
    hooks.failing = set()
    assert reset_failed_recipients(did) == 1
    ch.publish(context(did, payload(publisher)))
    assert len(hooks.at("/hook/lawfirm")) == 1
    assert smtp.handler.count() == len(ALL_EMAILS)


def test_unreachable_smtp_is_transient_then_permanent(orch_env, publisher, tmp_path, hooks):
    dead = SmtpServer()  # never started: nothing listens on its port
    path = write_subscribers(tmp_path / "s.yaml", publisher, dead, hooks)
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace(f"127.0.0.1:{hooks.port}", f"127.0.0.1:{free_port()}"), encoding="utf-8")
    did = make_delivery(publisher)
    ch = adapter(path, max_attempts_per_recipient=2, timeout_seconds=1)

    with pytest.raises(TransientError) as err:
        ch.publish(context(did, payload(publisher)))
    assert "已送达 0/6" in err.value.message
    assert err.value.detail  # Apprise's connection error, for ops
    with pytest.raises(PermanentError) as err2:
        ch.publish(context(did, payload(publisher)))
    assert not isinstance(err2.value, TransientError)
    assert "全部失败" in err2.value.message


def test_malformed_route_is_a_permanent_error_naming_what_to_fix(orch_env, publisher, subscribers, smtp):
    subscribers.write_text(
        subscribers.read_text(encoding="utf-8").replace(
            "- json://127.0.0.1", "- jsn://127.0.0.1"
        ),
        encoding="utf-8",
    )
    did = make_delivery(publisher)
    with pytest.raises(PermanentError) as err:
        adapter(subscribers).publish(context(did, payload(publisher)))
    msg = err.value.message
    assert "订阅组“律师”" in msg and "成员“law-beiji”" in msg and "推送路由（routes）第1条" in msg
    assert "不支持的协议“jsn”" in msg
    assert smtp.handler.count() == 0  # nothing half-sent on a broken file


def test_plain_text_part_reads_like_a_letter(orch_env, publisher, subscribers, smtp):
    """The text/plain alternative of the HTML mail: "标签：值" one a line, paragraphs separated by exactly one blank
    line, no spaces added around bold text, list numbers kept. Built by the adapter itself (no Apprise conversion)."""
    body = ("<p>申请人应当自收到通知之日起<strong>7个工作日</strong>内补正材料。</p>"
            "<ol><li>执法监督科</li><li>办公室</li></ol>")
    did = make_delivery(publisher)
    adapter(subscribers).publish(context(did, payload(publisher, body_html=body)))
    text = smtp.handler.to("office@beiji-law.example.cn")[0].part("plain").replace("\r\n", "\n")
    lines = text.splitlines()
    assert "标题：" + TITLE in lines
    assert "文号：根司发〔2025〕3号" in lines and "信息分类：履职依据 / 规范性文件" in lines
    # The metadata block is one run of lines: 标题 directly followed by 发布机构.
    assert lines[lines.index("标题：" + TITLE) + 1] == f"发布机构：{publisher}"
    assert "起7个工作日内补正材料" in text and "起 7个工作日 内" not in text
    # The whole body is in the text part; numbered items each on their own line, numbered as in a 公文 (一、二、).
    assert "\n\n一、执法监督科\n\n二、办公室\n\n" in text
    assert "\n\n\n" not in text
    assert text.startswith("北极律师事务所：\n\n您好！")


def test_unknown_group_is_a_permanent_error_naming_it(orch_env, publisher, subscribers, smtp):
    subscribers.write_text(
        subscribers.read_text(encoding="utf-8").replace("groups: [企业, 律师, 社区办公室]", "groups: [企业, 记者]"),
        encoding="utf-8",
    )
    did = make_delivery(publisher)
    with pytest.raises(PermanentError) as err:
        adapter(subscribers).publish(context(did, payload(publisher)))
    assert "订阅组“记者”不存在" in err.value.message
    assert "“企业”、“律师”、“社区办公室”" in err.value.message
    assert smtp.handler.count() == 0


def test_publisher_or_entry_without_configuration(orch_env, publisher, subscribers):
    did = make_delivery(publisher)
    with pytest.raises(NotConfigured) as err:
        adapter(subscribers).publish(context(did, payload("阿龙山镇人民政府")))
    assert "发布机构“阿龙山镇人民政府”尚未设置精准推送订阅对象" in err.value.message
    assert str(subscribers) in err.value.detail and str(subscribers) not in err.value.message
    with pytest.raises(NotConfigured) as err:
        adapter(subscribers).publish(context(did, payload(publisher, entry_code="BMHY", entry_path=("部门会议",))))
    # The clerk's message names the entry, not the file, its keys or a path; the ops-only detail does.
    msg = err.value.message
    assert "目录事项“部门会议”" in msg and "系统管理员" in msg
    assert not any(word in msg for word in ("pushes", "yaml", str(subscribers)))
    assert "pushes" in err.value.detail and str(subscribers) in err.value.detail


def test_update_pushes_a_correction_to_groups_that_want_it(orch_env, publisher, tmp_path, smtp, hooks):
    path = write_subscribers(tmp_path / "s.yaml", publisher, smtp, hooks, enterprise_update=False)
    ch = adapter(path)
    first = make_delivery(publisher)
    receipt = ch.publish(context(first, payload(publisher)))
    second = make_delivery(publisher, action="update", follows_id=first)
    doc = payload(publisher, version=2, extra={"change_note": "第五条“三十日”更正为“二十个工作日”"})
    receipt2 = ch.update(context(second, doc, Action.update, previous=receipt))

    corrections = [m for m in smtp.handler.received if m.subject.startswith("【更正】")]
    assert sorted(r for m in corrections for r in m.rcpt) == ["office@beiji-law.example.cn", "shequ@haolibao.example.cn"]
    text = corrections[0].part("plain")
    assert "已更正" in text and "第五条“三十日”更正为“二十个工作日”" in text and "第2版" in text
    assert [h.json()["event_label"] for h in hooks.at("/hook/lawfirm")] == ["发布", "更正"]
    assert receipt2.data["delivery_ids"] == [first, second]


def test_withdraw_tells_only_those_reached_and_respects_group_setting(orch_env, publisher, tmp_path, smtp, hooks):
    path = write_subscribers(tmp_path / "s.yaml", publisher, smtp, hooks, community_withdraw=False)
    ch = adapter(path)
    first = make_delivery(publisher)
    receipt = ch.publish(context(first, payload(publisher)))
    # A member who joins after the publish must not get a withdrawal notice for something they never received.
    text = path.read_text(encoding="utf-8").replace(
        "      - name: 律师\n        members:\n",
        "      - name: 律师\n        members:\n          - id: law-new\n            email: new@law.example.cn\n",
    )
    path.write_text(text, encoding="utf-8")
    second = make_delivery(publisher, action="withdraw", follows_id=first)
    doc = payload(publisher, extra={"withdraw_reason": "文件依据已废止"})
    ch.withdraw(context(second, doc, Action.withdraw, previous=receipt))

    notices = [m for m in smtp.handler.received if m.subject.startswith("【撤回】")]
    assert sorted(r for m in notices for r in m.rcpt) == [
        "fawu@forestry.example.cn",
        "legal@dairy.example.cn",
        "office@beiji-law.example.cn",
    ]
    assert "撤回原因：文件依据已废止" in notices[0].part("plain")
    assert "查看原文" not in notices[0].part("plain")
    assert [h.json()["event"] for h in hooks.at("/hook/lawfirm")] == ["publish", "withdraw"]
    assert len(hooks.at("/hook/hexi")) == 1  # 社区办公室 opted out of withdrawal notices


def test_route_left_sending_by_a_dead_worker(orch_env, publisher, subscribers, smtp, hooks):
    """A claimed route whose worker died: not resent while its lease lives, resent once the lease has expired."""
    did = make_delivery(publisher)
    ch = adapter(subscribers)
    ch.publish(context(did, payload(publisher)))
    # Simulate a crash between claim and outcome on one route of a second delivery.
    did2 = make_delivery(publisher)
    smtp.handler.refuse = {"fawu@forestry.example.cn"}
    with pytest.raises(TransientError):
        ch.publish(context(did2, payload(publisher)))
    smtp.handler.refuse = set()
    t = PushRecipientDelivery
    future = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
    with get_sessionmaker().begin() as s:
        s.execute(
            update(t).where(t.delivery_id == did2, t.member == "ent-forestry").values(status="sending", lease_until=future)
        )
    with pytest.raises(TransientError):
        ch.publish(context(did2, payload(publisher)))
    assert len(smtp.handler.to("fawu@forestry.example.cn")) == 1  # only the first delivery's

    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    with get_sessionmaker().begin() as s:
        s.execute(update(t).where(t.delivery_id == did2, t.member == "ent-forestry").values(lease_until=past))
    ch.publish(context(did2, payload(publisher)))
    assert len(smtp.handler.to("fawu@forestry.example.cn")) == 2
    assert len(smtp.handler.to("legal@dairy.example.cn")) == 2  # one per delivery, never more
