"""What the document operations share: channel prechecks, body checks, uploads, new delivery rows, the hand-off.

Every operation validates first (messages a clerk understands), then writes in **one transaction** through the
delivery store, and only after the commit hands delivery ids to the broker. A lost hand-off is repaired by the
sweeper.
"""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from channels import registry as channel_registry
from channels.base import Channel, DocumentPayload, PermanentError
from orchestrator.catalog.channel_map import load_channel_map
from orchestrator.delivery.dispatch import enqueue, publish
from orchestrator.delivery.store import NewDelivery, store_for
from orchestrator.documents import attachments as att
from orchestrator.documents.content import find_personal_data, plain_text, render_body
from orchestrator.documents.inputs import FieldError, NotFound, ServiceError, Upload
from orchestrator.models import Delivery, DeliveryStatus, DeliveryTransition, Document, DocumentVersion, utcnow
from orchestrator.settings import Settings

log = logging.getLogger(__name__)


def destinations(settings: Settings, channels: list[str]) -> list[tuple[str, str]]:
    """(channel, destination name) of every enabled destination of these channels, in order."""
    registry = channel_registry.current(settings)
    return [(channel, dest.name) for channel in channels for dest in registry.destinations(channel)]


def precheck(settings: Settings, channels: list[str], payload_kwargs: dict, channel_options: dict) -> list[FieldError]:
    """Ask each configured adapter whether it would refuse this document (limits are checked before anything is sent)."""
    registry = channel_registry.current(settings)
    errors = []
    for channel in channels:
        for dest in registry.destinations(channel):
            try:
                if registry.adapter_class(dest).precheck is Channel.precheck:
                    continue  # the adapter has no limits to check
                adapter = registry.adapter_for(dest)
            except PermanentError:
                continue  # not configured: the delivery will say so, visibly
            extra = dict(channel_options.get(channel, {}))
            payload = DocumentPayload(**payload_kwargs, extra={"channel_options": extra})
            for problem in adapter.precheck(payload):
                errors.append(FieldError(channel_field(channel), problem))
    return errors


def channel_field(channel: str) -> str:
    """The field name a clerk reads for a channel's refusal: its Chinese name, never the code."""
    try:
        label = load_channel_map().labels.get(channel, "")
    except Exception:  # noqa: BLE001 - a broken mapping file must not hide the refusal itself
        label = ""
    return f"渠道“{label or channel}”"


def check_body(source: str, fmt: str, confirm: bool, settings: Settings) -> tuple[str, list[FieldError], list[str]]:
    html = render_body(source, fmt)
    errors: list[FieldError] = []
    warnings: list[str] = []
    if not plain_text(html) and "<img" not in html:
        errors.append(FieldError("正文", "正文为空（去除不安全内容后没有文字）"))
    if len(source) > settings.max_body_chars:
        errors.append(FieldError("正文", f"正文过长（上限 {settings.max_body_chars} 字符）"))
    hits = find_personal_data(html)
    if hits:
        listing = "、".join(f"{h.label} {h.masked}" for h in hits)
        if confirm:
            warnings.append(f"正文含个人信息（{listing}），提交人已确认可以公开")
        else:
            errors.append(FieldError("正文", f"正文疑似含有个人信息：{listing}。请删除，或确认可以公开后再提交"))
    return html, errors, warnings


def store_uploads(settings: Settings, uploads: list[Upload]) -> list[att.StoredAttachment]:
    stored, errors = [], []
    try:
        for up in uploads:
            try:
                stored.append(att.store(settings, up.filename, up.stream))
            except att.AttachmentError as exc:
                errors.append(FieldError("附件", str(exc)))
    except BaseException:
        att.discard(stored)
        raise
    if errors:
        # One refused file refuses the request: the good files it carried leave nothing behind either.
        att.discard(stored)
        raise ServiceError(errors)
    return stored


def add_transition(session: Session, d: Delivery, to: str, reason: str = "", actor: str = "") -> None:
    session.add(DeliveryTransition(delivery_id=d.id, from_status=d.status, to_status=to, reason=reason[:2000], actor=actor))
    d.status = to


def create_deliveries(
    session: Session, settings: Settings, doc: Document, version: DocumentVersion, action: str,
    channels: list[str], follows: dict[tuple[str, str], Delivery] | None = None,
) -> list[NewDelivery]:
    """One delivery per destination of ``channels`` for this version (written queued, or scheduled if embargoed)."""
    return store_for(session.get_bind()).insert_deliveries(
        session, settings, doc.id, version.id, version.version, doc.publish_at, action, destinations(settings, channels),
        {k: d.id for k, d in (follows or {}).items()}, now=utcnow())


def locked_document(session: Session, document_id: int) -> Document:
    doc = session.scalars(select(Document).where(Document.id == document_id).with_for_update()).first()
    if doc is None:
        raise NotFound(f"文件 {document_id} 不存在")
    return doc


def hand_off(ids: list[int], *, fresh: bool = True) -> None:
    """After the commit: send these rows to the broker (and mark them queued unless ``fresh``)."""
    if not ids:
        return
    try:
        enqueue(ids, fresh=fresh)
    except Exception:  # the broker is down: the rows are committed, the sweeper will hand them over
        broker_down(len(ids))


def hand_off_new(deliveries: list[NewDelivery]) -> None:
    """Publish the deliveries a just-committed transaction wrote as queued (scheduled ones wait for beat)."""
    pairs = [(d.id, d.channel) for d in deliveries if d.status == DeliveryStatus.queued]
    if not pairs:
        return
    try:
        publish(pairs)
    except Exception:  # the broker is down: the rows are committed, the sweeper will hand them over
        broker_down(len(pairs))


def broker_down(n: int) -> None:
    log.warning("broker unavailable; %d deliveries left for the sweeper", n, exc_info=True)
