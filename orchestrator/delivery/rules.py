"""The delivery rules, written once: states, keys, the queued-vs-scheduled decision, and outcome → state.

Both stores (:mod:`orchestrator.delivery.store`) consume these: the portable one (SQLAlchemy Core, SQLite) and the
PostgreSQL one (single-statement CTEs) write the same rows with the same values because they take them from here.
Nothing in this module touches the database; a decision that needs a stored value gets it through a callable.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from channels.base import NotConfigured, PermanentError, Receipt, TransientError
from orchestrator.models import DeliveryStatus
from orchestrator.settings import Settings

S = DeliveryStatus
# A message may claim a row only in these states.
CLAIMABLE = (S.pending, S.queued, S.retrying)
# A retrying row is claimable this long before its next_attempt_at (an ETA message may arrive a little early).
CLAIM_SLACK = dt.timedelta(seconds=1)
POLL_INTERVAL = dt.timedelta(seconds=5)
REQUEUE_AFTER = dt.timedelta(minutes=10)  # a queued row older than this is resent even if its queue is not empty
MAX_AWAIT = dt.timedelta(hours=24)
# An attempt that ended in a transient error after completing a step (ctx.progressed) is recorded with this outcome and
# not counted against max_attempts; a hard ceiling still bounds an adapter that "progresses" forever.
PROGRESS = "progress"
PROGRESS_CEILING = 3  # at most this many times max_attempts attempts in all
STALE_MESSAGE = "租约已过期，结果未采用"
CREATED_REASON = "随文件登记创建"
# The transition reason of a claim: "第 N 次尝试" (the PostgreSQL store builds it in SQL from these two parts).
CLAIM_REASON = ("第 ", " 次尝试")
# Columns a fresh delivery row starts with besides its identity (the PostgreSQL store spells the defaults out).
DELIVERY_DEFAULTS = {
    "attempts": 0, "lease_owner": "", "last_error": "", "error_class": "", "receipt": {}, "checkpoint": {},
    "confirmed_by": "", "confirmation_note": "", "evidence_sha256": "", "evidence_filename": "",
}


def claim_reason(number: int) -> str:
    return f"{CLAIM_REASON[0]}{number}{CLAIM_REASON[1]}"


# --- keys and the first state of a delivery ------------------------------------------------------------------------

KEY_PREFIX = "doc"


def key_suffix(version: int, channel: str, destination: str, action: str) -> str:
    """The idempotency key after ``doc<document id>`` (the PostgreSQL store appends it to the id it just got)."""
    return f"-v{version}-{channel}-{destination}-{action}"


def idempotency_key(document_id: int, version: int, channel: str, destination: str, action: str) -> str:
    """What an adapter sends the channel so a repeated attempt cannot publish twice."""
    return f"{KEY_PREFIX}{document_id}{key_suffix(version, channel, destination, action)}"


def first_state(action: str, publish_at: dt.datetime | None, now: dt.datetime) -> tuple[DeliveryStatus, dt.datetime | None]:
    """(status, not_before) of a new delivery row: an embargoed publication waits as ``scheduled`` for beat; anything
    else is written ``queued`` and handed to the broker right after the commit (the sweeper resends a lost hand-off)."""
    embargoed = publish_at is not None and publish_at > now
    if embargoed and action == "publish":
        return S.scheduled, publish_at
    return S.queued, publish_at if embargoed else None


# --- a claim -------------------------------------------------------------------------------------------------------

@dataclass
class Claim:
    delivery_id: int
    attempt_id: int
    attempt_no: int
    max_attempts: int
    owner: str


def claimable(status: str, not_before: dt.datetime | None, next_attempt_at: dt.datetime | None,
              now: dt.datetime) -> bool:
    """May a message claim a row in this state now? (The PostgreSQL store states the same conditions in SQL.)"""
    if status not in CLAIMABLE:
        return False
    if not_before and not_before > now:
        return False
    return not (status == S.retrying and next_attempt_at and next_attempt_at > now + CLAIM_SLACK)


# --- the outcome of an attempt -------------------------------------------------------------------------------------

@dataclass
class Outcome:
    """What finishing an attempt writes: the delivery's new values (``status`` among them), the attempt row's
    values, and the transition rows (from, to, reason). Written only while the worker still holds the lease."""

    to: str
    values: dict = field(default_factory=dict)
    attempt: dict = field(default_factory=dict)
    transitions: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def retry_at(self) -> dt.datetime | None:
        return self.values.get("next_attempt_at") if self.to == S.retrying else None


def backoff_seconds(attempt: int, settings: Settings) -> float:
    """Exponential backoff with jitter (half fixed, half random), capped."""
    base = min(settings.backoff_cap_seconds, settings.backoff_base_seconds * (2 ** max(0, attempt - 1)))
    return base / 2 + random.uniform(0, base / 2)


def fmt_seconds(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:.0f} 小时"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:.0f} 分钟"
    return f"{seconds:.0f} 秒"


def outcome(c: Claim, settings: Settings, now: dt.datetime, *, receipt: Receipt | None, error: BaseException | None,
            verified: bool | None, verify_note: str, progressed: bool,
            deferred_since: Callable[[], dt.datetime | None], progress_attempts: Callable[[], int]) -> Outcome:
    """The receipt or the error decides the next state. ``deferred_since`` / ``progress_attempts`` read the row's
    stored values, only when the decision needs them (most attempts need neither)."""
    values: dict = {"lease_until": None, "updated_at": now}
    attempt: dict = {"ended_at": now}
    transitions: list[tuple[str, str, str]] = []
    if receipt is not None:
        values.update(receipt=receipt.to_dict(), last_error="", error_class="")
        attempt.update(outcome="success", response_excerpt=str(receipt.url or receipt.external_id or "")[:2000])
        if receipt.needs_person:
            to = S.awaiting_confirmation
            transitions.append((S.sending, to, str(receipt.data.get("task", "等待人工处理并确认"))))
            attempt["outcome"] = "manual"
        elif receipt.pending:
            to = S.awaiting_channel
            transitions.append((S.sending, to, "渠道已受理，等待渠道处理结果"))
            values["next_attempt_at"] = now + POLL_INTERVAL
            attempt["outcome"] = "pending"
        else:
            to = S.delivered
            values["delivered_at"] = now
            if verified:
                transitions.append((S.sending, S.delivered, "已送达"))
                to = S.verified
                values["verified_at"] = now
                transitions.append((S.delivered, S.verified, "已核验：页面可访问且内容一致"))
            elif verified is False:  # the page may not be live yet: checked again later, then flagged
                values["verify_tries"] = 1
                if settings.verify_attempts > 1:
                    values["verify_due_at"] = now + dt.timedelta(seconds=settings.verify_interval_seconds)
                    transitions.append((S.sending, S.delivered, f"已送达；核验未通过：{verify_note}"
                                        f"（{fmt_seconds(settings.verify_interval_seconds)}后再次核验）"))
                else:
                    values["verify_error"] = verify_note[:4000]
                    transitions.append((S.sending, S.delivered, "已送达"))
                    transitions.append((S.delivered, S.delivered, f"核验失败：{verify_note}"))
            else:
                transitions.append((S.sending, S.delivered, "已送达"))
    else:
        assert error is not None
        msg = (getattr(error, "message", None) or f"程序错误：{type(error).__name__}: {error}")[:4000]
        values.update(last_error=msg, error_class=type(error).__name__)
        attempt.update(error_class=type(error).__name__, message=msg, response_excerpt=getattr(error, "detail", "")[:2000])
        if isinstance(error, NotConfigured):
            to, why = S.not_configured, msg
            attempt["outcome"] = "permanent"
        elif isinstance(error, PermanentError):
            to, why = S.failed, msg
            attempt["outcome"] = "permanent"
        else:
            attempt["outcome"] = "transient"
            retry_after = error.retry_after if isinstance(error, TransientError) else None
            if retry_after is not None:
                # The channel said "later" and when (429/503 with Retry-After, a quota until tomorrow): it has not
                # failed. The wait does not consume an attempt (the cap moves with it); the total time it may keep
                # saying so is bounded by max_defer_seconds instead.
                since = deferred_since() or now
                waited = (now - since).total_seconds()
                if waited + retry_after > settings.max_defer_seconds:
                    to = S.failed
                    why = values["last_error"] = (
                        f"渠道自 {fmt_seconds(round(waited))}前起持续要求稍后再试，等待总时长将超过上限"
                        f"（{fmt_seconds(settings.max_defer_seconds)}），已停止重试：{msg}")[:4000]
                    values["deferred_since"] = None
                else:
                    attempt["outcome"] = "deferred"
                    values.update(max_attempts=c.max_attempts + 1, deferred_since=since,
                                  next_attempt_at=now + dt.timedelta(seconds=retry_after))
                    to, why = S.retrying, f"{msg}（渠道要求 {retry_after:.0f} 秒后再试，不计入尝试次数）"
            else:
                attempt["outcome"] = PROGRESS if progressed else "transient"
                # Attempts that moved the delivery forward do not count against the cap (only a ceiling bounds them).
                stalled = c.attempt_no - (progress_attempts() if c.attempt_no >= c.max_attempts else 0)
                if c.attempt_no >= c.max_attempts * PROGRESS_CEILING or (not progressed and stalled >= c.max_attempts):
                    to = S.failed
                    why = values["last_error"] = f"已尝试 {c.attempt_no} 次仍未成功：{msg}"[:4000]
                else:
                    delay = backoff_seconds(1 if progressed else stalled, settings)
                    values["next_attempt_at"] = now + dt.timedelta(seconds=delay)
                    note = "本次有进展，不计入重试次数，" if progressed else ""
                    to, why = S.retrying, f"{msg}（{note}{delay:.0f} 秒后重试）"
        if to in (S.failed, S.not_configured):
            values["deferred_since"] = None  # an ops retry starts a fresh deferral window
        transitions.append((S.sending, to, why))
    values["status"] = to
    return Outcome(to, values, attempt, transitions)


def crashed_outcome(attempts: int, max_attempts: int, progress_attempts: Callable[[], int]) -> tuple[str, str]:
    """A lease ran out (the worker died): (next state, reason) for the sweeper."""
    if attempts >= max_attempts and (
            attempts >= max_attempts * PROGRESS_CEILING or attempts - progress_attempts() >= max_attempts):
        return S.failed, f"已尝试 {attempts} 次，工作进程多次中断"
    return S.retrying, "工作进程中断，租约过期后重新投递"
