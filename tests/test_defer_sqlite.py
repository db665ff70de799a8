"""The embedded default (SQLite) takes the portable claim/finish path: Retry-After waits are deferred there too."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from tests.api_helpers import configure
from tests.receiver import Receiver

ROOT = Path(__file__).resolve().parent.parent


def test_retry_after_waits_do_not_consume_attempts_on_sqlite(orch_env, redis_server, tmp_path, monkeypatch):
    from sqlalchemy import select

    from orchestrator import db, settings
    from orchestrator.db import session_scope
    from orchestrator.delivery import engine
    from orchestrator.documents import submission
    from orchestrator.models import Delivery, DeliveryAttempt

    url = f"sqlite:///{tmp_path / 'orch.db'}"
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.attributes["url"] = url
    command.upgrade(cfg, "head")
    monkeypatch.setenv("ORCH_DATABASE_URL", url)
    monkeypatch.setenv("ORCH_MAX_ATTEMPTS", "2")
    settings.get_settings.cache_clear()
    db.reset_caches()
    with Receiver() as receiver:
        configure(monkeypatch, tmp_path, redis_server.url,
                  {"website": [{"name": "push", "adapter": "http_push", "url": receiver.url, "secret": receiver.secret}],
                   "reading_room": [{"name": "r", "adapter": "manual"}]})
        receiver.script("本地限流", *[(429, {"Retry-After": "0"}, 0)] * 4)
        doc = submission.submit({"entry": "03", "title": "本地限流", "body": "<p>正文</p>",
                              "formed_on": "2026-11-02"}, enqueue=False).document_id
        with session_scope() as s:
            web_id = s.scalars(select(Delivery.id).where(Delivery.document_id == doc, Delivery.channel == "website")).one()
        outcomes = [engine.run_delivery(web_id) for _ in range(5)]
        assert outcomes == ["retrying"] * 4 + ["delivered"]
        with session_scope() as s:
            d = s.get(Delivery, web_id)
            assert d.attempts == 5 and d.max_attempts == 2 + 4 and d.deferred_since is not None
            log = [a.outcome for a in s.scalars(select(DeliveryAttempt).where(DeliveryAttempt.delivery_id == web_id)
                                                 .order_by(DeliveryAttempt.id))]
        assert log == ["deferred"] * 4 + ["success"]
        assert len(receiver.applied) == 1
    settings.get_settings.cache_clear()
    db.reset_caches()
