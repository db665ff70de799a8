"""The adapter's :class:`DeliveryContext`, read from the database: one query shape both stores share.

The PostgreSQL store folds the same select into its claim statement (the claimed row as the source); the portable
store runs it after the claim. Either way :func:`context_from_row` turns the row into the context.
"""

from __future__ import annotations

from sqlalchemy import Connection, bindparam, exists, select, update

from channels import registry as channel_registry
from channels.base import Action, AttachmentInfo, Channel, DeliveryContext, DocumentPayload, PermanentError, Receipt
from orchestrator.db import session_scope
from orchestrator.documents.attachments import blob_path
from orchestrator.models import (
    Attachment,
    CatalogEntryRow,
    Delivery,
    DeliveryStatus,
    Document,
    DocumentVersion,
    Publisher,
    utcnow,
)
from orchestrator.settings import Settings

S = DeliveryStatus
D = Delivery.__table__.c
DELIVERIES = Delivery.__table__
CTX_DELIVERY_COLS = ("id", "idempotency_key", "channel", "destination", "action", "checkpoint", "follows_id", "attempts",
                     "version_id", "document_id")


def context_select(src, *extra):
    """The adapter's context for the delivery row(s) in ``src`` (the deliveries table, or the claim statement's CTE).

    ``has_attachments`` / ``has_explained_by`` let the caller skip the follow-up queries that would return nothing.
    """
    c = src.c
    return (
        select(
            *(c[k] for k in CTX_DELIVERY_COLS if k != "document_id"), *extra,
            DocumentVersion.version, DocumentVersion.title, DocumentVersion.body_html, DocumentVersion.doc_number,
            DocumentVersion.summary, DocumentVersion.change_note, DocumentVersion.created_at.label("version_created_at"),
            Document.id.label("document_id"), Document.index_no, Document.formed_on, Document.status.label("doc_status"),
            Document.publish_at, Document.created_at, Document.display_from, Document.display_until,
            Document.validity, Document.validity_date, Document.subject_words,
            Document.related_document_id, Document.related_kind, Document.channel_options, Document.withdraw_reason,
            CatalogEntryRow.code.label("entry_code"), CatalogEntryRow.path.label("entry_path"),
            CatalogEntryRow.offices, CatalogEntryRow.options.label("entry_options"), Publisher.name.label("publisher"),
            exists().where(Attachment.version_id == c.version_id).label("has_attachments"),
            exists().where(Document.__table__.alias("explains").c.related_document_id == c.document_id)
            .label("has_explained_by"),
        )
        .select_from(src)
        .join(DocumentVersion, DocumentVersion.id == c.version_id)
        .join(Document, Document.id == c.document_id)
        .join(CatalogEntryRow, CatalogEntryRow.id == Document.entry_id)
        .join(Publisher, Publisher.id == Document.publisher_id)
    )


CONTEXT = context_select(DELIVERIES).where(D.id == bindparam("b_id"))
_ATTACHMENTS = (
    select(Attachment.filename, Attachment.content_type, Attachment.size, Attachment.sha256)
    .where(Attachment.version_id == bindparam("b_version")).order_by(Attachment.position)
)
_EXPLAINED_BY = select(Document.id, Document.title, Document.index_no, Document.related_kind).where(
    Document.related_document_id == bindparam("b_doc"))
_DOC_BRIEF = select(Document.id, Document.title, Document.index_no).where(Document.id == bindparam("b_doc"))
_SITE_RECEIPTS = (
    select(D.receipt).where(D.document_id == bindparam("b_doc"), D.channel == "website",
                            D.status.in_([S.delivered, S.verified]), D.action != "withdraw")
    .order_by(D.id.desc())
)
_RECEIPT = select(D.receipt).where(D.id == bindparam("b_id"))


def build_context(conn: Connection, delivery_id: int, settings: Settings, owner: str) -> DeliveryContext:
    """Everything the adapter needs, in a handful of queries."""
    d = conn.execute(CONTEXT, {"b_id": delivery_id}).one()
    return context_from_row(conn, d, settings, owner)


