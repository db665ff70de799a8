"""``pip install .`` (no extras, not editable) into a fresh venv is enough for ``orchestrator serve``.

Builds a venv in a temp dir, installs a copy of the checkout into it (the pip cache makes it quick), and runs that
venv's ``orchestrator serve`` from a directory outside the checkout with a private var dir — so the product imports
only what it declares and reads its templates, migrations and seed configuration from the installed package. A
document on each of two seed catalog entries (between them every kind of channel) reaches its end state on every
channel; then SIGINT stops everything it started. Also: every third-party module the product imports is declared.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import pytest

from tests.api_helpers import ROOT
from tests.serve_support import Serve, clean_env, outbox_subscribers, submit_seed_documents
from tests.services import free_port

COPY_IGNORE = shutil.ignore_patterns(".git", ".venv", "var", "build", "dist", "*.egg-info", "__pycache__",
                                     ".pytest_cache", ".ruff_cache", "test-artifacts", "_share")


def _top_level_imports(paths: list[Path]) -> set[str]:
    names: set[str] = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
    return names


def _requirement_name(req: str) -> str:
    return re.split(r"[\s\[<>=!~;(]", req, maxsplit=1)[0].lower().replace("_", "-")


def _runtime_closure(direct: list[str]) -> set[str]:
    """The distributions ``pip install .`` brings in: the declared ones and, transitively, what they require."""
    seen: set[str] = set()
    todo = [_requirement_name(r) for r in direct]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        todo.extend(_requirement_name(r) for r in requires if "extra ==" not in r)
    return seen


def test_every_module_the_product_imports_is_a_runtime_dependency():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    closure = _runtime_closure(project["dependencies"])
    sources = [p for d in ("orchestrator", "channels", "migrations") for p in (ROOT / d).rglob("*.py")]
    modules = _top_level_imports(sources) - set(sys.stdlib_module_names) - {"orchestrator", "channels", "__future__"}
    providers = metadata.packages_distributions()
    missing = {}
    for module in sorted(modules):
        dists = {d.lower().replace("_", "-") for d in providers.get(module, [])}
        if not dists & closure:
            missing[module] = sorted(dists) or "not installed"
    assert not missing, f"imported by product code but not a runtime dependency: {missing}"


@pytest.mark.slow
def test_clean_venv_pip_install_then_serve_reaches_every_channel(tmp_path):
    started = time.monotonic()
    source = tmp_path / "src"
    shutil.copytree(ROOT, source, ignore=COPY_IGNORE)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python, orchestrator = venv / "bin" / "python", venv / "bin" / "orchestrator"
    install_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    r = subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(source)],
                       env=install_env, capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0, r.stdout + r.stderr
    installed = time.monotonic()

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    # The packaged copy, not the checkout: no PYTHONPATH, and serve runs outside the source tree.
    where = subprocess.run([str(python), "-c", "import orchestrator.settings as s; print(s.PROJECT_ROOT)"],
                           env=install_env, cwd=run_dir, capture_output=True, text=True, check=True).stdout.strip()
    share = Path(where)
    assert share.is_relative_to(venv) and (share / "config" / "catalogs" / "genhe-sfj.yaml").is_file(), where
    assert not list((venv / "lib").glob("python*/site-packages/__editable__*")), "an editable install"

    smtp, hook = free_port(), free_port()
    env = clean_env(ORCH_VAR_DIR=str(run_dir / "var"), ORCH_SWEEP_INTERVAL_SECONDS="2",
                    ORCH_OUTBOX_SMTP_PORT=str(smtp), ORCH_OUTBOX_WEBHOOK_PORT=str(hook),
                    ORCH_PUSH_SUBSCRIBERS=str(outbox_subscribers(tmp_path, share / "config" / "subscribers.yaml",
                                                                 smtp, hook)))
    env.pop("PYTHONPATH", None)
    env.pop("VIRTUAL_ENV", None)
    env["PATH"] = os.pathsep.join([str(venv / "bin"), *[p for p in env.get("PATH", "").split(os.pathsep)
                                                         if not p.startswith(str(Path(sys.prefix)))]])
    serve = Serve([str(orchestrator)], env, run_dir)
    try:
        serve.start()
        assert "启动失败" not in serve.log()
        submit_seed_documents(serve)
        mails = list((run_dir / "var" / "outbox" / "mail").glob("*.eml"))
        assert mails, "the push e-mail did not reach the local outbox"
        code = serve.stop(signal.SIGINT)
    finally:
        serve.kill()
    assert code == 0, serve.log()
    assert "已停止" in serve.log() and "Traceback" not in serve.log()
    print(f"\nclean venv: install {installed - started:.1f} s, serve to every channel and stop "
          f"{time.monotonic() - installed:.1f} s")
