"""The REST API (``/api/v1``) and the public queries and serialisers the CLI and the web views share."""
