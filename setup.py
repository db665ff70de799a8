"""Build hook: a wheel (``pip install .``, no ``-e``) carries the data the product reads at run time.

``config/``, ``templates/``, ``migrations/`` and ``alembic.ini`` live next to the packages in the source tree; a built
wheel copies them into ``orchestrator/_share/``, which ``orchestrator.settings`` uses when the package does not sit in a
source checkout. Everything else is declared in ``pyproject.toml``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
SHARED = ("config", "templates", "migrations", "alembic.ini")


class BuildPyWithShare(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads the source tree itself
        share = Path(self.build_lib) / "orchestrator" / "_share"
        for name in SHARED:
            src, dst = ROOT / name, share / name
            if src.is_dir():
                shutil.copytree(src, dst, dirs_exist_ok=True,
                                ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            elif src.is_file():
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dst)


setup(cmdclass={"build_py": BuildPyWithShare})
