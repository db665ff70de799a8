"""``orchestrator serve``: the whole product in one command, and a clean stop on Ctrl-C / SIGTERM.

Order: migrate the database → start the embedded Redis (unless ORCH_BROKER_URL is set) → sync the catalogs →
start a real ``celery worker`` and ``celery beat`` as subprocesses → serve the app with uvicorn in this process.
Stopping reverses it. Children run in their own process groups (so a terminal Ctrl-C reaches only us and we stop them
in order, pool children included) and get SIGTERM if this process dies without cleaning up (Linux PDEATHSIG).

Stopping is warm: the worker's main process alone gets SIGTERM first (Celery's warm shutdown lets the deliveries in
flight finish and record their outcome; signalling its pool children too would kill them after the receiver applied
the item, leaving the row ``sending`` until its lease expires), then beat, and only then whatever is left of each
process group.

With ORCH_PUBLIC_URL unset, the public URL (links, QR codes, feeds, e-mails) is derived from the host and port served
on, and passed to the worker and beat.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from rich.console import Console

from orchestrator.app import create_app
from orchestrator.catalog_sync import sync_catalogs
from orchestrator.db import upgrade_database
from orchestrator.delivery.celery_app import reconfigure
from orchestrator.delivery.workers import all_queues, beat_argv, worker_argv
from orchestrator.documents.deadlines import recompute_due_dates
from orchestrator.serve.embedded import start_embedded_redis
from orchestrator.serve.outbox import LocalOutbox
from orchestrator.settings import INSTALLED, PROJECT_ROOT, embedded_socket, get_settings, local_url
from orchestrator.web.bootstrap import FILE_NAME, ensure_first_admin

console = Console(stderr=True, highlight=False, soft_wrap=True)  # piped output: whole lines (paths, the password)
STOP_TIMEOUT = 15.0  # beat, and what is left of a process group after its main process stopped
RESTART_LIMIT = 5  # crashes of one child within RESTART_WINDOW seconds that serve restarts it after; then it stops
RESTART_WINDOW = 600.0


@dataclass
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8000
    worker: bool = True
    beat: bool = True
    concurrency: int = 2
    sync_catalogs: bool = True


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    log: IO[bytes] | None = None
    expected_exit: bool = False
    # Seconds the main process may take to stop on SIGTERM before its whole group is signalled.
    stop_timeout: float = STOP_TIMEOUT
    # What started it, so the watchdog can start it again after a crash (see Supervisor.restart).
    argv: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    log_path: Path | None = None
    restarts: list[float] = field(default_factory=list)  # monotonic times of the recent restarts


@dataclass
class Supervisor:
    children: list[Child] = field(default_factory=list)
    redis: subprocess.Popen[bytes] | None = None
    outbox: Any = None
    failed: str | None = None

    def spawn(self, name: str, argv: list[str], env: dict[str, str], log_path: Path,
              stop_timeout: float = STOP_TIMEOUT) -> Child:
        log = open(log_path, "ab")  # noqa: SIM115 (lives as long as the child)
        proc = subprocess.Popen(argv, env=env, cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, preexec_fn=_die_with_parent)
        child = Child(name, proc, log, stop_timeout=stop_timeout, argv=argv, env=env, log_path=log_path)
        self.children.append(child)
        return child

    def restart(self, child: Child) -> bool:
        """Start a child again after it died unexpectedly (a kill -9, the OOM killer): what is left of its process
        group (pool processes of a killed Celery main process) is stopped first, and the sweeper then re-sends the
        deliveries it had in flight once their lease expires. False when it crashed RESTART_LIMIT times within
        RESTART_WINDOW seconds: something is wrong that a restart will not fix, and serve stops."""
        now = time.monotonic()
        child.restarts = [t for t in child.restarts if now - t < RESTART_WINDOW]
        if len(child.restarts) >= RESTART_LIMIT or child.log_path is None:
            return False
        _stop_child(child)
        log = open(child.log_path, "ab")  # noqa: SIM115 (lives as long as the child)
        child.proc = subprocess.Popen(child.argv, env=child.env, cwd=PROJECT_ROOT, stdout=log,
                                      stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_die_with_parent)
        child.log = log
        child.restarts.append(now)
        return True

    def stop(self) -> None:
        """Stop the children one by one, in the order they were started (worker first, then beat)."""
        for c in self.children:
            c.expected_exit = True
        for c in self.children:
            _stop_child(c)
        if self.outbox is not None:
            self.outbox.stop()
        if self.redis is not None and self.redis.poll() is None:
            self.redis.terminate()  # Redis flushes its AOF on SIGTERM
            try:
                self.redis.wait(10)
            except subprocess.TimeoutExpired:
                self.redis.kill()
                self.redis.wait()


def _stop_child(c: Child) -> None:
    """SIGTERM to the main process only and wait (bounded); then SIGTERM, and at last SIGKILL, to its process group."""
    if c.proc.poll() is None:
        try:
            c.proc.send_signal(signal.SIGTERM)  # Celery: warm shutdown, tasks in flight finish first
        except ProcessLookupError:
            pass
        try:
            c.proc.wait(c.stop_timeout)
        except subprocess.TimeoutExpired:
            console.print(f"{c.name}未在 {c.stop_timeout:.0f} 秒内退出，强制结束")
    # Whatever is left of the group: pool children of a main process that crashed or overran its time.
    _signal_group(c.proc, signal.SIGTERM)
    if _group_alive(c.proc.pid):
        deadline = time.monotonic() + 5
        while _group_alive(c.proc.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
    _signal_group(c.proc, signal.SIGKILL)
    try:
        c.proc.wait(5)
    except subprocess.TimeoutExpired:
        pass
    if c.log:
        c.log.close()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _die_with_parent() -> None:
    """In the child, before exec: ask Linux to send SIGTERM when the parent dies (no orphans after a kill -9 of serve)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class _Stop(Exception):
    pass


