"""WeChat Official Account API plumbing: error mapping, our own retries, the shared access-token cache, the client."""

from __future__ import annotations

import datetime as dt
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, TypeVar
from urllib.parse import urljoin

import redis
import requests
from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException

from channels.base import (
    PermanentError,
    TransientError,
)
from channels.http import error_for_status

log = logging.getLogger(__name__)
T = TypeVar("T")
_IPV4 = re.compile(r"\b(\d{1,3}(?:\.\d{1,3}){3})\b")

DEFAULT_API_BASE = "https://api.weixin.qq.com/cgi-bin/"
WECHAT_IMAGE_HOSTS = frozenset({"mmbiz.qpic.cn", "mmbiz.qlogo.cn"})
BEIJING = dt.timezone(dt.timedelta(hours=8))  # WeChat's daily quotas reset at midnight Beijing time (no DST)

TOKEN_INVALID = frozenset({40001, 40014, 42001})

PUBLISH_STATUS_TEXT = {
    0: "发表成功",
    1: "发表中",
    2: "原创声明失败（原创校验未通过）",
    3: "常规失败",
    4: "平台审核不通过",
    5: "发表成功后已被公众号删除",
    6: "发表成功后已被平台封禁",
}

# Permanent errors: retrying will not help until a person fixes configuration or content.
PERMANENT_MESSAGES: dict[int, str] = {
    40005: "图片文件类型不被微信接受（仅支持 JPG/PNG）",
    40007: "素材 media_id 无效（封面须为永久素材，或草稿已不存在）",
    40009: "图片文件大小超过微信限制",
    40013: "公众号 AppID 无效，请管理员检查渠道配置中的 appid",
    40125: "公众号 AppSecret 无效，请管理员检查渠道配置中的 secret（可能已在公众平台重置）",
    41005: "上传的图片数据缺失（文件名或内容不被微信接受）",
    44003: "图文内容为空",
    45002: "正文内容超过微信上限（少于 20000 字符且小于 1 MB）",
    45003: "标题超过微信上限（32 个字）",
    45004: "摘要超过微信上限（128 个字）",
    45110: "作者超过微信上限（16 个字）",
    48001: "公众号没有发布接口权限（个人主体或未认证的公众号自 2025 年 7 月起不能调用发布接口），请改用人工发布模式",
    53402: "封面裁剪失败，请更换封面图片",
    53503: "该草稿未通过微信发布检查，请检查内容后人工处理",
    53504: "该草稿需在公众平台网页端（mp.weixin.qq.com）操作发表",
    53505: "请先在公众平台网页端手动保存该草稿后再发表",
    45103: "该接口已被微信停用（旧版图文素材接口），请升级系统",
    45106: "该接口已被微信停用（旧版图文素材接口），请升级系统",
}
TRANSIENT_MESSAGES: dict[int, str] = {
    -1: "微信系统繁忙，稍后自动重试",
    45011: "微信接口调用频率超过每分钟上限，下一分钟自动重试",
    53501: "微信接口调用过于频繁，稍后自动重试",
}
ARTICLE_GONE = 53600  # freepublish/delete or getarticle: the article id is invalid (already deleted)


# ------------------------------------------------------------------------------------------------------------
# Error mapping
# ------------------------------------------------------------------------------------------------------------
def seconds_until_next_day(now: float | None = None) -> float:
    """Seconds to 00:01 Beijing time tomorrow, when WeChat's daily quota (45009) has been reset."""
    current = dt.datetime.fromtimestamp(now if now is not None else time.time(), BEIJING)
    tomorrow = (current + dt.timedelta(days=1)).replace(hour=0, minute=1, second=0, microsecond=0)
    return (tomorrow - current).total_seconds()


def seconds_until_next_minute(now: float | None = None) -> float:
    t = now if now is not None else time.time()
    return 60.0 - (t % 60.0) + 1.0


