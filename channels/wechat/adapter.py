"""WeChat Official Account (微信公众号) channel: draft + freepublish through the real API, or a paste-ready manual task.

Flow of one publish (each completed step is checkpointed, so a retry resumes after the last one and never makes a
second draft or publishes twice):

1. every ``<img>`` in the body → ``media/uploadimg`` (JPG/PNG < 1 MB, converted/shrunk with Pillow when needed), ``src`` rewritten;
2. the cover (first image attachment, else the publisher's default cover from config, else a plain generated banner)
   → ``material/add_material?type=image`` (a permanent media id, which ``thumb_media_id`` requires);
3. the article rendered from ``templates/wechat/article.html`` (inline styles only) → ``draft/add``;
4. ``freepublish/submit`` → ``Receipt(pending=True, data={"publish_id", "media_id", ...})``: the delivery waits in
   ``awaiting_channel`` and the fan-out's poll task calls :meth:`WeChatChannel.poll` until ``freepublish/get`` reports a
   final status (the ``PUBLISHJOBFINISH`` callback, parsed by :func:`handle_publish_event`, only makes that poll happen sooner).

wechatpy 1.8.18 is used for the HTTP plumbing only (``client.post``/``client.get``) with ``auto_retry=False``: its
auto-retry recurses on a persistent 40001 and re-sends consumed upload streams. Retries are ours:

- a token error (40001/40014/42001) refreshes the token once, centrally, and retries the call once;
- calls that are safe to repeat (token fetches, image and material uploads, ``draft/batchget``, ``freepublish/batchget``,
  ``freepublish/get``/``getarticle``) are retried in the step on a transient failure (``-1``, 53501, network errors,
  timeouts, HTTP 5xx), a few times with a short backoff (``call_retries``, ``retry_backoff``), so one "system busy"
  does not cost a whole delivery attempt; a wait WeChat names (45009 next day, 45011 next minute) is never spent in-step;
- ``draft/add`` and ``freepublish/submit`` are never repeated blindly: after a failure whose outcome is unknown the
  step first looks for its result (the draft or the published article whose cover is this delivery's own permanent
  cover material) and only repeats the call when it is not there. Drafts are listed at once, so that look-up is
  definitive; published articles are listed only once publishing has finished, so the submit look-up is repeated for
  ``publish_settle_seconds`` after the uncertain submit before the submit is sent again (WeChat offers no way to list a
  publish job still in progress);
- a failed token refresh drops the rejected token from the cache (Redis), so the next try fetches a new one instead of
  starting with another 40001;
- every completed step sets ``ctx.progressed``, so the fan-out does not count an attempt that moved the delivery forward
  against its attempt cap.

Access token: one cache per appid in Redis (the broker's Redis) guarded by a Redis lock, so N workers fetch once and never
invalidate each other's token. ``stable_token`` is the default (it returns the same token to every caller while valid, which
also makes the rare process-local fallback safe).

Manual mode (``mode: manual``): the delivery becomes a task for a person with paste-ready HTML (inline styles, images
embedded) and the cover. Decision for errcode 48001 (the account lacks freepublish rights: personal or unverified accounts
since July 2025): by default (``manual_on_48001: true``) the delivery turns into the same manual task, because the draft has
already been saved in the account's 草稿箱 and a person can publish it from mp.weixin.qq.com in one click; set it to false to
fail the delivery instead.

Configuration (a destination block in ``config/channels.yaml``)::

    adapter: wechat
    appid: ${WECHAT_APPID}
    secret: ${WECHAT_SECRET}
    api_base: https://api.weixin.qq.com/cgi-bin/   # default; tests point it at a local server
    token_mode: stable                             # or "client_credential"
    timeout: 15                                    # seconds, on every call including the token fetch
    call_retries: 3                                # in-step retries of a call that is safe to repeat
    retry_backoff: 0.3                             # seconds before the first in-step retry (doubles each time)
    publish_settle_seconds: 10                     # after an uncertain submit: how long to look for the article
    redis_url: ""                                  # default: the broker URL (redis://, rediss://, unix://, redis+socket://)
    author: ""                                     # default: the publisher's name (≤ 16 chars)
    default_cover: /path/cover.png                 # used when a document has no image attachment
    default_covers: {根河市司法局: /path/sfj.png}   # per publisher
    image_hosts: [www.example.gov.cn]              # hosts body images may be fetched from (127.0.0.1/localhost always)
    image_roots: [/srv/images]                     # local folders body images may be read from (plus var/attachments)
    delete_old_on_update: false                    # after a corrected version is live, delete the old article
    notify: false                                  # mass-send (群发) to followers after publishing, within the quota
    account_type: subscription                     # 1 mass send a day; "service": 4 a month
    mode: api                                      # or "manual"
    manual_on_48001: true
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import logging
import time
from collections.abc import Callable, Mapping
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import unquote, unquote_to_bytes, urlsplit

import jinja2
import redis
import requests
from markupsafe import Markup
from wechatpy.exceptions import WeChatClientException

from channels.base import (
    Action,
    AttachmentInfo,
    Capability,
    Channel,
    ChannelPreview,
    DeliveryContext,
    DocumentPayload,
    NotConfigured,
    PermanentError,
    Receipt,
    TransientError,
)
from channels.preview import page as preview_page
from channels.wechat.client import (
    ARTICLE_GONE,
    BEIJING,
    PUBLISH_STATUS_TEXT,
    TOKEN_INVALID,
    WECHAT_IMAGE_HOSTS,
    Client,
    T,
    TokenManager,
    map_wechat_error,
    redis_for,
    redis_url_for_redis_py,
    retry_delays,
    retrying,
)
from channels.wechat.config import WeChatConfig
from channels.wechat.content import (
    AUTHOR_MAX,
    BODY_IMAGE_MAX_BYTES,
    CONTENT_MAX_BYTES,
    CONTENT_MAX_CHARS,
    COVER_MAX_BYTES,
    DIGEST_MAX,
    REWRITTEN_SRC_CHARS,
    SOURCE_URL_MAX_BYTES,
    TITLE_MAX,
    ImageData,
    article_body,
    article_template,
    image_srcs,
    normalise_image,
    plain_cover,
    rewrite_images,
    sanitise,
)
from orchestrator.settings import embedded_socket, get_settings

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------------------------------
# The adapter
# ------------------------------------------------------------------------------------------------------------
class WeChatChannel(Channel):
    adapter = "wechat"
    capabilities = frozenset({Capability.delete, Capability.verify, Capability.asynchronous})
    config_model = WeChatConfig
    settings: WeChatConfig
    preview_caption = "微信公众号图文预览（读者看到的样子）"
    preview_frame = "phone"

    # -- configuration ------------------------------------------------------------------------------------
    @property
    def manual(self) -> bool:
        return self.settings.mode.lower() == "manual"

    @property
    def timeout(self) -> float:
        if self.settings.timeout:
            return self.settings.timeout

        return float(get_settings().http_timeout_seconds)

    def _delays(self) -> tuple[float, ...]:
        return retry_delays(self.settings.call_retries, self.settings.retry_backoff)

    def _redis(self) -> redis.Redis | None:
        url = self.settings.redis_url
        if not url:
            settings = get_settings()
            url = settings.broker_url
            if not url:  # the embedded default: the same private Redis the Celery broker uses
                url = f"redis+socket://{embedded_socket(settings)}"
        converted = redis_url_for_redis_py(url)
        if converted is None:
            log.warning("wechat: no Redis URL usable for the shared token cache; tokens are cached per process")
            return None
        return redis_for(converted)

    def _tokens(self) -> TokenManager:
        if getattr(self, "_token_manager", None) is None:
            self.require("appid", "secret")
            self._token_manager = TokenManager(
                appid=self.settings.appid, secret=self.settings.secret, api_base=self._api_base(),
                timeout=self.timeout, stable=self.settings.token_mode != "client_credential",
                redis_client=self._redis(), delays=self._delays(),
            )
        return self._token_manager

    def _api_base(self) -> str:
        base = self.settings.api_base
        return base if base.endswith("/") else base + "/"

    def _client(self) -> Client:
        if getattr(self, "_wechat_client", None) is None:
            self._wechat_client = Client(self.settings.appid, self.settings.secret, self._tokens(),
                                          timeout=self.timeout, api_base=self._api_base())
        return self._wechat_client

    # -- calling WeChat -----------------------------------------------------------------------------------
    def _call(self, step: str, fn: Callable[[Client, str], T], *, repeatable: bool = True) -> T:
        """One API call. ``repeatable``: safe to send again, so transient failures are retried in the step.

        Calls that are not (``draft/add``, ``freepublish/submit``) are tried once (plus the one retry after a token
        refresh: a rejected token means WeChat did nothing); the caller resolves a failure by looking for the result."""
        if not repeatable:
            return self._call_once(step, fn)
        return retrying(lambda: self._call_once(step, fn), self._delays(), step)

    def _call_once(self, step: str, fn: Callable[[Client, str], T]) -> T:
        """Run the call with an explicit token; on a token error refresh once (centrally) and retry once."""
        tokens = self._tokens()
        client = self._client()
        token = tokens.get()
        for attempt in (1, 2):
            try:
                return fn(client, token)
            except WeChatClientException as exc:
                if exc.errcode is not None and int(exc.errcode) in TOKEN_INVALID:
                    if attempt == 1:
                        log.info("wechat %s: token rejected (%s), refreshing once", step, exc.errcode)
                        token = tokens.refresh(token)
                        continue
                    tokens.forget(token)  # rejected right after the refresh: never leave it cached
                raise map_wechat_error(exc, step) from exc
            except requests.RequestException as exc:
                raise map_wechat_error(exc, step) from exc
            except ValueError as exc:  # a reply that is not JSON (a proxy's error page)
                raise TransientError(f"{step}：微信返回了无法解析的内容，稍后自动重试", detail=repr(exc), code="bad_reply") from exc
        raise AssertionError("unreachable")

    def _post_json(self, step: str, endpoint: str, data: dict[str, Any], *, repeatable: bool = True) -> dict[str, Any]:
        # wechatpy serialises dicts with ensure_ascii=False and UTF-8, which WeChat requires (\uXXXX → 40033).
        return self._call(step, lambda c, tok: c.post(endpoint, params={"access_token": tok}, data=data),
                          repeatable=repeatable)

    def _upload(self, step: str, endpoint: str, image: ImageData, stem: str, extra: dict[str, str] | None = None) -> dict[str, Any]:
        name = image.ascii_name(stem)

        # Bytes, not a stream: each try (after a token refresh or a retry) sends the whole file again.
        def send(c: Client, tok: str) -> dict[str, Any]:
            return c.post(endpoint, params={"access_token": tok, **(extra or {})}, files={"media": (name, image.data, image.mime)})

        return self._call(step, send)

    # -- article fields and limits ------------------------------------------------------------------------
    @staticmethod
    def _option(doc: DocumentPayload, key: str) -> Any:
        """A per-document WeChat option: the submission's ``channel_options["wechat"][key]`` (or ``extra["wechat_<key>"]``)."""
        options = doc.extra.get("channel_options") or {}
        value = options.get(key) if isinstance(options, dict) else None
        return value if value not in (None, "") else doc.extra.get(f"wechat_{key}")

    def _title(self, doc: DocumentPayload) -> str:
        return str(self._option(doc, "title") or doc.title).strip()

    def _digest(self, doc: DocumentPayload) -> str:
        return str(self._option(doc, "digest") or doc.summary or "").strip()

    def _author(self, doc: DocumentPayload) -> str:
        return (self.settings.author or doc.publisher or "").strip()

    def _content_problems(self, content: str) -> list[str]:
        problems = []
        if len(content) >= CONTENT_MAX_CHARS:
            problems.append(f"微信图文正文（含排版代码）共 {len(content)} 个字符，超过微信上限（须少于 {CONTENT_MAX_CHARS} 个字符）。"
                            "请精简正文，或在微信渠道只发布摘要并通过“阅读原文”链接到政府网站全文")
        elif len(content.encode("utf-8")) >= CONTENT_MAX_BYTES:
            problems.append("微信图文正文超过 1 MB 上限，请精简正文")
        return problems

    def precheck(self, document: DocumentPayload) -> list[str]:
        """Limits WeChat enforces, found before anything is sent (also called at submission time)."""
        problems: list[str] = []
        title = self._title(document)
        if not title:
            problems.append("微信图文标题不能为空")
        elif len(title) > TITLE_MAX:
            problems.append(f"标题共 {len(title)} 个字，超过微信公众号图文标题上限（{TITLE_MAX} 个字）。"
                            "请缩短标题，或为微信渠道单独填写不超过 32 个字的短标题")
        author = self._author(document)
        if len(author) > AUTHOR_MAX:
            problems.append(f"作者“{author}”共 {len(author)} 个字，超过微信上限（{AUTHOR_MAX} 个字）。请管理员在微信渠道配置中设置较短的 author")
        digest = self._digest(document)
        if len(digest) > DIGEST_MAX:
            problems.append(f"摘要共 {len(digest)} 个字，超过微信上限（{DIGEST_MAX} 个字），请缩短摘要")
        if len(document.site_url.encode()) > SOURCE_URL_MAX_BYTES:
            problems.append("政府网站链接（阅读原文）超过微信 1 KB 上限")
        try:
            body = sanitise(document.body_html)
            # Known before sending, without fetching anything: images on other web sites would fail the delivery.
            for i, src in enumerate(image_srcs(body), start=1):
                refused = self._foreign_image(src, self._image_label(src, i))
                if refused:
                    problems.append(refused)
            estimate = rewrite_images(body, {src: "x" * REWRITTEN_SRC_CHARS for src in image_srcs(body)})
            problems.extend(self._content_problems(self.render_article(document, estimate)))
        except jinja2.TemplateError as exc:  # a broken template is a configuration problem, not the clerk's
            log.error("wechat template error: %s", exc)
        return problems

    def render_article(self, doc: DocumentPayload, body_html: str) -> str:
        template = article_template()
        return template.render(
            doc=doc,
            body=Markup(article_body(body_html)),  # sanitised, images rewritten; styled inline here
            category="/".join(doc.entry_path),
            attachments=[a.filename for a in doc.attachments if not a.content_type.startswith("image/")],
            site_url=doc.site_url,
        ).strip()

    def preview(self, document: DocumentPayload, urls: Mapping[str, str] | None = None) -> ChannelPreview:
        """The article as readers of the official account see it: :meth:`render_article` on the sanitised body, with
        body images from ``urls`` where publishing would upload them (images WeChat would refuse are left out, as the
        article would have to leave them out), shown at a phone's width under the title; and the article fields with
        WeChat's limits (title, digest, author), whose refusals :meth:`precheck` lists."""
        urls = urls or {}
        body = sanitise(document.body_html)
        mapping: dict[str, str] = {}
        for src in image_srcs(body):
            att = self._body_attachment(src, document)
            if att is not None and urls.get(att.filename):
                mapping[src] = urls[att.filename]
            elif src.startswith(("data:image/png", "data:image/jpeg")):
                mapping[src] = src
        article = self.render_article(document, rewrite_images(body, mapping))
        title, digest, author = self._title(document), self._digest(document), self._author(document)
        cover = next((f"正文附件图片“{a.filename}”" for a in document.attachments if a.content_type.startswith("image/")),
                     "")
        if not cover:
            configured = self.settings.default_covers.get(document.publisher) or self.settings.default_cover
            cover = "公众号默认封面" if configured else "系统生成的纯色封面（可在微信渠道配置默认封面）"
        fields = [
            ("标题", f"{title}（{len(title)}/{TITLE_MAX} 字）"),
            ("作者", f"{author}（{len(author)}/{AUTHOR_MAX} 字）"),
            ("摘要", f"{digest}（{len(digest)}/{DIGEST_MAX} 字）" if digest else "（留空，微信自动截取正文前 54 字）"),
            ("阅读原文", document.site_url or "（无）"),
            ("封面", cover),
            ("发布方式", "人工：审核通过后生成待粘贴的图文，由专人在公众号后台发表" if self.manual
             else "接口：审核通过后自动保存草稿并发表"),
        ]
        notes = (f"标题 {len(title)}/{TITLE_MAX} 字，摘要 {len(digest)}/{DIGEST_MAX} 字，正文（含排版代码）"
                 f"{len(article)}/{CONTENT_MAX_CHARS} 字符",)
        head = "".join(f'<tr><th style="text-align:left;white-space:nowrap;padding:4px 8px;color:#666;font-weight:normal;'
                       f'vertical-align:top;">{escape(k)}</th><td style="padding:4px 8px;word-break:break-all;">'
                       f"{escape(v)}</td></tr>" for k, v in fields)
        page = (
            '<div style="max-width:414px;margin:0 auto;">'
            '<table style="width:100%;border-collapse:collapse;font-size:13px;background:#fff;margin:0 0 12px;'
            f'border:1px solid #e5e5e5;">{head}</table>'
            '<div id="wechat-phone" style="background:#fff;padding:20px 16px 30px;border:1px solid #e5e5e5;'
            'border-radius:12px;">'
            '<h1 style="margin:0 0 14px 0;font-size:22px;line-height:1.4;font-weight:bold;color:#222222;">'
            f"{escape(title)}</h1>"
            f'<p style="margin:0 0 20px 0;font-size:15px;color:#576b95;">{escape(author)}</p>'
            f'<div id="js_content">{article}</div></div></div>'
        )
        html = preview_page(title, page, css="body{margin:0;padding:16px 8px;background:#ededed;"
                                              "font-family:-apple-system,'PingFang SC','Microsoft YaHei',"
                                              "'Noto Sans CJK SC',sans-serif;}")
        return ChannelPreview(caption=self.preview_caption, html=html, content=article, notes=notes)

    # -- images -------------------------------------------------------------------------------------------
    def _allowed_hosts(self) -> set[str]:
        hosts = {"127.0.0.1", "localhost", "::1"}
        public = urlsplit(get_settings().public_url).hostname
        if public:
            hosts.add(public)
        hosts.update(self.settings.image_hosts)
        return hosts

    def _image_roots(self) -> list[Path]:
        s = get_settings()
        roots = [s.attachments_dir, s.var_dir]
        roots.extend(Path(p) for p in self.settings.image_roots)
        return [r.resolve() for r in roots]

    @staticmethod
    def _body_attachment(src: str, doc: DocumentPayload) -> AttachmentInfo | None:
        """The attachment a body image names (the clerk attached the image and referenced it by its file name)."""
        name = unquote(src[len("file://"):] if src.startswith("file://") else src)
        return next((a for a in doc.attachments if a.filename == name or a.filename == Path(name).name), None)

    def _read_local(self, src: str, label: str, doc: DocumentPayload) -> bytes:
        name = unquote(src[len("file://"):] if src.startswith("file://") else src)
        att = self._body_attachment(src, doc)
        if att is not None:  # an image the clerk attached and referenced by its name
            try:
                return att.path.read_bytes()
            except OSError as exc:
                raise PermanentError(f"正文图片“{label}”对应的附件文件无法读取", detail=repr(exc)) from exc
        roots = self._image_roots()
        candidates = [Path(name)] if Path(name).is_absolute() else [root / name for root in roots]
        for path in candidates:
            resolved = path.resolve()
            # Only inside known folders: the body is user input and must not read arbitrary server files.
            if any(resolved.is_relative_to(root) for root in roots) and resolved.is_file():
                try:
                    return resolved.read_bytes()
                except OSError as exc:
                    raise PermanentError(f"正文图片“{label}”无法读取", detail=repr(exc)) from exc
        raise PermanentError(f"正文图片“{label}”找不到或无法读取（请把图片作为附件上传后在正文中引用）", detail=name)

    def _fetch_http(self, url: str, label: str) -> bytes:
        try:
            resp = requests.get(url, timeout=(min(self.timeout, 5.0), self.timeout))
        except requests.RequestException as exc:
            raise TransientError(f"正文图片“{label}”下载失败（网络错误），稍后自动重试", detail=repr(exc)) from exc
        if resp.status_code >= 500:
            raise TransientError(f"正文图片“{label}”下载失败（HTTP {resp.status_code}），稍后自动重试")
        if resp.status_code != 200:
            raise PermanentError(f"正文图片“{label}”无法获取（HTTP {resp.status_code}）")
        return resp.content

    def _foreign_image(self, src: str, label: str) -> str | None:
        """Why a body image on another web site cannot go out (WeChat strips images it does not host), or None."""
        if not src.startswith(("http://", "https://", "//")):
            return None
        host = urlsplit("http:" + src if src.startswith("//") else src).hostname or ""
        if host in WECHAT_IMAGE_HOSTS or host in self._allowed_hosts():
            return None
        return (f"正文图片“{label}”位于外部网站（{host}），微信会删除外部图片。请把该图片作为附件上传后在正文中引用，"
                "或请管理员在微信渠道配置 image_hosts 中允许该网站")

    @staticmethod
    def _image_label(src: str, index: int) -> str:
        return f"第 {index} 张内嵌图片" if src.startswith("data:") else unquote(src.rsplit("/", 1)[-1].split("?")[0]) or src

    def load_body_image(self, src: str, index: int, doc: DocumentPayload) -> ImageData | None:
        """The bytes of one body image as JPG/PNG under 1 MB; None when it is already on WeChat's image host."""
        label = self._image_label(src, index)
        if src.startswith("data:"):
            header, _, payload = src.partition(",")
            try:
                data = base64.b64decode(payload, validate=False) if ";base64" in header else unquote_to_bytes(payload)
            except (binascii.Error, ValueError) as exc:
                raise PermanentError(f"正文{label}的数据已损坏", detail=repr(exc)) from exc
        elif src.startswith(("http://", "https://", "//")):
            url = "http:" + src if src.startswith("//") else src
            if (urlsplit(url).hostname or "") in WECHAT_IMAGE_HOSTS:
                return None
            refused = self._foreign_image(src, label)
            if refused:
                raise PermanentError(refused, detail=src[:300])
            data = self._fetch_http(url, label)
        else:
            data = self._read_local(src, label, doc)
        return normalise_image(data, label, BODY_IMAGE_MAX_BYTES)

    def _cover(self, doc: DocumentPayload) -> tuple[ImageData, str]:
        """The cover image and where it came from (for the receipt)."""
        for att in doc.attachments:
            if att.content_type.startswith("image/"):
                try:
                    return normalise_image(att.path.read_bytes(), att.filename, COVER_MAX_BYTES), f"附件：{att.filename}"
                except OSError as exc:
                    raise PermanentError(f"封面图片附件“{att.filename}”无法读取", detail=repr(exc)) from exc
        path = self.settings.default_covers.get(doc.publisher) or self.settings.default_cover
        if path:
            try:
                data = Path(str(path)).read_bytes()
            except OSError as exc:
                raise NotConfigured(f"微信渠道配置的默认封面“{path}”无法读取，请管理员检查", detail=repr(exc)) from exc
            return normalise_image(data, Path(str(path)).name, COVER_MAX_BYTES), "默认封面"
        return plain_cover(), "系统生成的纯色封面"

    # -- publish ------------------------------------------------------------------------------------------
    def publish(self, ctx: DeliveryContext) -> Receipt:
        if self.manual:
            return self._manual_task(ctx, reason="该公众号配置为人工发布模式")
        self.require("appid", "secret")
        return self._publish_api(ctx)

    def _publish_api(self, ctx: DeliveryContext) -> Receipt:
        doc = ctx.document
        cp: dict[str, Any] = dict(ctx.checkpoint or {})

        def save(**changes: Any) -> None:
            cp.update(changes)
            ctx.save_checkpoint(dict(cp))

        if not cp.get("publish_id"):
            if not cp.get("draft_media_id"):
                problems = self.precheck(doc)
                if problems:
                    raise PermanentError("；".join(problems), code="limits")
                body = sanitise(doc.body_html)
                images: dict[str, str] = dict(cp.get("images") or {})
                for i, src in enumerate(image_srcs(body), start=1):
                    if src in images:
                        continue
                    img = self.load_body_image(src, i, doc)
                    if img is None:
                        images[src] = src
                    else:
                        res = self._upload("上传正文图片", "media/uploadimg", img, f"img{i}")
                        images[src] = str(res["url"])
                        ctx.progressed = True
                    save(images=dict(images))
                if not cp.get("cover_media_id"):
                    cover, source = self._cover(doc)
                    res = self._upload("上传封面图片", "material/add_material", cover, "cover", {"type": "image"})
                    save(cover_media_id=str(res["media_id"]), cover_url=str(res.get("url") or ""), cover_source=source)
                    ctx.progressed = True
                content = self.render_article(doc, rewrite_images(body, images))
                problems = self._content_problems(content)
                if problems:
                    raise PermanentError("；".join(problems), code="45002")
                article = {
                    "title": self._title(doc),
                    "author": self._author(doc),
                    "digest": self._digest(doc),
                    "content": content,
                    "content_source_url": doc.site_url,
                    "thumb_media_id": cp["cover_media_id"],
                    "need_open_comment": 1 if self.settings.open_comment else 0,
                    "only_fans_can_comment": 0,
                }
                self._make_draft(ctx, cp, save, article)
            recovered = self._submit(ctx, cp, save)
            if recovered is not None:
                return recovered
        return Receipt(pending=True, data=self._receipt_data(ctx, cp))

    def _make_draft(self, ctx: DeliveryContext, cp: dict[str, Any], save: Callable[..., None],
                    article: dict[str, Any]) -> None:
        """``draft/add`` at most once per unknown outcome: after any failure (or a crash) look for the draft first.

        The cover is a permanent material uploaded for this delivery only, so its media id identifies the draft, and
        ``draft/batchget`` lists a draft as soon as it exists: when it is not there, it was not made."""
        delays = self._delays()
        for i in range(len(delays) + 1):
            if cp.get("draft_started"):
                existing = self._find_by_cover("draft/batchget", cp["cover_media_id"])
                if existing:
                    save(draft_media_id=str(existing["media_id"]), draft_recovered=True)
                    ctx.progressed = True
                    return
            save(draft_started=True)
            try:
                res = self._post_json("保存微信草稿", "draft/add", {"articles": [article]}, repeatable=False)
            except TransientError as exc:
                if i >= len(delays) or exc.retry_after is not None or getattr(exc, "retried", False):
                    raise
                log.info("wechat draft/add: %s; looking for the draft before trying again", exc.code)
                time.sleep(delays[i])
                continue
            save(draft_media_id=str(res["media_id"]))
            ctx.progressed = True
            return

    def _submit(self, ctx: DeliveryContext, cp: dict[str, Any], save: Callable[..., None]) -> Receipt | None:
        """``freepublish/submit`` at most once per unknown outcome; None once ``publish_id`` is saved, or the receipt
        of the article an earlier uncertain submit published (found by its cover), so nothing is published twice."""
        delays = self._delays()
        for i in range(len(delays) + 1):
            if cp.get("submit_started"):
                published = self._await_published(cp)
                if published:  # the earlier submit went through; never publish twice
                    ctx.progressed = True
                    return self._recovered_receipt(ctx, cp, published)
            save(submit_started=True, submit_started_at=time.time())
            try:
                res = self._post_json("提交微信发表", "freepublish/submit", {"media_id": cp["draft_media_id"]},
                                      repeatable=False)
            except PermanentError as exc:
                if exc.code == "48001" and self.settings.manual_on_48001:
                    return self._manual_task(ctx, reason=exc.message, draft_media_id=cp["draft_media_id"])
                raise
            except TransientError as exc:
                if i >= len(delays) or exc.retry_after is not None or getattr(exc, "retried", False):
                    raise
                log.info("wechat freepublish/submit: %s; looking for the article before trying again", exc.code)
                time.sleep(delays[i])
                continue
            save(publish_id=str(res["publish_id"]), msg_data_id=str(res.get("msg_data_id") or ""))
            ctx.progressed = True
            return None
        raise AssertionError("unreachable")

    def _await_published(self, cp: dict[str, Any]) -> dict[str, Any] | None:
        """The article an uncertain submit published, looked for until ``publish_settle_seconds`` after that submit.

        ``freepublish/batchget`` lists an article only once publishing has finished (usually seconds), so one look
        right after the submit would miss a job still in progress and the submit would go out twice."""
        settle = self.settings.publish_settle_seconds
        until = float(cp.get("submit_started_at") or 0) + settle
        pause = 0.5
        while True:
            found = self._find_by_cover("freepublish/batchget", cp["cover_media_id"])
            if found or time.time() >= until:
                return found
            time.sleep(min(pause, max(0.05, until - time.time())))
            pause = min(pause * 2, 4.0)

    def _find_by_cover(self, endpoint: str, cover_media_id: str) -> dict[str, Any] | None:
        """The newest draft/published item (among the latest 20) whose article uses this cover, if any."""
        res = self._post_json("核实上次操作结果", endpoint, {"offset": 0, "count": 20, "no_content": 1})
        for item in res.get("item") or []:
            for article in (item.get("content") or {}).get("news_item") or []:
                if article.get("thumb_media_id") == cover_media_id:
                    return {**item, "article": article}
        return None

    def _recovered_receipt(self, ctx: DeliveryContext, cp: dict[str, Any], found: dict[str, Any]) -> Receipt:
        url = found["article"].get("url")
        data = {**self._receipt_data(ctx, {**cp, "publish_id": cp.get("publish_id")}),
                "article_id": found.get("article_id"), "article_url": url, "article_urls": [url] if url else [],
                "recovered": "上次提交发表的结果未知（进程中断或微信未答复），已在微信发表记录中找到该文章，未重复发表"}
        if ctx.action is Action.update and data.get("previous"):
            self._retire_previous(data)
        return Receipt(external_id=str(found.get("article_id") or ""), url=url, data=data)

    def _receipt_data(self, ctx: DeliveryContext, cp: dict[str, Any]) -> dict[str, Any]:
        data: dict[str, Any] = {
            "publish_id": cp["publish_id"],
            "media_id": cp.get("draft_media_id"),
            "msg_data_id": cp.get("msg_data_id"),
            "cover_media_id": cp.get("cover_media_id"),
            "cover_source": cp.get("cover_source"),
            "appid": self.settings.appid,
            "action": ctx.action.value,
        }
        if ctx.action is Action.update and ctx.previous_receipt:
            data["previous"] = self._article_ref(ctx.previous_receipt)
        return data

    @staticmethod
    def _article_ref(receipt: Receipt) -> dict[str, Any]:
        return {
            "article_id": receipt.external_id or receipt.data.get("article_id"),
            "url": receipt.url or receipt.data.get("article_url"),
            "publish_id": receipt.data.get("publish_id"),
            "superseded": list(receipt.data.get("superseded") or []),
        }

    # -- poll / verify ------------------------------------------------------------------------------------
    def _publish_status(self, publish_id: str) -> dict[str, Any]:
        return self._post_json("查询微信发表状态", "freepublish/get", {"publish_id": publish_id})

    def poll(self, ctx: DeliveryContext, receipt: Receipt) -> Receipt | None:
        if receipt.needs_person or not receipt.pending:
            return receipt
        publish_id = str(receipt.data.get("publish_id") or "")
        if not publish_id:
            raise PermanentError("微信回执缺少 publish_id，无法查询发表结果")
        res = self._publish_status(publish_id)
        status = int(res.get("publish_status", -1))
        if status == 1:
            return None
        if status != 0:
            text = PUBLISH_STATUS_TEXT.get(status, f"未知状态 {status}")
            failed = res.get("fail_idx") or []
            which = f"（第 {'、'.join(str(i) for i in failed)} 篇）" if failed else ""
            raise PermanentError(f"微信发表失败：{text}{which}", detail=str(res)[:500], code=f"publish_status_{status}")
        items = (res.get("article_detail") or {}).get("item") or []
        urls = [str(i.get("article_url")) for i in items if i.get("article_url")]
        data = {**receipt.data, "article_id": res.get("article_id"), "article_url": urls[0] if urls else None,
                "article_urls": urls, "published_at": dt.datetime.now(dt.UTC).isoformat()}
        if ctx.action is Action.update and data.get("previous"):
            self._retire_previous(data)
        if self._wants_notify(ctx.document):
            data["notify"] = self._mass_send(ctx, str(receipt.data.get("media_id") or ""))
        return Receipt(external_id=str(res.get("article_id") or ""), url=data["article_url"], data=data)

    def _retire_previous(self, data: dict[str, Any]) -> None:
        """The corrected version is live: delete the old article when configured; either way keep its record."""
        prev = dict(data["previous"])
        superseded = list(prev.pop("superseded", []))
        if not prev.get("article_id") and prev.get("publish_id"):
            # The update was queued while the old version was still publishing (awaiting_channel): look it up now.
            old = self._publish_status(str(prev["publish_id"]))
            prev["article_id"] = old.get("article_id")
            items = (old.get("article_detail") or {}).get("item") or []
            prev["url"] = prev.get("url") or (items[0].get("article_url") if items else None)
        if self.settings.delete_old_on_update and prev.get("article_id"):
            self._delete_article(str(prev["article_id"]))
            prev["deleted"] = True
        else:
            prev["deleted"] = False
        data["superseded"] = [*superseded, prev]

    def verify(self, ctx: DeliveryContext, receipt: Receipt) -> bool:
        """Publish/update: WeChat serves the article (``freepublish/getarticle``: present, not deleted, at the receipt's
        URL). Withdraw: every article it removed is gone."""
        if receipt.needs_person:
            return False
        if ctx.action is Action.withdraw:
            ids = receipt.data.get("deleted_articles") or []
            return all(self._article_gone(str(a)) for a in ids) if ids else bool(receipt.data.get("nothing_to_withdraw"))
        article_id = receipt.external_id or receipt.data.get("article_id")
        if article_id:
            items = self._article_items(str(article_id))
            if not items or any(bool(i.get("is_deleted")) for i in items):
                return False
            urls = {str(i.get("url") or "") for i in items}
            return not receipt.url or receipt.url in urls
        publish_id = receipt.data.get("publish_id")
        if not publish_id:
            return False
        return int(self._publish_status(str(publish_id)).get("publish_status", -1)) == 0

    def removal_reason(self, receipt: Receipt) -> str | None:
        """For a delivered article: the Chinese reason if WeChat reports it removed, else None (live, or cannot tell).

        ``freepublish/get`` status 5 (deleted by the account) or 6 (banned by the platform) when the receipt has a
        publish id; otherwise (an article recovered after an uncertain submit) ``freepublish/getarticle``."""
        if receipt.needs_person or receipt.pending:
            return None
        publish_id = receipt.data.get("publish_id")
        if publish_id:
            status = int(self._publish_status(str(publish_id)).get("publish_status", -1))
            return PUBLISH_STATUS_TEXT[status] if status in (5, 6) else None
        article_id = receipt.external_id or receipt.data.get("article_id")
        if article_id and self._article_gone(str(article_id)):
            return "微信文章已被删除（文章查询显示已删除）"
        return None

    def _article_items(self, article_id: str) -> list[dict[str, Any]]:
        """``freepublish/getarticle``'s items, or [] when WeChat no longer knows the article (53600)."""
        try:
            res = self._post_json("核实微信文章状态", "freepublish/getarticle", {"article_id": article_id})
        except PermanentError as exc:
            if exc.code == str(ARTICLE_GONE):
                return []
            raise
        return list(res.get("news_item") or [])

    def _article_gone(self, article_id: str) -> bool:
        items = self._article_items(article_id)
        return all(bool(i.get("is_deleted")) for i in items)

    # -- update / withdraw --------------------------------------------------------------------------------
    def update(self, ctx: DeliveryContext) -> Receipt:
        """WeChat cannot edit a published article: publish the corrected version (the old one goes after it is live)."""
        if self.manual:
            return self._manual_task(ctx, reason="该公众号配置为人工发布模式")
        self.require("appid", "secret")
        return self._publish_api(ctx)

    def _delete_article(self, article_id: str) -> bool:
        """True if deleted now, False if it was already gone (53600): both are fine for the caller."""
        try:
            self._post_json("删除微信文章", "freepublish/delete", {"article_id": article_id, "index": 0})
        except PermanentError as exc:
            if exc.code == str(ARTICLE_GONE):
                return False
            raise
        return True

    def withdraw(self, ctx: DeliveryContext) -> Receipt:
        prev = ctx.previous_receipt
        if prev is None:
            return Receipt(data={"nothing_to_withdraw": True, "note": "该文件未在微信公众号发表过，无需撤回"})
        if self.manual or prev.needs_person:
            return self._manual_withdraw(prev)
        self.require("appid", "secret")
        article_id = prev.external_id or prev.data.get("article_id")
        if not article_id and prev.data.get("publish_id"):
            res = self._publish_status(str(prev.data["publish_id"]))
            status = int(res.get("publish_status", -1))
            if status == 1:
                raise TransientError("原文章仍在微信发表中，发表完成后自动撤回", retry_after=60)
            article_id = res.get("article_id") if status in (0, 5, 6) else None
        ids = [str(article_id)] if article_id else []
        ids += [str(s["article_id"]) for s in prev.data.get("superseded") or [] if s.get("article_id") and not s.get("deleted")]
        if not ids:
            return Receipt(data={"nothing_to_withdraw": True, "note": "原发表未成功，微信公众号上没有需要撤回的文章"})
        done = dict.fromkeys(ctx.checkpoint.get("deleted_articles") or [], True)
        for aid in ids:
            if aid not in done:
                self._delete_article(aid)
                done[aid] = True
                ctx.save_checkpoint({**ctx.checkpoint, "deleted_articles": list(done)})
        return Receipt(external_id=ids[0], url=None, data={"deleted_articles": ids, "publish_id": prev.data.get("publish_id")})

    # -- mass send (群发) ---------------------------------------------------------------------------------
    def _wants_notify(self, doc: DocumentPayload) -> bool:
        wanted = self._option(doc, "notify")
        if wanted is None:
            return self.settings.notify
        return str(wanted).lower() not in {"0", "false", "no", "否"}

    def _quota_key(self) -> tuple[str, int, int]:
        now = dt.datetime.now(BEIJING)
        appid, quota = self.settings.appid, self.settings.mass_quota
        if self.settings.account_type == "service":
            return f"orch:wechat:{appid}:mass:{now:%Y%m}", 4 if quota is None else quota, 32 * 86400
        return f"orch:wechat:{appid}:mass:{now:%Y%m%d}", 1 if quota is None else quota, 2 * 86400

    def _mass_send(self, ctx: DeliveryContext, media_id: str) -> dict[str, Any]:
        """Best effort: the publication is the legal duty; a notification that cannot go out is recorded, not fatal."""
        clientmsgid = hashlib.sha1(f"{ctx.idempotency_key}:notify".encode()).hexdigest()
        key, quota, ttl = self._quota_key()
        store = self._tokens().redis
        # The quota counts distinct messages (a set of clientmsgids): a retry of our own earlier send (a crash after
        # WeChat accepted it) is not a new message, so it goes to WeChat, which answers 45065 for the duplicate.
        if store is not None:
            added = int(store.sadd(key, clientmsgid))
            store.expire(key, ttl)
            if added and int(store.scard(key)) > quota:
                store.srem(key, clientmsgid)
                return {"sent": False, "note": f"本周期群发次数已用完（上限 {quota} 次），未通知关注者"}
        body = {"filter": {"is_to_all": True}, "mpnews": {"media_id": media_id}, "msgtype": "mpnews",
                "send_ignore_reprint": 0, "clientmsgid": clientmsgid}
        try:
            res = self._post_json("群发通知关注者", "message/mass/sendall", body)
        except PermanentError as exc:
            if exc.code == "45065":  # this clientmsgid was already sent: a retry of our own earlier success
                return {"sent": True, "clientmsgid": clientmsgid, "note": "已群发（重复请求被微信去重）"}
            if store is not None:
                store.srem(key, clientmsgid)
            if exc.code == "45028":
                return {"sent": False, "clientmsgid": clientmsgid, "note": "公众号群发次数已用完，未通知关注者"}
            return {"sent": False, "clientmsgid": clientmsgid, "note": exc.message}
        except TransientError:
            if store is not None:
                store.srem(key, clientmsgid)
            raise
        return {"sent": True, "clientmsgid": clientmsgid, "msg_id": res.get("msg_id")}

    # -- manual mode --------------------------------------------------------------------------------------
    def _manual_task(self, ctx: DeliveryContext, *, reason: str, draft_media_id: str | None = None) -> Receipt:
        doc = ctx.document
        problems = self.precheck(doc)
        if problems:
            raise PermanentError("；".join(problems), code="limits")
        body = sanitise(doc.body_html)
        mapping: dict[str, str] = {}
        for i, src in enumerate(image_srcs(body), start=1):
            img = self.load_body_image(src, i, doc)
            # Embedded as data: URIs so the HTML is self-contained; the WeChat editor re-hosts pasted images.
            mapping[src] = src if img is None else img.data_uri()
        cover, source = self._cover(doc)
        html = self.render_article(doc, rewrite_images(body, mapping))
        if draft_media_id:
            task = ("草稿已保存到公众号后台“草稿箱”，但该公众号没有接口发表权限。请登录 mp.weixin.qq.com，在“内容管理 → 草稿箱”中"
                    f"找到标题为“{self._title(doc)}”的草稿并点击“发表”，然后在系统中确认并填写文章链接")
        elif ctx.action is Action.update:
            task = ("该文件已更正。请登录 mp.weixin.qq.com 新建图文，粘贴下方更正后的正文并发表；如需要，删除旧文章。"
                    "完成后在系统中确认并填写新文章链接")
        else:
            task = "请登录 mp.weixin.qq.com 新建图文，粘贴下方正文，设置标题、作者、摘要、封面和“阅读原文”链接后发表，然后在系统中确认并填写文章链接"
        return Receipt(needs_person=True, data={
            "task": task,
            "reason": reason,
            "title": self._title(doc),
            "author": self._author(doc),
            "digest": self._digest(doc),
            "content_source_url": doc.site_url,
            "article_html": html,
            "cover": {"filename": cover.ascii_name("cover"), "source": source, "data_uri": cover.data_uri()},
            "draft_media_id": draft_media_id,
            "confirm_with": "article_url",
        })

    def _manual_withdraw(self, prev: Receipt) -> Receipt:
        url = prev.url or prev.data.get("article_url") or prev.data.get("confirmed_url") or ""
        where = f"（文章链接：{url}）" if url else ""
        return Receipt(needs_person=True, data={
            "task": f"该文件已撤回。请登录 mp.weixin.qq.com，在“内容管理 → 发表记录”中删除该文章{where}，完成后在系统中确认",
            "article_url": url,
        })
