"""docker-compose.yml parses, has the production shape, and every service runs a command that exists in this project."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import typer.main
import yaml

from tests.fanout_harness import ALL_CHANNELS

ROOT = Path(__file__).resolve().parent.parent


def load() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


def resolve(argv: list[str]) -> tuple[Any, list[str]]:
    """Walk the typer/click command tree for `orchestrator a b --opt v`; every word must be a real sub-command."""
    from orchestrator.cli import app

    cmd = typer.main.get_command(app)  # a Click group (Typer vendors Click, so duck-typed here)
    rest = list(argv)
    while rest and hasattr(cmd, "commands") and not rest[0].startswith("-"):
        sub = cmd.commands.get(rest[0])
        assert sub is not None, f"no such command: {' '.join(argv)}"
        cmd, rest = sub, rest[1:]
    assert not hasattr(cmd, "commands"), f"incomplete command: {' '.join(argv)}"
    return cmd, rest


def options_of(cmd: Any) -> set[str]:
    return {o for p in cmd.params for o in (*p.opts, *p.secondary_opts)}


def test_compose_parses_and_has_the_production_shape():
    spec = load()
    services = spec["services"]
    assert {"postgres", "redis", "web", "beat"} <= set(services)
    redis_cmd = " ".join(services["redis"]["command"])
    assert "--appendonly yes" in redis_cmd and "--maxmemory-policy noeviction" in redis_cmd
    beats = [n for n, s in services.items() if (s.get("command") or [None])[:2] == ["orchestrator", "beat"]]
    assert beats == ["beat"], "exactly one beat"
    workers = [s for s in services.values() if (s.get("command") or [None])[:2] == ["orchestrator", "worker"]]
    assert len(workers) >= 2, "one worker pool per queue group"
    # Every channel queue (and the default queue) is consumed by some worker group.
    consumed = set()
    for w in workers:
        argv = w["command"]
        queues = argv[argv.index("--queues") + 1].split(",")
        consumed |= {q if q == "orchestrator" or "." in q else f"deliver.{q}" for q in queues}
    assert consumed == {"orchestrator", *(f"deliver.{c}" for c in ALL_CHANNELS)}
    for name in ("web", "beat", "migrate"):
        env = services[name]["environment"]
        assert env["ORCH_DATABASE_URL"].startswith("postgresql+psycopg://")
        assert env["ORCH_BROKER_URL"].startswith("redis://redis:")


def test_every_command_exists_in_the_project():
    spec = load()
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    for name, svc in spec["services"].items():
        command = svc.get("command")
        if command is None:
            continue
        argv = command if isinstance(command, list) else shlex.split(command)
        if "build" in svc:  # our image: the command must be one of our CLI commands with real options
            assert argv[0] == "orchestrator", f"{name}: {argv}"
            cmd, rest = resolve(argv[1:])
            known = options_of(cmd)
            for word in rest:
                if word.startswith("--"):
                    assert word.split("=")[0] in known, f"{name}: {cmd.name} has no option {word}"
        else:
            assert argv[0] in {"redis-server"}, f"{name}: unexpected external command {argv[0]}"
    # The Dockerfile's CMD is a real command too, and everything it copies exists.
    cmd_line = re.search(r'^CMD (\[.*\])$', dockerfile, re.M).group(1)
    cmd_argv = yaml.safe_load(cmd_line)
    assert cmd_argv[0] == "orchestrator"
    resolve(cmd_argv[1:])
    for src in re.findall(r"^COPY (.+) \S+$", dockerfile, re.M):
        for path in src.split():
            assert (ROOT / path).exists(), f"Dockerfile copies missing {path}"
    assert (ROOT / "pyproject.toml").read_text().count('orchestrator = "orchestrator.cli:app"') == 1
