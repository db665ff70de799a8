"""A failing verification is visible to ops, through the real fan-out (Celery worker, beat, PostgreSQL, Redis).

The built-in site renders its pages into one directory while its public address serves another (a deployment whose
public copy is not what was sent): the delivery reaches 已送达, every check fails, and after the bounded re-checks ops
see it as 核验失败: a timeline entry with the reason, an attempt-log line, a dashboard count and a log filter.
A page that becomes live between checks is verified by a re-check.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.fanout_harness import FanoutStack
from tests.static_channel_helpers import serve
from tests.web_support import login, make_web_user

CATALOG = [Path(__file__).parent / "data" / "catalogs" / "test-publisher.yaml"]
CHECKS = 3


def website(stack: FanoutStack, doc: int) -> dict:
    return next(r for r in stack.deliveries(doc) if r["channel"] == "website")


def verify_state(delivery_id: int) -> tuple[int, str, object]:
    from orchestrator.db import session_scope
    from orchestrator.models import Delivery

    with session_scope() as s:
        d = s.get(Delivery, delivery_id)
        return d.verify_tries, d.verify_error, d.verify_due_at


def history(delivery_id: int) -> tuple[list[tuple[str, str, str, str]], list[tuple[str, str, str]]]:
    from orchestrator.db import session_scope
    from orchestrator.models import DeliveryAttempt as A
    from orchestrator.models import DeliveryTransition as T

    with session_scope() as s:
        ts = [(t.from_status, t.to_status, t.reason, t.actor) for t in s.scalars(
            select(T).where(T.delivery_id == delivery_id).order_by(T.id))]
        attempts = [(a.operation, a.outcome, a.message) for a in s.scalars(
            select(A).where(A.delivery_id == delivery_id).order_by(A.id))]
    return ts, attempts


def test_failing_verification_is_retried_then_flagged_for_ops(orch_env, redis_server, tmp_path: Path) -> None:
    out, public = tmp_path / "site", tmp_path / "public"
    with serve(public) as base:
        dest = {"name": "site", "adapter": "site", "output_dir": str(out), "public_base_url": base,
                "org_name": "测试市司法局"}
        with FanoutStack(orch_env, tmp_path / "stack", channels={"website": [dest]}, catalogs=CATALOG,
                         redis=redis_server, settings={"ORCH_VERIFY_ATTEMPTS": str(CHECKS),
                                                       "ORCH_VERIFY_INTERVAL_SECONDS": "2"}) as stack:
            from orchestrator.app import create_app

            ops = TestClient(create_app())
            login(ops, make_web_user("ops"))
            before = ops.get("/ops/data.json").json()["cards"]["verify_failed"]

            bad = stack.submit(entry="03", title="公开副本不一致的文件", body="<p>正文</p>").document_id
            late = stack.submit(entry="03", title="稍后才上线的文件", body="<p>正文</p>").document_id
            late_row = stack.wait_until(late, lambda ds: website(stack, late)["status"] == "delivered", 60,
                                        "late page delivered")
            late_id = website(stack, late)["id"]
            assert late_row and verify_state(late_id)[0] >= 1  # its first check failed: not live yet
            # The page goes live on the public server; the next re-check finds it.
            (public / "art").mkdir(parents=True, exist_ok=True)
            shutil.copy(out / "art" / f"{late}.html", public / "art" / f"{late}.html")
            stack.wait_until(late, lambda ds: website(stack, late)["status"] == "verified", 60, "late page verified")
            ts, attempts = history(late_id)
            assert any(t[1] == "verified" and "次核验" in t[2] for t in ts)
            assert attempts[-1][:2] == ("verify", "success") and ("verify", "verify_failed") in [a[:2] for a in attempts]

            # The document whose public copy never matches: checked CHECKS times, then flagged.
            web_id = website(stack, bad)["id"]
            stack.wait_until(bad, lambda ds: verify_state(web_id)[1] != "", 60, "verification flagged")
            row = website(stack, bad)
            assert row["status"] == "delivered"
            tries, error, due = verify_state(web_id)
            assert tries == CHECKS and due is None  # bounded: no further checks
            assert row["receipt"]["url"] in error and "不存在或与所发内容不一致" in error
            ts, attempts = history(web_id)
            flagged = [t for t in ts if t[2].startswith("核验失败")]
            assert flagged == [("delivered", "delivered", f"核验失败：{error}（已核验 {CHECKS} 次）", "核验")]
            assert [a[:2] for a in attempts if a[0] == "verify"] == [("verify", "verify_failed")] * CHECKS
            assert [a[1] for a in attempts if a[0] != "verify"] == ["success"]  # sent once; only the checks repeated

            # Ops see it: the dashboard count, the log filter, and the document's timeline.
            data = ops.get("/ops/data.json").json()
            assert data["cards"]["verify_failed"] == before + 1
            dashboard = ops.get("/ops").text
            assert "核验失败" in dashboard and 'href="/log?outcome=verify_failed"' in dashboard
            log = ops.get("/log", params={"outcome": "verify_failed"})
            assert log.status_code == 200
            assert log.text.count("公开副本不一致的文件") == CHECKS and "核验未通过" in log.text
            assert "稍后才上线的文件" in log.text  # its one failed check before it went live is logged too
            page = ops.get(f"/documents/{bad}")
            assert page.status_code == 200 and "核验失败" in page.text
