"""Ops on one delivery: retry it, cancel it, or confirm that a person did the manual work; the status labels."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from channels import registry as channel_registry
from channels.base import PermanentError
from orchestrator.db import session_scope
from orchestrator.documents import attachments as att
from orchestrator.documents.common import add_transition, hand_off
from orchestrator.documents.inputs import Conflict, FieldError, NotFound, ServiceError, Upload
from orchestrator.models import OPEN_STATUSES, Delivery, DeliveryStatus, DocumentStatus, utcnow
from orchestrator.settings import Settings, get_settings

RETRYABLE = {DeliveryStatus.failed, DeliveryStatus.not_configured, DeliveryStatus.cancelled, DeliveryStatus.retrying}


def retry_delivery(delivery_id: int, actor: str = "") -> None:
    """Ops: give a failed (or not configured, or cancelled) delivery a fresh set of attempts, now."""
    with session_scope() as session:
        d = session.scalars(select(Delivery).where(Delivery.id == delivery_id).with_for_update()).first()
        if d is None:
            raise NotFound(f"投递 {delivery_id} 不存在")
        if d.status not in RETRYABLE:
            raise Conflict(f"投递当前状态为“{STATUS_LABELS.get(d.status, d.status)}”，不能重试")
        if d.document.status == DocumentStatus.withdrawn and d.action != "withdraw":
            raise Conflict("文件已撤回，不能重新发布")
        d.max_attempts = d.attempts + get_settings().max_attempts
        _reset_adapter_state(d)
        d.next_attempt_at = None
        d.last_error = ""
        add_transition(session, d, DeliveryStatus.pending, "人工重试", actor)
    hand_off([delivery_id], fresh=False)


def _reset_adapter_state(d: Delivery) -> None:
    """Let the adapter forget per-item failures (e.g. push recipients out of attempts) before a manual retry."""
    reg = channel_registry.current()
    try:
        adapter = reg.adapter_for(reg.destination(d.channel, d.destination))
    except PermanentError:
        return  # not configured: nothing to reset
    adapter.reset_for_retry(d.id)


def cancel_delivery(delivery_id: int, actor: str = "", reason: str = "") -> None:
    with session_scope() as session:
        d = session.scalars(select(Delivery).where(Delivery.id == delivery_id).with_for_update()).first()
        if d is None:
            raise NotFound(f"投递 {delivery_id} 不存在")
        if d.status not in OPEN_STATUSES | {DeliveryStatus.failed, DeliveryStatus.not_configured}:
            raise Conflict(f"投递当前状态为“{STATUS_LABELS.get(d.status, d.status)}”，不能取消")
        if d.status == DeliveryStatus.sending:
            raise Conflict("投递正在发送中，请稍后再取消")
        add_transition(session, d, DeliveryStatus.cancelled, reason or "人工取消", actor)


def confirm_delivery(delivery_id: int, who: str, note: str = "", when: dt.datetime | None = None,
                     evidence: Upload | None = None, url: str | None = None, *, settings: Settings | None = None) -> None:
    """A person did the manual work (or pasted the WeChat article): who, when, note, optional evidence file."""
    settings = settings or get_settings()
    if not who.strip():
        raise ServiceError([FieldError("经办人", "必须填写经办人")])
    stored = None
    if evidence is not None:
        try:
            stored = att.store(settings, evidence.filename, evidence.stream)
        except att.AttachmentError as exc:
            raise ServiceError([FieldError("凭证", str(exc))]) from exc
    with session_scope() as session:
        d = session.scalars(select(Delivery).where(Delivery.id == delivery_id).with_for_update()).first()
        if d is None:
            raise NotFound(f"投递 {delivery_id} 不存在")
        if d.status != DeliveryStatus.awaiting_confirmation:
            raise Conflict(f"投递当前状态为“{STATUS_LABELS.get(d.status, d.status)}”，无需确认")
        d.confirmed_by = who.strip()[:100]
        d.confirmed_at = when or utcnow()
        d.confirmation_note = note[:2000]
        if stored:
            d.evidence_sha256, d.evidence_filename = stored.sha256, stored.filename
        if url:
            d.receipt = {**(d.receipt or {}), "url": url}
        d.delivered_at = utcnow()
        add_transition(session, d, DeliveryStatus.delivered, f"人工确认：{note}"[:500], who)


STATUS_LABELS = {
    DeliveryStatus.scheduled: "定时待发",
    DeliveryStatus.pending: "待投递",
    DeliveryStatus.queued: "已排队",
    DeliveryStatus.sending: "发送中",
    DeliveryStatus.retrying: "等待重试",
    DeliveryStatus.awaiting_channel: "渠道处理中",
    DeliveryStatus.awaiting_confirmation: "待人工确认",
    DeliveryStatus.delivered: "已送达",
    DeliveryStatus.verified: "已核验上线",
    DeliveryStatus.failed: "失败",
    DeliveryStatus.not_configured: "渠道未配置",
    DeliveryStatus.cancelled: "已取消",
    DeliveryStatus.removed: "已被渠道删除",
}
