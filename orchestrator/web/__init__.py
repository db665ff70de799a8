"""The staff web app (server-rendered, Simplified Chinese): log-in, submit once, documents, ops, log, catalog, users.

``create_app()`` includes :data:`router` automatically. Importing the page modules registers their routes.
"""

import orchestrator.web.todo  # noqa: F401  (我的待办, 我的文件, notifications: route registration)
from orchestrator.web import admin, docimport, documents, holidays, manual_tasks, ops, session_pages  # noqa: F401  (route registration)
from orchestrator.web.core import ACCESS, router

__all__ = ["ACCESS", "router"]
