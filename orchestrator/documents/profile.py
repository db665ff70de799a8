"""The agency profile: name, 统一社会信用代码, address, office hours, phone, e-mail — kept by an admin in the web app.

Stored in the database (one row), so every process sees the same values and no file has to be edited:

- the public site's footer (主办单位) and the 政府信息公开指南's contact table, the gazette's masthead and footer and
  the screens' footer read it through :func:`cached_profile` (a few seconds' cache: adapters render many pages);
- the unified social credit code becomes the 索引号 prefix of the publisher with the same name (the catalog's
  publisher): saving the profile writes it to that publisher, and a catalog sync leaves it alone
  (see :func:`profile_prefix`). Numbers already given keep their prefix; the yearly counter goes on.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import asdict, dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session
from stdnum.cn import uscc
from stdnum.exceptions import InvalidChecksum, InvalidFormat, InvalidLength, ValidationError

from orchestrator.db import session_scope
from orchestrator.models import AgencyProfile, Publisher, utcnow

FIELDS = {"name": "机关名称", "uscc": "统一社会信用代码", "address": "办公地址", "hours": "办公时间", "phone": "联系电话",
          "email": "电子邮箱"}
LIMITS = {"name": 200, "uscc": 18, "address": 300, "hours": 200, "phone": 100, "email": 200}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^[0-9+()（）\-－—、,，;；/ 转]+$")


@dataclass(frozen=True)
class Profile:
    name: str = ""
    uscc: str = ""
    address: str = ""
    hours: str = ""
    phone: str = ""
    email: str = ""

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def uscc_problem(code: str) -> str:
    """Why a 统一社会信用代码 is not valid (GB 32100-2015: 18 characters, check digit), or "" when it is."""
    try:
        uscc.validate(code)
    except InvalidLength:
        return f"统一社会信用代码应为 18 位（收到 {len(code)} 位）"
    except InvalidChecksum:
        return "统一社会信用代码校验位不正确，请核对是否抄错"
    except InvalidFormat:
        return "统一社会信用代码含有不允许的字符（只能是数字和大写字母，不含 I、O、Z、S、V）"
    except ValidationError:
        return "统一社会信用代码不正确"
    return ""


def clean(data: dict[str, str]) -> tuple[Profile, dict[str, str]]:
    """The profile as typed, trimmed, and the problems per field (Chinese, for the form)."""
    values = {k: str(data.get(k) or "").strip() for k in FIELDS}
    values["uscc"] = values["uscc"].upper().replace(" ", "")
    errors: dict[str, str] = {}
    for k, limit in LIMITS.items():
        if len(values[k]) > limit:
            errors[k] = f"{FIELDS[k]}过长（上限 {limit} 字）"
        elif "\x00" in values[k]:
            errors[k] = f"{FIELDS[k]}含有不允许的字符"
    if not values["name"]:
        errors["name"] = "请填写机关名称"
    if values["uscc"] and "uscc" not in errors:
        problem = uscc_problem(values["uscc"])
        if problem:
            errors["uscc"] = problem
    if values["email"] and "email" not in errors and not _EMAIL.match(values["email"]):
        errors["email"] = "电子邮箱格式不正确"
    if values["phone"] and "phone" not in errors and not _PHONE.match(values["phone"]):
        errors["phone"] = "联系电话只能包含数字、空格和 - ( ) + 等符号"
    return Profile(**values), errors


def load(session: Session) -> Profile:
    row = session.get(AgencyProfile, 1)
    if row is None:
        return Profile()
    return Profile(row.name, row.uscc, row.address, row.hours, row.phone, row.email)


def get() -> Profile:
    with session_scope() as s:
        return load(s)


def save(profile: Profile, actor: str = "") -> str | None:
    """Store the profile; returns the publisher whose 索引号 prefix it now sets (None: no publisher of that name)."""
    with session_scope() as s:
        row = s.get(AgencyProfile, 1) or AgencyProfile(id=1)
        for k, v in profile.as_dict().items():
            setattr(row, k, v)
        row.updated_at, row.updated_by = utcnow(), actor[:100]
        s.add(row)
        publisher = s.scalar(select(Publisher).where(Publisher.name == profile.name))
        if publisher is not None and profile.uscc:
            publisher.index_prefix = profile.uscc
    _cache.clear()
    return publisher.name if publisher is not None else None


def profile_prefix(session: Session, publisher_name: str) -> str:
    """The 索引号 prefix the profile gives this publisher ("" when the profile is for another one, or has no code)."""
    p = load(session)
    return p.uscc if p.uscc and p.name == publisher_name else ""


# --- a short cache for adapters rendering many pages ----------------------------------------------

_TTL = 5.0
_cache: dict[str, tuple[float, Profile]] = {}
_lock = threading.Lock()


def cached_profile() -> Profile:
    """The profile, re-read at most every few seconds; empty when the database cannot be reached (a channel must still
    render with what its own configuration says)."""
    with _lock:
        hit = _cache.get("p")
        if hit and time.monotonic() - hit[0] < _TTL:
            return hit[1]
    try:
        p = get()
    except Exception:  # noqa: BLE001 - no database (a standalone adapter): fall back to the channel's configuration
        p = Profile()
    with _lock:
        _cache["p"] = (time.monotonic(), p)
    return p
