"""The plumbing every channel shares: Retry-After, HTTP status mapping, destination look-up, typed settings, discovery."""

from __future__ import annotations

import datetime as dt
from email.utils import format_datetime

import pytest

from channels.base import NotConfigured, PermanentError, TransientError
from channels.http import RETRY_AFTER_CAP_SECONDS, error_for_status, parse_retry_after
from channels.registry import ChannelRegistry

NOW = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(("value", "seconds"), [
    ("120", 120.0),
    (" 7 ", 7.0),
    ("1.5", 1.5),
    ("-3", 0.0),  # never in the past
    (format_datetime(NOW + dt.timedelta(seconds=90), usegmt=True), 90.0),
    ("Tue, 01 Dec 2026 08:02:00", 120.0),  # a date without zone is UTC
    (format_datetime(NOW - dt.timedelta(hours=1), usegmt=True), 0.0),
    ("999999999", RETRY_AFTER_CAP_SECONDS),  # clamped to a day
    ("soon", None),
    ("", None),
    (None, None),
])
def test_retry_after_is_seconds_or_http_date_clamped(value, seconds):
    assert parse_retry_after(value, now=NOW) == seconds


def _err(status: int, **kw):
    return error_for_status(status, transient="暂时不可用", refused="拒绝", unauthorized="凭据无效", **kw)


def test_status_mapping():
    throttled = _err(429, throttled="限流", retry_after="5")
    assert isinstance(throttled, TransientError) and throttled.message == "限流" and throttled.retry_after == 5.0
    busy = _err(503, retry_after="Tue, 01 Dec 2099 08:00:00 GMT")
    assert isinstance(busy, TransientError) and busy.message == "暂时不可用" and busy.retry_after == RETRY_AFTER_CAP_SECONDS
    assert _err(500).retry_after is None
    assert type(_err(401)) is NotConfigured and _err(401).message == "凭据无效"
    assert type(_err(403, forbidden="无权限")) is NotConfigured and _err(403, forbidden="无权限").message == "无权限"
    assert type(_err(403, auth_error=PermanentError)) is PermanentError
    refused = _err(422, code="http_422", detail="x" * 3000)
    assert type(refused) is PermanentError and refused.code == "http_422" and len(refused.detail) == 2000


def test_destination_lookup_by_channel_adapter_and_name():
    reg = ChannelRegistry.from_mapping({"channels": {"website": {"destinations": [
        {"name": "cms", "adapter": "wagtail", "base_url": "https://a"},
        {"name": "column", "adapter": "site", "enabled": False, "page_size": 5},
        {"name": "column2", "adapter": "site", "page_size": 7},
    ]}}})
    assert reg.find("website", "site").name == "column"
    assert reg.find("website", "site", enabled_only=True).name == "column2"
    assert reg.find("website", "site", "column2").config == {"page_size": 7}
    assert reg.find("website", "wechat") is None and reg.find("gazette", "gazette") is None


def test_built_in_channels_are_discovered_through_entry_points():
    from channels.plugin import adapters, channel_codes

    assert set(adapters()) >= {"manual", "http_push", "site", "gazette", "wagtail", "wordpress", "wechat", "screens",
                               "libresignage", "push"}
    assert set(channel_codes()) >= {"website", "gazette", "wechat", "bulletin_board", "targeted_push"}


def test_adapter_settings_are_typed_and_refused_in_chinese():
    reg = ChannelRegistry.from_mapping({"channels": {"press": {"destinations": [
        {"name": "recv", "adapter": "http_push", "url": "http://127.0.0.1:9/", "timeout": "很快", "inline_attachments": "也许"},
        {"name": "ok", "adapter": "http_push", "url": "http://127.0.0.1:9/", "timeout": "2.5", "secret": ""},
    ]}}})
    with pytest.raises(NotConfigured) as err:
        reg.adapter_for(reg.destination("press", "recv"))
    assert err.value.message == ("渠道“recv”的配置有误：配置项“timeout”应为数字（收到：很快）；"
                                 "配置项“inline_attachments”应为 true 或 false（收到：也许）")
    ok = reg.adapter_for(reg.destination("press", "ok"))
    assert ok.settings.timeout == 2.5 and ok.settings.secret == "" and ok.settings.inline_limit == 5 * 1024 * 1024
