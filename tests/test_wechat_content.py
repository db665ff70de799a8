"""Hostile and awkward content: scripts, external images, Chinese image file names, oversized bodies and images."""

# Fixtures are imported from tests/wechat_support.py, so pytest's parameter injection shadows the imports.
# ruff: noqa: F811

from __future__ import annotations

import base64
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from channels.base import PermanentError, TransientError
from tests.wechat_server import WeChatServer
from tests.wechat_support import (  # noqa: F401 - fixtures
    Delivery,
    attachment,
    image_bytes,
    make_channel,
    make_document,
    png_bytes,
    run_to_completion,
    wechat,
    wechat_env,
)


def _draft_content(wechat: WeChatServer) -> str:
    (draft,) = wechat.state.drafts.values()
    assert draft["stripped"] == {"scripts": 0, "images": 0}, "WeChat had to strip something we sent"
    return draft["articles"][0]["content"]


def test_scripts_and_event_handlers_never_reach_wechat(wechat: WeChatServer, make_channel):
    body = ('<p onclick="steal()">通知</p><script>alert(document.cookie)</script>'
            '<a href="javascript:alert(1)">链接</a><style>p{display:none}</style><iframe src="http://evil"></iframe>')
    run_to_completion(make_channel(), Delivery(make_document(body_html=body)))
    content = _draft_content(wechat)
    for bad in ("<script", "onclick", "javascript:", "<style", "<iframe", "steal()"):
        assert bad not in content
    assert "通知" in content and "链接" in content


def test_external_image_is_refused_naming_host_before_anything_is_sent(wechat: WeChatServer, make_channel):
    body = '<p>图</p><img src="https://www.baidu.com/img/logo.png">'
    # At submission already (precheck fetches nothing); WeChat's own image host and protocol-relative URLs too.
    problems = make_channel().precheck(make_document(body_html=body + '<img src="//cdn.example.org/a/b.jpg">'
                                                     '<img src="http://mmbiz.qpic.cn/mmbiz_png/x/0?wx_fmt=png">'))
    assert [p for p in problems if "外部网站" in p] == [
        p for p in problems if "www.baidu.com" in p and "logo.png" in p or "cdn.example.org" in p and "b.jpg" in p]
    assert len([p for p in problems if "外部网站" in p]) == 2
    with pytest.raises(PermanentError) as err:
        make_channel().publish(Delivery(make_document(body_html=body)).ctx())
    assert "www.baidu.com" in err.value.message and "logo.png" in err.value.message
    assert wechat.calls("draft/add") == 0


def test_images_already_on_wechat_host_are_kept(wechat: WeChatServer, make_channel):
    url = "http://mmbiz.qpic.cn/mmbiz_png/abc/0?wx_fmt=png"
    run_to_completion(make_channel(), Delivery(make_document(body_html=f'<p><img src="{url}"></p>')))
    assert url in _draft_content(wechat).replace("&amp;", "&")
    assert wechat.calls("media/uploadimg") == 0


def test_chinese_image_file_names_go_up_with_ascii_names(wechat: WeChatServer, make_channel, wechat_env):
    photo = attachment(wechat_env, "法律援助现场照片（一）.jpg", image_bytes("JPEG"), "image/jpeg")
    chart = attachment(wechat_env, "统计图表.png", png_bytes(), "image/png")
    body = '<p><img src="法律援助现场照片（一）.jpg"></p><p><img src="%E7%BB%9F%E8%AE%A1%E5%9B%BE%E8%A1%A8.png"></p>'
    run_to_completion(make_channel(), Delivery(make_document(body_html=body, attachments=(photo, chart))))
    names = wechat.state.upload_names
    assert len(names) == 3  # two body images and the cover (the first image attachment)
    assert all(n.isascii() and n.rsplit(".", 1)[1] in {"jpg", "png"} for n in names)
    assert _draft_content(wechat).count("mmbiz.qpic.cn") == 2


def test_gif_and_webp_are_converted_and_big_images_shrunk(wechat: WeChatServer, make_channel):
    gif = base64.b64encode(image_bytes("GIF")).decode()
    webp = base64.b64encode(image_bytes("WEBP")).decode()
    big = base64.b64encode(image_bytes("PNG", size=(900, 700), noisy=True)).decode()
    assert len(base64.b64decode(big)) > 1024 * 1024
    body = (f'<p><img src="data:image/gif;base64,{gif}"><img src="data:image/webp;base64,{webp}">'
            f'<img src="data:image/png;base64,{big}"></p>')
    run_to_completion(make_channel(), Delivery(make_document(body_html=body)))
    assert wechat.calls("media/uploadimg") == 3
    assert all(len(data) < 1024 * 1024 for data in wechat.state.images.values())