def context_from_row(conn: Connection, d, settings: Settings, owner: str) -> DeliveryContext:
    """Build the adapter's context from a ``CONTEXT``-shaped row; the flags in the row skip queries with no rows.

    ``d.site_url`` (PostgreSQL claim statement only) is the newest website receipt URL, already looked up.
    """
    delivery_id = d.id
    attachments = tuple(
        AttachmentInfo(a.filename, a.content_type, a.size, a.sha256, blob_path(settings, a.sha256))
        for a in conn.execute(_ATTACHMENTS, {"b_version": d.version_id})
    ) if d.has_attachments else ()
    related = []
    if d.related_document_id:
        rel = conn.execute(_DOC_BRIEF, {"b_doc": d.related_document_id}).one_or_none()
        if rel is not None:
            related.append({"document_id": rel.id, "title": rel.title, "index_no": rel.index_no,
                            "url": _site_url(conn, rel.id, settings),
                            "relation": "related" if d.related_kind == "相关" else "explains"})
    if d.has_explained_by:
        for other in conn.execute(_EXPLAINED_BY, {"b_doc": d.document_id}).all():
            related.append({"document_id": other.id, "title": other.title, "index_no": other.index_no,
                            "url": _site_url(conn, other.id, settings),
                            "relation": "related_by" if other.related_kind == "相关" else "explained_by"})
    # A correction (new version) keeps the document's stated 有效性; a withdrawal shows 已撤回.
    validity = "已撤回" if d.doc_status == "withdrawn" else (d.validity or "有效")
    if d.channel == "website":
        site_url = ""
    elif "site_url" in d._fields:
        site_url = d.site_url or expected_site_url(d.document_id, settings)
    else:
        site_url = _site_url(conn, d.document_id, settings)
    payload = DocumentPayload(
        document_id=d.document_id, version=d.version, index_no=d.index_no, title=d.title, body_html=d.body_html,
        doc_number=d.doc_number, formed_on=d.formed_on, publisher=d.publisher, entry_code=d.entry_code,
        entry_path=tuple(d.entry_path), offices=tuple(d.offices or ()), attachments=attachments,
        published_at=d.publish_at or d.created_at, updated_at=d.version_created_at,
        display_from=d.display_from, display_until=d.display_until,
        site_url=site_url,
        summary=d.summary, validity=validity, related=tuple(related),
        extra={"channel_options": dict((d.channel_options or {}).get(d.channel, {})),
               "entry_options": dict(d.entry_options or {}), "withdraw_reason": d.withdraw_reason,
               "change_note": d.change_note, "subject_words": d.subject_words or "",
               "validity_date": d.validity_date.isoformat() if d.validity_date else ""},
    )
    previous = Receipt.from_dict(conn.execute(_RECEIPT, {"b_id": d.follows_id}).scalar()) if d.follows_id else None

    def save_checkpoint(cp: dict) -> None:
        with session_scope() as s2:
            s2.execute(update(Delivery).where(Delivery.id == delivery_id, Delivery.lease_owner == owner,
                                              Delivery.status.in_([S.sending, S.awaiting_channel]))
                       .values(checkpoint=dict(cp), updated_at=utcnow()))

    return DeliveryContext(
        delivery_id=d.id, idempotency_key=d.idempotency_key, channel=d.channel, destination=d.destination,
        action=Action(d.action), document=payload, previous_receipt=previous, checkpoint=dict(d.checkpoint or {}),
        save_checkpoint=save_checkpoint, attempt=d.attempts,
    )


def _site_url(conn: Connection, document_id: int, settings: Settings) -> str:
    for receipt in conn.execute(_SITE_RECEIPTS, {"b_doc": document_id}).scalars():
        if receipt and receipt.get("url"):
            return str(receipt["url"])
    return expected_site_url(document_id, settings)


def expected_site_url(document_id: int, settings: Settings | None = None) -> str:
    """Not delivered yet: the website destination may know the address in advance (the built-in column does)."""
    reg = channel_registry.current(settings)
    for dest in reg.destinations("website"):
        try:
            if reg.adapter_class(dest).expected_url is Channel.expected_url:
                continue  # the adapter cannot tell in advance
            url = reg.adapter_for(dest).expected_url(document_id)
        except PermanentError:
            continue
        if url:
            return url
    return ""
