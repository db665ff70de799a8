"""The audit log of administrative actions (审计日志): who did what, to what, when, from where, with the values before
and after. Written by every admin action in the web app and the CLI (users, roles, passwords, catalog changes and
imports, the 保密审查 switch, holiday tables, the agency profile, API tokens, freshness rules); read by admins on the
审计日志 page and exported as CSV or xlsx.

``record`` writes in the caller's transaction where the change itself is made, so a change and its audit row commit
together; ``record_now`` is for changes made by functions that commit on their own.
"""

from __future__ import annotations

import csv
import datetime as dt
import getpass
import io
import json
import os
from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import JSON, Index, String, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from orchestrator.db import session_scope
from orchestrator.models import Base, utcnow

# action code → what a person reads (the filter list on the page). Codes are stable; other modules add theirs with
# :func:`register_action`.
ACTIONS: dict[str, str] = {
    "user.create": "新建用户",
    "user.update": "修改用户信息",
    "user.role": "变更用户角色",
    "user.disable": "停用用户",
    "user.enable": "启用用户",
    "user.password_reset": "重置用户密码",
    "user.lockout_lift": "解除登录锁定",
    "account.password_change": "修改本人密码",
    "token.create": "创建 API 令牌",
    "token.revoke": "吊销 API 令牌",
    "catalog.import_apply": "应用目录导入（网页）",
    "catalog.import_file": "导入目录文件（命令行）",
    "catalog.sync": "同步目录（命令行）",
    "catalog.channel_map": "确认渠道映射",
    "catalog.review_flag": "设置事项保密审查",
    "catalog.freshness": "设置栏目更新规则",
    "holidays.save": "保存节假日安排",
    "profile.save": "保存机关信息",
    "review_chain.create": "新建审核流程",
    "review_chain.update": "修改审核流程",
    "review_chain.delete": "删除审核流程",
    "review_binding.set": "设置审核流程适用范围",
    "review_binding.delete": "删除审核流程适用范围",
    "review_chains.load": "导入审核流程配置文件",
    "content_checks.create": "新增内容检查词条",
    "content_checks.update": "修改内容检查词条",
    "content_checks.delete": "删除内容检查词条",
    "content_checks.import": "导入内容检查词库",
    "notify.office_address": "设置科室通知地址",
}

MAX_TARGET = 300
MAX_DETAIL_CHARS = 20_000


def register_action(code: str, label: str) -> None:
    ACTIONS.setdefault(code, label)


