"""The rules of review chains: which chain applies to a document, who may act at a step, and what each decision does.

Which chain applies (first match): the binding for the document's publisher and entry code; the binding for the
publisher; the catalog entry's 保密审查 switch (``CatalogEntryRow.needs_review``: a one-step 保密审查 chain, so the
switch works as before); else no review.

A document in review is ``DocumentStatus.pending_review`` throughout, also while it is sent back to the clerk: nothing
is delivered before the last step approves (the caller, ``orchestrator.documents.review.approve``, creates the deliveries only when
``approve_step`` says the chain is complete). Every decision is a ``ReviewAction`` row.

Hooks: :func:`on_step_pending` and :func:`on_sent_back` (the to-do list's watch tells the people concerned) and
:func:`audit` (an admin changed chains or bindings: a row of the audit log).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, selectinload

from orchestrator import audit as audit_log
from orchestrator.auth import ROLE_LABELS, Principal, Role
from orchestrator.models import CatalogEntryRow, Document, DocumentStatus, Publisher, User, utcnow
from orchestrator.review.config import MAX_COMMENT, BindingSpec, ChainConfigError, ChainsFile, ChainSpec
from orchestrator.review.models import DocumentReview, ReviewAction, ReviewBinding, ReviewChain, ReviewStep

log = logging.getLogger(__name__)

LEGACY_CHAIN = "保密审查"
LEGACY_STEP = {"name": "保密审查", "role": Role.reviewer.value, "office": "", "own_office": False, "users": [],
               "skippable": False}
DECISION_LABELS = {"submit": "提交审核", "resubmit": "修改后重新提交", "approve": "通过", "send_back": "退回",
                   "reject": "不通过", "skip": "跳过（按目录事项设置）"}
STATE_LABELS = {"in_review": "审核中", "returned": "已退回经办人修改", "approved": "审核通过", "rejected": "审核不通过"}


class ReviewRefused(Exception):
    """A refused review action; the message is Chinese, ``status`` the HTTP status it maps to."""

    def __init__(self, message: str, status: int = 409):
        self.status = status
        super().__init__(message)


# --- hooks (wired by the integrator) -------------------------------------------------------------

def on_step_pending(session: Session, document: Document, step: dict[str, Any]) -> None:
    """A step of ``document`` now waits for its reviewers (``step``: the snapshot dict, with ``index``).

    Nothing to send from here: the document is now on the reviewers' 我的待办 (:func:`pending_for` is that list's
    source), and the to-do watch (``orchestrator.notify.todo.watch``, beat, every minute) tells each of them once, in
    the ways they chose. Kept as the one place a step change is visible, for logging."""
    log.info("document %s waits at review step %s (%s)", document.id, step.get("index"), step.get("name"))


def on_sent_back(session: Session, document: Document, step: dict[str, Any], comment: str) -> None:
    """The document was sent back to the clerk: it is on their 我的待办 (:func:`returned_for`) and the to-do watch
    tells them."""
    log.info("document %s sent back from review step %s", document.id, step.get("index"))


def audit(session: Session, actor: str, action: str, target: str, detail: dict[str, Any] | None = None) -> None:
    """An administrative change of review chains or bindings: one row of the audit log, in the same transaction."""
    audit_log.record(session, actor, action, target, detail)


# --- which chain applies -------------------------------------------------------------------------

@dataclass(frozen=True)
class ResolvedChain:
    name: str
    restart: str
    steps: list[dict[str, Any]]  # snapshot dicts with "index" and "skipped"
    source: str  # "entry", "publisher", "catalog"


def _snapshot(chain: ReviewChain, skip: list[str]) -> list[dict[str, Any]]:
    out = []
    for i, s in enumerate(chain.steps):
        out.append({"index": i, "name": s.name, "role": s.role, "office": s.office, "own_office": s.own_office,
                    "users": list(s.users or []), "skippable": s.skippable,
                    "skipped": s.skippable and s.name in (skip or [])})
    if out and all(s["skipped"] for s in out):
        out[-1]["skipped"] = False  # a chain is never skipped entirely (bindings are validated against this too)
    return out


def resolve(session: Session, entry: CatalogEntryRow, *, bindings_possible: bool = True) -> ResolvedChain | None:
    """The review chain that applies to ``entry`` (its binding, else the publisher's, else the catalog's flag).

    ``bindings_possible=False``: the caller already knows no binding can apply (read in the same transaction)."""
    bindings = {b.entry_code: b for b in session.scalars(
        select(ReviewBinding).where(ReviewBinding.publisher_id == entry.publisher_id,
                                    ReviewBinding.entry_code.in_([entry.code, ""])))} if bindings_possible else {}
    for code, source in ((entry.code, "entry"), ("", "publisher")):
        b = bindings.get(code)
        if b is None:
            continue
        if b.chain_id is None:
            return None  # 不审核, as the admin set it
        chain = session.get(ReviewChain, b.chain_id)
        if chain is None or not chain.steps:
            continue
        return ResolvedChain(chain.name, chain.restart, _snapshot(chain, list(b.skip or [])), source)
    if entry.needs_review:
        return ResolvedChain(LEGACY_CHAIN, "from_start", [{**LEGACY_STEP, "index": 0, "skipped": False}], "catalog")
    return None


def needs_review(session: Session, entry: CatalogEntryRow) -> bool:
    return resolve(session, entry) is not None


# --- who may act ---------------------------------------------------------------------------------

def step_who(step: dict[str, Any] | ReviewStep) -> str:
    """Who may act at a step (a snapshot dict or a chain's step row), in words."""
    if isinstance(step, ReviewStep):
        step = {"users": step.users, "role": step.role, "office": step.office, "own_office": step.own_office}
    if step.get("users"):
        return "指定人员：" + "、".join(step["users"])
    parts = []
    if step.get("role"):
        parts.append(ROLE_LABELS[Role(step["role"])])
    if step.get("office"):
        parts.append(f"{step['office']}")
    if step.get("own_office"):
        parts.append("文件责任科室")
    return " · ".join(parts) or "任何人"


def refusal(step: dict[str, Any], user: Principal, doc_offices: list[str]) -> str | None:
    """Why ``user`` may not act at ``step`` (None: they may)."""
    name = step["name"]
    if step.get("users"):
        if user.username in step["users"]:
            return None
        return f"当前步骤“{name}”仅限指定人员（{'、'.join(step['users'])}）办理，您不在其中"
    if step.get("role") and not user.has_role(Role(step["role"])):
        return (f"当前步骤“{name}”须由{ROLE_LABELS[Role(step['role'])]}办理"
                f"（您的角色：{ROLE_LABELS[user.role]}）")
    if step.get("office") and user.office != step["office"]:
        return f"当前步骤“{name}”须由{step['office']}办理（您所在科室：{user.office or '未设置'}）"
    if step.get("own_office") and user.office not in doc_offices:
        return (f"当前步骤“{name}”须由文件的责任科室（{'、'.join(doc_offices) or '未指定'}）办理"
                f"（您所在科室：{user.office or '未设置'}）")
    return None


def may_act(step: dict[str, Any], user: Principal, doc_offices: list[str]) -> bool:
    return refusal(step, user, doc_offices) is None


def reviewers_of(session: Session, document: Document, step: dict[str, Any]) -> list[str]:
    """User names of the active users who may act at ``step`` (for notifications)."""
    offices = list(document.entry.offices or [])
    out = []
    for u in session.scalars(select(User).where(User.active.is_(True))):
        p = Principal(u.id, u.username, u.display_name, Role(u.role), u.office)
        if may_act(step, p, offices):
            out.append(u.username)
    return out


# --- per-document state --------------------------------------------------------------------------

def _principal_of(session: Session, username: str) -> Principal | None:
    u = session.scalar(select(User).where(User.username == username))
    return Principal(u.id, u.username, u.display_name, Role(u.role), u.office) if u else None


def _record(session: Session, doc: Document, review: DocumentReview, decision: str, actor: str, *,
            step: dict[str, Any] | None = None, comment: str = "", target: str = "", actor_name: str = "") -> None:
    session.add(ReviewAction(
        document_id=doc.id, version=review.version, step_index=step["index"] if step else None,
        step_name=step["name"] if step else "", decision=decision, actor=actor[:100], actor_name=actor_name[:200],
        comment=comment[:MAX_COMMENT], target=target[:60], at=utcnow()))


def _enter(session: Session, doc: Document, review: DocumentReview, start: int, actor: str) -> dict[str, Any] | None:
    """Move to the first step at or after ``start`` that is not skipped (recording the skips). None: chain done."""
    steps = review.steps
    i = start
    while i < len(steps) and steps[i].get("skipped"):
        _record(session, doc, review, "skip", actor, step=steps[i])
        i += 1
    if i >= len(steps):
        return None
    review.current_step = i
    review.state = "in_review"
    review.step_since = utcnow()
    step = steps[i]
    on_step_pending(session, doc, step)
    return step


def start(session: Session, document_id: int, entry: CatalogEntryRow, *, version: int, actor: str,
          resolved: ResolvedChain | None = None, resubmit: bool = False) -> str:
    """A document enters review (its first submission, or a new version of a rejected one). Returns the clerk's
    warning text."""
    resolved = resolved or resolve(session, entry)
    if resolved is None:
        raise ValueError("no review chain applies")
    doc = session.get(Document, document_id)
    review = session.get(DocumentReview, document_id)
    now = utcnow()
    if review is None:
        review = DocumentReview(document_id=document_id)
        session.add(review)
    review.chain_name, review.steps, review.restart = resolved.name, resolved.steps, resolved.restart
    review.version, review.state, review.returned_from = version, "in_review", None
    review.started_at, review.finished_at = now, None
    _record(session, doc, review, "resubmit" if resubmit else "submit", actor)
    step = _enter(session, doc, review, 0, actor)
    if resolved.source == "catalog":
        return "已重新提交保密审查，审核通过后才会发布" if resubmit else "该目录事项需经保密审查，审核通过后才会发布"
    names = "→".join(s["name"] for s in resolved.steps if not s["skipped"])
    lead = "已重新提交审核" if resubmit else "该目录事项需经审核"
    return f"{lead}（{names}），全部通过后才会发布；当前步骤：{step['name'] if step else ''}"


def review_of(session: Session, doc: Document) -> DocumentReview:
    """The review state of a document in review; a document that entered review before chains existed (or was put
    there directly) gets the one-step 保密审查 chain."""
    review = session.get(DocumentReview, doc.id)
    if review is None:
        review = DocumentReview(document_id=doc.id, chain_name=LEGACY_CHAIN, restart="from_start",
                                steps=[{**LEGACY_STEP, "index": 0, "skipped": False}], current_step=0,
                                state="in_review", version=doc.current_version, started_at=doc.created_at,
                                step_since=doc.created_at)
        session.add(review)
        session.flush()
    return review


def _parse_step(step: int | str | None) -> int | None:
    if step is None or step == "":
        return None
    if isinstance(step, int):
        return step
    text = str(step).strip()
    if not text.isdigit() or len(text) > 4:
        raise ReviewRefused("审核步骤不存在", 422)
    return int(text)


def _turn(session: Session, doc: Document, review: DocumentReview, principal: Principal | None,
          step: int | str | None) -> dict[str, Any]:
    """The current step, after checking the caller names it and may act at it."""
    asked = _parse_step(step)
    if asked is not None and not 0 <= asked < len(review.steps):
        raise ReviewRefused("审核步骤不存在", 422)
    if review.state == "returned":
        raise ReviewRefused("该文件已退回经办人修改，等待重新提交后再审核")
    if review.state != "in_review":
        raise ReviewRefused("该文件不在待审核状态")
    current = review.steps[review.current_step]
    if asked is not None and asked != review.current_step:
        raise ReviewRefused(f"审核步骤已变化（当前为“{current['name']}”），请刷新页面后重试")
    if principal is not None:
        why = refusal(current, principal, list(doc.entry.offices or []))
        if why:
            raise ReviewRefused(why, 403)
    return current


def _comment(comment: str, *, required: bool = False, what: str = "审核意见") -> str:
    comment = (comment or "").strip()
    if len(comment) > MAX_COMMENT:
        raise ReviewRefused(f"{what}过长（上限 {MAX_COMMENT} 字，当前 {len(comment)} 字）", 422)
    if required and not comment:
        raise ReviewRefused(f"请填写{what}", 422)
    return comment


def approve_step(session: Session, doc: Document, actor: str, *, principal: Principal | None = None,
                 step: int | str | None = None, comment: str = "") -> bool:
    """Sign the current step off. True when that was the last step (the caller publishes); ``doc`` is locked."""
    comment = _comment(comment)
    review = review_of(session, doc)
    current = _turn(session, doc, review, principal, step)
    _record(session, doc, review, "approve", actor, step=current, comment=comment,
            actor_name=principal.name if principal else "")
    nxt = _enter(session, doc, review, review.current_step + 1, actor)
    if nxt is None:
        review.state = "approved"
        review.finished_at = utcnow()
        return True
    return False


def reject_step(session: Session, doc: Document, actor: str, reason: str, *, principal: Principal | None = None,
                step: int | str | None = None) -> None:
    reason = _comment(reason, required=True, what="不通过的原因")
    review = review_of(session, doc)
    current = _turn(session, doc, review, principal, step)
    _record(session, doc, review, "reject", actor, step=current, comment=reason,
            actor_name=principal.name if principal else "")
    review.state = "rejected"
    review.finished_at = utcnow()


def send_back(session: Session, doc: Document, principal: Principal, *, step: int | str | None, comment: str,
              target: str) -> str:
    """Send back to the clerk (``target`` "clerk") or to an earlier step (its index). Returns a Chinese summary."""
    comment = _comment(comment, required=True, what="退回意见")
    if doc.status != DocumentStatus.pending_review:
        raise ReviewRefused("该文件不在待审核状态")
    review = review_of(session, doc)
    current = _turn(session, doc, review, principal, step)
    if target == "clerk":
        _record(session, doc, review, "send_back", principal.username, step=current, comment=comment,
                target="经办人", actor_name=principal.name)
        review.state = "returned"
        review.returned_from = review.current_step
        review.step_since = utcnow()
        on_sent_back(session, doc, current, comment)
        return f"已退回经办人修改（{current['name']}）"
    to = _parse_step(target)
    if to is None or not 0 <= to < review.current_step or review.steps[to].get("skipped"):
        raise ReviewRefused("只能退回给经办人或之前的审核步骤", 422)
    earlier = review.steps[to]
    _record(session, doc, review, "send_back", principal.username, step=current, comment=comment,
            target=earlier["name"], actor_name=principal.name)
    review.current_step = to
    review.step_since = utcnow()
    on_step_pending(session, doc, earlier)
    return f"已退回“{earlier['name']}”重新审核"


def on_new_version(session: Session, doc: Document, version: int, actor: str) -> str | None:
    """A new version of a document in review: the clerk's resubmission. Restarts the chain where the chain says
    (after a send-back: the sending step for ``from_sender``, else the first step; a correction made while no one
    sent it back restarts from the first step: earlier sign-offs were for other content). Returns the clerk's
    warning, or None when the document is not in review."""
    if doc.status != DocumentStatus.pending_review:
        return None
    review = review_of(session, doc)
    if review.state not in ("in_review", "returned"):
        return None
    begin = 0
    if review.state == "returned" and review.restart == "from_sender" and review.returned_from is not None:
        begin = review.returned_from
    review.version = version
    review.returned_from = None
    _record(session, doc, review, "resubmit", actor)
    step = _enter(session, doc, review, begin, actor)
    if step is None:  # cannot happen with a validated chain; keep the document reviewable at its last step
        step = _enter(session, doc, review, len(review.steps) - 1, actor) or review.steps[-1]
    return f"已重新提交审核，从“{step['name']}”开始"


# --- lists for the to-do list and the dashboard --------------------------------------------------

@dataclass(frozen=True)
class PendingReview:
    document_id: int
    title: str
    index_no: str
    publisher: str
    entry_path: str
    step_index: int
    step_name: str
    state: str  # in_review / returned
    since: dt.datetime
    due_date: dt.date | None
    due_date_provisional: bool
    comment: str = ""  # for a send-back: the reviewer's comment


def _rows(session: Session, states: list[str]) -> list[tuple[DocumentReview, Document]]:
    q = (select(DocumentReview, Document).join(Document, Document.id == DocumentReview.document_id)
         .where(DocumentReview.state.in_(states), Document.status == DocumentStatus.pending_review)
         .options(selectinload(Document.entry), selectinload(Document.publisher)))
    return [(r, d) for r, d in session.execute(q).all()]


def _item(review: DocumentReview, doc: Document, comment: str = "") -> PendingReview:
    step = review.steps[review.current_step] if review.steps else {"index": 0, "name": ""}
    if review.state == "returned" and review.returned_from is not None:
        step = review.steps[review.returned_from]
    return PendingReview(doc.id, doc.title, doc.index_no, doc.publisher.name, doc.entry.path_text, step["index"],
                         step["name"], review.state, review.step_since, doc.due_date, doc.due_date_provisional, comment)


def _by_deadline(items: list[PendingReview]) -> list[PendingReview]:
    return sorted(items, key=lambda i: (i.due_date is None, i.due_date or dt.date.max, i.since, i.document_id))


def pending_for(session: Session, principal: Principal) -> list[PendingReview]:
    """Documents waiting for a step ``principal`` may act at, by deadline (the to-do list)."""
    out = []
    for review, doc in _rows(session, ["in_review"]):
        if may_act(review.steps[review.current_step], principal, list(doc.entry.offices or [])):
            out.append(_item(review, doc))
    # Documents in review before chains existed have no review row: the one-step 保密审查 chain applies to them.
    legacy = {**LEGACY_STEP, "index": 0, "skipped": False}
    if may_act(legacy, principal, []):
        for doc in _unstarted(session):
            out.append(PendingReview(doc.id, doc.title, doc.index_no, doc.publisher.name, doc.entry.path_text, 0,
                                     LEGACY_STEP["name"], "in_review", doc.created_at, doc.due_date,
                                     doc.due_date_provisional))
    return _by_deadline(out)


def _unstarted(session: Session) -> list[Document]:
    return list(session.scalars(
        select(Document).where(Document.status == DocumentStatus.pending_review,
                               ~Document.id.in_(select(DocumentReview.document_id)))
        .options(selectinload(Document.entry), selectinload(Document.publisher))))


def returned_for(session: Session, principal: Principal) -> list[PendingReview]:
    """Send-backs waiting for ``principal`` as clerk (documents of their office sent back for correction)."""
    if not principal.has_role(Role.clerk):
        return []
    rows = [(r, d) for r, d in _rows(session, ["returned"]) if principal.may_submit_for(list(d.entry.offices or []))]
    comments = _last_comments(session, [d.id for _, d in rows])
    return _by_deadline([_item(r, d, comments.get(d.id, "")) for r, d in rows])


def _last_comments(session: Session, ids: list[int]) -> dict[int, str]:
    if not ids:
        return {}
    out: dict[int, str] = {}
    for a in session.scalars(select(ReviewAction).where(ReviewAction.document_id.in_(ids),
                                                        ReviewAction.decision == "send_back")
                             .order_by(ReviewAction.id)):
        out[a.document_id] = a.comment
    return out


def steps_awaiting(session: Session) -> list[PendingReview]:
    """Every document in review or sent back, by deadline (the dashboard's "stuck in review" list)."""
    items = [_item(r, d) for r, d in _rows(session, ["in_review", "returned"])]
    items += [PendingReview(d.id, d.title, d.index_no, d.publisher.name, d.entry.path_text, 0, LEGACY_STEP["name"],
                            "in_review", d.created_at, d.due_date, d.due_date_provisional) for d in _unstarted(session)]
    return _by_deadline(items)


def actions_of(session: Session, document_id: int) -> list[ReviewAction]:
    return list(session.scalars(select(ReviewAction).where(ReviewAction.document_id == document_id)
                                .order_by(ReviewAction.at, ReviewAction.id)))


# --- administration ------------------------------------------------------------------------------

def list_chains(session: Session) -> list[ReviewChain]:
    return list(session.scalars(select(ReviewChain).options(selectinload(ReviewChain.steps)).order_by(ReviewChain.name)))


def list_bindings(session: Session) -> list[ReviewBinding]:
    return list(session.scalars(select(ReviewBinding).join(Publisher).order_by(Publisher.name, ReviewBinding.entry_code)))


def save_chain(session: Session, spec: ChainSpec, actor: str, chain_id: int | None = None) -> ReviewChain:
    """Create a chain (``chain_id`` None) or replace one's name, setting and steps."""
    other = session.scalar(select(ReviewChain).where(ReviewChain.name == spec.name))
    if other is not None and other.id != chain_id:
        raise ChainConfigError([f"已有名为“{spec.name}”的审核流程"])
    if chain_id is None:
        chain = ReviewChain(name=spec.name, created_at=utcnow())
        session.add(chain)
    else:
        chain = session.get(ReviewChain, chain_id)
        if chain is None:
            raise ChainConfigError([f"审核流程 {chain_id} 不存在"])
        _check_bindings_still_valid(session, chain, spec)
        chain.steps.clear()
        session.flush()
    chain.name, chain.restart, chain.description = spec.name, spec.restart, spec.description
    chain.updated_at, chain.updated_by = utcnow(), actor
    for i, s in enumerate(spec.steps):
        chain.steps.append(ReviewStep(position=i, name=s.name, role=s.role, office=s.office, own_office=s.own_office,
                                      users=list(s.users), skippable=s.skippable))
    session.flush()
    audit(session, actor, "review_chain.create" if chain_id is None else "review_chain.update", spec.name,
          spec.model_dump())
    return chain


def _check_bindings_still_valid(session: Session, chain: ReviewChain, spec: ChainSpec) -> None:
    skippable = {s.name for s in spec.steps if s.skippable}
    for b in session.scalars(select(ReviewBinding).where(ReviewBinding.chain_id == chain.id)):
        bad = [n for n in b.skip or [] if n not in skippable]
        if bad:
            raise ChainConfigError([f"适用范围“{b.entry_code or '整个机构'}”跳过了步骤“{'、'.join(bad)}”，"
                                    "修改后该步骤不存在或不可跳过；请先修改适用范围"])


def delete_chain(session: Session, chain_id: int, actor: str) -> str:
    chain = session.get(ReviewChain, chain_id)
    if chain is None:
        raise ChainConfigError([f"审核流程 {chain_id} 不存在"])
    used = session.scalar(select(ReviewBinding.id).where(ReviewBinding.chain_id == chain_id).limit(1))
    if used is not None:
        raise ChainConfigError([f"审核流程“{chain.name}”仍被适用范围使用，请先删除或改用其他流程"])
    name = chain.name
    session.delete(chain)
    session.flush()
    audit(session, actor, "review_chain.delete", name)
    return name


def _validate_binding(session: Session, spec: BindingSpec) -> tuple[Publisher, ReviewChain | None]:
    problems = []
    publisher = session.scalar(select(Publisher).where(Publisher.name == spec.publisher))
    if publisher is None:
        raise ChainConfigError([f"发布机构“{spec.publisher}”不存在"])
    if spec.entry and session.scalar(select(CatalogEntryRow.id).where(
            CatalogEntryRow.publisher_id == publisher.id, CatalogEntryRow.code == spec.entry)) is None:
        problems.append(f"发布机构“{spec.publisher}”的目录中没有编码为“{spec.entry}”的事项")
    chain = None
    if spec.chain:
        chain = session.scalar(select(ReviewChain).where(ReviewChain.name == spec.chain)
                               .options(selectinload(ReviewChain.steps)))
        if chain is None:
            problems.append(f"审核流程“{spec.chain}”不存在")
    if spec.skip and chain is None and not problems:
        problems.append("选择“不审核”时不能设置跳过的步骤")
    if chain is not None:
        names = {s.name: s for s in chain.steps}
        for n in spec.skip:
            if n not in names:
                problems.append(f"审核流程“{chain.name}”中没有步骤“{n}”")
            elif not names[n].skippable:
                problems.append(f"步骤“{n}”不允许跳过")
        if not problems and set(spec.skip) >= set(names):
            problems.append("不能跳过全部步骤（不需要审核时请选择“不审核”）")
    if problems:
        raise ChainConfigError(problems)
    return publisher, chain


def set_binding(session: Session, spec: BindingSpec, actor: str) -> ReviewBinding:
    publisher, chain = _validate_binding(session, spec)
    b = session.scalar(select(ReviewBinding).where(ReviewBinding.publisher_id == publisher.id,
                                                   ReviewBinding.entry_code == spec.entry))
    if b is None:
        b = ReviewBinding(publisher_id=publisher.id, entry_code=spec.entry)
        session.add(b)
    b.chain_id = chain.id if chain else None
    b.skip = list(dict.fromkeys(spec.skip))
    b.updated_at, b.updated_by = utcnow(), actor
    session.flush()
    audit(session, actor, "review_binding.set", f"{spec.publisher}/{spec.entry or '*'}", spec.model_dump())
    return b


def delete_binding(session: Session, binding_id: int, actor: str) -> None:
    b = session.get(ReviewBinding, binding_id)
    if b is None:
        raise ChainConfigError([f"适用范围 {binding_id} 不存在"])
    target = f"{b.publisher_id}/{b.entry_code or '*'}"
    session.delete(b)
    session.flush()
    audit(session, actor, "review_binding.delete", target)


def load_file(session: Session, spec: ChainsFile, actor: str) -> tuple[int, int]:
    """Make the database say what the file says: its chains and bindings replace all others (documents already in
    review keep their snapshots). All or nothing: the caller's transaction is rolled back on any problem."""
    session.execute(delete(ReviewBinding))
    session.flush()
    keep = {c.name for c in spec.chains}
    for chain in session.scalars(select(ReviewChain).where(ReviewChain.name.not_in(keep) if keep else True)):
        session.delete(chain)
    session.flush()
    existing = {c.name: c.id for c in session.scalars(select(ReviewChain))}
    for c in spec.chains:
        save_chain(session, c, actor, existing.get(c.name))
    problems: list[str] = []
    for i, b in enumerate(spec.bindings):
        try:
            set_binding(session, b, actor)
        except ChainConfigError as exc:
            problems += [f"适用范围第 {i + 1} 项：{m}" for m in exc.messages]
    if problems:
        raise ChainConfigError(problems)
    audit(session, actor, "review_chains.load", "file", {"chains": len(spec.chains), "bindings": len(spec.bindings)})
    return len(spec.chains), len(spec.bindings)


def dump(session: Session) -> dict[str, Any]:
    """The database's chains and bindings in the file's format."""
    chains = []
    for c in list_chains(session):
        steps = []
        for s in c.steps:
            d: dict[str, Any] = {"name": s.name}
            for key, default in (("role", ""), ("office", ""), ("own_office", False), ("users", []),
                                 ("skippable", False)):
                value = getattr(s, key)
                if value != default:
                    d[key] = list(value) if isinstance(value, list) else value
            steps.append(d)
        chains.append({"name": c.name, "restart": c.restart, **({"description": c.description} if c.description else {}),
                       "steps": steps})
    bindings = []
    for b in session.scalars(select(ReviewBinding).options(selectinload(ReviewBinding.chain))):
        publisher = session.get(Publisher, b.publisher_id)
        d = {"publisher": publisher.name if publisher else str(b.publisher_id)}
        if b.entry_code:
            d["entry"] = b.entry_code
        d["chain"] = b.chain.name if b.chain else None
        if b.skip:
            d["skip"] = list(b.skip)
        bindings.append(d)
    return {"chains": chains, "bindings": bindings}

