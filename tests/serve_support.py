"""Running ``orchestrator serve`` as a person does, for the end-to-end tests: start it on a free port with a private
var dir, make users and tokens with the CLI, submit through the API, wait for deliveries, stop it with a signal and
check that nothing it started is left behind."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import httpx

from tests.services import free_port


def descendants(pid: int) -> set[int]:
    """All live descendants of a process (children in other sessions and process groups included), from /proc."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parents[int(stat.parent.name)] = int(fields[1])
        except (OSError, IndexError, ValueError):
            continue
    out, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, pp in parents.items() if pp in frontier} - out
        out |= frontier
    return out


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def clean_env(**extra: str) -> dict[str, str]:
    """The test process's environment without any ORCH_* setting (the product's defaults apply), plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCH_")}
    env.update(extra)
    return env


def outbox_subscribers(tmp: Path, source: Path, smtp_port: int, webhook_port: int) -> Path:
    """A copy of the seed subscribers file routed to this test's outbox ports (eight people run tests at once)."""
    text = source.read_text(encoding="utf-8")
    smtp_ref, hook_ref = "127.0.0.1:${ORCH_OUTBOX_SMTP_PORT:-2525}", "127.0.0.1:${ORCH_OUTBOX_WEBHOOK_PORT:-8808}"
    assert smtp_ref in text and hook_ref in text, "seed subscribers file no longer routes to the outbox"
    text = text.replace(smtp_ref, f"127.0.0.1:{smtp_port}").replace(hook_ref, f"127.0.0.1:{webhook_port}")
    out = tmp / "subscribers.yaml"
    out.write_text(text, encoding="utf-8")
    return out


