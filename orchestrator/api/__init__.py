"""The REST API (``/api/v1``) and the public queries and serialisers the CLI and the web views share."""

# Route registration: documents in (Word/WPS/PDF import) adds its route to the API router.
from orchestrator.api import docimport, routes  # noqa: E402, F401
