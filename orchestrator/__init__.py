"""Publishing orchestrator for government proactive disclosure (政府信息主动公开)."""

__version__ = "0.1.0"
