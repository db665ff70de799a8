"""A real Wagtail site for the CMS adapter tests (test-only helper).

``build_site()`` creates a Wagtail 8.0.1 project with a small ``disclosure`` app (a catalog-node page type and a
document page type whose fields are writable through the v3 API), migrates its SQLite database, creates a superuser,
an API token and a "政府信息公开" section page. Building takes ~20 s, so the result is cached under
``var/test-cache/`` keyed by the Wagtail version and a hash of this file: later sessions only copy the directory.

``WagtailServer`` copies the cached site into a private directory (so every session starts from an empty site),
points Wagtail's ``Site`` record at a free port (page URLs in API answers are then the real public URLs) and runs
``manage.py runserver --noreload`` on it. ``stop()``/``start()`` let a test take the server away and bring it back.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from tests.services import free_port

WAGTAIL_VERSION = "8.0.1"
ROOT = Path(__file__).resolve().parent.parent
CACHE_ROOT = Path(os.environ.get("ORCH_TEST_CACHE", ROOT / "var" / "test-cache"))
PROJECT = "orchcms"
ADMIN_USER = "orchadmin"

MODELS_PY = '''
from django.db import models
from wagtail.admin.panels import FieldPanel
from wagtail.api import APIField
from wagtail.fields import RichTextField
from wagtail.models import Page


class DisclosureIndexPage(Page):
    """A node of the disclosure catalog (信息分类); documents live under the leaf nodes."""

    intro = RichTextField(blank=True)

    api_fields = [APIField("intro", writable=True)]
    content_panels = Page.content_panels + [FieldPanel("intro")]
    subpage_types = ["disclosure.DisclosureIndexPage", "disclosure.DisclosurePage"]


class DisclosurePage(Page):
    """One disclosed document, written by the publishing orchestrator."""

    body = RichTextField(blank=True)
    index_no = models.CharField("索引号", max_length=100, blank=True)
    doc_number = models.CharField("文号", max_length=200, blank=True)
    publisher = models.CharField("发布机构", max_length=200, blank=True)
    formed_on = models.DateField("生成日期", null=True, blank=True)
    category = models.CharField("信息分类", max_length=500, blank=True)
    validity = models.CharField("有效性", max_length=20, blank=True)
    orch_key = models.CharField(max_length=200, blank=True, db_index=True)
    orch_doc = models.CharField(max_length=100, blank=True, db_index=True)

    _writable = ["body", "index_no", "doc_number", "publisher", "formed_on", "category", "validity",
                 "orch_key", "orch_doc"]
    api_fields = [APIField(name, writable=True) for name in _writable]
    content_panels = Page.content_panels + [FieldPanel(name) for name in _writable[:7]]
    parent_page_types = ["disclosure.DisclosureIndexPage"]
    subpage_types = []
'''

APPS_PY = '''
from django.apps import AppConfig


class DisclosureConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "disclosure"
'''

INDEX_TEMPLATE = """{% extends "base.html" %}{% load wagtailcore_tags %}
{% block content %}<h1>{{ page.title }}</h1>{{ page.intro|richtext }}
<ul>{% for child in page.get_children.live %}<li><a href="{% pageurl child %}">{{ child.title }}</a></li>{% endfor %}</ul>
{% endblock %}
"""

PAGE_TEMPLATE = """{% extends "base.html" %}{% load wagtailcore_tags %}
{% block content %}<article>
<h1>{{ page.title }}</h1>
<table class="info">
<tr><th>索引号</th><td>{{ page.index_no }}</td><th>信息分类</th><td>{{ page.category }}</td></tr>
<tr><th>发布机构</th><td>{{ page.publisher }}</td><th>生成日期</th><td>{{ page.formed_on|date:"Y-m-d" }}</td></tr>
<tr><th>文号</th><td>{{ page.doc_number }}</td><th>有效性</th><td>{{ page.validity }}</td></tr>
</table>
<div class="body">{{ page.body|richtext }}</div>
</article>{% endblock %}
"""

URLS_PY = """
from django.conf import settings
from django.urls import include, path
from wagtail import urls as wagtail_urls
from wagtail.admin import urls as wagtailadmin_urls
from wagtail.api.v3.urls import api
from wagtail.documents import urls as wagtaildocs_urls

urlpatterns = [
    path("admin/", include(wagtailadmin_urls)),
    path("documents/", include(wagtaildocs_urls)),
    path("api/v3/", api.urls),
]
if settings.DEBUG:
    from django.conf.urls.static import static

    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
urlpatterns += [path("", include(wagtail_urls))]
"""

LOCAL_SETTINGS = """
from .base import INSTALLED_APPS

INSTALLED_APPS = ["disclosure", "wagtail.api.v3", *INSTALLED_APPS]
ALLOWED_HOSTS = ["*"]
LANGUAGE_CODE = "zh-hans"
TIME_ZONE = "Asia/Shanghai"
WAGTAILADMIN_BASE_URL = "http://127.0.0.1"
# Chinese slugs are legal in Wagtail; the adapter relies on that for catalog nodes.
WAGTAIL_ALLOW_UNICODE_SLUGS = True
"""

SETUP_SCRIPT = """
from wagtail.models import Page, Site
from disclosure.models import DisclosureIndexPage

