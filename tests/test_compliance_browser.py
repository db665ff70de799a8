"""The 链接检查, 年度报告 and 自查报告 pages in Debian's Chromium (Playwright), served by uvicorn on the module's own
PostgreSQL database: an admin reads the seeded year's tables, follows a number to its documents, enters the fee by
hand, re-checks a link problem from its row and runs a self-inspection. Screenshots go to
``test-artifacts/screenshots/`` (and ``/tmp/shots/compliance/`` when that directory can be written)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api_helpers import migrated_pg  # noqa: F401  (a private database for this module)
from tests.conftest import ARTIFACTS
from tests.services import free_port
from tests.test_compliance_annual import YEAR, seeded  # noqa: F401  (the seeded year: a fixture)
from tests.web_support import PASSWORD, chromium, make_web_user, serve_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]
SHOTS = ARTIFACTS / "screenshots"
EXTRA = Path("/tmp/shots/compliance")


@pytest.fixture
def server(seeded) -> Iterator[str]:  # noqa: F811
    from orchestrator.app import create_app

    with serve_app(create_app()) as url:
        yield url


def _shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    try:
        EXTRA.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, EXTRA / path.name)
    except OSError:
        pass


def test_compliance_pages_in_chromium(server: str, tmp_path: Path) -> None:
    from orchestrator.compliance.linkcheck import problem_key
    from orchestrator.compliance.models import LinkProblem
    from orchestrator.db import session_scope

    # Two open problems whose page cannot be reached now (a site that is gone): re-checking keeps them open.
    dead = f"http://127.0.0.1:{free_port()}/site/"
    with session_scope() as s:
        for kind, link, problem in [
            ("external_redirect", "http://www.old-partner.example/", "外部链接已跳转到其他网站 casino.example（疑似暗链）"),
            ("attachment_changed", f"{dead}files/12/0123456789abcdef.pdf", "附件内容与登记的校验值不一致（文件可能被替换或损坏）"),
        ]:
            page_url = f"{dead}art/12.html"
            s.add(LinkProblem(key=problem_key(kind, page_url, link), kind=kind, page_url=page_url, link_url=link,
                              link_text="合作单位网站" if "partner" in link else "", problem=problem, detail=""))
    admin = make_web_user("admin", display_name="王管理")
    with chromium(["--no-sandbox", "--disable-gpu"]) as browser:
        ctx = browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN", base_url=server)
        page = ctx.new_page()
        page.set_default_timeout(20_000)
        page.goto("/login")
        page.fill("#username", admin)
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_load_state("networkidle")

        page.goto("/compliance/links")
        assert page.locator("#links-open").inner_text() == "2"
        assert "疑似暗链" in page.locator("#problems").inner_text()
        _shot(page, "compliance-01-links")
        page.locator("#problems button", has_text="复查").first.click()
        page.wait_for_load_state("networkidle")
        assert "问题仍然存在" in page.locator(".flash").inner_text()

        page.goto(f"/compliance/annual?year={YEAR}")
        assert page.locator("#cell-rule-valid").inner_text() == "3"
        assert page.locator("#cell-normative-made").inner_text() == "3"
        assert page.locator("#cell-license").inner_text().startswith("2")
        page.fill("#h-fee", "-5")
        page.click("#figures button[type=submit]")
        assert "不能为负数" in page.locator(".errors").inner_text()
        page.goto(f"/compliance/annual?year={YEAR}")
        page.fill("#h-fee", "36.8")
        page.click("#figures button[type=submit]")
        page.wait_for_load_state("networkidle")
        assert page.locator("#cell-fee").inner_text().startswith("36.8")
        _shot(page, "compliance-02-annual")
        page.click("#cell-rule-valid")
        page.wait_for_load_state("networkidle")
        assert page.locator("#trace-total").inner_text() == "3"
        _shot(page, "compliance-03-annual-trace")

        page.goto("/compliance/inspection")
        page.click("#run-inspection")
        page.wait_for_load_state("networkidle")
        assert "自查完成" in page.locator(".flash").inner_text()
        assert "失效链接、暗链与附件问题" in page.locator("#inspection-summary").inner_text()
        _shot(page, "compliance-04-inspection")

        page.goto("/ops")
        assert page.locator("#card-links").inner_text() == "2"
