"""Throttling of failed log-ins and bad API tokens, per account and per client address, kept in the database.

- An account (by the user name typed, whether or not it exists, so a lock-out never tells which names exist) is locked
  after ``login_max_failures`` failures; a client address after ``login_address_max_failures`` failures across any
  accounts (and bad API tokens, counted under their own scope with the same limit).
- A lock lasts ``login_lock_seconds``, doubling with each further failure after it ends, up to ``login_lock_max_seconds``.
  While locked, the password is not even checked: the right password is refused too.
- Failures further apart than ``login_failure_window_seconds`` start a new count; a successful log-in clears the
  account's count (not the address's: one good log-in behind a shared address must not wipe an attacker's record).
- An admin lifts a lock-out on the users page (:func:`lift`).

Rows are updated under ``SELECT … FOR UPDATE`` on PostgreSQL, so concurrent processes count every failure.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from orchestrator.db import session_scope
from orchestrator.models import AuthThrottle, utcnow
from orchestrator.settings import get_settings

ACCOUNT, ADDRESS, TOKEN = "account", "address", "token"
SCOPE_LABELS = {ACCOUNT: "账号", ADDRESS: "登录地址", TOKEN: "API 令牌来源地址"}


@dataclass(frozen=True)
class Lockout:
    scope: str
    key: str
    failures: int
    locked_until: dt.datetime

    @property
    def seconds_left(self) -> int:
        return max(1, math.ceil((self.locked_until - utcnow()).total_seconds()))


def account_key(username: str) -> str:
    return username.strip().lower()[:200]


def _aware(v: dt.datetime | None) -> dt.datetime | None:
    return v.replace(tzinfo=dt.UTC) if v is not None and v.tzinfo is None else v


def _limit(scope: str) -> int:
    s = get_settings()
    return s.login_max_failures if scope == ACCOUNT else s.login_address_max_failures


def _lock_seconds(failures: int, limit: int) -> float:
    s = get_settings()
    return min(s.login_lock_seconds * 2 ** min(failures - limit, 30), s.login_lock_max_seconds)


def _row(session: Session, scope: str, key: str) -> AuthThrottle:
    stmt = select(AuthThrottle).where(AuthThrottle.scope == scope, AuthThrottle.key == key).with_for_update()
    row = session.scalar(stmt)
    if row is None:
        try:
            with session.begin_nested():
                row = AuthThrottle(scope=scope, key=key, failures=0)
                session.add(row)
        except IntegrityError:  # another process inserted it first
            row = session.scalar(stmt)
            assert row is not None
    return row


def locked(*keys: tuple[str, str]) -> Lockout | None:
    """The longest lock-out among ``(scope, key)`` pairs, or None when none of them is locked now."""
    wanted = [(s, k) for s, k in keys if k]
    if not wanted:
        return None
    now = utcnow()
    found: Lockout | None = None
    with session_scope() as session:
        for scope, key in wanted:
            row = session.scalar(select(AuthThrottle).where(AuthThrottle.scope == scope, AuthThrottle.key == key))
            until = _aware(row.locked_until) if row else None
            if row is not None and until is not None and until > now and (found is None or until > found.locked_until):
                found = Lockout(scope, key, row.failures, until)
    return found


def record_failure(*keys: tuple[str, str]) -> Lockout | None:
    """Count one failure for each ``(scope, key)``; returns the lock-out it caused, if any."""
    now = utcnow()
    window = dt.timedelta(seconds=get_settings().login_failure_window_seconds)
    caused: Lockout | None = None
    with session_scope() as session:
        for scope, key in keys:
            if not key:
                continue
            row = _row(session, scope, key)
            last = _aware(row.last_failure_at)
            until = _aware(row.locked_until)
            # A quiet spell starts a new count (but never while, or right after, a lock-out: that keeps doubling).
            if last is not None and now - last > window and (until is None or now - until > window):
                row.failures = 0
            row.failures += 1
            row.last_failure_at = now
            limit = _limit(scope)
            if row.failures >= limit:
                row.locked_until = now + dt.timedelta(seconds=_lock_seconds(row.failures, limit))
                lock = Lockout(scope, key, row.failures, row.locked_until)
                if caused is None or lock.locked_until > caused.locked_until:
                    caused = lock
    return caused


def reset(scope: str, key: str) -> None:
    with session_scope() as session:
        session.execute(delete(AuthThrottle).where(AuthThrottle.scope == scope, AuthThrottle.key == key))


def lift(scope: str, key: str) -> bool:
    """An admin lifts a lock-out (and forgets the failures). True when there was something to lift."""
    with session_scope() as session:
        n = session.execute(delete(AuthThrottle).where(AuthThrottle.scope == scope, AuthThrottle.key == key)).rowcount
    return bool(n)


def active_lockouts() -> list[Lockout]:
    now = utcnow()
    with session_scope() as session:
        rows = session.scalars(select(AuthThrottle).where(AuthThrottle.locked_until > now)
                               .order_by(AuthThrottle.scope, AuthThrottle.key)).all()
        return [Lockout(r.scope, r.key, r.failures, _aware(r.locked_until) or now) for r in rows]


def wait_text(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} 秒"
    return f"{math.ceil(seconds / 60)} 分钟"
