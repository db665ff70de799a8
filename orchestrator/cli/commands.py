"""Core CLI commands: submit and manage documents and deliveries, run the worker/beat/server, manage users.

Every command calls the same document operations as the REST API. Refusals print a Chinese message and exit non-zero
(1 refused input, 3 not found, 4 conflict with the current state, 5 database or broker unavailable); a traceback is
never shown to a person (set ORCH_DEBUG=1 to see one).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar
from zoneinfo import ZoneInfo

import typer
from fastapi import HTTPException
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError, ProgrammingError
from yaml import YAMLError

from orchestrator import audit, auth
from orchestrator.api.views import delivery_filters, delivery_json, document_json, load_document
from orchestrator.auth import AuthError
from orchestrator.catalog.errors import CatalogError
from orchestrator.catalog_sync import sync_catalogs
from orchestrator.db import session_scope, upgrade_database
from orchestrator.delivery.dispatch import enqueue
from orchestrator.delivery.workers import all_queues, beat_argv, worker_argv
from orchestrator.documents import deliveries as delivery_ops
from orchestrator.documents import inputs, submission, versions
from orchestrator.documents.inputs import Conflict, NotFound, ServiceError, Upload
from orchestrator.models import Delivery, Document, User
from orchestrator.serve.supervisor import ServeOptions, run_serve
from orchestrator.settings import get_settings

console = Console()
err_console = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])

EXIT_REFUSED, EXIT_NOT_FOUND, EXIT_CONFLICT, EXIT_UNAVAILABLE = 1, 3, 4, 5


# --- errors --------------------------------------------------------------------------------------

def die(message: str, code: int = EXIT_REFUSED) -> NoReturn:
    err_console.print(f"[bold red]错误：[/]{message}", highlight=False)
    raise typer.Exit(code)


def friendly(fn: F) -> F:
    """Turn every expected failure into a Chinese message and an exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except NotFound as exc:
            die(str(exc), EXIT_NOT_FOUND)
        except Conflict as exc:
            die(str(exc), EXIT_CONFLICT)
        except ServiceError as exc:
            lines = [f"  · {e.field + '：' if e.field else ''}{e.message}" for e in exc.errors]
            die("提交未通过检查，未保存任何内容：\n" + "\n".join(lines))
        except AuthError as exc:
            die(str(exc))
        except (OperationalError, ProgrammingError) as exc:
            if os.environ.get("ORCH_DEBUG"):
                raise
            logging.getLogger(__name__).debug("database error", exc_info=True)
            hint = "数据库无法连接或尚未初始化。请确认 ORCH_DATABASE_URL 设置正确，并先运行 `orchestrator db upgrade`"
            die(f"{hint}（{type(exc.orig).__name__ if exc.orig else type(exc).__name__}）", EXIT_UNAVAILABLE)
        except OSError as exc:
            die(f"文件或网络错误：{exc.strerror or exc}{'：' + str(exc.filename) if exc.filename else ''}")
        except Exception as exc:
            if os.environ.get("ORCH_DEBUG"):
                raise
            die(f"内部错误（{type(exc).__name__}: {exc}）。设置 ORCH_DEBUG=1 可查看详细信息", 70)

    return wrapper  # type: ignore[return-value]


