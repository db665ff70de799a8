"""Shared set-up for the web app tests: channels, catalogs, users with passwords, logged-in TestClients."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from tests.api_helpers import PUBLISHER, configure

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


__all__ = ["PUBLISHER", "PASSWORD", "WebEnv", "setup_web", "login", "csrf_of", "make_web_user"]
