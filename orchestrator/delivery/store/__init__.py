"""The delivery store: one interface (:class:`DeliveryStore`), two implementations, chosen once per engine.

    store_for(engine).write_submission(...)      # documents/submission.py
    store_for(engine).run_claimed(id, ..., work)  # delivery/engine.py

The rules both implementations follow live in :mod:`orchestrator.delivery.rules`.
"""

from __future__ import annotations

import weakref

from sqlalchemy import Engine

from orchestrator.delivery.store.base import DeliveryStore, NewDelivery, Submission
from orchestrator.delivery.store.portable import PortableStore
from orchestrator.delivery.store.postgres import PostgresStore

__all__ = ["DeliveryStore", "NewDelivery", "PortableStore", "PostgresStore", "Submission", "store_for"]

_BY_DIALECT: dict[str, type[DeliveryStore]] = {"postgresql": PostgresStore}
_STORES: weakref.WeakKeyDictionary[Engine, DeliveryStore] = weakref.WeakKeyDictionary()


def store_for(engine: Engine) -> DeliveryStore:
    """The store for this engine's database: PostgreSQL's, else the portable one. Built once per engine."""
    store = _STORES.get(engine)
    if store is None:
        store = _STORES[engine] = _BY_DIALECT.get(engine.dialect.name, PortableStore)(engine)
    return store
