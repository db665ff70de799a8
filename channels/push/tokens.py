"""Signed unsubscribe tokens for targeted push, shared by the adapter (which writes links) and the web router.

The token names the publisher, the member and the route whose link was used, signed with itsdangerous, so nobody can
unsubscribe someone else by editing a URL. Tokens do not expire: an old email's link must keep working.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer

from orchestrator.settings import secret_key

_SALT = "targeted-push-unsubscribe"


@dataclass(frozen=True)
class UnsubscribeClaim:
    publisher: str
    member: str
    route_hash: str


def resolve_secret(config: dict[str, Any] | None = None) -> str:
    """The signing secret: the destination's ``unsubscribe_secret``, else ``ORCH_SECRET_KEY``, else the key file
    ``var/secrets/push-unsubscribe.key`` (see :func:`orchestrator.settings.secret_key`)."""
    return secret_key("push-unsubscribe", configured=str((config or {}).get("unsubscribe_secret") or ""))


def make_token(secret: str, claim: UnsubscribeClaim) -> str:
    return URLSafeSerializer(secret, salt=_SALT).dumps({"p": claim.publisher, "m": claim.member, "r": claim.route_hash})


def read_token(secret: str, token: str) -> UnsubscribeClaim | None:
    """The claim in a token, or None when it was not signed by us (edited, truncated, wrong key)."""
    try:
        data = URLSafeSerializer(secret, salt=_SALT).loads(token)
    except BadSignature:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("p"), str) or not isinstance(data.get("m"), str):
        return None
    return UnsubscribeClaim(publisher=data["p"], member=data["m"], route_hash=str(data.get("r") or ""))
