"""Import every module that defines ORM tables, so Alembic and create_all see the whole schema."""

import orchestrator.models  # noqa: F401
import orchestrator.review.models  # noqa: F401  (review chains, 0014_review)
import orchestrator.web.models  # noqa: F401  (web app: server-side sessions)
from channels.plugin import import_models

import_models()  # each installed channel package's tables (screens, targeted push …)
