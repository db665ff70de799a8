"""Users, roles and API tokens. UI-agnostic: the REST API, the CLI and the web log-in all use these functions.

Passwords are hashed with argon2id (argon2-cffi defaults). API tokens are random, shown once, and stored only as a
SHA-256 digest: a token has 256 bits of entropy, so a fast hash is enough and lets us look a token up by its digest.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select
from sqlalchemy.orm import Session

from orchestrator import passwords, throttle
from orchestrator.account_models import AccountSecurity
from orchestrator.db import session_scope
from orchestrator.models import ApiToken, User, utcnow

TOKEN_PREFIX = "orch_"
_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{1,79}$")
_hasher = PasswordHasher()


class Role(StrEnum):
    clerk = "clerk"  # 经办人: submits for the entries of their own office
    reviewer = "reviewer"  # 审核人: 保密审查 approve / reject
    ops = "ops"  # 运维: retry, cancel, confirm deliveries
    admin = "admin"  # everything


ROLE_LABELS = {Role.clerk: "经办人", Role.reviewer: "审核人", Role.ops: "运维人员", Role.admin: "管理员"}


class AuthError(Exception):
    """Refused credentials or an invalid account change; the message is for a person (Chinese)."""


class Throttled(AuthError):
    """Too many failures from this account or address: refused without checking the credentials."""

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


LOCKED_MESSAGE = ("登录失败次数过多，已暂时锁定，请 {wait}后再试；如需立即解除，请联系系统管理员。")


@dataclass(frozen=True)
class Principal:
    """A detached snapshot of an authenticated user (safe to pass across threads and sessions)."""

    id: int
    username: str
    display_name: str
    role: Role
    office: str

    @property
    def name(self) -> str:
        return self.display_name or self.username

    def has_role(self, *roles: Role) -> bool:
        return self.role == Role.admin or self.role in roles

    def may_submit_for(self, offices: list[str]) -> bool:
        """A clerk submits only for entries their office is responsible for; other roles are not limited by office."""
        if self.role != Role.clerk:
            return True
        return bool(self.office) and self.office in offices


def principal_of(user: User) -> Principal:
    return Principal(user.id, user.username, user.display_name, Role(user.role), user.office)


# --- passwords -----------------------------------------------------------------------------------

def hash_password(password: str) -> str:
    """The argon2id hash of a password that has passed :func:`check_password` (only the length is checked here)."""
    if len(password) > passwords.MAX_LENGTH:
        raise AuthError(f"密码过长（不超过 {passwords.MAX_LENGTH} 个字符）")
    return _hasher.hash(password)


def check_password(password: str, username: str = "", current_hash: str = "") -> None:
    """The password rules (:mod:`orchestrator.passwords`); AuthError listing every rule the password breaks."""
    same = bool(current_hash) and len(password) <= passwords.MAX_LENGTH and verify_password(current_hash, password)
    found = passwords.problems(password, username, same)
    if found:
        raise AuthError("；".join(found))


def verify_password(password_hash: str, password: str) -> bool:
    if not password_hash:
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


# --- users ---------------------------------------------------------------------------------------

def parse_role(value: str) -> Role:
    try:
        return Role(value.strip().lower())
    except ValueError:
        choices = "、".join(f"{r.value}（{ROLE_LABELS[r]}）" for r in Role)
        raise AuthError(f"角色“{value}”不存在，可选：{choices}") from None


def create_user(username: str, role: str, *, office: str = "", password: str | None = None,
                display_name: str = "") -> Principal:
    username = username.strip()
    if not _USERNAME.match(username):
        raise AuthError("用户名须为 2–80 位字母、数字或 . _ @ -，并以字母或数字开头")
    r = parse_role(role)
    if r == Role.clerk and not office.strip():
        raise AuthError("经办人（clerk）必须指定所属科室（--office）")
    if password:
        check_password(password, username)
    pw_hash = hash_password(password) if password else ""
    with session_scope() as session:
        if session.scalar(select(User.id).where(User.username == username)) is not None:
            raise AuthError(f"用户“{username}”已存在")
        user = User(username=username, role=r.value, office=office.strip(), password_hash=pw_hash,
                    display_name=display_name.strip())
        session.add(user)
        session.flush()
        return principal_of(user)


def set_password(username: str, password: str, *, by: str = "", force_change: bool = False) -> int:
    """Set a password under the rules (never the current one). ``force_change``: an admin reset, so the person
    must choose their own at the next log-in. Returns the user's id."""
    with session_scope() as session:
        user = _get_user(session, username)
        check_password(password, user.username, user.password_hash)
        user.password_hash = hash_password(password)
        _mark_changed(session, user.id, by or user.username, force_change)
        return user.id


def _mark_changed(session: Session, user_id: int, by: str, force_change: bool) -> None:
    state = session.get(AccountSecurity, user_id)
    if state is None:
        state = AccountSecurity(user_id=user_id)
        session.add(state)
    state.must_change_password = force_change
    state.password_changed_at = utcnow()
    state.password_changed_by = by[:100]


def reset_password(session: Session, user: User, password: str, by: str, *, force_change: bool = True) -> None:
    """An admin sets someone's password (in the admin's transaction): rules apply, and the owner must change it."""
    check_password(password, user.username, user.password_hash)
    user.password_hash = hash_password(password)
    _mark_changed(session, user.id, by, force_change)


