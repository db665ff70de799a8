"""Import every module that defines ORM tables, so Alembic and create_all see the whole schema."""

import channels.push_models  # noqa: F401  (targeted push: per-recipient ledger, unsubscriptions)
import channels.screens_models  # noqa: F401  (screens: what each screen shows)
import orchestrator.models  # noqa: F401
import orchestrator.web.models  # noqa: F401  (web app: server-side sessions)
