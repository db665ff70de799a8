"""``python -m orchestrator.cli``: the same command as the ``orchestrator`` script."""

from orchestrator.cli import app

app()
