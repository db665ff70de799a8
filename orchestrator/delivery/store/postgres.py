"""The PostgreSQL store: claim (+ context), finish and a first submission as one statement each.

Data-modifying CTEs keep every rule of the portable store (conditional claim, a transition row per state change, an
attempt row per attempt, the outcome written only under our lease; the same submission rows and locking) while
costing one round trip. The worker's statements run in autocommit mode: each is its own transaction, so the lease is
durable before the adapter runs. The claim and the outcome, run once per delivery, go through :class:`DriverStatement`
(compiled once, executed on psycopg's own cursor).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import namedtuple
from functools import lru_cache
from typing import Any

import psycopg
from sqlalchemy import (
    Connection,
    DateTime,
    Engine,
    Integer,
    String,
    Text,
    bindparam,
    case,
    cast,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    true,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from channels.base import DeliveryContext
from orchestrator.db import get_autocommit_engine
from orchestrator.delivery import rules
from orchestrator.delivery.rules import Claim, Outcome
from orchestrator.delivery.store.base import (
    ATTEMPTS,
    DELIVERIES,
    TRANSITIONS,
    D,
    DeliveryStore,
    NewDelivery,
    Submission,
    Work,
    index_prefix,
)
from orchestrator.delivery.store.context import CTX_DELIVERY_COLS, context_from_row, context_select
from orchestrator.models import Document, DocumentVersion, IndexSequence, Publisher, utcnow
from orchestrator.settings import Settings

log = logging.getLogger(__name__)
S = rules.S
_P_ID = bindparam("b_id", type_=Integer)
_P_OWNER = bindparam("b_owner", type_=String)
_P_NOW = bindparam("b_now", type_=DateTime(timezone=True))


class DriverStatement:
    """A SQLAlchemy statement compiled once and run on the driver's own cursor: the per-delivery hot path.

    SQLAlchemy's execution is right but costs, on every call, the bound parameters rebuilt from the compiled form and
    psycopg's ``cursor.description`` (one object per column: 44 for the claim), about as much client CPU as the
    channel's HTTP call. Here the SQL text, the statement's own literal values and the bind and result processors
    (``UTCDateTime`` among them) are worked out once; a call binds, executes and returns named tuples of processed
    values. A driver error is raised as SQLAlchemy's ``DBAPIError``; when the connection broke, the connection and
    the pool are invalidated first, as an ordinary execution would (the caller's retry on a fresh connection relies
    on it).
    """

    def __init__(self, statement) -> None:
        dialect = PGDialect_psycopg()
        compiled = statement.compile(dialect=dialect)
        self.sql = compiled.string
        binds = {name: bind for bind, name in compiled.bind_names.items()}  # as named in the SQL text
        # The statement's own values (literals, prebuilt conditions); the required ones come with each call.
        self.defaults: dict[str, Any] = {name: bind.effective_value for name, bind in binds.items() if not bind.required}
        self.bind_processors = {
            name: proc for name, bind in binds.items()
            if (proc := bind.type.dialect_impl(dialect).bind_processor(dialect)) is not None}
        columns = list(statement.selected_columns)
        self.row = namedtuple("DriverRow", [c.key for c in columns])  # a bad or repeated name fails at import
        self.result_processors = [c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns]
        if not any(self.result_processors):
            self.result_processors = []

    def params(self, values: dict[str, Any]) -> dict[str, Any]:
        params = {**self.defaults, **values}
        for name, proc in self.bind_processors.items():
            params[name] = proc(params[name])
        return params

    def rows(self, conn: Connection, values: dict[str, Any]) -> list:
        params = self.params(values)
        driver = conn.connection.driver_connection
        try:
            with driver.cursor() as cur:
                cur.execute(self.sql, params)
                raw = cur.fetchall()
        except psycopg.Error as exc:
            broken = driver.closed or driver.broken
            if broken:  # as SQLAlchemy does on a disconnect: this connection, and every other pooled one, is stale
                conn.invalidate(exc)
                conn.engine.dispose()
            raise DBAPIError.instance(self.sql, params, exc, psycopg.Error, connection_invalidated=broken) from exc
        procs = self.result_processors
        if procs:
            return [self.row(*(p(v) if p is not None else v for p, v in zip(procs, r, strict=True))) for r in raw]
        return [self.row(*r) for r in raw]


def _claim_statement():
    locked = (
        select(D.id, D.status)
        .where(D.id == _P_ID, or_(*(D.status == st for st in rules.CLAIMABLE)),  # no expanding IN: fully prebuilt
               or_(D.not_before.is_(None), D.not_before <= _P_NOW),
               or_(D.status != S.retrying, D.next_attempt_at.is_(None),
                   D.next_attempt_at <= bindparam("b_soon", type_=DateTime(timezone=True))))
        .with_for_update()  # READ COMMITTED re-checks these conditions on the newest row version
        .cte("locked")
    )
    claimed = (
        update(DELIVERIES)
        .where(D.id == locked.c.id)
        .values(status=S.sending, attempts=D.attempts + 1, lease_owner=_P_OWNER, updated_at=_P_NOW,
                lease_until=bindparam("b_lease", type_=DateTime(timezone=True)))
        .returning(*(D[k] for k in CTX_DELIVERY_COLS), locked.c.status.label("from_status"), D.max_attempts)
        .cte("claimed")
    )
    before, after = rules.CLAIM_REASON
    transition = insert(TRANSITIONS).from_select(
        ["delivery_id", "from_status", "to_status", "reason", "actor", "at"],
        select(claimed.c.id, claimed.c.from_status, literal(S.sending.value, String),
               literal(before, Text) + cast(claimed.c.attempts, Text) + literal(after, Text), _P_OWNER, _P_NOW),
    ).cte("claim_transition")
    attempt = insert(ATTEMPTS).from_select(
        ["delivery_id", "number", "operation", "worker", "started_at", "outcome", "error_class", "message",
         "response_excerpt"],
        select(claimed.c.id, claimed.c.attempts, claimed.c.action, _P_OWNER, _P_NOW, literal("", String),
               literal("", String), literal("", Text), literal("", Text)),
    ).returning(ATTEMPTS.c.id, ATTEMPTS.c.delivery_id).cte("claim_attempt")
    site = DELIVERIES.alias("site")
    site_url = (
        select(site.c.receipt["url"].as_string())
        .where(site.c.document_id == claimed.c.document_id, site.c.channel == "website",
               or_(site.c.status == S.delivered, site.c.status == S.verified), site.c.action != "withdraw",
               site.c.receipt["url"].as_string() != "")
        .order_by(site.c.id.desc()).limit(1).scalar_subquery()
    )
    return (
        context_select(claimed, attempt.c.id.label("attempt_id"), claimed.c.from_status, claimed.c.max_attempts,
                       site_url.label("site_url"))
        .join(attempt, attempt.c.delivery_id == claimed.c.id)
        .add_cte(transition)
    )


_CLAIM = DriverStatement(_claim_statement())


@lru_cache(maxsize=32)
def _finish_statement(keys: tuple[str, ...], n_transitions: int) -> DriverStatement:
    """One statement: the conditional outcome UPDATE, its transition rows (only if it matched), and the attempt row
    (marked stale if it did not). Cached per shape: the set of columns written and the number of transitions."""
    finished = (
        update(DELIVERIES)
        .where(D.id == _P_ID, D.status == S.sending, D.lease_owner == _P_OWNER)
        .values({k: bindparam(f"v_{k}", type_=D[k].type) for k in keys})
        .returning(D.id)
        .cte("finished")
    )
    won = exists().where(finished.c.id.is_not(None))
    transitions = [
        insert(TRANSITIONS).from_select(
            ["delivery_id", "from_status", "to_status", "reason", "actor", "at"],
            select(finished.c.id, bindparam(f"t{i}_from", type_=String), bindparam(f"t{i}_to", type_=String),
                   bindparam(f"t{i}_reason", type_=Text), _P_OWNER, _P_NOW),
        ).cte(f"finish_transition_{i}")
        for i in range(n_transitions)
    ]
    A = ATTEMPTS.c
    attempt = (
        update(ATTEMPTS)
        .where(A.id == bindparam("a_id", type_=Integer))
        .values(ended_at=_P_NOW,
                outcome=case((won, bindparam("a_outcome", type_=String)), else_=literal("stale", String)),
                message=case((won, bindparam("a_message", type_=Text)), else_=literal(rules.STALE_MESSAGE, Text)),
                error_class=bindparam("a_error_class", type_=String),
                response_excerpt=bindparam("a_response_excerpt", type_=Text))
        .cte("finish_attempt")
    )
    return DriverStatement(select(
        won.label("won"),
        select(D.status).where(D.id == _P_ID).scalar_subquery().label("current"),
    ).add_cte(*transitions, attempt))


@lru_cache(maxsize=32)
def _submission_statement(document_keys: tuple[str, ...], version_keys: tuple[str, ...], n_deliveries: int):
    def p(name: str, type_):
        return bindparam(name, type_=type_)

    seqs = IndexSequence.__table__
    seq = (
        postgresql.insert(seqs).values(publisher_id=p("s_publisher", Integer), year=p("s_year", Integer), last_value=1)
        .on_conflict_do_update(index_elements=[seqs.c.publisher_id, seqs.c.year],
                               set_={"last_value": seqs.c.last_value + 1})
        .returning(seqs.c.last_value)
        .cte("seq")
    )
    number = cast(seq.c.last_value, Text)
    docs = Document.__table__
    now = p("s_now", docs.c.created_at.type)

    def consts(table, values: dict) -> tuple[list[str], list]:  # the column defaults, spelled out
        return list(values), [literal(v, table.c[k].type) for k, v in values.items()]

    doc_names, doc_values = consts(docs, {"current_version": 1, "withdraw_reason": ""})
    doc = (
        insert(docs).from_select(
            [*document_keys, "index_no", "created_at", *doc_names],
            select(*(p(f"d_{k}", docs.c[k].type) for k in document_keys),
                   p("s_prefix", Text) + case((func.length(number) < 5, func.lpad(number, 5, "0")), else_=number),
                   now, *doc_values).select_from(seq), include_defaults=False)
        .returning(docs.c.id, docs.c.index_no)
        .cte("doc")
    )
    versions = DocumentVersion.__table__
    ver_names, ver_values = consts(versions, {"change_note": ""})
    ver = (
        insert(versions).from_select(
            [*version_keys, "document_id", "created_at", *ver_names],
            select(*(p(f"v_{k}", versions.c[k].type) for k in version_keys), doc.c.id, now, *ver_values)
            .select_from(doc), include_defaults=False)
        .returning(versions.c.id, versions.c.document_id)
        .cte("ver")
    )
    if not n_deliveries:
        return select(doc.c.id.label("document_id"), doc.c.index_no, ver.c.id.label("version_id"),
                      literal(None, Integer).label("delivery_id"), literal(None, String).label("channel"),
                      literal(None, String).label("status")).select_from(doc.join(ver, true()))
    dl_names, dl_values = consts(DELIVERIES, rules.DELIVERY_DEFAULTS)
    dests = union_all(*(
        select(p(f"l{i}_channel", String).label("channel"), p(f"l{i}_destination", String).label("destination"),
               p(f"l{i}_key", String).label("key_suffix"))
        for i in range(n_deliveries)
    )).cte("dests") if n_deliveries > 1 else select(
        p("l0_channel", String).label("channel"), p("l0_destination", String).label("destination"),
        p("l0_key", String).label("key_suffix")).cte("dests")
    dl = (
        insert(DELIVERIES).from_select(
            ["document_id", "version_id", "version", "channel", "destination", "action", "idempotency_key", "status",
             "queued_at", "max_attempts", "not_before", "created_at", "updated_at", *dl_names],
            select(ver.c.document_id, ver.c.id, literal(1, Integer), dests.c.channel, dests.c.destination,
                   literal("publish", String),
                   literal(rules.KEY_PREFIX, Text) + cast(ver.c.document_id, Text) + dests.c.key_suffix,
                   p("l_status", String), now, p("l_max_attempts", Integer), p("l_not_before", D.not_before.type),
                   now, now, *dl_values).select_from(ver.join(dests, true())), include_defaults=False)
        .returning(D.id, D.channel, D.status)
        .cte("dl")
    )
    transitions = insert(TRANSITIONS).from_select(
        ["delivery_id", "from_status", "to_status", "reason", "actor", "at"],
        select(dl.c.id, literal("", String), dl.c.status, literal(rules.CREATED_REASON, Text), literal("", String), now),
        include_defaults=False,
    ).cte("dl_transitions")
    return (
        select(doc.c.id.label("document_id"), doc.c.index_no, ver.c.id.label("version_id"),
               dl.c.id.label("delivery_id"), dl.c.channel, dl.c.status)
        .select_from(doc.join(ver, true()).join(dl, true()))
        .add_cte(transitions)
    )


class PostgresStore(DeliveryStore):
    name = "postgresql"
    skip_locked = True

    def lease_engine(self) -> Engine:
        return get_autocommit_engine()

    def run_claimed(self, delivery_id: int, settings: Settings, owner: str, work: Work) -> str | None:
        # One statement for claim + context, one for the outcome, each its own transaction, on an engine without
        # pre-ping: a stale pooled connection fails on the claim before anything ran; SQLAlchemy then invalidates
        # the pool and one retry on a fresh connection recovers (what pre-ping did, without its round trip).
        engine = get_autocommit_engine()
        for retry in (False, True):
            conn = engine.connect()
            try:
                claimed = self.claim_with_context(conn, delivery_id, settings, owner)
            except DBAPIError as exc:
                conn.close()
                if retry or not exc.connection_invalidated:
                    raise
                log.warning("database connection lost; claiming delivery %s again on a fresh connection", delivery_id)
                continue
            try:
                return None if claimed is None else work(conn, *claimed)
            finally:
                conn.close()
        return None  # not reached: the second try returns or raises

    def claim_with_context(self, conn: Connection, delivery_id: int, settings: Settings,
                           owner: str) -> tuple[Claim, DeliveryContext] | None:
        """Autocommit connection: claim the row, log the transition and the attempt, and read the adapter's
        context, in one statement (its own transaction). A duplicate or early message gets None and changes nothing."""
        now = utcnow()
        rows = _CLAIM.rows(conn, {
            "b_id": delivery_id, "b_owner": owner, "b_now": now, "b_soon": now + rules.CLAIM_SLACK,
            "b_lease": now + dt.timedelta(seconds=settings.lease_seconds),
        })
        if not rows:
            return None
        row = rows[0]
        c = Claim(delivery_id, row.attempt_id, row.attempts, row.max_attempts, owner)
        return c, context_from_row(conn, row, settings, owner)

    def finish(self, conn: Connection, c: Claim, now: dt.datetime, out: Outcome) -> tuple[bool, str]:
        values, attempt = out.values, out.attempt
        keys = tuple(sorted(values))
        params = {"b_id": c.delivery_id, "b_owner": c.owner, "b_now": now, "a_id": c.attempt_id,
                  "a_outcome": attempt["outcome"], "a_message": attempt.get("message", ""),
                  "a_error_class": attempt.get("error_class", ""),
                  "a_response_excerpt": attempt.get("response_excerpt", "")}
        params.update({f"v_{k}": values[k] for k in keys})
        for i, (f, t, r) in enumerate(out.transitions):
            params.update({f"t{i}_from": f, f"t{i}_to": t, f"t{i}_reason": r[:2000]})
        (row,) = _finish_statement(keys, len(out.transitions)).rows(conn, params)
        return bool(row.won), (out.to if row.won else row.current)

    def allocate_index_no(self, session: Session, publisher: Publisher, year: int) -> str:
        stmt = postgresql.insert(IndexSequence).values(publisher_id=publisher.id, year=year, last_value=1)
        value = session.execute(
            stmt.on_conflict_do_update(index_elements=[IndexSequence.publisher_id, IndexSequence.year],
                                       set_={"last_value": IndexSequence.last_value + 1})
            .returning(IndexSequence.last_value)
        ).scalar_one()
        return f"{index_prefix(publisher, year)}{value:05d}"

    def write_submission(self, session: Session, settings: Settings, publisher: Publisher, year: int, document: dict,
                         version: dict, destinations: list[tuple[str, str]],
                         publish_at: dt.datetime | None, now: dt.datetime) -> Submission:
        """Same rows, same values and the same locking as the portable store (the index counter row stays locked
        until the submit transaction commits), in one round trip instead of five."""
        status, not_before = rules.first_state("publish", publish_at, now)
        params = {
            "s_publisher": publisher.id, "s_year": year, "s_prefix": index_prefix(publisher, year), "s_now": now,
            **{f"d_{k}": v for k, v in document.items()}, **{f"v_{k}": v for k, v in version.items()},
            "l_status": status, "l_max_attempts": settings.max_attempts, "l_not_before": not_before,
        }
        for i, (channel, name) in enumerate(destinations):
            params.update({f"l{i}_channel": channel, f"l{i}_destination": name,
                           f"l{i}_key": rules.key_suffix(1, channel, name, "publish")})
        rows = session.execute(_submission_statement(tuple(sorted(document)), tuple(sorted(version)),
                                                     len(destinations)), params).all()
        first = rows[0]
        deliveries = sorted(NewDelivery(r.delivery_id, r.channel, r.status) for r in rows if r.delivery_id is not None)
        return Submission(first.document_id, first.index_no, first.version_id, deliveries)
