"""HTTP plumbing every channel that talks to a web service shares: what a response status means for a delivery, and
when the other side asked us to come back (``Retry-After``)."""

from __future__ import annotations

import datetime as dt
import email.utils

from channels.base import ChannelError, NotConfigured, PermanentError, TransientError

# A Retry-After further away than this is taken as this (a misconfigured server must not park a delivery for weeks).
RETRY_AFTER_CAP_SECONDS = 24 * 3600.0


def parse_retry_after(value: str | None, *, now: dt.datetime | None = None) -> float | None:
    """``Retry-After`` as seconds from now: delay-seconds (``"120"``; a decimal is accepted) or an HTTP date
    (RFC 9110 §10.2.3; a date without zone is taken as UTC). Clamped to [0, one day]. None when absent or unreadable."""
    if not value or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        seconds = (when - (now or dt.datetime.now(dt.UTC))).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return min(max(0.0, seconds), RETRY_AFTER_CAP_SECONDS)


def error_for_status(
    status: int,
    *,
    transient: str,
    refused: str,
    unauthorized: str,
    forbidden: str | None = None,
    throttled: str | None = None,
    detail: str = "",
    code: str | None = None,
    retry_after: str | None = None,
    auth_error: type[PermanentError] = NotConfigured,
) -> ChannelError:
    """The one mapping of an HTTP error status to a delivery outcome, with the channel's own Chinese wording.

    - 429 and 5xx: :class:`TransientError`, honouring ``Retry-After`` (``retry_after`` is the header's value);
    - 401 (and 403): ``auth_error`` (default :class:`NotConfigured`: a person must fix the credentials);
    - any other status: :class:`PermanentError`.
    """
    if status == 429 or status >= 500:
        text = throttled if status == 429 and throttled else transient
        return TransientError(text, detail=detail, code=code,
                              retry_after=parse_retry_after(retry_after))
    if status == 401 or (status == 403 and forbidden is None):
        return auth_error(unauthorized, detail=detail, code=code)
    if status == 403 and forbidden is not None:
        return auth_error(forbidden, detail=detail, code=code)
    return PermanentError(refused, detail=detail, code=code)
