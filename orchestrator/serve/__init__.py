"""``orchestrator serve``: the process supervisor, the embedded Redis and the local outbox for targeted push."""