class Serve:
    """One ``serve`` process. ``command`` runs the ``orchestrator`` CLI (a venv's script or ``python -m``)."""

    def __init__(self, command: Sequence[str], env: dict[str, str], cwd: Path, *, port: int | None = None,
                 extra_args: Sequence[str] = ()):
        self.command = list(command)
        self.port = port or free_port()
        while self.port == 8000:
            self.port = free_port()
        self.env = env
        self.cwd = cwd
        self.extra_args = list(extra_args)
        self.log_path = cwd / f"serve-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.children: set[int] = set()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self, timeout: float = 120) -> Serve:
        log = open(self.log_path, "wb")  # noqa: SIM115 (closed by the child's exit; we only read the file)
        self.proc = subprocess.Popen([*self.command, "serve", "--port", str(self.port), *self.extra_args], env=self.env,
                                     cwd=self.cwd, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + timeout
        while True:
            assert self.proc.poll() is None, self.log()
            try:
                if httpx.get(f"{self.base}/healthz", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, self.log()
            time.sleep(0.3)

    def cli(self, *args: str, stdin: str | None = None) -> str:
        r = subprocess.run([*self.command, *args], env=self.env, cwd=self.cwd, capture_output=True, text=True,
                           input=stdin, timeout=120)
        assert r.returncode == 0, f"{args}: {r.stdout}\n{r.stderr}"
        return r.stdout

    def token_for(self, username: str, role: str, office: str = "") -> dict[str, str]:
        self.cli("user", "add", username, "--role", role, *(["--office", office] if office else []))
        token = self.cli("token", "create", username, "--name", "test").strip()
        return {"Authorization": f"Bearer {token}"}

    def submit(self, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
        r = httpx.post(f"{self.base}/api/v1/documents", headers=headers, json=fields, timeout=30)
        assert r.status_code == 201, r.text
        return r.json()

    def deliveries(self, headers: dict[str, str], document_id: int) -> list[dict[str, Any]]:
        r = httpx.get(f"{self.base}/api/v1/documents/{document_id}", headers=headers, timeout=30)
        assert r.status_code == 200, r.text
        return r.json()["deliveries"]

    def wait_states(self, headers: dict[str, str], document_id: int, expected: dict[str, set[str]],
                    timeout: float = 240) -> list[dict[str, Any]]:
        """Wait until every channel's delivery is in one of its expected end states (and no other channel exists)."""
        deadline = time.monotonic() + timeout
        while True:
            ds = self.deliveries(headers, document_id)
            states = {d["channel"]: d["status"] for d in ds}
            if set(states) == set(expected) and all(states[c] in ok for c, ok in expected.items()):
                return ds
            if time.monotonic() > deadline:
                raise AssertionError(f"{states} != {expected}\n"
                                     + "\n".join(f"{d['channel']}: {d['last_error']}" for d in ds if d["last_error"])
                                     + f"\n{self.worker_log()[-4000:]}")
            time.sleep(0.5)

    def worker_log(self) -> str:
        var = Path(self.env["ORCH_VAR_DIR"])
        p = var / "logs" / "worker.log"
        return p.read_text(errors="replace") if p.exists() else ""

    def stop(self, sig: int = signal.SIGINT, timeout: float = 120) -> int:
        """Signal serve, wait for it, and check that every process it started is gone. Returns its exit code."""
        assert self.proc is not None
        self.children = descendants(self.proc.pid)
        self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise
        deadline = time.monotonic() + 10
        while any(alive(p) for p in self.children) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = [p for p in self.children if alive(p)]
        assert not left, f"orphans left after {signal.Signals(sig).name}: {left}"
        return code

    def kill(self) -> None:
        """Last resort in a test's ``finally``: nothing may outlive the test."""
        if self.proc is None:
            return
        pids = descendants(self.proc.pid)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass


URL_RE = re.compile(r"""https?://[^\s"'<>)\]]+""")


def local_urls(texts: Iterable[str]) -> list[str]:
    """Every http(s) URL naming this machine (127.0.0.1 / localhost) in the texts."""
    out = []
    for text in texts:
        out.extend(u for u in URL_RE.findall(text) if re.match(r"https?://(127\.0\.0\.1|localhost)[:/]", u))
    return out


# Two seed catalog entries (config/catalogs/genhe-sfj.yaml) that between them mark every kind of channel.
POLICY = "履职依据/规范性文件"  # website, gazette, bulletin_board, targeted_push
NEWS = "其他相关信息/工作动态"  # website, wechat (manual mode by default), reading_room, bulletin_board, other
MANUAL = {"awaiting_confirmation"}
POLICY_END = {"website": {"verified"}, "gazette": {"verified"}, "bulletin_board": {"verified"},
              "targeted_push": {"delivered", "verified"}}
NEWS_END = {"website": {"verified"}, "wechat": MANUAL, "reading_room": MANUAL, "bulletin_board": {"verified"},
            "other": MANUAL}


def submit_seed_documents(serve: Serve) -> dict[str, Any]:
    """Submit one document to each of the two seed entries as their offices' clerks and wait until every delivery
    reaches its end state for the embedded default (automatic channels verified, manual ones awaiting a person)."""
    policy_clerk = serve.token_for("clerk-law", "clerk", "行政执法协调监督办公室")
    news_clerk = serve.token_for("clerk-office", "clerk", "办公室")
    policy = serve.submit(policy_clerk, entry=POLICY, title="关于规范行政执法公示工作的通知",
                          body="<p>各单位：现就行政执法公示有关事项通知如下。</p>", formed_on="2026-11-02",
                          doc_number="根司发〔2026〕7号")
    news = serve.submit(news_clerk, entry=NEWS, title="司法局开展法治宣传进社区活动",
                        body="<p>近日，司法局在好里堡街道开展法治宣传活动。</p>", formed_on="2026-11-02")
    return {
        "policy": policy, "news": news,
        "policy_deliveries": serve.wait_states(policy_clerk, policy["document_id"], POLICY_END),
        "news_deliveries": serve.wait_states(news_clerk, news["document_id"], NEWS_END),
    }
