"""Compliance watch: link and attachment health of the public outputs, the annual report's section 二, and the
self-inspection report against the national check rules (models in :mod:`orchestrator.compliance.models`)."""
