"""The WeChat adapter against the local WeChat API server, through wechatpy over real HTTP: the publishing flow."""

# Fixtures are imported from tests/wechat_support.py, so pytest's parameter injection shadows the imports.
# ruff: noqa: F811

from __future__ import annotations

import pytest

from channels.base import Action, PermanentError, Receipt
from channels.registry import ChannelRegistry
from channels.wechat import WeChatChannel, handle_publish_event
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


def test_registry_resolves_the_wechat_adapter():
    reg = ChannelRegistry.from_mapping({"channels": {"wechat": {"destinations": [
        {"name": "公众号", "adapter": "wechat", "appid": "wx1", "secret": "s"}]}}})
    adapter = reg.adapter_for(reg.destinations("wechat")[0])
    assert isinstance(adapter, WeChatChannel)


def test_publish_then_asynchronous_completion(wechat: WeChatServer, make_channel, wechat_env):
    cover = attachment(wechat_env, "封面.png", png_bytes((900, 383)), "image/png")
    pdf = attachment(wechat_env, "实施方案.pdf", b"%PDF-1.4 test", "application/pdf")
    doc = make_document(
        body_html='<p>正文</p><p><img src="data:image/png;base64,' + __import__("base64").b64encode(png_bytes()).decode()
        + '" alt="示意图"></p>',
        attachments=(cover, pdf),
    )
    channel = make_channel()
    delivery = Delivery(doc)

    pending = channel.publish(delivery.ctx())
    assert pending.pending and not pending.needs_person
    assert pending.data["publish_id"] and pending.data["media_id"]
    assert wechat.calls("draft/add") == 1 and wechat.calls("freepublish/submit") == 1

    # While WeChat is still publishing, poll says "not yet".
    assert channel.poll(delivery.ctx(), pending) is None
    final = run_to_completion(channel, Delivery(doc, checkpoint=delivery.checkpoint, key=delivery.key))
    assert final.pending is False
    assert final.external_id and final.external_id.startswith("ART_")
    assert final.url and final.url.startswith("https://mp.weixin.qq.com/s/")
    assert final.data["publish_id"] == pending.data["publish_id"]
    assert channel.verify(delivery.ctx(), final) is True

    # The draft WeChat holds: images on WeChat's host, nothing stripped, the 索引号/文号 block, inline styles only.
    state = wechat.state
    assert state.drafts_created == 1
    draft = state.drafts[pending.data["media_id"]]
    assert draft["stripped"] == {"scripts": 0, "images": 0}
    art = draft["articles"][0]
    assert art["title"] == doc.title
    assert art["author"] == "根河市司法局"
    assert art["content_source_url"] == doc.site_url
    assert art["thumb_media_id"] in state.materials
    assert "mmbiz.qpic.cn" in art["content"] and "data:image" not in art["content"]
    assert "索引号：11150785MB1234567X/2025-00012" in art["content"]
    assert "根司发〔2025〕12号" in art["content"]
    assert "实施方案.pdf" in art["content"]
    assert "<style" not in art["content"] and "class=" not in art["content"] and "<script" not in art["content"]
    assert wechat.calls("media/uploadimg") == 1 and wechat.calls("material/add_material") == 1
    # Every upload went with an ASCII name and a real extension.
    assert all(n.isascii() and n.rsplit(".", 1)[-1] in {"png", "jpg"} for n in state.upload_names)


@pytest.mark.parametrize(("status", "meaning"), [(2, "原创声明失败"), (3, "常规失败"), (4, "平台审核不通过")])
def test_publish_failures_are_permanent_with_their_meaning(wechat: WeChatServer, make_channel, status, meaning):
    wechat.force_publish_status(status, [1])
    with pytest.raises(PermanentError) as err:
        run_to_completion(make_channel(), Delivery(make_document()))
    assert meaning in err.value.message and "第 1 篇" in err.value.message


def test_removed_by_platform_is_detected(wechat: WeChatServer, make_channel):
    channel = make_channel()
    final = run_to_completion(channel, Delivery(make_document()))
    assert channel.removal_reason(final) is None
    wechat.remove_article(final.external_id, status=6)
    assert channel.removal_reason(final) == "发表成功后已被平台封禁"
    assert channel.verify(Delivery(make_document()).ctx(), final) is False


