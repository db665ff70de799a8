"""A document's life after submission: a correction (new version) and a withdrawal.

Each writes in one transaction (new delivery rows through the delivery store) and hands the new deliveries to the
broker after the commit.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from orchestrator.checks import gate as content_checks
from orchestrator.db import session_scope
from orchestrator.delivery.store import NewDelivery, store_for
from orchestrator.documents import attachments as att
from orchestrator.documents.common import (
    add_transition,
    check_body,
    create_deliveries,
    hand_off_new,
    locked_document,
    precheck,
    store_uploads,
)
from orchestrator.documents.content import content_hash
from orchestrator.documents.inputs import (
    Conflict,
    FieldError,
    ServiceError,
    SubmitResult,
    Upload,
    VersionRequest,
    parse_version,
)
from orchestrator.models import (
    DONE_STATUSES,
    OPEN_STATUSES,
    Delivery,
    DeliveryStatus,
    Document,
    DocumentStatus,
    DocumentVersion,
    utcnow,
)
from orchestrator.review import chains as review_chains
from orchestrator.settings import Settings, get_settings


def new_version(document_id: int, data: VersionRequest | dict, uploads: list[Upload] | None = None, *,
                settings: Settings | None = None) -> SubmitResult:
    """A correction: a new version, and an update delivery on every destination that delivered the previous one."""
    settings = settings or get_settings()
    req = data if isinstance(data, VersionRequest) else parse_version(data)
    with session_scope() as session:
        doc = locked_document(session, document_id)
        if doc.status == DocumentStatus.withdrawn:
            raise Conflict("文件已撤回，不能再更正")
        prev = doc.versions[-1]
        title = req.title or prev.title
        source = req.body if req.body is not None else prev.body_source
        fmt = req.body_format if req.body is not None else prev.body_format
        html, errors, warnings = check_body(source, fmt, req.confirm_personal_data or prev.personal_data_confirmed, settings)
        checked = content_checks.at_submission(session, title, html, req.confirm_content_warnings)
        errors += [FieldError(f, m) for f, m in checked.errors]
        warnings += checked.warnings
        options = {k: dict(v) for k, v in (doc.channel_options or {}).items()}
        for channel, values in req.channel_options.items():
            options[channel] = {**options.get(channel, {}), **values}
        doc_number = req.doc_number if req.doc_number is not None else prev.doc_number
        # The same channel limits as at submission: a new title too long for WeChat is refused before anything is kept.
        errors += precheck(settings, list(doc.entry.channels), dict(
            document_id=doc.id, version=prev.version + 1, index_no=doc.index_no, title=title, body_html=html,
            doc_number=doc_number, formed_on=doc.formed_on, publisher=doc.publisher.name, entry_code=doc.entry.code,
            entry_path=tuple(doc.entry.path)), options)
        if errors:
            raise ServiceError(errors)
        doc.channel_options = options
        stored = store_uploads(settings, uploads or [])
        version = DocumentVersion(
            document_id=doc.id, version=prev.version + 1, title=title, body_html=html, body_source=source, body_format=fmt,
            doc_number=doc_number, summary=prev.summary,
            change_note=req.change_note, personal_data_confirmed=req.confirm_personal_data or prev.personal_data_confirmed,
            content_hash=content_hash(title, html), created_by=req.submitted_by,
        )
        session.add(version)
        session.flush()
        content_checks.record(session, doc.id, version.version, checked, req.submitted_by)
        kept = [att.StoredAttachment(a.filename, a.content_type, a.size, a.sha256, att.blob_path(settings, a.sha256))
                for a in prev.attachments] if req.keep_attachments else []
        store_for(session.get_bind()).insert_attachments(session, version.id, kept + stored)
        doc.current_version = version.version
        doc.title = title
        new: list[NewDelivery] = []
        if doc.status == DocumentStatus.rejected:
            # A corrected version of a rejected document is a fresh request for review (nothing was ever sent).
            if review_chains.needs_review(session, doc.entry):
                doc.status = DocumentStatus.pending_review
                doc.withdraw_reason = f"上次{doc.withdraw_reason}" if doc.withdraw_reason else ""
                warnings.append(review_chains.start(session, doc.id, doc.entry, version=version.version,
                                                    actor=req.submitted_by, resubmit=True))
            else:  # the admin switched review off for this entry meanwhile: publish as a first submission would
                doc.status = DocumentStatus.active
                doc.withdraw_reason = ""
                new = create_deliveries(session, settings, doc, version, "publish", list(doc.entry.channels))
        elif doc.status == DocumentStatus.pending_review:
            # In review (or sent back to the clerk): a resubmission, the chain restarts as configured.
            resubmitted = review_chains.on_new_version(session, doc, version.version, req.submitted_by)
            if resubmitted:
                warnings.append(resubmitted)
        elif doc.status == DocumentStatus.active:
            reached = _reached(session, doc)
            # Still-open deliveries of older versions are superseded: the new version goes out instead.
            for d in session.scalars(select(Delivery).where(Delivery.document_id == doc.id,
                                                             Delivery.status.in_(list(OPEN_STATUSES - {DeliveryStatus.sending})))
                                     .order_by(Delivery.id)):  # one transition order on every database
                add_transition(session, d, DeliveryStatus.cancelled, f"已被第 {version.version} 版取代")
            follows = {(d.channel, d.destination): d for d in reached}
            channels_reached = sorted({d.channel for d in reached})
            updates = create_deliveries(session, settings, doc, version, "update", channels_reached, follows)
            # Destinations never reached (failed, cancelled, or still pending) get the new version as a first publish.
            missing = [c for c in doc.entry.channels if c not in channels_reached]
            publishes = create_deliveries(session, settings, doc, version, "publish", missing)
            new = updates + publishes
        result = SubmitResult(doc.id, doc.index_no, doc.due_date, doc.due_note, [d.id for d in new], warnings,
                              doc.due_date_provisional)
    hand_off_new(new)
    return result


def _reached(session: Session, doc: Document) -> list[Delivery]:
    """The latest delivered publish/update per destination (what is live there now)."""
    rows = session.scalars(
        select(Delivery).where(Delivery.document_id == doc.id, Delivery.action.in_(["publish", "update"]),
                               Delivery.status.in_([*DONE_STATUSES, DeliveryStatus.awaiting_channel]))
        .order_by(Delivery.id)
    )
    latest: dict[tuple[str, str], Delivery] = {}
    for d in rows:
        latest[(d.channel, d.destination)] = d
    return list(latest.values())


def withdraw(document_id: int, reason: str, actor: str = "", *, settings: Settings | None = None) -> SubmitResult:
    """Withdraw: cancel whatever has not gone out, and a withdrawal delivery on every destination it reached.

    A delivery left ``not_configured`` never went out either: it is cancelled too, so the document reads 已撤回 once
    the withdrawals are done (not 撤回未完成 forever) and a later ops retry cannot publish the withdrawn text."""
    settings = settings or get_settings()
    if not reason.strip():
        raise ServiceError([FieldError("撤回原因", "必须填写撤回原因")])
    with session_scope() as session:
        doc = locked_document(session, document_id)
        if doc.status == DocumentStatus.withdrawn:
            raise Conflict("文件已撤回")
        reached = _reached(session, doc)
        never_sent = [*(OPEN_STATUSES - {DeliveryStatus.sending}), DeliveryStatus.not_configured]
        for d in session.scalars(select(Delivery).where(Delivery.document_id == doc.id, Delivery.status.in_(never_sent))
                                 .order_by(Delivery.id)):
            add_transition(session, d, DeliveryStatus.cancelled, "文件已撤回", actor)
        doc.status = DocumentStatus.withdrawn
        doc.withdrawn_at = utcnow()
        doc.withdraw_reason = reason.strip()
        version = doc.versions[-1]
        out = store_for(session.get_bind()).insert_deliveries(
            session, settings, doc.id, version.id, version.version, None, "withdraw",
            [(prev.channel, prev.destination) for prev in reached],
            {(prev.channel, prev.destination): prev.id for prev in reached},
            now=utcnow(), reason=f"撤回：{reason}", actor=actor)
        result = SubmitResult(doc.id, doc.index_no, doc.due_date, doc.due_note, [d.id for d in out],
                              due_date_provisional=doc.due_date_provisional)
    hand_off_new(out)
    return result
