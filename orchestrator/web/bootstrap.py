"""A usable first log-in for the embedded default: with no users at all, create ``admin`` with a random password.

The password is printed once by ``orchestrator serve`` and written to ``<var_dir>/initial-admin.txt`` (mode 0600) so a
person who missed the console can still find it; they should log in, change it, and delete the file.
"""

from __future__ import annotations

import os

from sqlalchemy import func, select

from orchestrator import audit, auth, passwords
from orchestrator.db import session_scope
from orchestrator.models import User
from orchestrator.settings import get_settings

FILE_NAME = "initial-admin.txt"


def ensure_first_admin() -> tuple[str, str] | None:
    """(username, password) when a first admin was just created; None when any user already exists."""
    with session_scope() as s:
        if (s.scalar(select(func.count()).select_from(User)) or 0) > 0:
            return None
    password = passwords.generate()  # random, and within the password rules like every other password
    try:
        auth.create_user("admin", "admin", password=password, display_name="系统管理员")
    except auth.AuthError:  # another process created it first
        return None
    audit.record_now("系统", "user.create", "用户 admin", {"after": {"角色": "管理员", "说明": "首次启动自动创建"}})
    var = get_settings().var_dir
    var.mkdir(parents=True, exist_ok=True)
    path = var / FILE_NAME
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(f"首次登录的管理员账号（登录后请在“用户管理”中修改密码，并删除本文件）\n用户名：admin\n密码：{password}\n")
    return "admin", password
