"""``orchestrator catalog import|show|validate`` and ``orchestrator due``.

Every failure is a Chinese message on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
from pathlib import Path
from typing import NoReturn

import typer
import yaml
from rich.console import Console
from rich.table import Table

from orchestrator.calendar import CalendarError, due_date
from orchestrator.catalog.errors import CatalogError, CatalogValidationError
from orchestrator.catalog.importer import UNKNOWN_PUBLISHER, import_catalogs
from orchestrator.catalog.loader import find_entry, load_catalog, load_catalogs, write_catalog
from orchestrator.catalog.schema import Catalog, CatalogEntry
from orchestrator.settings import get_settings

catalog_app = typer.Typer(help="主动公开目录：导入、查看、校验", no_args_is_help=True)
out = Console(highlight=False, soft_wrap=True)


def _fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"错误：{message}", err=True)
    raise typer.Exit(code)


def _catalogs_dir(directory: Path | None) -> Path:
    if directory is not None:
        return directory

    return get_settings().catalogs_dir


def _channels_text(e: CatalogEntry) -> str:
    return "、".join(e.channel_labels) if e.channel_labels else ("、".join(e.channels) or "（无）")


def _summary_table(catalog: Catalog, title: str) -> Table:
    table = Table(title=title, show_lines=False, expand=False)
    for name in ("编码", "事项", "公开渠道", "公开时限", "责任科室", "待核对"):
        table.add_column(name, overflow="fold")
    last: list[str] = []
    for e in catalog.entries:
        # Draw the path as a tree: repeat only the levels that changed since the previous entry.
        same = 0
        while same < min(len(last), len(e.path)) and last[same] == e.path[same]:
            same += 1
        lines = [("  " * i + ("└ " if i else "") + name) for i, name in enumerate(e.path) if i >= same]
        if not lines:  # another content line of the same item
            lines = ["  " * len(e.path) + "└ （同上事项）"]
        last = e.path
        rule = f"{e.time_limit.text}\n[{e.time_limit.kind.value}]" + ("\n保持长期公开" if e.keep_public else "")
        table.add_row(
            e.code, "\n".join(lines), _channels_text(e), rule, "、".join(e.offices), f"[red]{len(e.warnings)}[/red]" if e.warnings else ""
        )
    return table


def _review_list(catalog: Catalog) -> None:
    flagged = [e for e in catalog.entries if e.warnings]
    for w in catalog.warnings:
        out.print(f"[yellow]提示[/yellow]：{w}")
    if not flagged:
        out.print("[green]没有需要人工核对的条目。[/green]")
        return
    out.print(f"[bold red]需要人工核对的条目：{len(flagged)} 个[/bold red]")
    for e in flagged:
        out.print(f"  {e.code} {e.path_text}")
        for w in e.warnings:
            out.print(f"      - {w}")


_UNSAFE = re.compile(r'[\\/:*?"<>|\s]+')


@catalog_app.command("import")
def import_command(
    file: str = typer.Argument(
        ..., help="目录文件（文本、.docx、.xlsx、.xls、.doc/.wps、.csv、.html/.mht 网页、.pdf）或发布目录的网址（http/https）"
    ),
    publisher: str | None = typer.Option(None, "--publisher", help="发布机构名称（默认取标题或公开主体）"),
    out_path: Path | None = typer.Option(None, "--out", help="输出 YAML 路径（默认 config/catalogs/<发布机构>.yaml）"),
    as_json: bool = typer.Option(False, "--json", help="在标准输出打印 JSON（指定 --out 时同时写文件）"),
    part: int | None = typer.Option(None, "--part", min=1, help="文件含有多个目录时，导入第几个（默认第 1 个；列表见输出）"),
) -> None:
    """导入一份主动公开目录，生成待人工核对的目录 YAML。"""
    try:
        result = _import_file_or_url(file, publisher, import_catalogs)
    except CatalogError as exc:
        _fail(str(exc))
    except Exception as exc:  # a damaged file can make any parsing library fail; the clerk still gets a message
        _fail(f"无法导入 {file}：{type(exc).__name__}: {exc}")
    if part is not None and part > len(result.catalogs):
        _fail(f"{file} 只有 {len(result.catalogs)} 个目录，没有第 {part} 个")
    catalog = result.catalogs[(part or 1) - 1]
    if catalog.publisher == UNKNOWN_PUBLISHER:
        _fail("无法从文件中确定发布机构，请用 --publisher 指定")

    target = out_path
    if target is None and not as_json:
        directory = _catalogs_dir(None)
        target = directory / f"{_UNSAFE.sub('_', catalog.publisher)}.yaml"
        try:
            same = [p for p in sorted(directory.glob("*.yaml")) if p != target and _publisher_of(p) == catalog.publisher]
        except OSError:
            same = []
        if same:
            _fail(f"发布机构“{catalog.publisher}”已有目录文件 {same[0]}；如确需用本次导入结果替换它，请加 --out {same[0]}")
    if target is not None:
        try:
            write_catalog(catalog, target)
        except OSError as exc:
            _fail(f"无法写入 {target}：{exc.strerror or exc}（原文件未改动）")
        _audit_import(str(target), file, catalog)

    if as_json:
        data = catalog.model_dump(mode="json", by_alias=True, exclude_none=True)
        payload = {
            "publisher": catalog.publisher,
            "entries": data["entries"],
            "warnings": list(catalog.warnings),
            "review": [e.code for e in catalog.entries if e.warnings],
            # Added fields (the ones above keep their meaning):
            "title": catalog.title,
            "part": part or 1,
            "catalogs": [{"part": i + 1, "title": c.title, "publisher": c.publisher, "entries": len(c.entries)}
                         for i, c in enumerate(result.catalogs)],
            "reading": result.reading,
            "proposals": result.proposals,
            "review_notes": result.review,
        }
        sys.stdout.write(json.dumps(payload, ensure_ascii=False, indent=2) + "\n")
        return
    if len(result.catalogs) > 1:
        out.print(f"[yellow]本文件含有 {len(result.catalogs)} 个目录，本次导入第 {part or 1} 个（用 --part 选择）：[/yellow]")
        for i, c in enumerate(result.catalogs, start=1):
            out.print(f"  {i}. {c.title or c.publisher}（{len(c.entries)} 个条目）")
    out.print(_summary_table(catalog, f"{catalog.publisher}：{len(catalog.entries)} 个条目"))
    _review_list(catalog)
    for wording, p in result.proposals.items():
        out.print(f"[yellow]建议映射[/yellow]：“{wording}” → {p['code']}（最接近“{p['like']}”）；确认后请写入 config/channel_map.yaml 再重新导入")
    out.print(f"已写入 {target}")


def _audit_import(target: str, source: str, catalog: Catalog) -> None:
    """The audit row for a catalog file written by the CLI. The database may not exist yet (a catalog is often
    imported before the first ``db upgrade``): then the import still succeeds and says the row is missing."""
    # lazy: the catalog tools work without a database; only the audit row needs it
    from orchestrator import audit

    settings = get_settings()
    if not settings.database_url and not (settings.var_dir / "orchestrator.db").is_file():
        return  # no database yet (before the first `db upgrade`): nothing administered, nothing to record
    try:
        audit.record_now(audit.cli_actor(), "catalog.import_file", f"{catalog.publisher}（{target}）",
                         {"来源": source, "事项数": len(catalog.entries),
                          "待核对": [e.code for e in catalog.entries if e.warnings]})
    except Exception as exc:  # noqa: BLE001  (any database error: the file is written, the row is best effort)
        typer.echo(f"提示：目录文件已写入，但未能写入审计日志（{type(exc).__name__}）", err=True)


def _import_file_or_url(source: str, publisher: str | None, import_catalog):
    """A local file, or a URL fetched into a temporary file that is removed afterwards."""
    # lazy: requests only for a URL
    from orchestrator.catalog.formats.fetch import fetch_to_file, is_url

    if not is_url(source):
        return import_catalog(Path(source), publisher)
    downloaded = fetch_to_file(source)
    try:
        result = import_catalog(downloaded, publisher)
    finally:
        downloaded.unlink(missing_ok=True)
    for catalog in getattr(result, "catalogs", [result]):
        catalog.source = source
    return result


def _publisher_of(path: Path) -> str | None:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except Exception:
        return None
    return raw.get("publisher") if isinstance(raw, dict) else None


@catalog_app.command("show")
def show_command(
    publisher: str | None = typer.Option(None, "--publisher", help="只显示该发布机构的目录"),
    directory: Path | None = typer.Option(None, "--dir", help="目录文件所在文件夹（默认 config/catalogs）"),
) -> None:
    """以表格（树形事项）显示已加载的目录：渠道、时限、责任科室。"""
    try:
        catalogs = load_catalogs(_catalogs_dir(directory))
    except CatalogError as exc:
        _fail(str(exc))
    if publisher:
        catalogs = [c for c in catalogs if c.publisher == publisher]
    if not catalogs:
        _fail("没有找到目录" + (f"（发布机构：{publisher}）" if publisher else f"（{_catalogs_dir(directory)} 中没有 .yaml 文件）"))
    for c in catalogs:
        out.print(_summary_table(c, f"{c.publisher}：{len(c.entries)} 个条目"))
        flagged = sum(1 for e in c.entries if e.warnings)
        if flagged:
            out.print(f"[red]{flagged} 个条目有待核对事项（见 YAML 中各条目的 warnings）[/red]")


@catalog_app.command("validate")
def validate_command(file: Path = typer.Argument(..., help="目录 YAML 文件")) -> None:
    """校验目录 YAML：结构、渠道代码、编码唯一、时限规则是否已定型。"""
    try:
        catalog = load_catalog(file, strict=True)
    except CatalogValidationError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    except CatalogError as exc:
        _fail(str(exc))
    flagged = sum(1 for e in catalog.entries if e.warnings)
    out.print(f"校验通过：{catalog.publisher}，{len(catalog.entries)} 个条目" + (f"，其中 {flagged} 个条目有待核对的 warnings" if flagged else ""))


def due_command(
    entry: str = typer.Option(..., "--entry", help="条目编码（如 01-02）或路径“一级/二级[/三级]”"),
    start: str = typer.Option(..., "--from", help="起算日期 YYYY-MM-DD（信息形成或变更之日，或规则所说的事件日期）"),
    publisher: str | None = typer.Option(None, "--publisher", help="发布机构（多个目录有同名事项时必填）"),
    directory: Path | None = typer.Option(None, "--dir", help="目录文件所在文件夹（默认 config/catalogs）"),
) -> None:
    """计算某目录事项的公开截止日期（按工作日历），并说明如何计算。"""
    try:
        start_date = dt.date.fromisoformat(start.strip())
    except ValueError:
        _fail(f"日期“{start}”格式不对，应为 YYYY-MM-DD，例如 2026-02-13")
    try:
        catalog, e = find_entry(entry, publisher, load_catalogs(_catalogs_dir(directory)))
        due = due_date(e.time_limit, start_date)
    except (CatalogError, CalendarError) as exc:
        _fail(str(exc))
    if due.date is None:
        typer.echo(f"{e.code} {e.path_text}：{due.explanation}", err=True)
        raise typer.Exit(1)
    typer.echo(due.date.isoformat() + ("（暂估）" if due.provisional else ""))
    typer.echo(f"{catalog.publisher} {e.code} {e.path_text}：{due.explanation}")
    if due.needs_event:
        typer.echo("注意：此规则从事件日期起算，--from 应填写该事件（批复、审核、公告期结束或相关文件发布）的日期。")


def register(app: typer.Typer) -> None:
    app.add_typer(catalog_app, name="catalog")
    app.command("due")(due_command)
