"""The content checks at submission, at a new version and at review.

- 阻止 (block): the submission is refused; every such hit is listed (field 标题/正文, context) in the error.
- 警告 (warn): refused unless the submitter acknowledges them (web: the 已核对 checkbox; API: ``confirm_content_warnings``);
  the acknowledgement is recorded (who, when, which hits) in ``content_check_acks``.
- 提示 (note): never refuses; listed in the result's warnings.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from orchestrator.checks.dictionary import matcher
from orchestrator.checks.matcher import Hit
from orchestrator.checks.models import ContentCheckAck
from orchestrator.db import session_scope
from orchestrator.documents.content import render_body
from orchestrator.models import Document, DocumentVersion

MAX_LISTED = 20
CONFIRM_HINT = "请核对更正；确认无误的，勾选“已核对内容检查警告”（接口：confirm_content_warnings=true）后再提交"


@dataclass
class Outcome:
    hits: list[Hit] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (field, Chinese message)
    warnings: list[str] = field(default_factory=list)
    acknowledged: list[Hit] = field(default_factory=list)


def _listed(hits: list[Hit]) -> list[Hit]:
    return hits[:MAX_LISTED]


def evaluate(hits: list[Hit], confirmed: bool) -> Outcome:
    out = Outcome(hits=hits)
    blocks = [h for h in hits if h.severity == "block"]
    warns = [h for h in hits if h.severity == "warn"]
    notes = [h for h in hits if h.severity == "note"]
    for h in _listed(blocks):
        out.errors.append((h.field, f"内容检查不通过，须更正后再提交：{h.describe()}"))
    if len(blocks) > MAX_LISTED:
        out.errors.append(("正文", f"另有 {len(blocks) - MAX_LISTED} 处须更正的内容未列出"))
    if warns and not confirmed:
        for h in _listed(warns):
            out.errors.append((h.field, f"内容检查警告：{h.describe()}"))
        out.errors.append(("内容检查", f"有 {len(warns)} 处内容检查警告。{CONFIRM_HINT}"))
    elif warns:
        out.acknowledged = warns
        out.warnings.append(f"提交人已核对 {len(warns)} 处内容检查警告：" + "；".join(h.describe() for h in _listed(warns)))
    if notes:
        out.warnings.append(f"内容检查提示 {len(notes)} 处：" + "；".join(h.describe() for h in _listed(notes)))
    return out


def at_submission(session: Session, title: str, html: str, confirmed: bool, *,
                  dictionary_version: int | None = None) -> Outcome:
    """Check a submission's (or a new version's) title and sanitised body against the current dictionary
    (``dictionary_version``: its version, when the caller has already read it in this transaction)."""
    return evaluate(matcher(session, version=dictionary_version).check_document(title, html), confirmed)


def record(session: Session, document_id: int, version: int, outcome: Outcome, who: str) -> None:
    if outcome.acknowledged:
        session.add(ContentCheckAck(document_id=document_id, version=version, acknowledged_by=who[:100],
                                    hits=[h.as_dict() for h in outcome.acknowledged]))


def preview(title: str, body: str, body_format: str) -> list[Hit]:
    """Hits for a form's text as typed (the web form shows them next to its errors)."""
    try:
        html = render_body(body, body_format) if body else ""
    except ValueError:
        html = ""
    return matcher().check_document(title or "", html)


def hits_for_documents(session: Session, document_ids: list[int]) -> dict[int, list[Hit]]:
    """The current dictionary's hits on each document's latest version (the review page)."""
    if not document_ids:
        return {}
    m = matcher(session)
    rows = session.execute(
        select(DocumentVersion.document_id, DocumentVersion.title, DocumentVersion.body_html)
        .join(Document, (Document.id == DocumentVersion.document_id) & (Document.current_version == DocumentVersion.version))
        .where(Document.id.in_(document_ids)))
    return {doc_id: m.check_document(title, body) for doc_id, title, body in rows}


def approval_refusal(session: Session, document_id: int) -> str:
    """A reviewer cannot approve a document the current dictionary blocks (it may have changed since submission)."""
    blocks = [h for h in hits_for_documents(session, [document_id]).get(document_id, []) if h.severity == "block"]
    if not blocks:
        return ""
    return "内容检查不通过，须退回更正：" + "；".join(h.describe() for h in _listed(blocks))


def acknowledgements(document_id: int) -> list[ContentCheckAck]:
    with session_scope() as s:
        rows = list(s.scalars(select(ContentCheckAck).where(ContentCheckAck.document_id == document_id)
                              .order_by(ContentCheckAck.id)))
        s.expunge_all()
        return rows
