"""Import every module that defines ORM tables, so Alembic and create_all see the whole schema."""

import orchestrator.models  # noqa: F401