# Usage errors from Typer's (vendored) Click are English; people see them in Chinese.
_USAGE_ZH: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^Missing option '(?P<a>[^']+)'.*", re.S), "缺少必填选项 {a}"),
    (re.compile(r"^Missing argument '(?P<a>[^']+)'.*", re.S), "缺少参数 {a}"),
    (re.compile(r"^Missing parameter.*", re.S), "缺少参数"),
    (re.compile(r"^Invalid value for '(?P<a>[^']+)': (?P<b>.*)$", re.S), "选项 {a} 的取值无效：{b}"),
    (re.compile(r"^Invalid value: (?P<b>.*)$", re.S), "取值无效：{b}"),
    (re.compile(r"^No such option:? '?(?P<a>[^'\s]+)'?.*", re.S), "没有选项 {a}"),
    (re.compile(r"^No such command '(?P<a>[^']+)'.*", re.S), "没有命令 {a}"),
    (re.compile(r"^Option '(?P<a>[^']+)' requires (an argument|\d+ arguments)\.$"), "选项 {a} 需要一个值"),
    (re.compile(r"^Got unexpected extra arguments? \((?P<a>.*)\)$", re.S), "多余的参数：{a}"),
]
_VALUE_ZH: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r".*valid integer.*", re.S), "应为整数"),
    (re.compile(r".*valid number.*", re.S), "应为数字"),
    (re.compile(r".*valid boolean.*", re.S), "应为 true 或 false"),
    (re.compile(r".*greater than or equal to (?P<a>\S+).*", re.S), "不能小于 {a}"),
    (re.compile(r".*less than or equal to (?P<a>\S+).*", re.S), "不能大于 {a}"),
    (re.compile(r".*'(?P<a>[^']+)' does not exist.*", re.S), "{a} 不存在"),
    (re.compile(r".*is not one of (?P<a>.*)", re.S), "可选值：{a}"),
]


def usage_zh(message: str) -> str:
    for pattern, template in _USAGE_ZH:
        m = pattern.match(message.strip())
        if m:
            parts = m.groupdict()
            if "b" in parts:
                parts["b"] = next((t.format(**mm.groupdict()) for p, t in _VALUE_ZH if (mm := p.match(parts["b"]))),
                                  parts["b"])
            return template.format(**parts)
    return message


def _localize_click() -> None:
    try:
        from typer import rich_utils
    except ImportError:
        return
    if getattr(rich_utils.rich_format_error, "_zh", False):
        return
    original = rich_utils.rich_format_error

    def rich_format_error(self: Any) -> None:
        message = usage_zh(self.format_message())
        self.format_message = lambda: message
        original(self)

    rich_format_error._zh = True  # type: ignore[attr-defined]
    rich_utils.rich_format_error = rich_format_error
    rich_utils.ERRORS_PANEL_TITLE = "错误"
    rich_utils.ABORTED_TEXT = "已中止。"
    rich_utils.RICH_HELP = "运行 [blue]'{command_path} {help_option}'[/] 查看帮助。"


class _NoTraceback(logging.Formatter):
    """Log lines for people: the message only, never an exception's traceback."""

    def formatException(self, ei: Any) -> str:  # noqa: N802 (logging API)
        return ""

    def format(self, record: logging.LogRecord) -> str:
        record.exc_text = ""
        saved, record.exc_info = record.exc_info, None
        try:
            return super().format(record)
        finally:
            record.exc_info = saved


