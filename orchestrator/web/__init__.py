"""The staff web app (server-rendered, Simplified Chinese): log-in, submit once, documents, ops, log, catalog, users.

``create_app()`` includes :data:`router` automatically. Importing the page modules registers their routes.
"""

from orchestrator.web import (  # noqa: F401  (route registration)
    account,
    admin,
    audit_pages,
    compliance,
    content_checks,
    docimport,
    documents,
    freshness_pages,
    holidays,
    hubs,
    manual_tasks,
    ops,
    review_chain,
    session_pages,
    todo,
)
from orchestrator.web.core import ACCESS, router

__all__ = ["ACCESS", "router"]
