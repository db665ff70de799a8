"""Engine and session factory. PostgreSQL in production and tests, SQLite for the embedded default."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.settings import PROJECT_ROOT, get_settings


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # WAL lets the web app read while workers write
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


@lru_cache
def get_engine() -> Engine:
    return make_engine(get_settings().sqlalchemy_url)


@lru_cache
def get_autocommit_engine() -> Engine:
    """PostgreSQL worker hot path (claim, outcome): every statement is its own transaction, no pool pre-ping.

    The fan-out task runs two single-statement transactions per delivery, so a pre-ping would be a third round
    trip. A stale pooled connection (PostgreSQL restarted, idle connection cut) is instead recovered by the caller:
    the first statement on a checkout fails before anything ran, SQLAlchemy invalidates the pool, and the caller
    retries once on a fresh connection (``engine.run_delivery``). ``pool_recycle`` retires connections before
    typical idle timeouts. Everything else (web app, sweeper, sessions) keeps the pre-pinged engine."""
    return create_engine(get_settings().sqlalchemy_url, isolation_level="AUTOCOMMIT", pool_pre_ping=False,
                         pool_recycle=600, pool_size=5, max_overflow=10)


@lru_cache
def get_sessionmaker() -> sessionmaker[Session]:
    return sessionmaker(get_engine(), expire_on_commit=False)


@contextmanager
def session_scope() -> Iterator[Session]:
    """One transaction: commit on success, roll back on error."""
    session = get_sessionmaker()()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def reset_caches() -> None:
    """Forget the engine (tests switch databases through ORCH_DATABASE_URL)."""
    if get_engine.cache_info().currsize:
        get_engine().dispose()
    if get_autocommit_engine.cache_info().currsize:
        get_autocommit_engine().dispose()
    get_engine.cache_clear()
    get_autocommit_engine.cache_clear()
    get_sessionmaker.cache_clear()


def upgrade_database(url: str | None = None) -> None:
    """Bring the database (``url``, else the configured one) to the newest schema: ``alembic upgrade heads``."""
    # Alembic only when migrating: every other process imports this module without needing it.
    from alembic import command
    from alembic.config import Config

    cfg = Config(str(PROJECT_ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    if url:
        cfg.attributes["url"] = url
    command.upgrade(cfg, "heads")