def test_update_publishes_corrected_version_and_deletes_old_when_configured(wechat: WeChatServer, make_channel):
    channel = make_channel(delete_old_on_update=True)
    first = run_to_completion(channel, Delivery(make_document()))
    corrected = make_document(version=2, title="根河市司法局关于开展法律援助进社区活动的通知（更正）")
    second = run_to_completion(channel, Delivery(corrected, action=Action.update, previous_receipt=first))

    assert second.external_id != first.external_id
    assert wechat.state.drafts_created == 2
    assert wechat.state.deleted_articles == [first.external_id]
    history = second.data["superseded"]
    assert history == [{"article_id": first.external_id, "url": first.url, "publish_id": first.data["publish_id"],
                        "deleted": True}]

    # Withdrawing the corrected document removes the live article (the old one is already gone).
    withdrawn = run_to_completion(channel, Delivery(corrected, action=Action.withdraw, previous_receipt=second))
    assert withdrawn.data["deleted_articles"] == [second.external_id]
    assert wechat.state.deleted_articles == [first.external_id, second.external_id]


def test_update_keeps_old_article_by_default_and_withdraw_removes_both(wechat: WeChatServer, make_channel):
    channel = make_channel()
    first = run_to_completion(channel, Delivery(make_document()))
    second = run_to_completion(channel, Delivery(make_document(version=2), action=Action.update, previous_receipt=first))
    assert wechat.state.deleted_articles == []
    assert second.data["superseded"][0]["deleted"] is False

    delivery = Delivery(make_document(version=2), action=Action.withdraw, previous_receipt=second)
    withdrawn = channel.withdraw(delivery.ctx())
    assert set(withdrawn.data["deleted_articles"]) == {first.external_id, second.external_id}
    assert channel.verify(delivery.ctx(), withdrawn) is True
    # A retry of the same withdrawal (unknown outcome) does nothing harmful.
    again = channel.withdraw(delivery.ctx())
    assert again.data["deleted_articles"] == withdrawn.data["deleted_articles"]
    assert wechat.calls("freepublish/delete") == 2


def test_withdraw_of_already_deleted_article_succeeds(wechat: WeChatServer, make_channel):
    channel = make_channel()
    first = run_to_completion(channel, Delivery(make_document()))
    assert channel.withdraw(Delivery(make_document(), action=Action.withdraw, previous_receipt=first).ctx())
    # A second withdrawal delivery (new key, no checkpoint): WeChat says 53600, which means "already gone".
    again = channel.withdraw(Delivery(make_document(), action=Action.withdraw, previous_receipt=first).ctx())
    assert again.data["deleted_articles"] == [first.external_id]


def test_withdraw_of_failed_publish_has_nothing_to_do(wechat: WeChatServer, make_channel):
    wechat.force_publish_status(4)
    channel = make_channel()
    pending = channel.publish(Delivery(make_document()).ctx())
    prev = Receipt(data=pending.data)
    wechat.state.publish_delay = 0
    receipt = channel.withdraw(Delivery(make_document(), action=Action.withdraw, previous_receipt=prev).ctx())
    assert receipt.data["nothing_to_withdraw"] is True
    assert wechat.calls("freepublish/delete") == 0


def test_manual_mode_gives_paste_ready_article(wechat: WeChatServer, make_channel, wechat_env):
    img = attachment(wechat_env, "现场照片.png", png_bytes(), "image/png")
    doc = make_document(body_html='<p>正文</p><img src="现场照片.png"><script>alert(1)</script>', attachments=(img,))
    receipt = make_channel(mode="manual").publish(Delivery(doc).ctx())
    assert receipt.needs_person and not receipt.pending
    html = receipt.data["article_html"]
    assert "索引号" in html and "data:image/png;base64," in html and "<script" not in html
    assert receipt.data["cover"]["data_uri"].startswith("data:image/")
    assert "mp.weixin.qq.com" in receipt.data["task"]
    assert sum(wechat.state.calls.values()) == 0  # nothing was sent to WeChat