home = Site.objects.get(is_default_site=True).root_page
section = DisclosureIndexPage(title="政府信息公开", slug="xxgk")
home.add_child(instance=section)
section.save_revision().publish()
print(section.pk)
"""


@dataclass(frozen=True)
class BuiltSite:
    path: Path
    token: str
    section_id: int  # the "政府信息公开" page: the parent the adapter writes under

    @property
    def python(self) -> str:
        return sys.executable


def _fingerprint() -> str:
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12]


def _manage(site_dir: Path, *args: str, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=site_dir,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": f"{PROJECT}.settings.dev", **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def _build_into(site_dir: Path) -> BuiltSite:
    wagtail_cli = Path(sys.executable).with_name("wagtail")
    site_dir.mkdir(parents=True)
    subprocess.run([str(wagtail_cli), "start", PROJECT, str(site_dir)], check=True, capture_output=True)
    app = site_dir / "disclosure"
    (app / "migrations").mkdir(parents=True)
    (app / "templates" / "disclosure").mkdir(parents=True)
    (app / "__init__.py").write_text("")
    (app / "migrations" / "__init__.py").write_text("")
    (app / "apps.py").write_text(APPS_PY)
    (app / "models.py").write_text(MODELS_PY)
    (app / "templates" / "disclosure" / "disclosure_index_page.html").write_text(INDEX_TEMPLATE, encoding="utf-8")
    (app / "templates" / "disclosure" / "disclosure_page.html").write_text(PAGE_TEMPLATE, encoding="utf-8")
    (site_dir / PROJECT / "urls.py").write_text(URLS_PY)
    (site_dir / PROJECT / "settings" / "local.py").write_text(LOCAL_SETTINGS, encoding="utf-8")

    _manage(site_dir, "makemigrations", "disclosure")
    _manage(site_dir, "migrate", "--noinput")
    _manage(
        site_dir,
        "createsuperuser",
        "--noinput",
        f"--username={ADMIN_USER}",
        "--email=admin@example.org",
        env={"DJANGO_SUPERUSER_PASSWORD": "orch-test-password"},
    )
    token = _manage(site_dir, "api_tokens", "create", f"--user={ADMIN_USER}", "--name=orchestrator").strip().split()[-1]
    section_id = int(_manage(site_dir, "shell", "-c", SETUP_SCRIPT).strip().splitlines()[-1])
    info = {"token": token, "section_id": section_id, "wagtail": WAGTAIL_VERSION}
    (site_dir / "orch-site.json").write_text(json.dumps(info))
    return BuiltSite(site_dir, token, section_id)


def build_site(cache_root: Path = CACHE_ROOT) -> BuiltSite:
    """The cached, migrated site (built on first use). Safe against concurrent sessions via a file lock."""
    cache_root.mkdir(parents=True, exist_ok=True)
    target = cache_root / f"wagtail-{WAGTAIL_VERSION}-{_fingerprint()}"
    with open(cache_root / ".wagtail.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target / "orch-site.json").exists():
            staging = cache_root / f".building-{os.getpid()}"
            shutil.rmtree(staging, ignore_errors=True)
            _build_into(staging)
            shutil.rmtree(target, ignore_errors=True)
            staging.rename(target)  # atomic: a half-built site is never visible under the final name
    info = json.loads((target / "orch-site.json").read_text())
    return BuiltSite(target, info["token"], int(info["section_id"]))


class WagtailServer:
    """A private copy of the built site served by ``runserver`` on a free port."""

    def __init__(self, built: BuiltSite, workdir: Path) -> None:
        self.workdir = workdir
        self.site_dir = workdir / "site"
        shutil.copytree(built.path, self.site_dir)
        self.token = built.token
        self.section_id = built.section_id
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self._point_site_at_port()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/v3"

    def _point_site_at_port(self) -> None:
        # Wagtail builds html_url from the Site record; editing the SQLite row is far cheaper than a manage.py call.
        with contextlib.closing(sqlite3.connect(self.site_dir / "db.sqlite3")) as db, db:
            db.execute("UPDATE wagtailcore_site SET hostname = '127.0.0.1', port = ?", (self.port,))

    def start(self, timeout: float = 60.0) -> WagtailServer:
        log = open(self.workdir / "runserver.log", "ab")  # noqa: SIM115 - lives as long as the process
        self.proc = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{self.port}"],
            cwd=self.site_dir,
            env={**os.environ, "DJANGO_SETTINGS_MODULE": f"{PROJECT}.settings.dev", "PYTHONUNBUFFERED": "1"},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"Wagtail exited early; see {self.workdir / 'runserver.log'}")
            try:
                if requests.get(f"{self.api_url}/whoami/", headers=self.auth_headers, timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"Wagtail did not answer on {self.base_url}; see {self.workdir / 'runserver.log'}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    @property
    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def api(self, method: str, path: str, **kwargs) -> requests.Response:
        """Call the v3 API as the admin (for tests reading the CMS back through its own API)."""
        return requests.request(method, f"{self.api_url}{path}", headers=self.auth_headers, timeout=15, **kwargs)
