"""The test services themselves: a private PostgreSQL database with the migrated schema, and a private Redis."""

import redis
from sqlalchemy import create_engine, inspect


def test_migrated_database_has_core_tables(migrated_pg):
    engine = create_engine(migrated_pg)
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert {"publishers", "catalog_entries", "documents", "document_versions", "deliveries",
            "delivery_attempts", "delivery_transitions", "attachments"} <= tables


def test_private_redis_answers_and_restart_drops_data(redis_server):
    r = redis.Redis.from_url(redis_server.url)
    r.lpush("q", b"x")
    assert r.llen("q") == 1
    redis_server.restart()
    r = redis.Redis.from_url(redis_server.url)
    assert r.llen("q") == 0