def _setup_logging() -> None:
    if os.environ.get("ORCH_DEBUG"):
        logging.basicConfig(level=logging.DEBUG)
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_NoTraceback("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(handler)
    root.setLevel(logging.ERROR)


# --- helpers -------------------------------------------------------------------------------------

def _emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


def _parse_date(value: str | None, label: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        die(f"{label}“{value}”格式不正确，应为 YYYY-MM-DD（如 2026-11-02）")


def _parse_datetime(value: str | None, label: str) -> dt.datetime | None:
    if value is None:
        return None
    try:
        when = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        die(f"{label}“{value}”格式不正确，应为 2026-12-01T09:00+08:00 或 2026-12-01 09:00")
    if when.tzinfo is None:  # people type Beijing time
        when = when.replace(tzinfo=ZoneInfo("Asia/Shanghai"))
    return when


def _read_text(path: Path, label: str) -> str:
    if str(path) == "-":
        return sys.stdin.read()
    if not path.is_file():
        die(f"{label}文件不存在：{path}")
    data = path.read_bytes()
    for encoding in ("utf-8-sig", "gb18030"):  # Chinese office files are often GBK
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    die(f"{label}文件无法识别编码（请保存为 UTF-8）：{path}")


def _body_format(path: Path, fmt: str | None) -> str:
    if fmt:
        if fmt not in ("html", "markdown"):
            die(f"正文格式“{fmt}”不支持，可选 html 或 markdown")
        return fmt
    return "markdown" if path.suffix.lower() in (".md", ".markdown", ".txt") else "html"


def _open_uploads(paths: list[Path]) -> list[Any]:
    for p in paths:
        if not p.is_file():
            die(f"附件不存在：{p}")
    return [Upload(p.name, p.open("rb")) for p in paths]


def _channel_options(wechat_title: str | None, options: list[str] | None) -> dict[str, dict[str, str]]:
    """The API's ``channel_options`` from ``--wechat-title`` and repeatable ``--channel-option 渠道.键=值``."""
    out: dict[str, dict[str, str]] = {}
    for raw in options or []:
        key, sep, value = raw.partition("=")
        channel, dot, name = key.strip().partition(".")
        if not sep or not dot or not channel or not name:
            die(f"渠道选项“{raw}”格式不正确，应为 渠道编码.选项=值（如 wechat.title=短标题）")
        out.setdefault(channel, {})[name.strip()] = value.strip()
    if wechat_title is not None:
        if not wechat_title.strip():
            die("微信短标题不能为空")
        out.setdefault("wechat", {})["title"] = wechat_title.strip()
    return out


def _operator(by: str | None) -> str:
    return by or os.environ.get("ORCH_OPERATOR") or os.environ.get("USER") or "cli"


def _submitter(by: str | None, entry: str, publisher: str | None) -> str:
    """Who a submission is recorded as coming from. Without ``--by``: the server account running the command (the
    operator, as for every other CLI action). ``--by`` names a person of this system, and the web's and the API's
    office rule holds for them: a clerk submits only for their own office's entries."""
    if by is None:
        return _operator(None)
    with session_scope() as s:
        user = s.scalar(select(User).where(User.username == by))
        if user is None or not user.active:
            die(f"提交人“{by}”不是本系统的在用账号（orchestrator user list 可查看），未保存任何内容")
        person = auth.principal_of(user)
        row = submission.find_entry(s, entry, publisher)
        offices = list(row.offices or [])
        if not person.may_submit_for(offices):
            die(f"提交人“{by}”所在科室（{person.office or '未设置'}）不是该目录事项的责任科室（{'、'.join(offices) or '未指定'}），"
                "不能为其登记文件，未保存任何内容")
    return by


def _enqueue_after(ids: list[int]) -> str | None:
    """Hand deliveries to the broker; if it is down, say so (the sweeper sends them when it is back)."""
    if not ids:
        return None

    try:
        enqueue(ids)
    except Exception:
        return "消息队列暂时无法连接：投递已保存，系统恢复后由后台巡检自动发送"
    return None


def _resolve_document(ref: str) -> int:
    ref = ref.strip()
    if ref.isdigit():
        return int(ref)
    with session_scope() as s:
        doc_id = s.scalar(select(Document.id).where(Document.index_no == ref))
    if doc_id is None:
        die(f"找不到文件“{ref}”（请填写文件编号或索引号）", EXIT_NOT_FOUND)
    return doc_id


def _delivery_id(ref: str) -> int:
    if not ref.strip().isdigit():
        die(f"投递编号应为数字，收到“{ref}”")
    return int(ref)


def _result_out(res: Any, as_json: bool, note: str | None, title: str) -> None:
    data = {
        "document_id": res.document_id, "index_no": res.index_no,
        "due_date": res.due_date.isoformat() if res.due_date else None, "due_note": res.due_note,
        "due_date_provisional": res.due_date_provisional, "delivery_ids": res.delivery_ids, "warnings": res.warnings + ([note] if note else []),
    }
    if as_json:
        _emit_json(data)
        return
    console.print(f"[bold green]{title}[/]  文件编号 {res.document_id}  索引号 [bold]{res.index_no}[/]", highlight=False)
    if res.due_date:
        mark = "（暂估）" if res.due_date_provisional else ""
        console.print(f"公开期限：{res.due_date.isoformat()}{mark}（{res.due_note}）", highlight=False)
    elif res.due_note:
        console.print(f"公开期限：{res.due_note}", highlight=False)
    console.print(f"已创建 {len(res.delivery_ids)} 条投递。查看进度：orchestrator status {res.document_id}", highlight=False)
    for w in data["warnings"]:
        console.print(f"[yellow]提示：[/]{w}", highlight=False)


def _document_data(document_id: int) -> dict[str, Any]:
    with session_scope() as s:
        try:
            return document_json(load_document(s, document_id))
        except HTTPException:
            raise NotFound(f"文件 {document_id} 不存在") from None


def _ts_local(value: str | None) -> str:
    if not value:
        return ""

    return dt.datetime.fromisoformat(value).astimezone(ZoneInfo("Asia/Shanghai")).strftime("%m-%d %H:%M")


def _delivery_table(rows: list[dict[str, Any]], title: str | None = None) -> Table:
    table = Table(title=title, show_lines=False, title_justify="left")
    for col in ("投递", "文件", "渠道", "目标", "动作", "状态", "尝试", "更新", "说明"):
        table.add_column(col, overflow="fold", no_wrap=col in ("渠道", "状态", "更新"))
    actions = {"publish": "发布", "update": "更新", "withdraw": "撤回"}
    for d in rows:
        note = d["last_error"] or (d.get("receipt") or {}).get("url") or ""
        if d["status"] == "awaiting_confirmation":
            note = note or "待人工确认：orchestrator confirm " + str(d["id"]) + " --by 经办人"
        table.add_row(str(d["id"]), f"{d['document_id']} v{d['version']}", d["channel"], d["destination"],
                      actions.get(d["action"], d["action"]), d["status_label"], f"{d['attempts']}/{d['max_attempts']}",
                      _ts_local(d["updated_at"]), note[:120])
    return table


# --- documents -----------------------------------------------------------------------------------

@friendly
def submit(
    entry: Annotated[str, typer.Option("--entry", help="目录事项编码或路径（如 履职依据/规范性文件）")],
    title: Annotated[str, typer.Option("--title", help="标题")],
    body: Annotated[Path, typer.Option("--body", help="正文文件（HTML 或 Markdown；- 表示标准输入）")],
    formed_on: Annotated[str, typer.Option("--formed-on", help="生成日期或事件日期 YYYY-MM-DD")],
    body_format: Annotated[str | None, typer.Option("--format", help="html 或 markdown（默认按扩展名判断）")] = None,
    attach: Annotated[list[Path] | None, typer.Option("--attach", help="附件（可重复）")] = None,
    doc_number: Annotated[str, typer.Option("--doc-number", help="文号")] = "",
    publish_at: Annotated[str | None, typer.Option("--publish-at", help="定时发布时间（北京时间，如 2026-12-01T09:00）")] = None,
    publisher: Annotated[str | None, typer.Option("--publisher", help="发布机构（目录事项在多个机构重名时必填）")] = None,
    summary: Annotated[str, typer.Option("--summary", help="摘要")] = "",
    confirm_personal_data: Annotated[bool, typer.Option("--confirm-personal-data", help="确认正文中的个人信息可以公开")] = False,
    wechat_title: Annotated[str | None, typer.Option("--wechat-title", help="微信短标题（不超过 32 个字，仅用于微信渠道）")] = None,
    channel_option: Annotated[list[str] | None, typer.Option("--channel-option", help="渠道选项 渠道编码.选项=值（可重复，如 wechat.title=短标题）")] = None,
    by: Annotated[str | None, typer.Option("--by", help="提交人：本系统的账号，按其科室核对目录事项（默认记为运行命令的系统用户）")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="输出 JSON")] = False,
) -> None:
    """登记一份文件并分发到目录事项标明的所有渠道。"""
    formed = _parse_date(formed_on, "生成日期")
    when = _parse_datetime(publish_at, "定时发布时间")
    source = _read_text(body, "正文")
    data: dict[str, Any] = {
        "entry": entry, "title": title, "body": source, "body_format": _body_format(body, body_format),
        "doc_number": doc_number, "formed_on": formed, "publish_at": when, "summary": summary,
        "confirm_personal_data": confirm_personal_data, "submitted_by": _submitter(by, entry, publisher),
    }
    if publisher:
        data["publisher"] = publisher
    options = _channel_options(wechat_title, channel_option)
    if options:
        data["channel_options"] = options
    uploads = _open_uploads(list(attach or []))
    try:
        res = submission.submit(data, uploads, enqueue=False)
    finally:
        for u in uploads:
            u.stream.close()
    _result_out(res, as_json, _enqueue_after(res.delivery_ids), "已登记")


@friendly
def version(
    document: Annotated[str, typer.Argument(help="文件编号或索引号")],
    title: Annotated[str | None, typer.Option("--title", help="新标题（默认沿用）")] = None,
    body: Annotated[Path | None, typer.Option("--body", help="新正文文件（默认沿用）")] = None,
    body_format: Annotated[str | None, typer.Option("--format", help="html 或 markdown")] = None,
    doc_number: Annotated[str | None, typer.Option("--doc-number", help="文号")] = None,
    change_note: Annotated[str, typer.Option("--change-note", help="更正说明")] = "",
    attach: Annotated[list[Path] | None, typer.Option("--attach", help="新增附件（可重复）")] = None,
    drop_attachments: Annotated[bool, typer.Option("--drop-attachments", help="不沿用上一版的附件")] = False,
    confirm_personal_data: Annotated[bool, typer.Option("--confirm-personal-data")] = False,
    wechat_title: Annotated[str | None, typer.Option("--wechat-title", help="微信短标题（不超过 32 个字，仅用于微信渠道）")] = None,
    channel_option: Annotated[list[str] | None, typer.Option("--channel-option", help="渠道选项 渠道编码.选项=值（可重复）")] = None,
    by: Annotated[str | None, typer.Option("--by", help="提交人")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """更正：登记新版本，已送达的渠道将收到更新。"""
    doc_id = _resolve_document(document)
    data: dict[str, Any] = {"change_note": change_note, "keep_attachments": not drop_attachments,
                            "confirm_personal_data": confirm_personal_data, "submitted_by": _operator(by)}
    if title is not None:
        data["title"] = title
    if doc_number is not None:
        data["doc_number"] = doc_number
    if body is not None:
        data["body"] = _read_text(body, "正文")
        data["body_format"] = _body_format(body, body_format)
    options = _channel_options(wechat_title, channel_option)
    if options:
        data["channel_options"] = options
    if len(data) == 4 and not attach:
        die("请至少提供一项更改（--title、--body、--doc-number、--wechat-title 或 --attach）")
    uploads = _open_uploads(list(attach or []))
    try:
        res = versions.new_version(doc_id, data, uploads)
    finally:
        for u in uploads:
            u.stream.close()
    _result_out(res, as_json, None, "已登记新版本")


@friendly
def withdraw(
    document: Annotated[str, typer.Argument(help="文件编号或索引号")],
    reason: Annotated[str, typer.Option("--reason", help="撤回原因")],
    by: Annotated[str | None, typer.Option("--by")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """撤回文件：已送达的渠道收到撤回，尚未发出的投递取消。"""
    res = versions.withdraw(_resolve_document(document), reason, _operator(by))
    _result_out(res, as_json, None, "已撤回")


@friendly
def status(
    document: Annotated[str, typer.Argument(help="文件编号或索引号")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """查看文件及其各渠道投递状态。"""
    data = _document_data(_resolve_document(document))
    if as_json:
        _emit_json(data)
        return
    console.print(f"[bold]{data['title']}[/]", highlight=False)
    console.print(
        f"文件编号 {data['id']}  索引号 {data['index_no']}  状态 {data['state_label']}  "
        f"当前版本 {data['current_version']}\n目录事项 {data['entry']['code']} {'/'.join(data['entry']['path'])}  "
        f"发布机构 {data['publisher']}  生成日期 {data['formed_on']}  公开期限 {data['due_date'] or '—'}"
        f"{'（暂估）' if data['due_date'] and data.get('due_date_provisional') else ''}",
        highlight=False,
    )
    console.print(_delivery_table(data["deliveries"]))


@friendly
def deliveries(
    status_: Annotated[str | None, typer.Option("--status", help="状态（多个用逗号分隔，如 failed,not_configured）")] = None,
    channel: Annotated[str | None, typer.Option("--channel", help="渠道编码（多个用逗号分隔）")] = None,
    document: Annotated[str | None, typer.Option("--document", help="文件编号或索引号")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="最多显示条数")] = 50,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """列出投递（最新的在前）。"""
    doc_id = _resolve_document(document) if document else None
    try:
        q = delivery_filters(select(Delivery), channel=channel, status=status_, action=None, publisher=None,
                              office=None, entry=None, document_id=doc_id, created_from=None, created_to=None)
    except HTTPException as exc:
        die("；".join(f"{e['field']}：{e['message']}" for e in exc.detail))
    with session_scope() as s:
        total = s.scalar(select(func.count()).select_from(q.subquery()))
        rows = [delivery_json(d) for d in s.scalars(q.order_by(Delivery.id.desc()).limit(limit))]
    if as_json:
        _emit_json({"total": total, "items": rows})
        return
    console.print(_delivery_table(rows, title=f"共 {total} 条，显示 {len(rows)} 条"))


@friendly
def retry(
    delivery: Annotated[str, typer.Argument(help="投递编号")],
    by: Annotated[str | None, typer.Option("--by")] = None,
) -> None:
    """重试失败、未配置或已取消的投递。"""
    delivery_ops.retry_delivery(_delivery_id(delivery), _operator(by))
    console.print(f"投递 {delivery} 已重新排入发送队列", highlight=False)


@friendly
def cancel(
    delivery: Annotated[str, typer.Argument(help="投递编号")],
    reason: Annotated[str, typer.Option("--reason", help="取消原因")] = "",
    by: Annotated[str | None, typer.Option("--by")] = None,
) -> None:
    """取消一条尚未完成的投递。"""
    delivery_ops.cancel_delivery(_delivery_id(delivery), _operator(by), reason)
    console.print(f"投递 {delivery} 已取消", highlight=False)


@friendly
def confirm(
    delivery: Annotated[str, typer.Argument(help="投递编号")],
    by: Annotated[str, typer.Option("--by", help="经办人")],
    note: Annotated[str, typer.Option("--note", help="说明（如：已在公开查阅点放置纸质文件）")] = "",
    evidence: Annotated[Path | None, typer.Option("--evidence", help="凭证文件（照片、扫描件）")] = None,
    url: Annotated[str | None, typer.Option("--url", help="发布后的链接")] = None,
    when: Annotated[str | None, typer.Option("--when", help="完成时间（默认现在）")] = None,
) -> None:
    """确认人工渠道已完成发布。"""
    delivery_id = _delivery_id(delivery)
    at = _parse_datetime(when, "完成时间")
    if url and not (url.startswith("http://") or url.startswith("https://")):
        die("链接应以 http:// 或 https:// 开头")
    upload = None
    if evidence is not None:
        if not evidence.is_file():
            die(f"凭证文件不存在：{evidence}")
        upload = inputs.Upload(evidence.name, evidence.open("rb"))
    try:
        delivery_ops.confirm_delivery(delivery_id, by, note, at, upload, url)
    finally:
        if upload:
            upload.stream.close()
    console.print(f"投递 {delivery_id} 已确认送达（经办人：{by}）", highlight=False)


# --- processes -----------------------------------------------------------------------------------

def _queue_list(value: str | None) -> list[str]:
    if not value:
        return all_queues()
    out = []
    for item in value.split(","):
        item = item.strip()
        if not item:
            continue
        # A bare channel code means its delivery queue: "website" → "deliver.website".
        out.append(item if item == "orchestrator" or "." in item else f"deliver.{item}")
    if not out:
        die("--queues 不能为空")
    return out


def worker(
    queues: Annotated[str | None, typer.Option("--queues", "-Q", help="队列或渠道编码，逗号分隔（默认全部）")] = None,
    concurrency: Annotated[int, typer.Option("--concurrency", "-c", min=1, max=256, help="并发进程数")] = 2,
    pool: Annotated[str, typer.Option("--pool", help="prefork / threads / solo")] = "prefork",
    name: Annotated[str | None, typer.Option("--name", "-n", help="工作进程名称（如 web@%h）")] = None,
) -> None:
    """运行 Celery 工作进程（投递各渠道）。"""
    if pool not in ("prefork", "threads", "solo"):
        die("--pool 可选 prefork、threads、solo")
    argv = worker_argv(_queue_list(queues), concurrency, pool, name)
    os.execv(sys.executable, argv)  # become the worker: signals from the supervisor reach Celery directly


def beat() -> None:
    """运行 Celery beat（定时巡检：补发丢失的消息、释放定时发布的文件）。整个系统只能运行一个。"""
    settings = get_settings()
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    os.execv(sys.executable, beat_argv(settings.var_dir / "beat-schedule"))


def serve(
    host: Annotated[str | None, typer.Option("--host", help="监听地址（默认 127.0.0.1，或 ORCH_HOST）")] = None,
    port: Annotated[int | None, typer.Option("--port", min=1, max=65535, help="端口（默认 8000，或 ORCH_PORT）")] = None,
    with_worker: Annotated[bool, typer.Option("--worker/--no-worker", help="同时启动工作进程")] = True,
    with_beat: Annotated[bool, typer.Option("--beat/--no-beat", help="同时启动 beat")] = True,
    concurrency: Annotated[int, typer.Option("--concurrency", "-c", min=1, max=64, help="工作进程并发数")] = 2,
    sync_catalogs: Annotated[bool, typer.Option("--sync-catalogs/--no-sync-catalogs", help="启动时同步目录")] = True,
) -> None:
    """运行整个系统：数据库迁移、内置消息队列、目录同步、工作进程、beat 和网页/接口服务。Ctrl-C 全部停止。"""
    settings = get_settings()
    code = run_serve(ServeOptions(host=host or settings.host, port=port or settings.port, worker=with_worker,
                                  beat=with_beat, concurrency=concurrency, sync_catalogs=sync_catalogs))
    raise typer.Exit(code)


# --- database, catalog ---------------------------------------------------------------------------

@friendly
def db_upgrade() -> None:
    """把数据库结构升级到最新（alembic upgrade heads）。"""
    settings = get_settings()
    if not settings.database_url:
        settings.var_dir.mkdir(parents=True, exist_ok=True)
    upgrade_database()
    console.print("数据库已是最新结构", highlight=False)


@friendly
def catalog_sync(
    directory: Annotated[Path | None, typer.Option("--dir", help="目录文件夹（默认 config/catalogs）")] = None,
) -> None:
    """把 config/catalogs/*.yaml 中已审核的目录同步进数据库。"""
    if directory is not None and not directory.is_dir():
        die(f"目录文件夹不存在：{directory}")
    try:
        result = sync_catalogs(directory)
    except CatalogError as exc:
        die(f"目录文件有误，未做任何更改：{exc}")
    except (ValidationError, YAMLError) as exc:
        die(f"目录文件格式有误，未做任何更改：{str(exc).splitlines()[0]}")
    if not result:
        console.print("没有找到目录文件（config/catalogs/*.yaml）", highlight=False)
    audit.record_now(audit.cli_actor(), "catalog.sync", str(directory or get_settings().catalogs_dir),
                     {"发布机构": {name: count for name, count in result}})
    for name, count in result:
        console.print(f"{name}：{count} 个目录事项", highlight=False)


# --- users and tokens ----------------------------------------------------------------------------

@friendly
def user_add(
    username: Annotated[str, typer.Argument(help="用户名")],
    role: Annotated[str, typer.Option("--role", help="clerk（经办人）/ reviewer（审核人）/ ops（运维）/ admin（管理员）")],
    office: Annotated[str, typer.Option("--office", help="所属科室（经办人必填）")] = "",
    display_name: Annotated[str, typer.Option("--display-name", help="姓名")] = "",
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="从标准输入读取密码（用于网页登录）")] = False,
) -> None:
    """新增用户。"""
    password = None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            die("标准输入中没有密码")
    u = auth.create_user(username, role, office=office, password=password, display_name=display_name)
    audit.record_now(audit.cli_actor(), "user.create", f"用户 {u.username}",
                     {"after": {"姓名": u.display_name, "角色": auth.ROLE_LABELS[u.role], "科室": u.office}})
    console.print(f"已创建用户 {u.username}（{auth.ROLE_LABELS[u.role]}{'，' + u.office if u.office else ''}）", highlight=False)


@friendly
def user_password(
    username: Annotated[str, typer.Argument(help="用户名")],
    keep: Annotated[bool, typer.Option("--no-force-change", help="不要求该用户下次登录时修改密码")] = False,
) -> None:
    """重置用户的网页登录密码（从标准输入读取新密码）；默认要求该用户下次登录时自行修改。"""
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        die("标准输入中没有密码")
    auth.set_password(username, password, by=audit.cli_actor(), force_change=not keep)
    audit.record_now(audit.cli_actor(), "user.password_reset", f"用户 {username.strip()}", {"下次登录须修改密码": not keep})
    console.print(f"已重置用户 {username.strip()} 的密码" + ("" if keep else "，该用户下次登录时须修改密码"), highlight=False)


@friendly
def token_create(
    username: Annotated[str, typer.Argument(help="用户名")],
    name: Annotated[str, typer.Option("--name", help="令牌用途（如 OA 系统对接）")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """为用户生成 API 令牌。令牌只显示这一次，请妥善保存。"""
    token_id, token = auth.create_token(username, name)
    audit.record_now(audit.cli_actor(), "token.create", f"用户 {username} 的令牌 {token_id}", {"用途": name.strip()})
    if as_json:
        _emit_json({"id": token_id, "username": username, "name": name, "token": token})
        return
    err_console.print("API 令牌（只显示这一次，请立即保存）：", highlight=False)
    sys.stdout.write(token + "\n")


@friendly
def token_revoke(token_id: Annotated[int, typer.Argument(help="令牌编号")]) -> None:
    """吊销 API 令牌。"""
    auth.revoke_token(token_id)
    audit.record_now(audit.cli_actor(), "token.revoke", f"令牌 {token_id}", {})
    console.print(f"令牌 {token_id} 已吊销", highlight=False)


# --- registration --------------------------------------------------------------------------------

def _group(app: typer.Typer, name: str, help_text: str) -> typer.Typer:
    """An existing sub-group (another module may have registered it first) or a new one."""
    for info in app.registered_groups:
        if info.name == name and info.typer_instance is not None:
            return info.typer_instance
    sub = typer.Typer(help=help_text, no_args_is_help=True)
    app.add_typer(sub, name=name)
    return sub


def register(app: typer.Typer) -> None:
    _localize_click()
    _setup_logging()
    for fn in (submit, status, deliveries, retry, cancel, confirm, withdraw):
        app.command(fn.__name__)(fn)
    app.command("version")(version)
    app.command("worker")(worker)
    app.command("beat")(beat)
    app.command("serve")(serve)
    _group(app, "db", "数据库").command("upgrade")(db_upgrade)
    _group(app, "catalog", "主动公开目录").command("sync")(catalog_sync)
    users = _group(app, "user", "用户")
    users.command("add")(user_add)
    users.command("password")(user_password)
    tokens = _group(app, "token", "API 令牌")
    tokens.command("create")(token_create)
    tokens.command("revoke")(token_revoke)

