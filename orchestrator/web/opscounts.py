"""Delivery counts kept by database triggers (migration 0012): the dashboard's numbers without counting a million rows.

Every insert, delete or state change of a delivery appends a +1/-1 row to ``delivery_counts``; the number of
deliveries with a key is ``SUM(n)`` over that key. Reading folds the deltas into one row per key once they pile up
(``FOLD_AT``), in the reader's transaction: ``DELETE ... RETURNING`` takes exactly the rows it removes, so a
concurrent fold or a worker appending meanwhile never loses or double-counts a delta.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.orm import Session

from orchestrator.models import DeliveryCount

# Folded, the table holds one row per key (channels × states plus the failure groups): a few hundred rows.
FOLD_AT = 2000

Key = tuple[str, str, str, str]


@dataclass(frozen=True)
class CountRow:
    channel: str
    status: str
    error_class: str  # set for failed / not_configured only
    error_key: str  # the first 120 characters of the error, for failed / not_configured only
    n: int


def fold(session: Session) -> None:
    """Replace the deltas by one row per key (keys whose deliveries are all gone disappear)."""
    c = DeliveryCount
    if session.get_bind().dialect.name == "postgresql":  # one statement, no rows through Python
        session.execute(text(
            "WITH gone AS (DELETE FROM delivery_counts RETURNING channel, status, error_class, error_key, n)"
            " INSERT INTO delivery_counts (channel, status, error_class, error_key, n)"
            " SELECT channel, status, error_class, error_key, sum(n) FROM gone"
            " GROUP BY channel, status, error_class, error_key HAVING sum(n) <> 0"))
        return
    sums: dict[Key, int] = defaultdict(int)
    for ch, st, ec, ek, n in session.execute(delete(c).returning(c.channel, c.status, c.error_class, c.error_key, c.n)):
        sums[(ch, st, ec, ek)] += n
    rows = [{"channel": k[0], "status": k[1], "error_class": k[2], "error_key": k[3], "n": n} for k, n in sums.items() if n]
    if rows:
        session.execute(insert(c), rows)
    session.flush()


def delivery_counts(session: Session) -> list[CountRow]:
    """The current number of deliveries per key (keys with none left are omitted)."""
    c = DeliveryCount
    if (session.scalar(select(func.count()).select_from(select(c.id).limit(FOLD_AT + 1).subquery())) or 0) > FOLD_AT:
        fold(session)
    total = func.sum(c.n)
    return [CountRow(*r) for r in session.execute(
        select(c.channel, c.status, c.error_class, c.error_key, total)
        .group_by(c.channel, c.status, c.error_class, c.error_key).having(total != 0))]