def _raise_stop(signum: int, _frame: Any) -> None:
    raise _Stop(signum)


def run_serve(opts: ServeOptions) -> int:
    # Until uvicorn takes over (and after it hands the signal back), a signal unwinds into the cleanup below.
    previous = {s: signal.signal(s, _raise_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    sup = Supervisor()
    code = 0
    try:
        if not os.environ.get("ORCH_PUBLIC_URL"):
            # Links must point where this server answers (``--port`` included); the worker and beat inherit it.
            os.environ["ORCH_PUBLIC_URL"] = local_url(opts.host, opts.port)
        get_settings.cache_clear()
        settings = get_settings()
        # Children start in PROJECT_ROOT: give them the var dir this process resolved (it may be relative to our cwd).
        os.environ["ORCH_VAR_DIR"] = str(settings.var_dir.resolve())
        get_settings.cache_clear()
        settings = get_settings()
        settings.var_dir.mkdir(parents=True, exist_ok=True)
        logs = settings.var_dir / "logs"
        logs.mkdir(exist_ok=True)
        db_text = "PostgreSQL" if settings.database_url.startswith("postgresql") else (
            "外部数据库" if settings.database_url else f"SQLite（{settings.var_dir / 'orchestrator.db'}）")
        console.print(f"[bold]政务公开发布编排系统[/] 启动中…  数据库：{db_text}")
        upgrade_database()
        console.print("· 数据库结构已是最新")
        first = ensure_first_admin()  # no users yet: a first admin, so the web app can be used at all
        if first:
            console.print(f"· 已创建首个管理员：用户名 [bold]{first[0]}[/]，密码 [bold]{first[1]}[/]"
                          f"（也保存在 {settings.var_dir / FILE_NAME}，登录后请修改密码）")

        if not settings.broker_url:
            sup.redis = start_embedded_redis(settings)
            os.environ["ORCH_BROKER_URL"] = f"redis+socket://{embedded_socket(settings)}"
            get_settings.cache_clear()
            reconfigure()
            console.print(f"· 内置消息队列（Redis）已启动：{embedded_socket(settings)}")
        else:
            console.print("· 使用外部消息队列（ORCH_BROKER_URL）")

        if not settings.broker_url and not os.environ.get("ORCH_PUSH_SMTP_URL"):
            # Embedded default: push notices land in var/outbox/ instead of retrying against no mail server.
            sup.outbox = LocalOutbox(settings.var_dir / "outbox", settings.outbox_smtp_port, settings.outbox_webhook_port)
            for what in sup.outbox.start():
                console.print(f"· 本地发件箱（精准推送未配置外部服务时使用）：{what}")

        if opts.sync_catalogs:
            for name, count in sync_catalogs():
                console.print(f"· 目录已同步：{name}（{count} 个事项）")

        try:  # a newer chinesecalendar or a new file under config/holidays: provisional due dates become official
            if changed := recompute_due_dates():
                console.print(f"· 已按新的节假日安排重新计算 {len(changed)} 个文件的公开期限")
        except Exception as exc:  # noqa: BLE001 - beat retries hourly; serving must not wait on it
            console.print(f"[yellow]· 重新计算公开期限未完成（稍后由定时任务重试）：{exc}[/]")

        env = dict(os.environ)
        if not INSTALLED:  # a source checkout: the children import the packages from it
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")]))
        if opts.worker:
            sup.spawn("工作进程", worker_argv(all_queues(), opts.concurrency, name=f"serve-{os.getpid()}@%h"),
                      env, logs / "worker.log", stop_timeout=settings.stop_timeout_seconds)
            console.print(f"· 工作进程已启动（{opts.concurrency} 个并发，日志 {logs / 'worker.log'}）")
        if opts.beat:
            sup.spawn("beat", beat_argv(settings.var_dir / "beat-schedule"), env, logs / "beat.log")
            console.print(f"· 定时巡检（beat）已启动（日志 {logs / 'beat.log'}）")

        code = _serve_http(opts, sup)
    except _Stop:
        code = 0
    except KeyboardInterrupt:
        code = 0
    except Exception as exc:
        if os.environ.get("ORCH_DEBUG"):
            raise
        console.print(f"[bold red]启动失败：[/]{exc}")
        code = 1
    finally:
        for s in previous:
            signal.signal(s, signal.SIG_IGN)  # a second Ctrl-C must not interrupt the cleanup
        console.print("正在停止…")
        sup.stop()
        for s, h in previous.items():
            signal.signal(s, h)
        console.print("已停止")
    return code


def _serve_http(opts: ServeOptions, sup: Supervisor) -> int:
    import uvicorn  # only when serving HTTP: the CLI's other commands start faster without it

    config = uvicorn.Config(create_app(), host=opts.host, port=opts.port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)

    def watch() -> None:
        while not server.should_exit:
            for c in sup.children:
                if c.proc.poll() is not None and not c.expected_exit:
                    code = c.proc.returncode
                    if not server.should_exit and sup.restart(c):
                        console.print(f"[yellow]{c.name}意外退出（退出码 {code}），已重新启动"
                                      f"（{RESTART_WINDOW / 60:.0f} 分钟内第 {len(c.restarts)} 次）；"
                                      "中断的投递将在租约到期后自动重发[/]")
                        continue
                    sup.failed = (f"{c.name}意外退出（退出码 {code}），{RESTART_WINDOW / 60:.0f} 分钟内已重启 "
                                  f"{len(c.restarts)} 次仍未恢复，系统停止。请查看日志 {c.log_path or ''}")
                    server.should_exit = True
                    return
            time.sleep(0.5)

    threading.Thread(target=watch, name="serve-watchdog", daemon=True).start()
    public = get_settings().public_url.rstrip("/")
    console.print(f"[bold green]已就绪：[/]{local_url(opts.host, opts.port)}/  （接口文档 /docs，按 Ctrl-C 停止）")
    console.print(f"· 对外链接（回执、订阅源、二维码、邮件）使用：{public}/（可用 ORCH_PUBLIC_URL 设置）")
    try:
        server.run()
    except (_Stop, KeyboardInterrupt):
        pass
    if not server.started and not sup.failed:
        console.print(f"[bold red]网页服务无法启动：[/]端口 {opts.port} 可能已被占用")
        return 1
    if sup.failed:
        console.print(f"[bold red]{sup.failed}[/]")
        return 1
    return 0
