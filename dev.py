#!/usr/bin/env python3
"""The two quick-start commands. Needs only Python 3.11+; creates or reuses ./.venv.

    python3 dev.py run    # the product: web app + real Celery worker and beat, embedded broker, SQLite, seed catalog
    python3 dev.py test   # ruff, then the whole test suite (starts PostgreSQL/Redis if installed but stopped)
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".installed-from"


def _fingerprint() -> str:
    """What the installed metadata depends on: pyproject.toml (dependencies and the ``orchestrator.channels`` entry-point
    table the core discovers channels through) and where the checkout is (the editable install points at it)."""
    return hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + str(ROOT).encode()).hexdigest()


def ensure_venv() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 (dev.py itself may be run by an older python3)
        sys.exit("需要 Python 3.11 或更高版本 (Python 3.11+ is required)")
    if not (BIN / "python").exists():
        print("» creating .venv", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    if not STAMP.exists() or STAMP.read_text() != _fingerprint():
        print("» installing the project and its test tools into .venv", flush=True)
        # setuptools prints a "!!" warning block while building the editable install (our build_py hook is skipped in
        # editable mode on purpose); pip and the build backend it starts inherit PYTHONWARNINGS. Errors still show.
        quiet = {**os.environ, "PYTHONWARNINGS": "ignore"}
        subprocess.run([BIN / "python", "-m", "pip", "install", "-q", "--upgrade", "pip"], check=True, env=quiet)
        subprocess.run([BIN / "python", "-m", "pip", "install", "-q", "-e", f"{ROOT}[test]"], check=True, env=quiet)
        STAMP.write_text(_fingerprint())


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def ensure_services() -> None:
    """Start the machine's PostgreSQL and Redis when installed but not running (idempotent)."""
    script = ROOT / "scripts" / "ensure-services.sh"
    if script.exists() and shutil.which("bash") and subprocess.run(["bash", str(script)], check=False).returncode:
        print("» scripts/ensure-services.sh could not install or start everything (see above): the tests that need "
              "it are skipped here, and fail under CI", file=sys.stderr, flush=True)
    if not _listening(5432) and not os.environ.get("ORCH_TEST_PG_URL"):
        sys.exit("测试需要 PostgreSQL：请在 127.0.0.1:5432 启动，或设置 ORCH_TEST_PG_URL (tests need PostgreSQL)")


def main(argv: list[str]) -> int:
    cmd = argv[0] if argv else "help"
    if cmd == "run":
        ensure_venv()
        os.chdir(ROOT)
        os.execv(str(BIN / "orchestrator"), [str(BIN / "orchestrator"), "serve", *argv[1:]])
    if cmd == "test":
        ensure_venv()
        ensure_services()
        os.chdir(ROOT)
        # Lint first so the test runner's summary is the last thing printed (CI reads the closing lines).
        lint = subprocess.run([BIN / "ruff", "check", "."]).returncode
        # Two tests at a time (pytest-xdist): most of the suite's time is spent waiting on worker processes, browsers
        # and servers, and each test process gets its own PostgreSQL database and Redis. ``-n 0`` runs them one by one.
        rc = subprocess.run([BIN / "python", "-m", "pytest", "-n", "2", *argv[1:]]).returncode
        return rc or lint
    print(__doc__)
    return 0 if cmd in {"help", "-h", "--help"} else 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
