"""What the web app and the REST API show about one document's review: the state of its chain for a reader, the
timeline of every action, and the 审批单 (docx, PDF, print view). One reading for both front ends, so the document
page, ``GET /api/v1/documents/{id}/review`` and the exported forms cannot drift apart.

Channel labels and the print view's template are the web app's (``orchestrator.web.core``); they are imported when a
form is built, not at import time (the web app's core imports the review and documents packages).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from orchestrator.auth import Principal
from orchestrator.models import Document, DocumentStatus, User
from orchestrator.review import chains, export
from orchestrator.review.config import MAX_COMMENT, RESTART_LABELS
from orchestrator.review.models import DocumentReview
from orchestrator.settings import get_settings

DOCX_MEDIA = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def review_view(session: Session, doc: Document, user: Principal) -> dict[str, Any] | None:
    """What the document page and the review page show about the chain (None: the document never was in review)."""
    review = session.get(DocumentReview, doc.id)
    if review is None and doc.status != DocumentStatus.pending_review:
        return None
    if review is None:
        review = DocumentReview(document_id=doc.id, chain_name=chains.LEGACY_CHAIN, restart="from_start",
                                steps=[{**chains.LEGACY_STEP, "index": 0, "skipped": False}], current_step=0,
                                state="in_review", version=doc.current_version, step_since=doc.created_at)
    in_review = doc.status == DocumentStatus.pending_review and review.state == "in_review"
    steps = []
    for s in review.steps:
        if s.get("skipped"):
            status = "skipped"
        elif review.state == "approved" or (s["index"] < review.current_step and review.state != "rejected"):
            status = "done"
        elif s["index"] == review.current_step and review.state in ("in_review", "returned", "rejected"):
            status = {"in_review": "current", "returned": "returned", "rejected": "rejected"}[review.state]
        else:
            status = "pending"
        steps.append({**s, "status": status, "who": chains.step_who(s)})
    named = {u for s in steps for u in s.get("users") or []}
    if named:  # named users read as their display names
        names = dict(session.execute(select(User.username, User.display_name).where(User.username.in_(named))).all())
        for s in steps:
            if s.get("users"):
                s["who"] = "指定人员：" + "、".join(names.get(u) or u for u in s["users"])
    current = review.steps[review.current_step] if review.steps else None
    why = chains.refusal(current, user, list(doc.entry.offices or [])) if (in_review and current) else None
    actions = chains.actions_of(session, doc.id)
    return {
        "chain": review.chain_name, "state": review.state, "state_label": chains.STATE_LABELS.get(review.state, ""),
        "restart": review.restart, "restart_label": RESTART_LABELS.get(review.restart, ""), "steps": steps,
        "current": current, "version": review.version,
        "in_review": in_review, "returned": doc.status == DocumentStatus.pending_review and review.state == "returned",
        "may_act": in_review and why is None, "why_not": why or "",
        "is_last": bool(current) and not any(not s.get("skipped") for s in review.steps[review.current_step + 1:]),
        "earlier": [s for s in review.steps[:review.current_step] if not s.get("skipped")] if in_review else [],
        "actions": [{"a": a, "label": chains.DECISION_LABELS.get(a.decision, a.decision)} for a in actions],
        "since": review.step_since, "max_comment": MAX_COMMENT,
    }


def display_names(session: Session, usernames: set[str]) -> dict[str, str]:
    """User name → display name, for those who have one."""
    if not usernames:
        return {}
    return {u: d for u, d in session.execute(select(User.username, User.display_name)
                                             .where(User.username.in_(usernames))) if d and d.strip()}


# --- the 审批单 -----------------------------------------------------------------------------------

def approval_form(session: Session, doc: Document) -> export.ApprovalForm:
    from orchestrator.web.core import channel_label  # the configured channel names (see the module docstring)

    review = session.get(DocumentReview, doc.id)
    actions = chains.actions_of(session, doc.id)
    names = display_names(session, {a.actor for a in actions} | {doc.submitted_by})
    rows = []
    for i, a in enumerate(actions, start=1):
        rows.append(export.SignOff(i, a.step_name, chains.DECISION_LABELS.get(a.decision, a.decision),
                                   a.actor_name or names.get(a.actor, a.actor), a.at, a.comment, a.version, a.target))
    state = chains.STATE_LABELS.get(review.state, "") if review else "未经审核"
    return export.ApprovalForm(
        document_id=doc.id, title=doc.title, index_no=doc.index_no, doc_number=doc.versions[-1].doc_number,
        publisher=doc.publisher.name, entry=f"{doc.entry.code} {doc.entry.path_text}",
        offices="、".join(doc.entry.offices or []), formed_on=doc.formed_on, due_date=doc.due_date,
        submitted_by=names.get(doc.submitted_by, doc.submitted_by), submitted_at=doc.created_at,
        chain=review.chain_name if review else "无", state=state,
        channels=[channel_label(c) for c in doc.entry.channels or []], rows=rows)


def approval_html(form: export.ApprovalForm) -> str:
    """The print view (its stylesheet linked, as the web app serves it)."""
    from orchestrator.web.core import templates  # the web app's templates (see the module docstring)

    return export.to_html(templates(), form)


def approval_pdf(form: export.ApprovalForm) -> bytes:
    """The 审批单 as PDF (raises :class:`export.PdfUnavailable` without a browser to print with)."""
    from orchestrator.web.core import templates  # the web app's templates (see the module docstring)

    css = (get_settings().templates_dir / "web" / "static" / "approval.css").read_text(encoding="utf-8")
    return export.to_pdf(export.to_html(templates(), form, css=css, for_pdf=True))


def approval_docx(form: export.ApprovalForm) -> bytes:
    return export.to_docx(form)


def approval_filename(form: export.ApprovalForm, suffix: str) -> str:
    return f"审批单-{form.index_no}.{suffix}"


# --- the REST API's shape ------------------------------------------------------------------------

def _iso(at: Any) -> str | None:
    if at is None:
        return None
    if at.tzinfo is None:  # SQLite hands back naive values; they were written as UTC
        at = at.replace(tzinfo=dt.UTC)
    return at.isoformat()


def _step_json(s: dict[str, Any]) -> dict[str, Any]:
    return {"index": s["index"], "name": s["name"], "who": s.get("who") or chains.step_who(s),
            "status": s.get("status", ""), "skipped": bool(s.get("skipped")), "role": s.get("role") or "",
            "office": s.get("office") or "", "own_office": bool(s.get("own_office")), "users": list(s.get("users") or [])}


def review_json(session: Session, doc: Document, user: Principal) -> dict[str, Any]:
    """The review state of a document for ``user`` and its timeline (every action, oldest first), as the REST API
    answers it: the same reading as the document page (:func:`review_view`)."""
    view = review_view(session, doc, user)
    actions = chains.actions_of(session, doc.id)
    names = display_names(session, {a.actor for a in actions})
    timeline = [{
        "id": a.id, "at": _iso(a.at), "actor": a.actor, "actor_name": a.actor_name or names.get(a.actor, a.actor),
        "step_index": a.step_index, "step_name": a.step_name, "decision": a.decision,
        "decision_label": chains.DECISION_LABELS.get(a.decision, a.decision), "comment": a.comment,
        "target": a.target, "version": a.version,
    } for a in actions]
    out: dict[str, Any] = {"document_id": doc.id, "document_status": doc.status, "reviewed": view is not None,
                           "max_comment": MAX_COMMENT, "actions": timeline}
    if view is None:
        return {**out, "chain": None, "state": None, "state_label": "未经审核", "restart": None, "restart_label": "",
                "version": None, "in_review": False, "returned": False, "current_step": None, "step_since": None,
                "may_act": False, "why_not": "", "is_last": False, "steps": [], "send_back_targets": []}
    steps = [_step_json(s) for s in view["steps"]]
    current = None
    if (view["in_review"] or view["returned"]) and view["current"] is not None:
        current = next((s for s in steps if s["index"] == view["current"]["index"]), None)
    targets = []
    if view["may_act"]:
        targets = [{"target": "clerk", "label": "经办人"}] + [{"target": s["index"], "label": s["name"]}
                                                             for s in view["earlier"]]
    return {**out, "chain": view["chain"], "state": view["state"], "state_label": view["state_label"],
            "restart": view["restart"], "restart_label": view["restart_label"], "version": view["version"],
            "in_review": view["in_review"], "returned": view["returned"], "current_step": current,
            "step_since": _iso(view["since"]), "may_act": view["may_act"], "why_not": view["why_not"],
            "is_last": view["is_last"] if view["in_review"] else False, "steps": steps, "send_back_targets": targets}