def change_own_password(username: str, current: str, new: str, repeat: str, address: str = "") -> None:
    """修改密码: the current password proves it is the owner (a wrong one counts as a failed log-in, so the form
    cannot be used to guess), the new one is typed twice and must satisfy the rules."""
    if len(current) > passwords.MAX_LENGTH:
        raise AuthError("当前密码不正确")
    keys = ((throttle.ACCOUNT, throttle.account_key(username)), (throttle.ADDRESS, address))
    lock = throttle.locked(*keys)
    if lock is not None:
        raise _throttled(lock)
    with session_scope() as session:
        user = _get_user(session, username)
        ok = user.active and verify_password(user.password_hash, current)
    if not ok:
        lock = throttle.record_failure(*keys)
        if lock is not None:
            raise _throttled(lock)
        raise AuthError("当前密码不正确")
    if new != repeat:
        raise AuthError("两次输入的新密码不一致")
    set_password(username, new, by=username, force_change=False)


def must_change_password(user_id: int) -> bool:
    with session_scope() as session:
        state = session.get(AccountSecurity, user_id)
        return bool(state and state.must_change_password)


def _get_user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username.strip()))
    if user is None:
        raise AuthError(f"用户“{username}”不存在")
    return user


def get_user(username: str) -> Principal:
    with session_scope() as session:
        return principal_of(_get_user(session, username))


def _throttled(lock: throttle.Lockout) -> Throttled:
    return Throttled(LOCKED_MESSAGE.format(wait=throttle.wait_text(lock.seconds_left)), lock.seconds_left)


def authenticate_password(username: str, password: str, address: str = "") -> Principal:
    """Log-in check for the web UI. One generic message, so it never tells which half was wrong.

    Throttled per account name (existing or not, so a lock-out reveals nothing) and per client address: while either
    is locked the password is not checked at all (see :mod:`orchestrator.throttle`).
    """
    keys = ((throttle.ACCOUNT, throttle.account_key(username)), (throttle.ADDRESS, address))
    lock = throttle.locked(*keys)
    if lock is not None:
        raise _throttled(lock)
    with session_scope() as session:
        user = session.scalar(select(User).where(User.username == username.strip()))
        ok = user is not None and user.active and verify_password(user.password_hash, password)
        if user is None:
            _hasher.hash(password or "x")  # same cost either way: no user-enumeration by timing
        if ok and _hasher.check_needs_rehash(user.password_hash):
            user.password_hash = _hasher.hash(password)
        principal = principal_of(user) if ok else None
    if principal is None:
        lock = throttle.record_failure(*keys)
        if lock is not None:
            raise _throttled(lock)
        raise AuthError("用户名或密码不正确")
    throttle.reset(throttle.ACCOUNT, throttle.account_key(username))
    return principal


# --- API tokens ----------------------------------------------------------------------------------

def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(username: str, name: str) -> tuple[int, str]:
    """A new API token for a user. Returns (token id, the token) — the only time the token is visible."""
    name = name.strip()
    if not name or len(name) > 100:
        raise AuthError("令牌名称不能为空，且不超过 100 字")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with session_scope() as session:
        user = _get_user(session, username)
        if not user.active:
            raise AuthError(f"用户“{username}”已停用")
        row = ApiToken(user_id=user.id, name=name, token_hash=token_digest(token))
        session.add(row)
        session.flush()
        return row.id, token


def revoke_token(token_id: int) -> None:
    with session_scope() as session:
        row = session.get(ApiToken, token_id)
        if row is None:
            raise AuthError(f"令牌 {token_id} 不存在")
        row.revoked = True


def authenticate_token(token: str, address: str = "") -> Principal:
    """The user behind a bearer token, or AuthError. Constant-time by construction: we look up a digest, not the token.

    Bad tokens are counted per client address like failed log-ins; a locked address is refused before any look-up.
    """
    key = (throttle.TOKEN, address)
    lock = throttle.locked(key)
    if lock is not None:
        raise Throttled(f"无效令牌尝试次数过多，该地址已暂时锁定，请 {throttle.wait_text(lock.seconds_left)}后再试",
                        lock.seconds_left)
    try:
        return _authenticate_token(token)
    except AuthError as exc:
        lock = throttle.record_failure(key)
        if lock is not None:
            raise Throttled(f"{exc}；无效令牌尝试次数过多，该地址已暂时锁定，请 {throttle.wait_text(lock.seconds_left)}后再试",
                            lock.seconds_left) from None
        raise


def _authenticate_token(token: str) -> Principal:
    token = (token or "").strip()
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        raise AuthError("API 令牌无效")
    with session_scope() as session:
        row = session.scalar(select(ApiToken).where(ApiToken.token_hash == token_digest(token)))
        if row is None or row.revoked:
            raise AuthError("API 令牌无效或已吊销")
        user = row.user
        if not user.active:
            raise AuthError("该令牌所属用户已停用")
        now = utcnow()
        # Write last_used_at at most once a minute: a busy integration would otherwise write on every request.
        last = row.last_used_at
        if last is None or (now - (last if last.tzinfo else last.replace(tzinfo=now.tzinfo))).total_seconds() > 60:
            row.last_used_at = now
        return principal_of(user)
