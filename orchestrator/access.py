"""Who may read which document: one rule for the web app, the REST API and anything else that shows documents.

A clerk (经办人) sees only documents of catalog entries whose responsible offices include the clerk's office; reviewers,
ops and admins are not limited by office. Everything a document carries (versions and bodies, attachments, deliveries,
attempts, manual-task material, evidence) is readable exactly when the document is. A document the rule hides answers
like a missing one, so nobody learns that it exists.

Both front ends build their queries from :func:`document_filter` (lists) and :func:`readable_document` (one document),
so the rule cannot drift between them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, false, select, true
from sqlalchemy.orm import Session

from orchestrator.auth import Principal, Role
from orchestrator.models import CatalogEntryRow, Delivery, Document

# The local command line runs on the server with the database's own credentials: it reads like an admin.
UNLIMITED = Principal(0, "cli", "命令行", Role.admin, "")


def limited_by_office(user: Principal) -> bool:
    return user.role == Role.clerk


def visible_entry_ids(session: Session, user: Principal) -> list[int] | None:
    """Entry ids whose documents the user may read; None when the role is not limited by office."""
    if not limited_by_office(user):
        return None
    if not user.office:
        return []
    # Offices are a JSON list: filtered here, portably across PostgreSQL and SQLite.
    rows = session.execute(select(CatalogEntryRow.id, CatalogEntryRow.offices)).all()
    return [rid for rid, offices in rows if user.office in (offices or [])]


def document_filter(session: Session, user: Principal) -> ColumnElement[bool]:
    """A WHERE clause on :class:`Document` admitting exactly the documents ``user`` may read."""
    ids = visible_entry_ids(session, user)
    if ids is None:
        return true()
    if not ids:
        return false()
    return Document.entry_id.in_(ids)


def readable_document(session: Session, user: Principal, document_id: int, *options: Any) -> Document | None:
    """The document if it exists and ``user`` may read it, else None (the caller answers 404 either way)."""
    stmt = select(Document).where(Document.id == document_id, document_filter(session, user))
    if options:
        stmt = stmt.options(*options)
    return session.scalars(stmt).first()


def readable_delivery(session: Session, user: Principal, delivery_id: int) -> Delivery | None:
    """A delivery if its document is readable by ``user``, else None."""
    stmt = (select(Delivery).join(Document, Document.id == Delivery.document_id)
            .where(Delivery.id == delivery_id, document_filter(session, user)))
    return session.scalars(stmt).first()


def may_read(session: Session, user: Principal, document_id: int) -> bool:
    stmt = select(Document.id).where(Document.id == document_id, document_filter(session, user))
    return session.scalar(stmt) is not None
