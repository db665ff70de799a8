"""The import contract of ``orchestrator`` and ``channels``, read from the source with ``ast`` (nothing is imported).

- No import cycle between modules, counting imports inside functions too (a function-local import hides a cycle
  from the interpreter, not from this test).
- Channels depend on the channel contract (``channels.*``), settings and the core's channel API
  (``orchestrator.channel_api``) only: never on the web app, the REST API, the CLI, the process supervisor, the
  delivery engine, or any other core module directly.
- Nothing imports the Celery task module: tasks are sent by name; only Celery loads it (``include=``).
- In ``orchestrator``, an import of a project module inside a function says why on its line or the line above.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("orchestrator", "channels")
FORBIDDEN_FOR_CHANNELS = (
    "orchestrator.web", "orchestrator.api", "orchestrator.cli", "orchestrator.serve", "orchestrator.delivery",
)
# The core modules a channel may import: what the core offers channels, and settings.
CHANNEL_CONTRACT = ("orchestrator.channel_api", "orchestrator.settings")
# Known exceptions, each with its reason. Keep this list empty; an entry is a debt, not a permission.
CHANNEL_EXCEPTIONS: set[tuple[str, str]] = set()
TASK_MODULE = "orchestrator.delivery.tasks"
# Every module of Celery tasks (beat tasks of the compliance watch too): loaded by Celery only, through include=.
TASK_MODULES = (TASK_MODULE, "orchestrator.compliance.tasks", "orchestrator.notify.tasks")


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    line: int
    local: bool  # inside a function
    commented: bool  # a comment on the import's line or the line above


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def _resolve(name: str, known: dict[str, Path]) -> str | None:
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def _edges_of(node: ast.Import | ast.ImportFrom, module: str, path: Path, lines: list[str], in_function: bool,
              known: dict[str, Path]) -> Iterator[Edge]:
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    else:
        base = node.module or ""
        if node.level:
            package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
            package = package[: len(package) - (node.level - 1)]
            base = ".".join([*package, base] if base else package)
        names = [f"{base}.{a.name}" for a in node.names]
    line = lines[node.lineno - 1]
    above = lines[node.lineno - 2].strip() if node.lineno > 1 else ""
    commented = "#" in line or above.startswith("#")
    for name in names:
        target = _resolve(name, known)
        if target and target != module:
            yield Edge(module, target, node.lineno, in_function, commented)


def _visit(node: ast.AST, in_function: bool) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
            continue  # annotations only: never imported at run time
        if isinstance(child, (ast.Import, ast.ImportFrom)):
            yield child, in_function
        else:
            yield from _visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)))


def edges(known: dict[str, Path]) -> Iterator[Edge]:
    for module, path in known.items():
        source = path.read_text(encoding="utf-8")
        lines = source.splitlines()
        for node, in_function in _visit(ast.parse(source), False):
            yield from _edges_of(node, module, path, lines, in_function, known)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return found


ALL = modules()
EDGES = list(edges(ALL))


def test_the_contract_sees_the_whole_code() -> None:
    assert {"orchestrator.delivery.engine", "orchestrator.documents.submission", "channels.base"} <= set(ALL)
    assert any(e.source == "orchestrator.delivery.dispatch" and e.target == "orchestrator.delivery.celery_app"
               for e in EDGES)


def test_no_import_cycles_between_modules() -> None:
    graph: dict[str, set[str]] = {}
    for e in EDGES:
        graph.setdefault(e.source, set()).add(e.target)
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_channels_depend_only_on_the_channel_contract_and_shared_core() -> None:
    bad = sorted(
        f"{e.source}:{e.line} → {e.target}" for e in EDGES
        if e.source.startswith("channels")
        and e.target.startswith(FORBIDDEN_FOR_CHANNELS)
        and (e.source, e.target) not in CHANNEL_EXCEPTIONS
    )
    assert bad == []


def test_channels_import_only_the_channel_api_and_settings_from_the_core() -> None:
    bad = sorted(
        f"{e.source}:{e.line} → {e.target}" for e in EDGES
        if e.source.startswith("channels") and e.target.startswith("orchestrator")
        and e.target not in CHANNEL_CONTRACT and (e.source, e.target) not in CHANNEL_EXCEPTIONS
    )
    assert bad == []


def test_the_channel_api_does_not_reach_into_the_delivery_layer() -> None:
    """The poll hand-off is registered by the delivery layer; the channel API itself never imports it."""
    assert [e.target for e in EDGES if e.source == "orchestrator.channel_api"
            and e.target.startswith(FORBIDDEN_FOR_CHANNELS)] == []


def test_the_known_channel_exceptions_are_still_real() -> None:
    """An exception that no longer happens must leave the list (so the list only shrinks)."""
    actual = {(e.source, e.target) for e in EDGES}
    assert actual >= CHANNEL_EXCEPTIONS


def test_nothing_imports_the_task_module() -> None:
    assert [f"{e.source}:{e.line}" for e in EDGES if e.target in TASK_MODULES] == []
    celery_app = (ROOT / "orchestrator" / "delivery" / "celery_app.py").read_text(encoding="utf-8")
    include = re.search(r"include=\[([^\]]*)\]", celery_app)
    assert include and all(f'"{m}"' in include.group(1) for m in TASK_MODULES)


def test_function_local_imports_in_the_core_say_why() -> None:
    silent = sorted(
        f"{e.source}:{e.line} → {e.target}" for e in EDGES
        if e.source.startswith("orchestrator") and e.local and not e.commented
    )
    assert silent == []
