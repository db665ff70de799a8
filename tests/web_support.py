"""Shared set-up for the web app tests: channels, catalogs, users with passwords, logged-in TestClients; for the
browser tests an app served by a real uvicorn and Debian's Chromium through Playwright."""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi.testclient import TestClient

from tests.api_helpers import PUBLISHER, configure
from tests.services import free_port, wait_port

if TYPE_CHECKING:
    from playwright.sync_api import Browser

PASSWORD = "Zhengwu-2026!"
REVIEW_CATALOG = """
publisher: 测试审核局
index_prefix: "REVIEW01"
entries:
  - code: "R-01"
    path: [审核事项, 需审查的文件]
    time_limit: {text: 即时公开, kind: immediate}
    channels: [website, reading_room]
    offices: [办公室]
    options: {review: true}
"""
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
OFFICE_A = "办公室"
OFFICE_B = "行政执法协调监督办公室"
CHROMIUM_PATH = "/usr/bin/chromium"  # Debian's package (scripts/ensure-services.sh installs it)
# No sandbox (root in a container), no GPU, no background traffic: the same flags as the screens renderer's.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


def make_web_user(role: str, office: str = "", name: str | None = None, display_name: str = "") -> str:
    from orchestrator import auth

    name = name or f"{role}-{uuid.uuid4().hex[:8]}"
    auth.create_user(name, role, office=office, password=PASSWORD, display_name=display_name)
    return name


def csrf_of(html: str) -> str:
    m = CSRF.search(html)
    assert m, "no CSRF token on the page"
    return m.group(1)


def login(client: TestClient, username: str, password: str = PASSWORD) -> TestClient:
    page = client.get("/login")
    r = client.post("/login", data={"username": username, "password": password, "csrf_token": csrf_of(page.text)},
                    follow_redirects=False)
    assert r.status_code == 303, r.text
    return client


@dataclass
class WebEnv:
    app: Any
    users: dict[str, str]

    def client(self, who: str | None = None) -> TestClient:
        c = TestClient(self.app, raise_server_exceptions=True)
        if who:
            login(c, self.users[who])
        return c

    def token(self, client: TestClient, path: str = "/documents") -> str:
        return csrf_of(client.get(path).text)


def setup_web(monkeypatch, tmp_path: Path, redis_url: str, channels: dict[str, list[dict[str, Any]]]) -> WebEnv:
    review = tmp_path / "review.yaml"
    review.write_text(REVIEW_CATALOG, encoding="utf-8")
    configure(monkeypatch, tmp_path, redis_url, channels, extra_catalogs=[review])
    from orchestrator.app import create_app

    users = {
        "clerk": make_web_user("clerk", OFFICE_A),
        "clerk_b": make_web_user("clerk", OFFICE_B),
        "reviewer": make_web_user("reviewer"),
        "ops": make_web_user("ops"),
        "admin": make_web_user("admin"),
    }
    return WebEnv(create_app(), users)


@contextmanager
def serve_app(app: Any) -> Iterator[str]:
    """``app`` served by a real uvicorn (no lifespan) in a daemon thread on a free port; yields the base URL. On exit
    the server is told to stop and its thread joined."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@contextmanager
def chromium(args: Sequence[str] = CHROMIUM_ARGS) -> Iterator[Browser]:
    """Debian's Chromium launched (headless) through Playwright, closed on exit. No skip: a machine without Chromium
    fails the test with Playwright's launch error (the browser tests are marked ``browser``; see tests/conftest.py)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM_PATH, args=list(args))
        try:
            yield browser
        finally:
            browser.close()


__all__ = ["PUBLISHER", "PASSWORD", "WebEnv", "setup_web", "login", "csrf_of", "make_web_user",
           "CHROMIUM_ARGS", "serve_app", "chromium"]
