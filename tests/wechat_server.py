"""A local, protocol-faithful WeChat Official Account API server for tests (not shipped in the product).

It implements the ``/cgi-bin/`` endpoints the ``wechat`` adapter uses, with WeChat's documented behaviour
(see ``../shared/reference/wechat-official-account.md``):

- ``token`` (client_credential): every fetch issues a new token and cuts the previous one down to a short overlap;
  a daily fetch quota (45009). ``stable_token``: the same token while valid (renewed shortly before expiry),
  ``force_refresh`` rationed (daily count, minimum interval). The two token kinds are independent, as on WeChat.
- ``media/uploadimg`` (JPG/PNG under 1 MB, returns a ``mmbiz.qpic.cn`` URL), ``material/add_material`` (permanent media).
- ``draft/add|get|delete|count`` with the field limits and their error codes; external ``<img>`` and scripts are
  stripped from the content as WeChat does (and counted, so tests can assert nothing was lost).
- ``freepublish/submit|get|delete|getarticle``: publishing is asynchronous, ``get`` answers 1 ("publishing") until
  ``publish_delay`` seconds have passed, then the final status (tests may force 2–6).
- ``message/mass/sendall`` with the daily quota (45028) and ``clientmsgid`` de-duplication (45065).

Faults are injected on demand with :meth:`WeChatServer.fail` (an errcode, an HTTP status or a hang, before the call is
carried out, or ``after=True``: carried out, then the answer is lost), and every call is counted per endpoint
(``calls``) and, when it was carried out, in ``applied``, so tests can assert "the token was fetched once" or "one draft".

A stricter stand-in (all off by default, see :meth:`WeChatServer.strict`):

- ``busy_every = N``: every Nth call over *all* endpoints (token and stable_token included) answers ``-1`` (system busy)
  without doing anything;
- ``token_death_every = M``: on every Mth call every access token dies (as when another system fetches a token with the
  same AppSecret); an API call presenting it answers ``40001``, and the next token fetch issues a new one;
- ``daily_limits``: per-endpoint daily call quotas (``45009``); ``ip_whitelist``: callers outside it get ``40164``;
  ``unverified``: an unverified/personal account, denied ``freepublish/*`` and mass send (``48001``);
  the retired ``material/add_news`` / ``update_news`` answer ``45103`` / ``45106``.

``draft/add`` and ``freepublish/submit`` are not idempotent, as on WeChat: each call that is carried out makes one more
draft or publish job.
"""

from __future__ import annotations

import email.parser
import email.policy
import hashlib
import itertools
import json
import re
import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

WECHAT_IMAGE_HOSTS = ("mmbiz.qpic.cn", "mmbiz.qlogo.cn")
JPEG_MAGIC = b"\xff\xd8\xff"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# errmsg texts as WeChat sends them (English, with a request id appended on the real platform).
ERRMSG = {
    -1: "system error",
    40001: "invalid credential, access_token is invalid or not latest",
    40005: "invalid file type",
    40007: "invalid media_id",
    40009: "invalid image size",
    40013: "invalid appid",
    40014: "invalid access_token",
    40033: "invalid charset. please check your request, if include \\uxxxx will create fail!",
    40125: "invalid appsecret",
    40164: "invalid ip {ip} ipv6 ::ffff:{ip}, not in whitelist",
    41005: "media data missing",
    42001: "access_token expired",
    44003: "empty news data",
    45002: "content size out of limit",
    45003: "title size out of limit",
    45004: "description size out of limit",
    45009: "reach max api daily quota limit",
    45011: "api minute-quota reach limit mustslower retry next minute",
    45028: "has no masssend quota",
    45065: "clientmsgid exist",
    45110: "author size out of limit",
    48001: "api unauthorized",
    53402: "cover crop failed",
    53501: "too frequently",
    53503: "the draft failed the publish check",
    53504: "please use the draft on the official website",
    53505: "please save the draft manually before publishing",
    53600: "Article ID 无效",
}