class AuditEntry(Base):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_action_at", "action", "at"), Index("ix_audit_log_actor_at", "actor", "at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(60))
    target: Mapped[str] = mapped_column(String(MAX_TARGET), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    ip: Mapped[str] = mapped_column(String(64), default="")


def _jsonable(detail: dict[str, Any]) -> dict[str, Any]:
    """Dates, sets and the like as text; a huge detail is cut (the log must not be a way to fill the disk)."""
    text = json.dumps(detail or {}, ensure_ascii=False, default=str)
    if len(text) > MAX_DETAIL_CHARS:
        return {"truncated": True, "text": text[:MAX_DETAIL_CHARS]}
    return json.loads(text)


def record(session: Session, actor: str, action: str, target: str, detail: dict[str, Any] | None = None, *,
           ip: str = "", at: dt.datetime | None = None) -> AuditEntry:
    """One audit row in the caller's transaction. ``detail`` is free JSON, by convention ``{"before": …, "after": …}``."""
    row = AuditEntry(at=at or utcnow(), actor=(actor or "")[:100], action=action[:60], target=(target or "")[:MAX_TARGET],
                     detail=_jsonable(detail or {}), ip=(ip or "")[:64])
    session.add(row)
    return row


def record_now(actor: str, action: str, target: str, detail: dict[str, Any] | None = None, ip: str = "") -> None:
    with session_scope() as s:
        record(s, actor, action, target, detail, ip=ip)


def cli_actor() -> str:
    """Who ran a CLI command: ORCH_OPERATOR if set, else the operating-system account."""
    who = os.environ.get("ORCH_OPERATOR", "").strip()
    if not who:
        try:
            who = getpass.getuser()
        except Exception:  # noqa: BLE001  (no passwd entry in some containers)
            who = "unknown"
    return f"命令行:{who}"[:100]


def changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Only the fields that changed, as {"before": {...}, "after": {...}}."""
    keys = [k for k in after if before.get(k) != after.get(k)]
    return {"before": {k: before.get(k) for k in keys}, "after": {k: after[k] for k in keys}}


def display_value(value: Any) -> str:
    """A detail value as a person reads it: 是/否, （空）, lists joined with 、, nested objects as compact JSON."""
    if value is None or value == "" or value == [] or value == {}:
        return "（空）"
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, list):
        return "、".join(display_value(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


# --- reading ----------------------------------------------------------------------------------------

def _filtered(action: str = "", actor: str = "", since: dt.datetime | None = None, until: dt.datetime | None = None):
    q = select(AuditEntry)
    if action:
        q = q.where(AuditEntry.action == action)
    if actor:
        q = q.where(AuditEntry.actor == actor)
    if since is not None:
        q = q.where(AuditEntry.at >= since)
    if until is not None:
        q = q.where(AuditEntry.at < until)
    return q


def search(session: Session, *, action: str = "", actor: str = "", since: dt.datetime | None = None,
           until: dt.datetime | None = None, page: int = 1, per_page: int = 50) -> tuple[list[AuditEntry], int]:
    q = _filtered(action, actor, since, until)
    total = session.scalar(select(func.count()).select_from(q.subquery())) or 0
    rows = list(session.scalars(q.order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
                                .offset((max(page, 1) - 1) * per_page).limit(per_page)))
    return rows, total


def iter_rows(session: Session, *, action: str = "", actor: str = "", since: dt.datetime | None = None,
              until: dt.datetime | None = None, limit: int = 100_000) -> Iterator[AuditEntry]:
    q = _filtered(action, actor, since, until).order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit)
    yield from session.scalars(q.execution_options(yield_per=1000))


def actors(session: Session) -> list[str]:
    return list(session.scalars(select(AuditEntry.actor).distinct().order_by(AuditEntry.actor)))


# --- export -----------------------------------------------------------------------------------------

EXPORT_HEADER = ["时间（北京时间）", "操作人", "操作类型", "操作代码", "对象", "详情（修改前/修改后）", "来源地址"]
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def safe_cell(value: Any) -> str:
    """A cell a spreadsheet will never run: text starting like a formula (=, +, -, @, tab, CR; also the full-width
    forms some spreadsheets normalise) gets a leading apostrophe (OWASP CSV injection)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def export_rows(rows: Iterable[AuditEntry], fmt_time) -> Iterator[list[str]]:
    for r in rows:
        yield [safe_cell(v) for v in (fmt_time(r.at, True), r.actor, ACTIONS.get(r.action, r.action), r.action,
                                      r.target, json.dumps(r.detail, ensure_ascii=False), r.ip)]


def to_csv(rows: Iterable[list[str]]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(EXPORT_HEADER)
    w.writerows(rows)
    return ("\ufeff" + buf.getvalue()).encode("utf-8")  # BOM: Excel opens UTF-8 Chinese correctly


def to_xlsx(rows: Iterable[list[str]]) -> bytes:
    # lazy: openpyxl is only needed for this export
    from openpyxl import Workbook
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("审计日志")
    ws.append(EXPORT_HEADER)
    for row in rows:
        # Plain strings (safe_cell already neutralised anything that looks like a formula); control characters,
        # which the xlsx format cannot hold, become U+FFFD.
        ws.append([ILLEGAL_CHARACTERS_RE.sub("\ufffd", v) for v in row])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