def test_unreadable_image_fails_naming_the_file(wechat: WeChatServer, make_channel, wechat_env):
    broken = attachment(wechat_env, "损坏的图片.png", b"\x89PNG\r\n\x1a\nnot really", "image/png")
    doc = make_document(body_html='<p><img src="损坏的图片.png"></p>', attachments=(broken,))
    with pytest.raises(PermanentError) as err:
        make_channel().publish(Delivery(doc).ctx())
    assert "损坏的图片.png" in err.value.message

    missing = make_document(body_html='<p><img src="不存在.png"></p>')
    with pytest.raises(PermanentError) as err:
        make_channel().publish(Delivery(missing).ctx())
    assert "不存在.png" in err.value.message

    # A path outside the allowed folders is never read, even if it exists.
    outside = make_document(body_html='<p><img src="/etc/hostname"></p>')
    with pytest.raises(PermanentError) as err:
        make_channel().publish(Delivery(outside).ctx())
    assert "hostname" in err.value.message
    assert wechat.calls("media/uploadimg") == 0


def test_local_http_images_are_fetched(wechat: WeChatServer, make_channel):
    served = png_bytes(color=(1, 2, 3))

    class Images(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            if self.path == "/files/photo.png":
                self.send_response(200)
                self.send_header("Content-Length", str(len(served)))
                self.end_headers()
                self.wfile.write(served)
            else:
                self.send_response(404 if self.path != "/files/busy.png" else 503)
                self.send_header("Content-Length", "0")
                self.end_headers()

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Images)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}/files"
    try:
        run_to_completion(make_channel(), Delivery(make_document(body_html=f'<p><img src="{base}/photo.png"></p>')))
        assert served in wechat.state.images.values()
        with pytest.raises(PermanentError, match="gone.png"):
            make_channel().publish(Delivery(make_document(body_html=f'<img src="{base}/gone.png">')).ctx())
        with pytest.raises(TransientError, match="busy.png"):
            make_channel().publish(Delivery(make_document(body_html=f'<img src="{base}/busy.png">')).ctx())
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_25000_character_body_is_refused_before_sending(wechat: WeChatServer, make_channel):
    body = "<p>" + "依法公开政府信息。" * 2778 + "</p>"  # 25,002 characters of text
    doc = make_document(body_html=body)
    channel = make_channel()
    problems = channel.precheck(doc)
    assert any("20000" in p and "阅读原文" in p for p in problems)
    with pytest.raises(PermanentError) as err:
        channel.publish(Delivery(doc).ctx())
    assert "超过微信上限" in err.value.message
    assert sum(wechat.state.calls.values()) == 0  # not even a token fetch


def test_long_title_author_digest_are_named_not_truncated(wechat: WeChatServer, make_channel):
    doc = make_document(title="关" * 40, summary="摘" * 130, publisher="内蒙古自治区呼伦贝尔市根河市司法局法律援助中心")
    problems = make_channel().precheck(doc)
    assert len(problems) == 3
    assert "标题共 40 个字" in problems[0] and "32" in problems[0]
    assert "作者" in problems[1] and "16" in problems[1]
    assert "摘要共 130 个字" in problems[2]
    # A short title for WeChat only, and a configured author, make it publishable.
    ok = make_document(title="关" * 40, extra={"channel_options": {"title": "法律援助进社区活动通知"}},
                       publisher="内蒙古自治区呼伦贝尔市根河市司法局法律援助中心")
    final = run_to_completion(make_channel(author="根河市司法局"), Delivery(ok))
    assert final.url
    art = next(iter(wechat.state.drafts.values()))["articles"][0]
    assert art["title"] == "法律援助进社区活动通知" and art["author"] == "根河市司法局"


def test_json_is_sent_as_utf8_not_escapes(wechat: WeChatServer, make_channel):
    # The server answers 40033 to \\uXXXX escapes; a Chinese title going through proves UTF-8 on the wire.
    import json

    import requests

    channel = make_channel()
    run_to_completion(channel, Delivery(make_document()))
    assert wechat.state.drafts_created == 1
    # The same request with \uXXXX escapes is refused, so the success above is not an accident.
    token = channel._tokens().get()
    escaped = json.dumps({"articles": [{"title": "通知", "content": "<p>正文</p>"}]}, ensure_ascii=True)
    res = requests.post(wechat.api_base + "draft/add", params={"access_token": token}, data=escaped, timeout=5).json()
    assert res["errcode"] == 40033


def test_default_cover_per_publisher(wechat: WeChatServer, make_channel, wechat_env):
    cover = wechat_env / "sfj-cover.png"
    cover.write_bytes(png_bytes((900, 383), (0, 80, 160)))
    final = run_to_completion(make_channel(default_covers={"根河市司法局": str(cover)}), Delivery(make_document()))
    assert final.data["cover_source"] == "默认封面"
    # No configured cover at all: a plain generated banner keeps the delivery going.
    final = run_to_completion(make_channel(), Delivery(make_document(document_id=2)))
    assert final.data["cover_source"] == "系统生成的纯色封面"