def map_wechat_error(exc: Exception, step: str) -> TransientError | PermanentError:
    """Translate a wechatpy/requests failure of ``step`` (a Chinese phrase, e.g. "上传正文图片") into the contract's errors."""
    if isinstance(exc, requests.Timeout):
        return TransientError(f"{step}：连接微信接口超时，稍后自动重试", detail=repr(exc), code="timeout")
    if isinstance(exc, requests.RequestException):
        return TransientError(f"{step}：无法连接微信接口，稍后自动重试", detail=repr(exc), code="network")
    if not isinstance(exc, WeChatClientException):
        return PermanentError(f"{step}：发生未预期的错误", detail=repr(exc))
    code = exc.errcode
    errmsg = str(exc.errmsg or "")
    detail = f"errcode={code} errmsg={errmsg}"
    if code is None:  # HTTP-level failure (wechatpy raises with errcode=None)
        status = getattr(exc.response, "status_code", None)
        detail = f"HTTP {status}"
        if status is None:
            return TransientError(f"{step}：微信接口暂时不可用（HTTP {status}），稍后自动重试", detail=detail, code=f"http_{status}")
        refused = f"{step}：微信接口拒绝了请求（HTTP {status}）"
        return error_for_status(  # type: ignore[return-value]  (Transient or Permanent by construction)
            status, detail=detail, code=f"http_{status}", auth_error=PermanentError,
            retry_after=(getattr(exc.response, "headers", None) or {}).get("Retry-After"),
            transient=f"{step}：微信接口暂时不可用（HTTP {status}），稍后自动重试", unauthorized=refused, refused=refused)
    code = int(code)
    if code == 45009:
        return TransientError(f"{step}：公众号今日接口调用次数已用完，将于明日零点后自动重试", detail=detail, code="45009",
                              retry_after=seconds_until_next_day())
    if code == 45011:
        return TransientError(f"{step}：{TRANSIENT_MESSAGES[45011]}", detail=detail, code="45011",
                              retry_after=seconds_until_next_minute())
    if code in TRANSIENT_MESSAGES:
        return TransientError(f"{step}：{TRANSIENT_MESSAGES[code]}", detail=detail, code=str(code))
    if code in TOKEN_INVALID:
        # Reached only when a fresh token was rejected too: another system may be fetching tokens for this account.
        return TransientError(f"{step}：微信 access_token 刷新后仍无效（可能有其他系统在使用同一公众号的 AppSecret 获取 token），稍后重试",
                              detail=detail, code=str(code))
    if code == 40164:
        ip = _IPV4.search(errmsg)
        where = f"IP 地址 {ip.group(1)}" if ip else "本系统服务器的出口 IP"
        return PermanentError(
            f"{step}：{where} 不在公众号的 IP 白名单中。请公众号管理员登录 mp.weixin.qq.com，在“设置与开发 → 基本配置 → IP白名单”中添加该 IP，然后在系统中重试",
            detail=detail, code="40164")
    if code in PERMANENT_MESSAGES:
        return PermanentError(f"{step}：{PERMANENT_MESSAGES[code]}", detail=detail, code=str(code))
    return PermanentError(f"{step}：微信接口返回错误（错误码 {code}）", detail=detail, code=str(code))


def retry_delays(retries: int, backoff: float) -> tuple[float, ...]:
    """The waits before each in-step retry: ``backoff``, doubling, with a little jitter (workers do not retry in step)."""
    return tuple(backoff * (2 ** i) * random.uniform(0.8, 1.2) for i in range(max(0, retries)))


def retrying(fn: Callable[[], T], delays: Sequence[float], what: str) -> T:
    """``fn()``, tried again after each of ``delays`` while it raises a :class:`TransientError` that names no wait.

    Only for calls that are safe to repeat. A wait WeChat asks for (45009 until tomorrow, 45011 until the next minute)
    is never spent here: the error goes to the fan-out, which schedules the retry.
    """
    for i in range(len(delays) + 1):
        try:
            return fn()
        except TransientError as exc:
            if i >= len(delays) or exc.retry_after is not None or getattr(exc, "retried", False):
                exc.retried = True  # type: ignore[attr-defined]  # an enclosing retry loop must not multiply the tries
                raise
            log.info("wechat %s: %s (%s); retrying in step (%d/%d)", what, exc.code, exc.detail, i + 1, len(delays))
            time.sleep(delays[i])
    raise AssertionError("unreachable")


