"""Per-account security state kept beside ``users`` (0014): a forced password change after an admin reset, and when
the password last changed. A table of its own so the users table (shared by many modules) stays untouched."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from orchestrator.models import Base


class AccountSecurity(Base):
    __tablename__ = "account_security"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True,
                                         autoincrement=False)
    # Set when an admin resets the password: the next log-in leads to 修改密码 before any other page.
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)
    password_changed_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    password_changed_by: Mapped[str] = mapped_column(String(100), default="")
