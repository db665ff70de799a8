"""Tables of the review chains (0014_review).

A chain is named and ordered (``review_steps``); a binding applies it to a publisher (``entry_code`` empty) or to one
catalog entry of that publisher (by code, so catalog re-imports keep it). A document in review keeps a snapshot of
its chain (``document_reviews.steps``): editing a chain does not change the rules under documents already in review.
Every decision is a ``review_actions`` row (who, when, step, decision, comment, version): the 审批单 is read from them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from orchestrator.models import Base, utcnow


class ReviewChain(Base):
    __tablename__ = "review_chains"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    # After a send-back to the clerk, the resubmitted version restarts "from_start" or "from_sender" (the step that
    # sent it back).
    restart: Mapped[str] = mapped_column(String(20), default="from_start")
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(100), default="")

    steps: Mapped[list[ReviewStep]] = relationship(back_populates="chain", order_by="ReviewStep.position",
                                                   cascade="all, delete-orphan")


class ReviewStep(Base):
    __tablename__ = "review_steps"
    __table_args__ = (UniqueConstraint("chain_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    chain_id: Mapped[int] = mapped_column(ForeignKey("review_chains.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(50))
    role: Mapped[str] = mapped_column(String(20), default="")  # auth.Role value; "" = any signed-in role
    office: Mapped[str] = mapped_column(String(200), default="")  # the actor's office must be this one
    own_office: Mapped[bool] = mapped_column(Boolean, default=False)  # ... or one of the document's responsible offices
    users: Mapped[list[str]] = mapped_column(JSON, default=list)  # named users (user names): only they may act
    skippable: Mapped[bool] = mapped_column(Boolean, default=False)  # a binding may skip it for an entry

    chain: Mapped[ReviewChain] = relationship(back_populates="steps")


class ReviewBinding(Base):
    __tablename__ = "review_bindings"
    __table_args__ = (UniqueConstraint("publisher_id", "entry_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    publisher_id: Mapped[int] = mapped_column(ForeignKey("publishers.id"), index=True)
    entry_code: Mapped[str] = mapped_column(String(64), default="")  # "" = every entry of the publisher
    chain_id: Mapped[int | None] = mapped_column(ForeignKey("review_chains.id"), nullable=True)  # None = 不审核
    skip: Mapped[list[str]] = mapped_column(JSON, default=list)  # names of skippable steps skipped for this binding
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(100), default="")

    chain: Mapped[ReviewChain | None] = relationship()


class DocumentReview(Base):
    __tablename__ = "document_reviews"
    __table_args__ = (Index("ix_document_reviews_state", "state"),)

    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"), primary_key=True)
    chain_name: Mapped[str] = mapped_column(String(100), default="")
    steps: Mapped[list[Any]] = mapped_column(JSON, default=list)  # snapshot: [{name, role, office, ..., skipped}]
    restart: Mapped[str] = mapped_column(String(20), default="from_start")
    current_step: Mapped[int] = mapped_column(Integer, default=0)
    # in_review (waits at current_step), returned (sent back to the clerk), approved, rejected
    state: Mapped[str] = mapped_column(String(20), default="in_review")
    returned_from: Mapped[int | None] = mapped_column(Integer, nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1)  # the version under review
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    step_since: Mapped[dt.datetime] = mapped_column(default=utcnow)  # when the current step (or the return) began
    finished_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)


class ReviewAction(Base):
    __tablename__ = "review_actions"

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    step_index: Mapped[int | None] = mapped_column(Integer, nullable=True)
    step_name: Mapped[str] = mapped_column(String(50), default="")
    # submit, resubmit, approve, send_back, reject, skip
    decision: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(100), default="")
    actor_name: Mapped[str] = mapped_column(String(200), default="")
    comment: Mapped[str] = mapped_column(Text, default="")
    target: Mapped[str] = mapped_column(String(60), default="")  # a send-back's destination: "clerk" or a step name
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