# ------------------------------------------------------------------------------------------------------------
# Access token: one shared cache and one refresher per appid
# ------------------------------------------------------------------------------------------------------------
def redis_url_for_redis_py(url: str) -> str | None:
    """A broker URL in a form redis-py understands (kombu's ``redis+socket://`` becomes ``unix://``), or None."""
    if not url:
        return None
    if url.startswith("redis+socket://"):
        rest = url[len("redis+socket://"):]
        path, _, query = rest.partition("?")
        db = re.search(r"(?:^|&)virtual_host=(\d+)", query)
        return f"unix://{path}" + (f"?db={db.group(1)}" if db else "")
    if url.startswith("socket://"):
        return "unix://" + url[len("socket://"):]
    if url.startswith(("redis://", "rediss://", "unix://")):
        return url
    return None


_redis_clients: dict[str, redis.Redis] = {}
_redis_lock = threading.Lock()


def redis_for(url: str) -> redis.Redis:
    with _redis_lock:
        client = _redis_clients.get(url)
        if client is None:
            client = redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5)
            _redis_clients[url] = client
        return client


class _LocalStore:
    """Process-local fallback when no Redis is configured (tokens are then shared only within one process)."""

    _values: ClassVar[dict[str, tuple[str, float]]] = {}
    _locks: ClassVar[dict[str, threading.Lock]] = {}
    _guard = threading.Lock()

    def get(self, key: str) -> str | None:
        value = self._values.get(key)
        if value and value[1] > time.time():
            return value[0]
        return None

    def set(self, key: str, value: str, ttl: float) -> None:
        self._values[key] = (value, time.time() + ttl)

    def lock(self, key: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())


