"""Import every module that defines ORM tables, so Alembic and create_all see the whole schema."""

import orchestrator.account_models  # noqa: F401  (forced password change, 0014)
import orchestrator.audit  # noqa: F401  (the audit log, 0014)
import orchestrator.checks.models  # noqa: F401  (content checks: dictionaries, history scans)
import orchestrator.compliance.models  # noqa: F401  (link health, annual report, self-inspection)
import orchestrator.freshness  # noqa: F401  (column freshness and content confirmations, 0014)
import orchestrator.models  # noqa: F401
import orchestrator.notify.models  # noqa: F401  (notifications, deadline warnings, event dates)
import orchestrator.review.models  # noqa: F401  (review chains, 0014_review)
import orchestrator.web.models  # noqa: F401  (web app: server-side sessions)
from channels.plugin import import_models

import_models()  # each installed channel package's tables (screens, targeted push …)