def test_48001_turns_into_manual_task_with_draft_ready(wechat: WeChatServer, make_channel):
    wechat.fail("freepublish/submit", 48001)
    receipt = make_channel().publish(Delivery(make_document()).ctx())
    assert receipt.needs_person
    assert receipt.data["draft_media_id"] in wechat.state.drafts
    assert "草稿箱" in receipt.data["task"] and "没有发布接口权限" in receipt.data["reason"]


def test_48001_fails_when_manual_fallback_is_off(wechat: WeChatServer, make_channel):
    wechat.fail("freepublish/submit", 48001)
    with pytest.raises(PermanentError) as err:
        make_channel(manual_on_48001=False).publish(Delivery(make_document()).ctx())
    assert err.value.code == "48001" and "没有发布接口权限" in err.value.message


def test_mass_send_quota_and_dedupe(wechat: WeChatServer, make_channel):
    channel = make_channel(notify=True)
    delivery = Delivery(make_document())
    first = run_to_completion(channel, delivery)
    assert first.data["notify"]["sent"] is True
    # The daily quota (1 for a subscription account) is used: the next publication is not pushed, and not failed.
    second = run_to_completion(channel, Delivery(make_document(document_id=2)))
    assert second.data["notify"]["sent"] is False and "群发次数已用完" in second.data["notify"]["note"]
    assert wechat.calls("message/mass/sendall") == 1  # guarded before calling WeChat
    # Re-polling the first delivery (e.g. after a crash) does not notify twice: clientmsgid dedupes (45065).
    wechat.state.mass_daily_quota = 5
    again = channel.poll(delivery.ctx(), Receipt(pending=True, data=first.data))
    assert again is not None
    # The second request really reached WeChat with the same clientmsgid, and WeChat refused to send it again.
    assert wechat.calls("message/mass/sendall") == 2
    assert again.data["notify"]["clientmsgid"] == first.data["notify"]["clientmsgid"]
    assert again.data["notify"]["sent"] is True and "去重" in again.data["notify"]["note"]
    assert len(wechat.state.mass_sent) == 1


PUBLISH_EVENT = """<xml>
<ToUserName><![CDATA[gh_4d00ed8d6399]]></ToUserName>
<FromUserName><![CDATA[oV5CrjpxgaGXNHIQigzNlgLTnwic]]></FromUserName>
<CreateTime>1481013459</CreateTime>
<MsgType><![CDATA[event]]></MsgType>
<Event><![CDATA[PUBLISHJOBFINISH]]></Event>
<PublishEventInfo>
<publish_id>2247503051</publish_id>
<publish_status>{status}</publish_status>
<article_id><![CDATA[b5O2OUs25HBxRceL7hfReg-U9QGeq9zQjiDvyWFSxs]]></article_id>
<article_detail>
<count>1</count>
<item>
<idx>1</idx>
<article_url><![CDATA[https://mp.weixin.qq.com/s/abc]]></article_url>
</item>
</article_detail>
{fail}
</PublishEventInfo>
</xml>"""


def test_publish_event_callback_is_parsed():
    from wechatpy import parse_message

    raw = PUBLISH_EVENT.format(status=0, fail="").encode()
    assert type(parse_message(raw)).__name__ == "UnknownMessage"  # why we read the XML ourselves
    event = handle_publish_event(raw)
    assert event["publish_id"] == "2247503051" and event["ok"] and event["final"]
    assert event["article_urls"] == ["https://mp.weixin.qq.com/s/abc"]
    failed = handle_publish_event(PUBLISH_EVENT.format(status=4, fail="<fail_idx>1</fail_idx>").encode())
    assert failed["status_text"] == "平台审核不通过" and failed["fail_idx"] == [1] and not failed["ok"]
    with pytest.raises(ValueError, match="不是发表结果事件"):
        handle_publish_event(b"<xml><MsgType>text</MsgType><Content>hi</Content></xml>")
    with pytest.raises(ValueError, match="DTD"):
        handle_publish_event(b'<!DOCTYPE x [<!ENTITY a "b">]><xml/>')
