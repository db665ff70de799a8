"""The link checker against real local HTTP servers, through the real fan-out and a real Celery worker.

Two documents are published by the worker onto the built-in site (served over HTTP); their pages carry a working
external link, one that now redirects to another domain (127.0.0.1 → 127.0.0.2: a dark link), one that is gone, and
a stale internal link. Then one attachment's bytes are replaced and the other attachment is deleted. The 重新检查
button (the worker runs the check) must find exactly those problems; after fixing them, a second run closes them all.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.api_helpers import migrated_pg  # noqa: F401  (a private database for this module)
from tests.fanout_harness import FanoutStack
from tests.static_channel_helpers import serve
from tests.web_support import csrf_of, login, make_web_user

CATALOG = [Path(__file__).parent / "data" / "catalogs" / "test-publisher.yaml"]


class _Handler(BaseHTTPRequestHandler):
    routes: dict[str, tuple[int, str]] = {}
    hits: list[str] = []

    def _answer(self, body: bool) -> None:
        self.hits.append(f"{self.server.server_address[0]}{self.path}")
        status, location = self.routes.get(self.path, (404, ""))
        self.send_response(status)
        if location:
            self.send_header("Location", location)
        payload = "<html><body>外部网站</body></html>".encode()
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if body:
            self.wfile.write(payload)

    def do_HEAD(self) -> None:  # noqa: N802 - http.server's naming
        self._answer(False)

    def do_GET(self) -> None:  # noqa: N802
        self._answer(True)

    def log_message(self, format: str, *args) -> None:  # noqa: A002
        pass


@contextmanager
def external_sites() -> Iterator[tuple[str, str, type[_Handler]]]:
    """"Other websites": one on 127.0.0.1, one on 127.0.0.2 (another registrable domain), sharing a route table."""
    handler = type("H", (_Handler,), {"routes": {}, "hits": []})
    servers = [ThreadingHTTPServer((host, 0), handler) for host in ("127.0.0.1", "127.0.0.2")]
    for srv in servers:
        threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        a, b = (f"http://{srv.server_address[0]}:{srv.server_address[1]}/" for srv in servers)
        yield a, b, handler
    finally:
        for srv in servers:
            srv.shutdown()
            srv.server_close()


def _wait_run(after_id: int, timeout: float = 90) -> int:
    from sqlalchemy import select

    from orchestrator.compliance.models import LinkCheckRun
    from orchestrator.db import session_scope

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with session_scope() as s:
            run = s.scalars(select(LinkCheckRun).where(LinkCheckRun.id > after_id, LinkCheckRun.finished_at.is_not(None))
                            .order_by(LinkCheckRun.id.desc()).limit(1)).first()
            if run is not None:
                return run.id
        time.sleep(0.3)
    raise AssertionError("the worker did not finish a link check in time")


def _open_problems() -> dict[tuple[str, str], str]:
    from sqlalchemy import select

    from orchestrator.compliance.models import LinkProblem
    from orchestrator.db import session_scope

    with session_scope() as s:
        return {(p.kind, p.link_url): p.problem for p in s.scalars(select(LinkProblem).where(LinkProblem.resolved_at.is_(None)))}


def _last_run_id() -> int:
    from sqlalchemy import func, select

    from orchestrator.compliance.models import LinkCheckRun
    from orchestrator.db import session_scope

    with session_scope() as s:
        return s.scalar(select(func.max(LinkCheckRun.id))) or 0


@pytest.mark.slow
def test_checker_finds_broken_links_dark_links_and_attachment_problems_then_closes_them(
        orch_env, redis_server, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    out = tmp_path / "site"
    pdf1, pdf2 = tmp_path / "实施方案.pdf", tmp_path / "附表.pdf"
    pdf1.write_bytes(b"%PDF-1.4\n% attachment one\n")
    pdf2.write_bytes(b"%PDF-1.4\n% attachment two\n")
    with serve(out) as base, external_sites() as (ext, other, handler):
        handler.routes.update({"/ok": (200, ""), "/moved": (302, f"{other}landing"), "/gone": (404, "")})
        handler.routes["/landing"] = (200, "")
        dest = {"name": "site", "adapter": "site", "output_dir": str(out), "public_base_url": base, "org_name": "测试市司法局"}
        settings = {"ORCH_LINKCHECK_ALLOW_PRIVATE": "true", "ORCH_LINKCHECK_RATE_PER_HOST": "100",
                    "ORCH_LINKCHECK_TIMEOUT_SECONDS": "5"}
        with FanoutStack(orch_env, tmp_path / "stack", channels={"website": [dest]}, catalogs=CATALOG,
                         redis=redis_server, settings=settings) as stack:
            body = (f'<p>参见<a href="{ext}ok">正常外链</a>、<a href="{ext}moved">已迁移的外链</a>、'
                    f'<a href="{ext}gone">已删除的外链</a>和<a href="../art/99999.html">旧的站内链接</a>。</p>')
            one = stack.submit(uploads=[pdf1], entry="履职依据/规范性文件", title="关于印发实施方案的通知", body=body,
                               formed_on="2026-11-02")
            two = stack.submit(uploads=[pdf2], entry="履职依据/规范性文件", title="关于印发附表的通知",
                               body="<p>见附件。</p>", formed_on="2026-11-02")
            rows = stack.wait_settled([one.document_id, two.document_id], timeout=90)
            assert {r["status"] for r in rows if r["channel"] == "website"} <= {"delivered", "verified"}, rows

            file1 = next((out / "files" / str(one.document_id)).iterdir())
            file2 = next((out / "files" / str(two.document_id)).iterdir())
            original1 = file1.read_bytes()
            file1.write_bytes(b"%PDF-1.4\n% replaced by someone\n")  # same name, other bytes
            file2.unlink()

            client = login(TestClient(__import__("orchestrator.app", fromlist=["create_app"]).create_app()),
                           make_web_user("ops"))
            page = client.get("/compliance/links")
            assert "尚未检查过" in page.text
            before = _last_run_id()
            r = client.post("/compliance/links/run", data={"csrf_token": csrf_of(page.text)}, follow_redirects=False)
            assert r.status_code == 303
            _wait_run(before)

            art1 = f"{base}art/{one.document_id}.html"
            found = _open_problems()
            assert set(found) == {
                ("broken_internal", f"{base}art/99999.html"),
                ("external_redirect", f"{ext}moved"),
                ("external_failed", f"{ext}gone"),
                ("attachment_changed", f"{base}files/{one.document_id}/{file1.name}"),
                ("attachment_missing", f"{base}files/{two.document_id}/{file2.name}"),
            }, found
            assert "127.0.0.2" in found[("external_redirect", f"{ext}moved")]
            assert "HTTP 404" in found[("external_failed", f"{ext}gone")]
            listing = client.get("/compliance/links")
            assert "疑似暗链" in listing.text and "附件内容与登记的校验值不一致" in listing.text and art1 in listing.text
            assert client.get("/ops/data.json").json()["cards"]["link_problems"] == 5

            # One fixed and re-checked from its row: closed at once; the others stay open.
            file1.write_bytes(original1)
            from orchestrator.compliance.models import LinkProblem
            from orchestrator.db import session_scope

            with session_scope() as s:
                pid = s.query(LinkProblem.id).filter_by(kind="attachment_changed").scalar()
            token = csrf_of(listing.text)
            r = client.post(f"/compliance/links/{pid}/recheck", data={"csrf_token": token}, follow_redirects=False)
            assert r.status_code == 303
            assert ("attachment_changed", f"{base}files/{one.document_id}/{file1.name}") not in _open_problems()
            assert len(_open_problems()) == 4

            # Fix the rest: the attachment back, the external site moved back, the old page restored.
            file2.write_bytes(pdf2.read_bytes())
            handler.routes.update({"/moved": (200, ""), "/gone": (200, "")})
            (out / "art" / "99999.html").write_text("<html><body>旧页面已恢复</body></html>", encoding="utf-8")
            before = _last_run_id()
            client.post("/compliance/links/run", data={"csrf_token": token})
            _wait_run(before)
            assert _open_problems() == {}
            page = client.get("/compliance/links")
            assert "没有未解决的链接问题" in page.text and "最近修复" in page.text
            assert client.get("/ops/data.json").json()["cards"]["link_problems"] == 0


def test_external_links_to_private_addresses_are_never_fetched_unless_allowed(orch_env, monkeypatch) -> None:
    from orchestrator import settings as settings_mod
    from orchestrator.compliance.linkcheck import Checker, Root, is_private_host, registrable_domain

    assert registrable_domain("www.genhe.gov.cn") == registrable_domain("xxgk.genhe.gov.cn") == "genhe.gov.cn"
    assert registrable_domain("www.genhe.gov.cn") != registrable_domain("genhe.gov.cn.casino.example")
    assert is_private_host("127.0.0.1") and is_private_host("10.1.2.3") and is_private_host("::1")
    assert not is_private_host("8.8.8.8")
    with external_sites() as (ext, other, handler):
        handler.routes["/secret"] = (200, "")
        handler.routes["/to-private"] = (302, f"{other}secret")
        settings = settings_mod.Settings(linkcheck_allow_private=False)
        checker = Checker(settings, [Root("site", "http://site.example/", ())])
        assert checker.check(f"{ext}secret") == "skip"
        assert handler.hits == []  # not even one request
        allowed = Checker(settings_mod.Settings(linkcheck_allow_private=True, linkcheck_skip_hosts=["127.0.0.2"]),
                          [Root("site", "http://site.example/", ())])
        assert allowed.check(f"{ext}secret") is None
        # A redirect is checked hop by hop: a skipped host is never reached through a redirect either.
        assert allowed.check(f"{ext}to-private") == "skip"
        assert not any(h.startswith("127.0.0.2") for h in handler.hits)


def test_rate_limit_per_host_is_kept(orch_env) -> None:
    from orchestrator import settings as settings_mod
    from orchestrator.compliance.linkcheck import Fetcher

    with external_sites() as (ext, _other, handler):
        handler.routes["/ok"] = (200, "")
        f = Fetcher(settings_mod.Settings(linkcheck_rate_per_host=10))
        t = time.monotonic()
        for _ in range(6):
            f.request("HEAD", f"{ext}ok").close()
        assert time.monotonic() - t >= 0.5  # six requests at 10/s: at least five intervals of 0.1 s
        f.close()
