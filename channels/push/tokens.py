"""Signed unsubscribe tokens for targeted push, shared by the adapter (which writes links) and the web router.

The token names the publisher, the member and the route whose link was used, signed with itsdangerous, so nobody can
unsubscribe someone else by editing a URL. Tokens do not expire: an old email's link must keep working.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer

from orchestrator.settings import get_settings

_SALT = "targeted-push-unsubscribe"


@dataclass(frozen=True)
class UnsubscribeClaim:
    publisher: str
    member: str
    route_hash: str


def resolve_secret(config: dict[str, Any] | None = None) -> str:
    """The signing secret: the destination's ``unsubscribe_secret``, else ``ORCH_SECRET_KEY``, else a key file.

    The key file (``var/secrets/push-unsubscribe.key``, created once) lets the embedded default work with no
    configuration while the web app and every worker on the machine still agree on one key.
    """
    configured = str((config or {}).get("unsubscribe_secret") or "").strip()
    if configured:
        return configured
    env = os.environ.get("ORCH_SECRET_KEY", "").strip()
    if env:
        return env
    return _key_file_secret(get_settings().var_dir / "secrets" / "push-unsubscribe.key")


def _key_file_secret(path: Path) -> str:
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    candidate = secrets.token_urlsafe(48)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(candidate)
    try:
        # link() fails if another process won the race; then everyone uses the winner's key.
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return path.read_text(encoding="utf-8").strip()


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