class TokenManager:
    """The access token of one appid, cached in Redis and refreshed by one holder of a Redis lock at a time."""

    def __init__(self, *, appid: str, secret: str, api_base: str, timeout: float, stable: bool,
                 redis_client: redis.Redis | None, delays: Sequence[float] = ()) -> None:
        self.appid = appid
        self.delays = tuple(delays)  # in-step retries of a token fetch that failed transiently
        self.secret = secret
        self.api_base = api_base
        self.timeout = timeout
        self.stable = stable
        self.redis = redis_client
        self.local = _LocalStore()
        self.key = f"orch:wechat:{appid}:access_token"
        self.lock_key = f"orch:wechat:{appid}:token_lock"
        self.http = requests.Session()

    # -- cache ----------------------------------------------------------------------------------------
    def _cached(self) -> str | None:
        if self.redis is None:
            return self.local.get(self.key)
        try:
            value = self.redis.get(self.key)
        except redis.RedisError as exc:
            raise TransientError("无法连接 Redis 读取微信 access_token 缓存，稍后自动重试", detail=repr(exc)) from exc
        return value.decode() if value else None

    def _store(self, token: str, expires_in: float) -> None:
        # Keep it a little shorter than WeChat does: stable_token renews 5 minutes early and an old client_credential
        # token dies 5 minutes after the next fetch, so a token we still hand out is always valid on the platform.
        ttl = max(1.0, expires_in - min(300.0, expires_in * 0.1))
        if self.redis is None:
            self.local.set(self.key, token, ttl)
        else:
            self.redis.set(self.key, token, px=int(ttl * 1000))

    def _discard(self, stale: str) -> None:
        """Drop ``stale`` from the cache if it is still the cached token (called under the lock)."""
        if self.redis is None:
            if self.local.get(self.key) == stale:
                self.local.set(self.key, "", -1)
            return
        try:
            current = self.redis.get(self.key)
            if current is not None and current.decode() == stale:
                self.redis.delete(self.key)
        except redis.RedisError:
            log.warning("wechat: could not drop the rejected token of %s from Redis", self.appid, exc_info=True)

    def _locked(self, fn: Callable[[], str]) -> str:
        # Long enough for a fetch with its in-step retries (and a forced refresh after it).
        wait = self.timeout * 2 * (len(self.delays) + 1) + sum(self.delays) + 5
        if self.redis is None:
            lock = self.local.lock(self.key)
            if not lock.acquire(timeout=wait):
                raise TransientError("等待获取微信 access_token 超时，稍后自动重试")
            try:
                return fn()
            finally:
                lock.release()
        rlock = self.redis.lock(self.lock_key, timeout=wait, blocking_timeout=wait)
        try:
            acquired = rlock.acquire()
        except redis.RedisError as exc:
            raise TransientError("无法连接 Redis 获取微信 access_token 锁，稍后自动重试", detail=repr(exc)) from exc
        if not acquired:
            raise TransientError("等待其他进程刷新微信 access_token 超时，稍后自动重试")
        try:
            return fn()
        finally:
            try:
                rlock.release()
            except redis.exceptions.LockError:
                log.warning("wechat token lock for %s expired before release", self.appid)

    # -- public ---------------------------------------------------------------------------------------
    def get(self) -> str:
        token = self._cached()
        if token:
            return token

        def fetch_if_still_missing() -> str:
            return self._cached() or self._fetch_retrying(force=False)

        return self._locked(fetch_if_still_missing)

    def refresh(self, stale: str) -> str:
        """WeChat rejected ``stale``: replace it, unless another worker already has (compare under the lock).

        If no new token can be had, ``stale`` is dropped from the cache all the same: it is dead, and the next call
        (this worker's next try or any other worker) must fetch a new one rather than begin with another 40001."""

        def swap() -> str:
            current = self._cached()
            if current and current != stale:
                return current
            try:
                fresh = self._fetch_retrying(force=False)
                if fresh == stale and self.stable:
                    # stable_token hands out the same token while it thinks it valid; the platform disagrees: force it.
                    fresh = self._fetch(force=True)
            except BaseException:
                self._discard(stale)
                raise
            return fresh

        return self._locked(swap)

    def forget(self, stale: str) -> None:
        """``stale`` was rejected even after a refresh: drop it so the next call starts with a fetch."""
        self._locked(lambda: self._discard(stale) or "")

    def _fetch_retrying(self, *, force: bool) -> str:
        return retrying(lambda: self._fetch(force=force), self.delays, "获取 access_token")

    def _fetch(self, *, force: bool) -> str:
        step = "获取微信 access_token"
        try:
            if self.stable:
                resp = self.http.post(
                    urljoin(self.api_base, "stable_token"),
                    json={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret,
                          "force_refresh": force},
                    timeout=(min(self.timeout, 5.0), self.timeout),
                )
            else:
                resp = self.http.get(
                    urljoin(self.api_base, "token"),
                    params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret},
                    timeout=(min(self.timeout, 5.0), self.timeout),
                )
            if resp.status_code >= 400:
                raise WeChatClientException(None, None, response=resp)
            result = resp.json()
        except ValueError as exc:
            raise TransientError(f"{step}：微信返回了无法解析的内容", detail=repr(exc)) from exc
        except (requests.RequestException, WeChatClientException) as exc:
            raise map_wechat_error(exc, step) from exc
        if int(result.get("errcode", 0) or 0) != 0:
            raise map_wechat_error(WeChatClientException(int(result["errcode"]), result.get("errmsg", "")), step)
        token = str(result["access_token"])
        self._store(token, float(result.get("expires_in", 7200)))
        log.info("wechat access token fetched for %s (stable=%s force=%s)", self.appid, self.stable, force)
        return token


class Client(WeChatClient):
    """wechatpy's client with the token supplied by :class:`TokenManager` (never its own hard-coded token URL)."""

    def __init__(self, appid: str, secret: str, tokens: TokenManager, *, timeout: float, api_base: str) -> None:
        super().__init__(appid, secret, timeout=(min(timeout, 5.0), timeout), auto_retry=False)
        self.API_BASE_URL = api_base  # instance attribute: honoured by _request for relative endpoints
        self._tokens = tokens

    @property
    def access_token(self) -> str:  # type: ignore[override]
        return self._tokens.get()

    def fetch_access_token(self) -> dict[str, Any]:
        return {"access_token": self._tokens.refresh(self._tokens.get())}