_IMG_TAG = re.compile(r"<img\b[^>]*>", re.IGNORECASE)
_SRC = re.compile(r"""\bsrc\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.IGNORECASE)
_SCRIPT = re.compile(r"<script\b.*?</script\s*>|<script\b[^>]*/?>", re.IGNORECASE | re.DOTALL)
_UNICODE_ESCAPE = re.compile(r"\\u[0-9a-fA-F]{4}")


@dataclass
class Fault:
    errcode: int | None = None
    http_status: int | None = None
    hang: float = 0.0
    errmsg: str | None = None
    times: int = 1
    after: bool = False  # the call is carried out, then this answer replaces the real one (the outcome is lost)


@dataclass
class Token:
    value: str
    expires_at: float
    kind: str  # "token" / "stable"


@dataclass
class PublishJob:
    publish_id: str
    media_id: str
    submitted_at: float
    final_status: int
    fail_idx: list[int] = field(default_factory=list)
    article_id: str = ""
    article_urls: list[str] = field(default_factory=list)
    removed_status: int | None = None  # 5 deleted by the account, 6 banned by the platform


class WeChatState:
    """Everything the fake platform knows; guarded by one lock (handlers run in threads)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.appid = "wx_test_appid"
        self.secret = "test_secret"
        self.token_ttl = 7200.0
        self.token_overlap = 300.0  # a superseded client_credential token stays valid this long
        self.stable_renew_before = 300.0  # stable_token issues a new token this long before expiry
        self.token_daily_limit = 2000
        self.force_refresh_daily_limit = 20
        self.force_refresh_interval = 30.0
        self.publish_delay = 0.3  # seconds freepublish/get answers 1 before the final status
        self.next_publish_status: list[tuple[int, list[int]]] = []  # forced outcomes, consumed in order
        self.mass_daily_quota = 1  # subscription account
        self.client_ip = "203.0.113.7"  # the IP reported in 40164

        self.calls: Counter[str] = Counter()
        self.applied: Counter[str] = Counter()  # calls that were carried out (errcode 0), whatever the caller heard
        self.total_calls = 0
        # The stricter stand-in (0 / empty / None = off).
        self.busy_every = 0
        self.token_death_every = 0
        self.token_deaths = 0
        self.busy_replies = 0
        self.daily_limits: dict[str, int] = {}
        self.quota_used: Counter[str] = Counter()
        self.ip_whitelist: set[str] | None = None
        self.unverified = False
        self.tokens: dict[str, Token] = {}
        self.current_token: str | None = None
        self.current_stable: str | None = None
        self.token_fetches = 0
        self.force_refreshes = 0
        self.last_force_refresh = 0.0
        self.faults: dict[str, list[Fault]] = {}

        self.images: dict[str, bytes] = {}  # uploadimg url -> bytes
        self.upload_names: list[str] = []  # filenames as received, in order
        self.materials: dict[str, dict[str, Any]] = {}  # permanent media_id -> info
        self.drafts: dict[str, dict[str, Any]] = {}  # media_id -> {"articles": [...], "stripped": {...}}
        self.drafts_created = 0
        self.jobs: dict[str, PublishJob] = {}
        self.articles: dict[str, PublishJob] = {}  # article_id -> job
        self.deleted_articles: list[str] = []
        self.mass_sent: dict[str, dict[str, Any]] = {}  # clientmsgid -> {"msg_id", "media_id"}
        self.mass_today = 0
        self._ids = itertools.count(1000)

    def next_id(self) -> int:
        return next(self._ids)


class WeChatServer:
    """The server in a background thread on 127.0.0.1 and a free port. Use as a context manager or start()/stop()."""

    def __init__(self) -> None:
        self.state = WeChatState()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> WeChatServer:
        state = self.state

        class Handler(_Handler):
            pass

        Handler.state = state
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="wechat-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> WeChatServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._httpd is not None
        return self._httpd.server_address[1]

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/cgi-bin/"

    # --- test controls -----------------------------------------------------------------------------
    def fail(self, endpoint: str, errcode: int | None = None, *, http_status: int | None = None, hang: float = 0.0,
             errmsg: str | None = None, times: int = 1, after: bool = False) -> None:
        """The next ``times`` calls to ``endpoint`` (e.g. "draft/add", "token", "*") fail this way.

        ``after=True``: the call is carried out first and only its answer is replaced (a reply lost on the way back),
        so the caller cannot tell whether it happened; with neither errcode nor status the connection just drops.
        A fault with nothing set (no errcode, status or hang) serves that call normally: a place holder for sequences
        such as "the first upload works, the second is busy"."""
        with self.state.lock:
            self.state.faults.setdefault(endpoint, []).append(
                Fault(errcode=errcode, http_status=http_status, hang=hang, errmsg=errmsg, times=times, after=after))

    def strict(self, *, busy_every: int = 0, token_death_every: int = 0) -> None:
        """Turn on the periodic faults of the stricter stand-in (counted from now, over all endpoints)."""
        with self.state.lock:
            self.state.busy_every = busy_every
            self.state.token_death_every = token_death_every
            self.state.total_calls = 0

    def applied(self, endpoint: str) -> int:
        with self.state.lock:
            return self.state.applied[endpoint]

    def force_publish_status(self, status: int, fail_idx: list[int] | None = None) -> None:
        """The next submitted publish job ends with this status (0, 2, 3 or 4)."""
        with self.state.lock:
            self.state.next_publish_status.append((status, fail_idx or ([1] if status else [])))

    def remove_article(self, article_id: str, status: int = 6) -> None:
        """The platform bans (6) or the account deletes (5) a published article outside our system."""
        with self.state.lock:
            self.state.articles[article_id].removed_status = status
            if status == 5 and article_id not in self.state.deleted_articles:
                self.state.deleted_articles.append(article_id)

    def expire_all_tokens(self) -> None:
        with self.state.lock:
            for tok in self.state.tokens.values():
                tok.expires_at = 0.0

    def calls(self, endpoint: str) -> int:
        with self.state.lock:
            return self.state.calls[endpoint]

    @property
    def token_fetches(self) -> int:
        with self.state.lock:
            return self.state.calls["token"] + self.state.calls["stable_token"]


class _Handler(BaseHTTPRequestHandler):
    state: WeChatState
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - keep pytest output quiet
        pass

    # --- plumbing ----------------------------------------------------------------------------------
    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _reply(self, payload: dict[str, Any], status: int = 200) -> None:
        lost: Fault | None = getattr(self, "lost_reply", None)
        if lost is not None:
            self.lost_reply = None
            if status == 200 and not payload.get("errcode"):
                with self.state.lock:
                    self.state.applied[self.endpoint] += 1
            self._fault_reply(lost)
            return
        if status == 200 and not payload.get("errcode"):
            with self.state.lock:
                self.state.applied[self.endpoint] += 1
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; encoding=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _err(self, code: int, msg: str | None = None) -> None:
        text = msg or ERRMSG.get(code, "error").format(ip=self.state.client_ip)
        self._reply({"errcode": code, "errmsg": f"{text} rid: {secrets.token_hex(4)}"})

    def _dispatch(self, method: str) -> None:
        parts = urlsplit(self.path)
        if not parts.path.startswith("/cgi-bin/"):
            self._reply({"errcode": 404, "errmsg": "not found"}, 404)
            return
        endpoint = parts.path[len("/cgi-bin/"):]
        self.query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        self.raw = self.rfile.read(length) if length else b""
        self.endpoint = endpoint
        self.lost_reply = None
        st = self.state
        with st.lock:
            st.calls[endpoint] += 1
            st.total_calls += 1
            n = st.total_calls
            fault = self._take_fault(endpoint)
            if st.token_death_every and n % st.token_death_every == 0:
                # Every token dies (as when another system fetches one with the same AppSecret).
                st.tokens.clear()
                st.current_token = st.current_stable = None
                st.token_deaths += 1
            busy = bool(st.busy_every and n % st.busy_every == 0)
            if busy:
                st.busy_replies += 1
        if fault and not fault.after:
            if fault.hang:
                time.sleep(fault.hang)
            if fault.http_status or fault.errcode is not None:
                self._fault_reply(fault)
                return
        if busy:
            self._err(-1)
            return
        self.lost_reply = fault if fault and fault.after else None  # carried out below, then answered so
        handler = getattr(self, "ep_" + endpoint.replace("/", "_"), None)
        if handler is None:
            self._err(48001, f"api unauthorized: {endpoint} is not implemented here")
            return
        if st.ip_whitelist is not None and st.client_ip not in st.ip_whitelist:
            self._err(40164)
            return
        if endpoint not in ("token", "stable_token"):
            bad = self._check_token()
            if bad:
                self._err(bad)
                return
        if st.unverified and (endpoint.startswith("freepublish/") or endpoint.startswith("message/mass/")):
            self._err(48001)
            return
        limit = st.daily_limits.get(endpoint)
        if limit is not None:
            with st.lock:
                st.quota_used[endpoint] += 1
                over = st.quota_used[endpoint] > limit
            if over:
                self._err(45009)
                return
        handler()

    def _fault_reply(self, fault: Fault) -> None:
        if fault.hang and fault.after:
            time.sleep(fault.hang)
        if fault.http_status:
            body = b"<html>Server Error</html>"
            self.send_response(fault.http_status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if fault.errcode is not None:
            self._err(fault.errcode, fault.errmsg)
            return
        # Neither: the connection drops without an answer.
        self.close_connection = True
        self.wfile.flush()

    def _take_fault(self, endpoint: str) -> Fault | None:
        for key in (endpoint, "*"):
            queue = self.state.faults.get(key)
            if queue:
                f = queue[0]
                f.times -= 1
                if f.times <= 0:
                    queue.pop(0)
                return f
        return None

    def _check_token(self) -> int | None:
        value = self.query.get("access_token", "")
        with self.state.lock:
            tok = self.state.tokens.get(value)
            if tok is None:
                return 40001 if value else 41001
            if tok.expires_at <= time.time():
                return 42001
        return None

    def _json(self) -> dict[str, Any] | None:
        """The request body as JSON, refusing ``\\uXXXX`` escapes of non-ASCII text as WeChat does (40033)."""
        text = self.raw.decode("utf-8", "replace")
        for m in _UNICODE_ESCAPE.finditer(text):
            if int(m.group(0)[2:], 16) > 0x7F:
                self._err(40033)
                return None
        try:
            data = json.loads(text)
        except ValueError:
            self._err(44002, "empty post data")
            return None
        return data if isinstance(data, dict) else {}

    def _multipart_media(self) -> tuple[str, bytes] | None:
        ctype = self.headers.get("Content-Type", "")
        if "multipart/form-data" not in ctype:
            self._err(41005)
            return None
        msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + self.raw)
        for part in msg.iter_parts():
            if part.get_param("name", header="content-disposition") == "media":
                raw_name = part.get_param("filename", header="content-disposition") or ""
                return str(raw_name), part.get_payload(decode=True) or b""
        self._err(41005)
        return None

    # --- access token ------------------------------------------------------------------------------
    def _issue(self, kind: str) -> Token:
        st = self.state
        tok = Token(f"{kind.upper()}_{secrets.token_hex(16)}", time.time() + st.token_ttl, kind)
        st.tokens[tok.value] = tok
        return tok

    def _check_app(self, appid: str, secret: str) -> bool:
        if appid != self.state.appid:
            self._err(40013)
            return False
        if secret != self.state.secret:
            self._err(40125)
            return False
        return True

    def ep_token(self) -> None:
        st = self.state
        if self.query.get("grant_type") != "client_credential":
            self._err(40002, "invalid grant_type")
            return
        if not self._check_app(self.query.get("appid", ""), self.query.get("secret", "")):
            return
        with st.lock:
            st.token_fetches += 1
            if st.token_fetches > st.token_daily_limit:
                self._err(45009)
                return
            # Every fetch invalidates the previous token after the overlap window.
            if st.current_token and st.current_token in st.tokens:
                old = st.tokens[st.current_token]
                old.expires_at = min(old.expires_at, time.time() + st.token_overlap)
            tok = self._issue("token")
            st.current_token = tok.value
        self._reply({"access_token": tok.value, "expires_in": int(st.token_ttl)})

    def ep_stable_token(self) -> None:
        st = self.state
        data = self._json()
        if data is None:
            return
        if data.get("grant_type") != "client_credential":
            self._err(40002, "invalid grant_type")
            return
        if not self._check_app(str(data.get("appid", "")), str(data.get("secret", ""))):
            return
        now = time.time()
        with st.lock:
            st.token_fetches += 1
            if st.token_fetches > st.token_daily_limit:
                self._err(45009)
                return
            current = st.tokens.get(st.current_stable or "")
            if data.get("force_refresh"):
                if st.force_refreshes >= st.force_refresh_daily_limit:
                    self._err(45009)
                    return
                if now - st.last_force_refresh < st.force_refresh_interval:
                    self._err(45011)
                    return
                st.force_refreshes += 1
                st.last_force_refresh = now
                if current:
                    current.expires_at = min(current.expires_at, now + st.token_overlap)
                current = None
            if current is None or current.expires_at - now <= min(st.stable_renew_before, st.token_ttl / 10):
                current = self._issue("stable")
                st.current_stable = current.value
            remaining = int(current.expires_at - now)
        self._reply({"access_token": current.value, "expires_in": max(remaining, 1)})

    # --- media ---------------------------------------------------------------------------------------
    def _check_image(self, name: str, data: bytes, limit: int, kinds: tuple[str, ...]) -> str | None:
        """The image kind, or None after replying with WeChat's error."""
        if not data:
            self._err(41005)
            return None
        if not name.isascii() or "." not in name:
            # Observed on the real platform: non-ASCII or extension-less names lose the file.
            self._err(41005 if not name.isascii() else 40005)
            return None
        kind = "jpg" if data.startswith(JPEG_MAGIC) else "png" if data.startswith(PNG_MAGIC) else ""
        ext = name.rsplit(".", 1)[-1].lower()
        if kind not in kinds or ext not in ({"jpg", "jpeg"} if kind == "jpg" else {"png"}):
            self._err(40005)
            return None
        if len(data) >= limit:
            self._err(40009)
            return None
        return kind

    def ep_media_uploadimg(self) -> None:
        got = self._multipart_media()
        if got is None:
            return
        name, data = got
        kind = self._check_image(name, data, 1024 * 1024, ("jpg", "png"))
        if kind is None:
            return
        digest = hashlib.sha1(data).hexdigest()
        url = f"http://mmbiz.qpic.cn/mmbiz_{kind}/{digest}/0?wx_fmt={'jpeg' if kind == 'jpg' else 'png'}"
        with self.state.lock:
            self.state.images[url] = data
            self.state.upload_names.append(name)
        self._reply({"url": url})

    def ep_material_add_material(self) -> None:
        mtype = self.query.get("type", "")
        got = self._multipart_media()
        if got is None:
            return
        name, data = got
        if mtype == "image":
            kind = self._check_image(name, data, 10 * 1024 * 1024, ("jpg", "png"))
        elif mtype == "thumb":
            kind = self._check_image(name, data, 64 * 1024, ("jpg",))
        else:
            self._err(40004, "invalid media type")
            return
        if kind is None:
            return
        with self.state.lock:
            media_id = f"PERM_{self.state.next_id()}_{secrets.token_hex(6)}"
            url = f"http://mmbiz.qpic.cn/mmbiz_{kind}/{hashlib.sha1(data).hexdigest()}/0"
            self.state.materials[media_id] = {"name": name, "size": len(data), "type": mtype, "url": url}
            self.state.upload_names.append(name)
        self._reply({"media_id": media_id, "url": url})

    # --- drafts --------------------------------------------------------------------------------------
    def _strip(self, content: str) -> tuple[str, dict[str, int]]:
        """What WeChat does to content: scripts removed, <img> outside its own hosts removed."""
        scripts = len(_SCRIPT.findall(content))
        content = _SCRIPT.sub("", content)
        removed = 0

        def keep(m: re.Match[str]) -> str:
            nonlocal removed
            src = _SRC.search(m.group(0))
            url = next((g for g in src.groups() if g is not None), "") if src else ""
            host = urlsplit(url).hostname or ""
            if host in WECHAT_IMAGE_HOSTS:
                return m.group(0)
            removed += 1
            return ""

        content = _IMG_TAG.sub(keep, content)
        return content, {"scripts": scripts, "images": removed}

    def ep_draft_add(self) -> None:
        data = self._json()
        if data is None:
            return
        articles = data.get("articles") or []
        if not articles:
            self._err(44003)
            return
        stored = []
        stripped = Counter()
        for art in articles:
            content = str(art.get("content") or "")
            if len(str(art.get("title") or "")) > 32:
                self._err(45003)
                return
            if len(str(art.get("author") or "")) > 16:
                self._err(45110)
                return
            if len(str(art.get("digest") or "")) > 128:
                self._err(45004)
                return
            if not content.strip():
                self._err(44003)
                return
            if len(content) >= 20000 or len(content.encode("utf-8")) >= 1024 * 1024:
                self._err(45002)
                return
            if len(str(art.get("content_source_url") or "").encode()) > 1024:
                self._err(45005, "url size out of limit")
                return
            with self.state.lock:
                if art.get("thumb_media_id") not in self.state.materials:
                    self._err(40007)
                    return
            content, counts = self._strip(content)
            stripped.update(counts)
            stored.append({**art, "content": content})
        with self.state.lock:
            media_id = f"DRAFT_{self.state.next_id()}_{secrets.token_hex(6)}"
            self.state.drafts[media_id] = {"articles": stored, "stripped": dict(stripped), "created": time.time()}
            self.state.drafts_created += 1
        self._reply({"media_id": media_id})

    def ep_draft_get(self) -> None:
        data = self._json()
        if data is None:
            return
        with self.state.lock:
            draft = self.state.drafts.get(str(data.get("media_id")))
        if draft is None:
            self._err(40007)
            return
        self._reply({"news_item": draft["articles"]})

    def ep_draft_delete(self) -> None:
        data = self._json()
        if data is None:
            return
        with self.state.lock:
            if self.state.drafts.pop(str(data.get("media_id")), None) is None:
                self._err(40007)
                return
        self._reply({"errcode": 0, "errmsg": "ok"})

    def ep_draft_count(self) -> None:
        with self.state.lock:
            n = len(self.state.drafts)
        self._reply({"total_count": n})

    def ep_draft_batchget(self) -> None:
        data = self._json()
        if data is None:
            return
        offset, count = int(data.get("offset") or 0), min(int(data.get("count") or 20), 20)
        with self.state.lock:
            ordered = sorted(self.state.drafts.items(), key=lambda kv: kv[1]["created"], reverse=True)
        page = ordered[offset:offset + count]
        items = [{"media_id": mid, "content": {"news_item": [
            {k: v for k, v in a.items() if k != "content" or not data.get("no_content")} for a in d["articles"]]},
            "update_time": int(d["created"])} for mid, d in page]
        self._reply({"total_count": len(ordered), "item_count": len(items), "item": items})

    # --- publishing ----------------------------------------------------------------------------------
    def ep_freepublish_submit(self) -> None:
        data = self._json()
        if data is None:
            return
        media_id = str(data.get("media_id"))
        st = self.state
        with st.lock:
            if media_id not in st.drafts:
                self._err(40007)
                return
            status, fail_idx = st.next_publish_status.pop(0) if st.next_publish_status else (0, [])
            job = PublishJob(str(st.next_id()), media_id, time.time(), status, fail_idx)
            st.jobs[job.publish_id] = job
        self._reply({"errcode": 0, "errmsg": "ok", "publish_id": job.publish_id, "msg_data_id": st.next_id()})

    def _finish(self, job: PublishJob) -> None:
        st = self.state
        if job.final_status == 0 and not job.article_id:
            job.article_id = f"ART_{secrets.token_urlsafe(12)}"
            n = len(st.drafts.get(job.media_id, {}).get("articles", [1]))
            job.article_urls = [f"https://mp.weixin.qq.com/s/{secrets.token_urlsafe(16)}" for _ in range(n)]
            st.articles[job.article_id] = job

    def ep_freepublish_get(self) -> None:
        data = self._json()
        if data is None:
            return
        st = self.state
        with st.lock:
            job = st.jobs.get(str(data.get("publish_id")))
            if job is None:
                self._err(40007, "invalid publish_id")
                return
            out: dict[str, Any] = {"publish_id": job.publish_id}
            if time.time() - job.submitted_at < st.publish_delay:
                out["publish_status"] = 1
            else:
                self._finish(job)
                status = job.removed_status or job.final_status
                if job.article_id in st.deleted_articles:
                    status = 5
                out["publish_status"] = status
                if job.article_id:
                    out["article_id"] = job.article_id
                    out["article_detail"] = {
                        "count": len(job.article_urls),
                        "item": [{"idx": i + 1, "article_url": u} for i, u in enumerate(job.article_urls)],
                    }
                if job.fail_idx:
                    out["fail_idx"] = job.fail_idx
        self._reply(out)

    def ep_freepublish_delete(self) -> None:
        data = self._json()
        if data is None:
            return
        st = self.state
        article_id = str(data.get("article_id"))
        with st.lock:
            if article_id not in st.articles or article_id in st.deleted_articles:
                self._err(53600)
                return
            st.deleted_articles.append(article_id)
        self._reply({"errcode": 0, "errmsg": "ok"})

    def ep_freepublish_getarticle(self) -> None:
        data = self._json()
        if data is None:
            return
        st = self.state
        with st.lock:
            job = st.articles.get(str(data.get("article_id")))
            if job is None:
                self._err(53600)
                return
            gone = job.article_id in st.deleted_articles or job.removed_status is not None
            arts = st.drafts.get(job.media_id, {}).get("articles", [])
            items = [{"title": a.get("title"), "url": job.article_urls[i] if i < len(job.article_urls) else "",
                      "is_deleted": gone} for i, a in enumerate(arts)]
        self._reply({"news_item": items})

    def ep_freepublish_batchget(self) -> None:
        data = self._json()
        if data is None:
            return
        st = self.state
        offset, count = int(data.get("offset") or 0), min(int(data.get("count") or 20), 20)
        with st.lock:
            for job in st.jobs.values():
                if time.time() - job.submitted_at >= st.publish_delay:
                    self._finish(job)
            done = sorted((j for j in st.jobs.values() if j.article_id), key=lambda j: j.submitted_at, reverse=True)
            items = []
            for job in done[offset:offset + count]:
                arts = st.drafts.get(job.media_id, {}).get("articles", [])
                items.append({"article_id": job.article_id, "update_time": int(job.submitted_at), "content": {"news_item": [
                    {"title": a.get("title"), "thumb_media_id": a.get("thumb_media_id"), "url": job.article_urls[i],
                     "is_deleted": job.article_id in st.deleted_articles} for i, a in enumerate(arts)]}})
        self._reply({"total_count": len(done), "item_count": len(items), "item": items})

    # --- retired endpoints (gone since 2022-02-28) -----------------------------------------------------------
    def ep_material_add_news(self) -> None:
        self._err(45103, "This API has been unsupported")

    def ep_material_update_news(self) -> None:
        self._err(45106, "This API has been unsupported")

    # --- mass send -----------------------------------------------------------------------------------
    def ep_message_mass_sendall(self) -> None:
        data = self._json()
        if data is None:
            return
        st = self.state
        media_id = str((data.get("mpnews") or {}).get("media_id"))
        client_id = str(data.get("clientmsgid") or "")
        with st.lock:
            if client_id and client_id in st.mass_sent:
                self._reply({"errcode": 45065, "errmsg": ERRMSG[45065], "msg_id": st.mass_sent[client_id]["msg_id"]})
                return
            if media_id not in st.drafts:
                self._err(40007)
                return
            if st.mass_today >= st.mass_daily_quota:
                self._err(45028)
                return
            st.mass_today += 1
            msg_id = st.next_id()
            if client_id:
                st.mass_sent[client_id] = {"msg_id": msg_id, "media_id": media_id}
        self._reply({"errcode": 0, "errmsg": "send job submission success", "msg_id": msg_id, "msg_data_id": msg_id})
