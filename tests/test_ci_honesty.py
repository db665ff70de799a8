"""A test that needs a service must not pass silently on a machine without it.

``scripts/ensure-services.sh`` prints apt's own error and exits non-zero when it cannot install something (it used to
discard the output and exit 0), and under ``CI`` a test skipped for want of a service fails the run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.api_helpers import ROOT
from tests.services import free_port

APT_ERROR = "E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 4242 (apt-get)"


def _stub(directory: Path, name: str, script: str) -> None:
    path = directory / name
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(0o755)


def test_ensure_services_reports_an_install_it_cannot_do(tmp_path):
    # A machine as root with apt, no CJK font and an apt that fails: the script must say so and fail.
    stubs = tmp_path / "bin"
    stubs.mkdir()
    _stub(stubs, "id", 'echo 0')
    _stub(stubs, "fc-list", "exit 0")
    _stub(stubs, "apt-get", f'echo "{APT_ERROR}" >&2; exit 100')
    env = {**os.environ, "PATH": f"{stubs}{os.pathsep}{os.environ['PATH']}"}
    r = subprocess.run(["bash", str(ROOT / "scripts" / "ensure-services.sh")], env=env, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 1, r.stdout + r.stderr
    assert APT_ERROR in r.stderr
    assert "apt-get update failed" in r.stderr


def _run_wordpress_tests(extra_env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    # A MariaDB port nobody listens on: the WordPress tests find no database server and skip.
    env.update({"ORCH_TEST_MYSQL_PORT": str(free_port()), "PYTHONPATH": str(ROOT), **extra_env})
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x",
                           str(ROOT / "tests" / "test_cms_wordpress.py")],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_a_skip_for_a_missing_service_fails_under_ci():
    local = _run_wordpress_tests({})
    assert local.returncode == 0 and " skipped" in local.stdout and "no MariaDB/MySQL server" in local.stdout, local.stdout

    ci = _run_wordpress_tests({"CI": "true"})
    assert ci.returncode != 0, ci.stdout
    assert "CI must not skip a test that needs a service" in ci.stdout
    assert "no MariaDB/MySQL server" in ci.stdout
