"""Targeted push (精准推送): notices to the subscriber groups configured for a catalog entry, through Apprise.

Destination settings (``config/channels.yaml`` → ``targeted_push``):

``subscribers_file``           the subscribers file (default ``config/subscribers.yaml``; relative paths from the project root)
``max_attempts_per_recipient`` tries per recipient route before it is given up (default 5)
``timeout_seconds``            connect/read timeout of each send (default 15)
``run_budget_seconds``         stop sending after this long and let a retry carry on (default 60; keep it under the
                               fan-out lease, ``ORCH_LEASE_SECONDS``, or a second worker could start the same delivery)
``recipient_lease_seconds``    how long a claimed recipient stays claimed (default 2 × timeout + 10)
``public_url``                 base URL of the web app, for unsubscribe links (default ``ORCH_PUBLIC_URL``)
``unsubscribe_secret``         key that signs unsubscribe links (default ``ORCH_SECRET_KEY``, else a generated key file)

How one delivery runs
---------------------
Apprise's ``notify()`` answers one boolean, so every recipient route gets its own row in ``push_recipient_deliveries``
(delivery × member × route). A run plans the recipients from the subscribers file, inserts the missing rows, then for
each row not yet final: *claims* it (status ``sending``, attempts + 1, a short lease) in its own committed transaction,
sends, and commits ``sent`` (or ``retrying``/``failed``) in another transaction straight away. So a retry — after a
transient failure or after a worker was killed — sends only to routes that are not marked ``sent``.

Delivery guarantee, honestly: **at least once per route**, with one narrow window. If the process dies after the remote
side accepted a message but before ``sent`` is committed (the time of one SQL UPDATE after the SMTP ``250`` or the
webhook's ``2xx``), that route is sent again on the retry. The window is kept as small as it can be — nothing else
happens between the send returning and the commit — and every message carries a stable idempotency id so a receiver can
drop the duplicate: the ``Idempotency-Key`` and ``X-Push-Id`` headers on webhooks, ``X-Push-Id`` on email (Apprise
generates the email ``Message-ID`` itself and offers no way to set it). A route whose claim outlived its lease without an
outcome is treated as not sent. The per-recipient attempt cap bounds how often a route can be tried.

Outcome: all reached (or unsubscribed) → receipt; some still to try → :class:`TransientError` (the fan-out retries and
this adapter resumes with the rest); some routes out of attempts → :class:`PermanentError` naming them (ops can reset them
with :func:`reset_failed_recipients` and retry the delivery).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import unquote

import apprise
from jinja2 import Environment, TemplateError, select_autoescape
from markupsafe import Markup
from pydantic import Field
from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from channels import preview as previews
from channels import richbody
from channels.base import (
    Action,
    Capability,
    Channel,
    ChannelConfig,
    ChannelPreview,
    DeliveryContext,
    DocumentPayload,
    NotConfigured,
    PermanentError,
    Receipt,
    TransientError,
)
from channels.push.config import (
    PublisherSubscribers,
    Route,
    SubscribersConfigError,
    instantiate_route,
    load_subscribers,
    member_routes,
    subscribers_path,
)
from channels.push.mail import InlineImage, MailContent, message_id, send_email
from channels.push.models import FINAL_RECIPIENT_STATUSES, PushRecipientDelivery, PushUnsubscription, RecipientStatus
from channels.push.tokens import UnsubscribeClaim, make_token, resolve_secret
from channels.screens.render import html_to_text
from channels.templating import environment
from orchestrator.channel_api import get_sessionmaker, utcnow
from orchestrator.settings import get_settings

log = logging.getLogger(__name__)

KIND_LABEL = {Action.publish: "发布", Action.update: "更正", Action.withdraw: "撤回"}
_TAG = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")
_BLANK_RUNS = re.compile(r"\n[ \t]*(?:\n[ \t]*)+")

@dataclass(frozen=True)
class RenderedNotice:
    subject: str
    html: str
    text: str  # the plain-text notice (webhooks, chat apps; for e-mail the text/plain alternative, with the full body)
    unsubscribe_url: str = ""
    images: tuple[InlineImage, ...] = ()  # body images of an e-mail, referenced from its HTML by cid:


@dataclass(frozen=True)
class SendResult:
    ok: bool
    detail: str = ""  # Apprise's log lines for this send (technical, English)


class PushDestinationConfig(ChannelConfig):
    subscribers_file: str = ""  # default: config/subscribers.yaml
    max_attempts_per_recipient: int = Field(5, ge=1)
    timeout_seconds: float = Field(15, gt=0)
    run_budget_seconds: float = Field(60, gt=0)
    recipient_lease_seconds: float | None = Field(None, gt=0)  # default: twice the timeout plus 10 s
    public_url: str = ""  # where unsubscribe links point (default: ORCH_PUBLIC_URL)
    unsubscribe_secret: str = ""  # default: ORCH_SECRET_KEY, else var/secrets/push-unsubscribe.key


class PushChannel(Channel):
    adapter: ClassVar[str] = "push"
    # Update and withdraw send a "更正"/"撤回" notice; a sent notice cannot be changed or recalled, so no update/delete.
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.verify})
    config_model = PushDestinationConfig
    settings: PushDestinationConfig
    preview_caption = "精准推送邮件预览（订阅人收到的邮件主题和正文）"
    preview_frame = "mail"

    def __init__(self, config: dict[str, Any] | None = None, *, name: str = ""):
        super().__init__(config, name=name)
        cfg = self.settings
        self.max_attempts = cfg.max_attempts_per_recipient
        self.timeout = cfg.timeout_seconds
        self.run_budget = cfg.run_budget_seconds
        self.recipient_lease = cfg.recipient_lease_seconds or self.timeout * 2 + 10
        self._jinja: Environment | None = None

    # --- contract ---------------------------------------------------------
    def publish(self, ctx: DeliveryContext) -> Receipt:
        return self._push(ctx)

    def update(self, ctx: DeliveryContext) -> Receipt:
        return self._push(ctx)

    def withdraw(self, ctx: DeliveryContext) -> Receipt:
        return self._push(ctx)

    def reset_for_retry(self, delivery_id: int) -> None:
        reset_failed_recipients(delivery_id)

    def verify(self, ctx: DeliveryContext, receipt: Receipt) -> bool:
        """Live means: every planned recipient route is marked sent (or was skipped after unsubscribing)."""
        with self._sessions()() as s:
            statuses = s.scalars(
                select(PushRecipientDelivery.status).where(PushRecipientDelivery.delivery_id == ctx.delivery_id)
            ).all()
        return all(st in (RecipientStatus.sent, RecipientStatus.skipped) for st in statuses)

    # --- the run ----------------------------------------------------------
    def _push(self, ctx: DeliveryContext) -> Receipt:
        started = time.monotonic()
        pub = self._publisher(ctx)
        doc = ctx.document
        if not pub.has_rule_for(doc):
            # The clerk reads the message; the file and keys to change go to the ops-only detail (attempt log).
            raise NotConfigured(
                f"目录事项“{'/'.join(doc.entry_path)}”尚未设置精准推送对象，请联系系统管理员在订阅配置中添加后重试",
                detail=(
                    f"{self._subscribers_path()}：为发布机构“{pub.publisher}”的 pushes 添加目录事项"
                    f"“{'/'.join(doc.entry_path)}”（编码 {doc.entry_code}）及要推送的订阅组"
                ),
                code="push_entry_not_configured",
            )
        groups = pub.groups_for(doc, ctx.action)
        chain = self._chain(ctx)
        sm = self._sessions()

        planned = self._plan(sm, ctx, pub, groups)
        self._record_plan(sm, ctx.delivery_id, pub.publisher, planned)
        routes = {(r.member, r.hash): r for r in planned}

        errors: list[str] = []
        out_of_budget = False
        for row_id, member, rhash in self._open_rows(sm, ctx.delivery_id):
            route = routes.get((member, rhash))
            if route is None:
                # Planned by an earlier attempt, gone now: unsubscribed or removed from the file since.
                self._finish(sm, row_id, RecipientStatus.skipped, "已退订或已从订阅配置中移除，不再发送")
                continue
            if time.monotonic() - started > self.run_budget:
                out_of_budget = True
                break
            claimed = self._claim(sm, row_id)
            if claimed is None:
                continue  # held by another run, or already out of attempts (handled below)
            notice = self._render(ctx, pub, route)
            result = self._send(ctx, route, notice)
            # Commit the outcome at once: this is the at-least-once window documented above.
            if result.ok:
                self._finish(sm, row_id, RecipientStatus.sent, "")
            else:
                final = claimed >= self.max_attempts
                msg = f"第{claimed}次发送失败" + ("，已达重试上限" if final else "") + (f"：{result.detail}" if result.detail else "")
                self._finish(sm, row_id, RecipientStatus.failed if final else RecipientStatus.retrying, msg)
                errors.append(f"{route.member_name}（{route.display}）：{result.detail or '发送失败'}")

        self._expire_exhausted(sm, ctx.delivery_id)
        return self._outcome(sm, ctx, chain, errors, out_of_budget)

    def _publisher(self, ctx: DeliveryContext) -> PublisherSubscribers:
        path = self._subscribers_path()
        try:
            cfg = load_subscribers(path)
        except SubscribersConfigError as e:
            if not path.exists():
                raise NotConfigured(
                    "精准推送的订阅配置尚未建立，请联系系统管理员配置后重试",
                    detail=f"订阅配置文件不存在：{path}",
                    code="subscribers_missing",
                ) from None
            raise PermanentError(str(e), detail="\n".join(e.problems), code="subscribers_config") from None
        pub = cfg.for_publisher(ctx.document.publisher)
        if pub is None:
            raise NotConfigured(
                f"发布机构“{ctx.document.publisher}”尚未设置精准推送订阅对象，请联系系统管理员在订阅配置中添加后重试",
                detail=f"{path}：为发布机构“{ctx.document.publisher}”添加订阅组（groups）和推送规则（pushes）",
                code="push_publisher_not_configured",
            )
        return pub

    def _subscribers_path(self) -> Path:
        return subscribers_path(self.config)

    def _chain(self, ctx: DeliveryContext) -> list[int]:
        """Delivery ids of the pushes this one follows (publish → updates → …), carried in receipts."""
        prev = ctx.previous_receipt.data.get("delivery_ids") if ctx.previous_receipt else None
        ids = [int(i) for i in prev or [] if str(i).isdigit()]
        return [*ids, ctx.delivery_id] if ctx.delivery_id not in ids else ids

    def _plan(
        self, sm: sessionmaker[Session], ctx: DeliveryContext, pub: PublisherSubscribers, groups: list[Any]
    ) -> list[Route]:
        with sm() as s:
            unsubscribed = set(
                s.scalars(select(PushUnsubscription.member).where(PushUnsubscription.publisher == pub.publisher))
            )
            reached: set[tuple[str, str]] | None = None
            earlier = [i for i in self._chain(ctx) if i != ctx.delivery_id]
            if ctx.action is Action.withdraw and earlier:
                # A withdrawal notice goes only to those who were told about the document in the first place.
                reached = set(
                    s.execute(
                        select(PushRecipientDelivery.member, PushRecipientDelivery.route_hash).where(
                            PushRecipientDelivery.delivery_id.in_(earlier),
                            PushRecipientDelivery.status == RecipientStatus.sent,
                        )
                    ).all()
                )
        planned: list[Route] = []
        seen_routes: set[str] = set()
        for group in groups:
            for member in group.members:
                if member.id in unsubscribed:
                    continue
                for route in member_routes(pub, group, member):
                    # The same address reached through two groups or members gets one message.
                    if route.hash in seen_routes:
                        continue
                    if reached is not None and (route.member, route.hash) not in reached:
                        continue
                    seen_routes.add(route.hash)
                    planned.append(route)
        return planned

    def _record_plan(self, sm: sessionmaker[Session], delivery_id: int, publisher: str, planned: list[Route]) -> None:
        try:
            with sm.begin() as s:
                existing = set(
                    s.execute(
                        select(PushRecipientDelivery.member, PushRecipientDelivery.route_hash).where(
                            PushRecipientDelivery.delivery_id == delivery_id
                        )
                    ).all()
                )
                s.add_all(
                    PushRecipientDelivery(
                        delivery_id=delivery_id,
                        publisher=publisher,
                        group=r.group,
                        member=r.member,
                        member_name=r.member_name[:200],
                        route_hash=r.hash,
                        route_display=r.display,
                        route_kind=r.kind,
                        status=RecipientStatus.pending,
                        attempts=0,
                        last_error="",
                    )
                    for r in planned
                    if (r.member, r.hash) not in existing
                )
        except IntegrityError:
            # Another run of the same delivery inserted them first; its rows are as good as ours.
            log.info("push plan for delivery %s was recorded concurrently", delivery_id)

    def _open_rows(self, sm: sessionmaker[Session], delivery_id: int) -> list[tuple[int, str, str]]:
        with sm() as s:
            rows = s.execute(
                select(PushRecipientDelivery.id, PushRecipientDelivery.member, PushRecipientDelivery.route_hash)
                .where(
                    PushRecipientDelivery.delivery_id == delivery_id,
                    PushRecipientDelivery.status.not_in(list(FINAL_RECIPIENT_STATUSES)),
                )
                .order_by(PushRecipientDelivery.id)
            ).all()
            return list(rows)

    def _claim(self, sm: sessionmaker[Session], row_id: int) -> int | None:
        """Take one recipient for this run; the attempt number, or None if someone else holds it or it is spent.

        Committed before sending so a crash mid-send leaves a visible ``sending`` row whose attempt is counted.
        """
        now = utcnow()
        t = PushRecipientDelivery
        with sm.begin() as s:
            res = s.execute(
                update(t)
                .where(
                    t.id == row_id,
                    t.attempts < self.max_attempts,
                    or_(
                        t.status.in_([RecipientStatus.pending, RecipientStatus.retrying]),
                        and_(t.status == RecipientStatus.sending, or_(t.lease_until.is_(None), t.lease_until < now)),
                    ),
                )
                .values(
                    status=RecipientStatus.sending,
                    attempts=t.attempts + 1,
                    lease_until=now + dt.timedelta(seconds=self.recipient_lease),
                    updated_at=now,
                )
                .returning(t.attempts)
            )
            attempt = res.scalar_one_or_none()
        return attempt

    def _finish(self, sm: sessionmaker[Session], row_id: int, status: RecipientStatus, error: str) -> None:
        now = utcnow()
        values: dict[str, Any] = {"status": status, "last_error": error[:4000], "lease_until": None, "updated_at": now}
        if status is RecipientStatus.sent:
            values["sent_at"] = now
        with sm.begin() as s:
            s.execute(update(PushRecipientDelivery).where(PushRecipientDelivery.id == row_id).values(**values))

    def _expire_exhausted(self, sm: sessionmaker[Session], delivery_id: int) -> None:
        """Rows that used their last attempt without an outcome (the worker died) and whose lease ran out: give up."""
        t = PushRecipientDelivery
        now = utcnow()
        with sm.begin() as s:
            s.execute(
                update(t)
                .where(
                    t.delivery_id == delivery_id,
                    t.attempts >= self.max_attempts,
                    or_(
                        t.status == RecipientStatus.retrying,
                        and_(t.status == RecipientStatus.sending, or_(t.lease_until.is_(None), t.lease_until < now)),
                    ),
                )
                .values(
                    status=RecipientStatus.failed,
                    last_error=t.last_error + "（已达重试上限）",
                    lease_until=None,
                    updated_at=now,
                )
            )

    def _outcome(
        self,
        sm: sessionmaker[Session],
        ctx: DeliveryContext,
        chain: list[int],
        errors: list[str],
        out_of_budget: bool,
    ) -> Receipt:
        with sm() as s:
            rows = s.execute(
                select(PushRecipientDelivery.status, PushRecipientDelivery.member_name, PushRecipientDelivery.route_display)
                .where(PushRecipientDelivery.delivery_id == ctx.delivery_id)
                .order_by(PushRecipientDelivery.id)
            ).all()
        count = {st: 0 for st in RecipientStatus}
        for st, _n, _d in rows:
            count[RecipientStatus(st)] += 1
        sent, skipped, failed = count[RecipientStatus.sent], count[RecipientStatus.skipped], count[RecipientStatus.failed]
        open_ = len(rows) - sent - skipped - failed
        reachable = len(rows) - skipped
        detail = "\n".join(errors)
        if open_:
            raise TransientError(
                f"精准推送未完成：已送达 {sent}/{reachable} 个收件人，其余 {open_} 个稍后重试"
                + ("（本轮发送时间已用完）" if out_of_budget else ""),
                detail=detail,
                code="push_partial",
                retry_after=1.0 if out_of_budget and not errors else None,
            )
        if failed:
            names = "、".join(f"{n}（{d}）" for st, n, d in rows if st == RecipientStatus.failed)
            if sent == 0:
                msg = f"精准推送全部失败：{failed} 个收件人均已达重试上限（{names}）。请检查其联系方式和邮件/接口服务器后重试"
            else:
                msg = (
                    f"精准推送部分失败：已送达 {sent} 个，{failed} 个收件人已达重试上限（{names}）。"
                    "请检查其联系方式后重试（已送达的不会重复发送）"
                )
            raise PermanentError(msg, detail=detail, code="push_recipients_failed")
        return Receipt(
            external_id=f"push-{ctx.delivery_id}",
            url=ctx.document.site_url or None,
            data={"delivery_ids": chain, "sent": sent, "skipped": skipped, "recipients": len(rows)},
        )

    # --- rendering and sending -------------------------------------------
    def _env(self) -> Environment:
        if self._jinja is None:
            # Only the HTML templates are escaped; the plain-text ones (webhooks, chat apps) are not HTML.
            self._jinja = environment(get_settings().templates_dir, autoescape=select_autoescape(
                enabled_extensions=("html.j2",), default_for_string=False))
        return self._jinja

    def _render(self, ctx: DeliveryContext, pub: PublisherSubscribers, route: Route) -> RenderedNotice:
        unsubscribe_url = ""
        if route.kind == "email":
            token = make_token(resolve_secret(self.config), UnsubscribeClaim(pub.publisher, route.member, route.hash))
            unsubscribe_url = f"{self._public_base()}/push/unsubscribe/{token}"
        return self.render_notice(ctx.document, ctx.action, group=route.group, member_name=route.member_name,
                                  route_kind=route.kind, unsubscribe_url=unsubscribe_url)

    def _public_base(self) -> str:
        return (self.settings.public_url or get_settings().public_url).rstrip("/")

    def render_notice(self, doc: DocumentPayload, action: Action, *, group: str, member_name: str, route_kind: str,
                      unsubscribe_url: str = "") -> RenderedNotice:
        """The notice one member gets through one kind of route (email / webhook / chat): subject, HTML, text."""
        values = {
            "doc": doc,
            "kind": action.value,
            "group": group,
            "member_name": member_name,
            "site_url": doc.site_url,
            "excerpt": _excerpt(doc.summary or doc.body_html),
            "change_note": str(doc.extra.get("change_note") or ""),
            "withdraw_reason": str(doc.extra.get("withdraw_reason") or ""),
            "unsubscribe_url": unsubscribe_url,
            "fields": _display_fields(doc),
            "body_html": "",
            "body_text": "",
        }
        images: tuple[InlineImage, ...] = ()
        if route_kind == "email" and action is not Action.withdraw:
            # The whole document goes in the mail: inline-styled HTML (images as cid: parts) and structured text.
            body_html, images = _mail_body(doc)
            values["body_html"] = Markup(body_html)
            values["body_text"] = richbody.to_text(doc.body_html, gap="\n\n", image_label=_image_label(doc))
        env = self._env()
        try:
            subject = " ".join(env.get_template("push/subject.txt.j2").render(values).split())
            body_html = env.get_template("push/email.html.j2").render(values, subject=subject)
            body_text = _BLANK_RUNS.sub("\n\n", env.get_template("push/message.txt.j2").render(values)).strip() + "\n"
        except TemplateError as e:
            raise PermanentError("精准推送模板（templates/push/）渲染失败，请检查模板", detail=repr(e)) from None
        return RenderedNotice(subject=subject, html=body_html, text=body_text, unsubscribe_url=unsubscribe_url,
                              images=images)

    def preview(self, document: DocumentPayload, urls: Mapping[str, str] | None = None) -> ChannelPreview:
        """The e-mail a subscriber gets (subject, inline-styled HTML, body images from ``urls`` instead of cid:
        parts), addressed to the first member of the groups this entry pushes to, and the text that webhooks and
        chat apps get. Notes say who will be reached, or that nobody is set up for this entry yet."""
        urls = urls or {}
        notes: list[str] = []
        group, member = "（订阅组）", "（订阅人）"
        try:
            pub = load_subscribers(self._subscribers_path()).for_publisher(document.publisher)
        except SubscribersConfigError:
            pub = None
        groups = pub.groups_for(document, Action.publish) if pub is not None and pub.has_rule_for(document) else []
        if groups:
            notes.append("将推送给：" + "、".join(f"{g.name}（{len(g.members)} 人）" for g in groups))
            group = groups[0].name
            member = next((m.display_name for g in groups for m in g.members), member)
        else:
            notes.append(f"注意：发布机构“{document.publisher}”的目录事项“{'/'.join(document.entry_path)}”尚未设置"
                         "精准推送对象，审核通过后该渠道会提示“未配置”。以下为推送内容示意。")
        notice = self.render_notice(document, Action.publish, group=group, member_name=member, route_kind="email",
                                    unsubscribe_url=f"{self._public_base()}/push/unsubscribe/（每位收件人各自的退订地址）")
        mail_html = notice.html
        for img in notice.images:
            att = next((a for a in document.attachments if a.sha256[:12] in img.cid), None)
            mail_html = mail_html.replace(f"cid:{img.cid}", escape(urls.get(att.filename, "")) if att else "")
        text = self.render_notice(document, Action.publish, group=group, member_name=member, route_kind="webhook").text
        m = re.search(r"<body([^>]*)>(.*)</body>", mail_html, re.S)
        attrs, inner = (m.group(1), m.group(2)) if m else ("", mail_html)
        head = (
            '<table style="width:100%;max-width:700px;margin:0 auto 12px;border-collapse:collapse;font-size:14px;'
            'background:#fff;border:1px solid #ddd;">'
            '<tr><th style="text-align:left;padding:6px 10px;color:#666;font-weight:normal;width:5em;">主题</th>'
            f'<td id="mail-subject" style="padding:6px 10px;font-weight:bold;">{escape(notice.subject)}</td></tr>'
            '<tr><th style="text-align:left;padding:6px 10px;color:#666;font-weight:normal;">收件人</th>'
            f'<td style="padding:6px 10px;">{escape(member)}（{escape(group)}）等订阅人，每人一封</td></tr></table>'
        )
        tail = ('<details style="max-width:700px;margin:12px auto;background:#fff;border:1px solid #ddd;padding:8px 12px;">'
                '<summary style="cursor:pointer;color:#555;">即时通讯、Webhook 收到的文字</summary>'
                f'<pre style="white-space:pre-wrap;font-size:13px;">{escape(text)}</pre></details>')
        html = previews.page(notice.subject, f'{head}<div{attrs}>{inner}</div>{tail}',
                             css="body{margin:0;padding:12px 8px;background:#e9eaec;}")
        return ChannelPreview(caption=self.preview_caption, html=html, content=notice.html, notes=tuple(notes))

    def _send(self, ctx: DeliveryContext, route: Route, notice: RenderedNotice) -> SendResult:
        plugin = instantiate_route(route.url)
        if plugin is None:
            return SendResult(False, "Apprise 无法解析该地址")
        # Bound every network wait: a hung server must not outlive the fan-out lease.
        for attr in ("socket_connect_timeout", "socket_read_timeout"):
            current = getattr(plugin, attr, None)
            if isinstance(current, (int, float)):
                setattr(plugin, attr, min(float(current), self.timeout))
        push_id = f"{ctx.idempotency_key}/{route.member}/{route.hash[:16]}"
        headers = getattr(plugin, "headers", None)
        if isinstance(headers, dict):
            headers["X-Push-Id"] = push_id
            if route.kind == "webhook":
                headers["Idempotency-Key"] = push_id
        if route.kind == "email" and isinstance(headers, dict) and notice.unsubscribe_url:
            headers["List-Unsubscribe"] = f"<{notice.unsubscribe_url}>"
            headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        extras = getattr(plugin, "payload_extras", None)
        if route.kind == "webhook" and isinstance(extras, dict):
            _add_webhook_fields(plugin, extras, ctx, push_id)

        if route.kind == "email":
            # Built here (our own text/plain alternative, cid: images), sent with the route's SMTP settings.
            content = MailContent(subject=notice.subject, text=notice.text, html=notice.html, images=list(notice.images),
                                  headers={k: str(v) for k, v in headers.items()} if isinstance(headers, dict) else {},
                                  message_id=message_id(push_id, str((getattr(plugin, "from_addr", None) or ["", ""])[1])))
            if not _prefers_html(plugin):
                content.html = ""
            try:
                ok, detail = send_email(plugin, content, self.timeout)
            except Exception as e:  # a bug must not lose the ledger's bookkeeping
                log.exception("e-mail send raised")
                return SendResult(False, f"{type(e).__name__}: {e}")
            return SendResult(ok, "" if ok else detail[:1000])
        with apprise.LogCapture(level=logging.WARNING, fmt="%(message)s") as logs:
            try:
                ok = bool(plugin.notify(body=notice.text, title=notice.subject, body_format=apprise.NotifyFormat.TEXT))
            except Exception as e:  # a plugin bug must not lose the ledger's bookkeeping
                log.exception("apprise plugin raised")
                return SendResult(False, f"{type(e).__name__}: {e}")
        detail = " ".join(logs.getvalue().split())[:1000]
        return SendResult(ok, "" if ok else detail)

    def _sessions(self) -> sessionmaker[Session]:
        return get_sessionmaker()


MAIL_STYLES = richbody.InlineStyles(
    p="margin:0 0 12px 0;text-indent:2em;",
    table="border-collapse:collapse;width:100%;font-size:14px;line-height:1.6;",
    table_wrap="margin:12px 0;overflow-x:auto;",
)


def _attachment_for(doc: DocumentPayload, src: str) -> Any | None:
    name = unquote(src)
    return next((a for a in doc.attachments if a.filename in (name, Path(name).name)), None)


def _image_label(doc: DocumentPayload):
    def label(src: str) -> str:
        att = _attachment_for(doc, src)
        return f"[图片：{att.filename}]" if att else "[图片]"
    return label


def _mail_body(doc: DocumentPayload) -> tuple[str, tuple[InlineImage, ...]]:
    """The body for an e-mail: images stored with the document travel as inline parts (cid:), web images keep their
    absolute address, anything else (a path on someone's disk) is left out rather than shown broken."""
    root = richbody.parse(doc.body_html)
    images: dict[str, InlineImage] = {}
    for img in list(root.iter("img")):
        src = img.get("src") or ""
        att = _attachment_for(doc, src)
        if att is not None and att.content_type.startswith("image/"):
            try:
                data = att.path.read_bytes()
            except OSError:
                data = b""
            if data:
                ext = att.content_type.partition("/")[2].split("+")[0] or "img"
                cid = f"img{len(images) + 1}-{att.sha256[:12]}@push.local"
                images.setdefault(att.sha256, InlineImage(cid, data, att.content_type, f"image{len(images) + 1}.{ext}"))
                img.set("src", "cid:" + images[att.sha256].cid)
                img.set("alt", img.get("alt") or att.filename)
                continue
        if src.startswith(("http://", "https://")):
            continue
        img.drop_tree()
    html = richbody.inline_styled(richbody.serialise(root), MAIL_STYLES)
    return html, tuple(images.values())


def _prefers_html(plugin: Any) -> bool:
    fmt = getattr(plugin, "notify_format", apprise.NotifyFormat.HTML)
    return fmt != apprise.NotifyFormat.TEXT


def _display_fields(doc: DocumentPayload) -> list[tuple[str, str]]:
    """The (label, value) rows every notice lists, in the order staff know from disclosure pages; empty ones left out."""
    rows = [
        ("标题", doc.title),
        ("发布机构", doc.publisher),
        ("文号", doc.doc_number),
        ("索引号", doc.index_no),
        ("信息分类", " / ".join(doc.entry_path)),
        ("生成日期", f"{doc.formed_on.year}年{doc.formed_on.month}月{doc.formed_on.day}日"),
        ("版本", f"第{doc.version}版" if doc.version > 1 else ""),
    ]
    return [(label, value) for label, value in rows if value]


def _excerpt(source: str, limit: int = 200) -> str:
    """Paragraphs (one a line, list numbers kept) of the summary or body; inline tags (<strong>) add no spaces."""
    return html_to_text(source or "", limit)


def _document_fields(ctx: DeliveryContext) -> dict[str, Any]:
    doc = ctx.document
    return {
        "document_id": doc.document_id,
        "version": doc.version,
        "index_no": doc.index_no,
        "title": doc.title,
        "doc_number": doc.doc_number,
        "publisher": doc.publisher,
        "entry_code": doc.entry_code,
        "entry_path": list(doc.entry_path),
        "formed_on": doc.formed_on.isoformat(),
        "published_at": doc.published_at.isoformat() if doc.published_at else None,
        "updated_at": doc.updated_at.isoformat() if doc.updated_at else None,
        "url": doc.site_url or None,
        "summary": _excerpt(doc.summary or doc.body_html, 500),
        # The whole body for systems that show it: structured text and inline-styled HTML (image sources as stored).
        "body_text": richbody.to_text(doc.body_html, gap="\n\n"),
        "body_html": richbody.inline_styled(doc.body_html, MAIL_STYLES),
        "validity": doc.validity,
        "attachments": [{"filename": a.filename, "content_type": a.content_type, "size": a.size} for a in doc.attachments],
    }


def _add_webhook_fields(plugin: Any, extras: dict[str, Any], ctx: DeliveryContext, push_id: str) -> None:
    """Structured fields beside Apprise's own title/message: nested JSON for json://, flat strings for form://."""
    fields = _document_fields(ctx)
    protocols = {str(p) for p in (getattr(plugin, "protocol", ()), getattr(plugin, "secure_protocol", ()))}
    if protocols & {"json", "jsons"}:
        extras.update({"event": ctx.action.value, "event_label": KIND_LABEL[ctx.action], "push_id": push_id, "document": fields})
    elif protocols & {"form", "forms"}:
        # Apprise treats an extra whose key is already in its form (version, title, message, type) as a *rename*,
        # so document fields get a doc_ prefix.
        flat = {k: v for k, v in fields.items() if isinstance(v, (str, int)) and v is not None}
        flat["entry_path"] = "/".join(fields["entry_path"])
        extras.update({f"doc_{k}": str(v) for k, v in flat.items()})
        extras.update({"event": ctx.action.value, "event_label": KIND_LABEL[ctx.action], "push_id": push_id})


def reset_failed_recipients(delivery_id: int) -> int:
    """Give recipients that ran out of attempts a fresh budget (for ops' "retry" on a failed push delivery).

    Routes already sent stay sent, so the retry reaches only those still missing. Returns how many were reset.
    """
    with get_sessionmaker().begin() as s:
        res = s.execute(
            update(PushRecipientDelivery)
            .where(
                PushRecipientDelivery.delivery_id == delivery_id,
                PushRecipientDelivery.status == RecipientStatus.failed,
            )
            .values(status=RecipientStatus.retrying, attempts=0, lease_until=None, updated_at=utcnow())
        )
        return int(res.rowcount or 0)
