"""The ``orchestrator`` command. Sub-commands live next to what they drive and register here."""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    help="政务公开发布编排系统 (government disclosure publishing orchestrator)",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _register() -> None:
    # Each module exposes register(app). Missing modules are a development-time error, not silently skipped.
    for module in ("orchestrator.catalog.cli", "orchestrator.cli.commands", "orchestrator.review.cli"):
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            continue
        mod.register(app)


_register()
