"""``orchestrator review-chains load FILE`` / ``show``: review chains from the reviewed deployment file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
import yaml

from orchestrator.db import session_scope
from orchestrator.review import chains
from orchestrator.review.config import ChainConfigError, read_file

review_app = typer.Typer(help="审核流程：从配置文件载入、查看当前设置", no_args_is_help=True)


def _fail(messages: list[str]) -> None:
    typer.echo("审核流程未载入：", err=True)
    for m in messages:
        typer.echo(f"  - {m}", err=True)
    raise typer.Exit(1)


@review_app.command("load")
def load(
    path: Annotated[Path, typer.Argument(help="审核流程配置文件（YAML），如 config/review_chains.yaml")],
    check: Annotated[bool, typer.Option("--check", help="只检查，不写入")] = False,
    actor: Annotated[str, typer.Option("--actor", help="记入审计日志的操作人")] = "cli",
) -> None:
    """载入审核流程配置文件：文件中的流程和适用范围替换数据库中的全部设置（全部成功或全部不变）。"""
    try:
        spec = read_file(path)
        with session_scope() as s:
            n_chains, n_bindings = chains.load_file(s, spec, actor)
            if check:
                s.rollback()
    except ChainConfigError as exc:
        _fail(exc.messages)
    verb = "检查通过（未写入）" if check else "已载入"
    typer.echo(f"{verb}：{n_chains} 个审核流程，{n_bindings} 条适用范围")


@review_app.command("show")
def show() -> None:
    """以配置文件格式输出数据库中的审核流程和适用范围。"""
    with session_scope() as s:
        data = chains.dump(s)
    typer.echo(yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=120).rstrip())


def register(app: typer.Typer) -> None:
    app.add_typer(review_app, name="review-chains")
