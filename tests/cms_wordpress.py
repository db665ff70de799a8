"""A real WordPress (Debian's ``wordpress`` package) for the CMS adapter tests (test-only helper).

Nothing outside the session's own directory and database is touched: instead of Debian's ``/etc/wordpress``
lookup, a private document root holds copies of WordPress' top-level PHP files (so ``ABSPATH`` and therefore
``wp-config.php`` resolve there) and symlinks to the packaged ``wp-admin``/``wp-includes``. Each session gets its own
MariaDB database, runs ``wp_install()`` and creates an Application Password from a PHP script, and serves the site with
``php -S``. A must-use plugin registers the ``orch_key``/``orch_doc`` post meta with ``show_in_rest`` — the one piece
the adapter asks a real site to add.

Requirements, checked by :func:`unavailable_reason`: Debian packages ``wordpress php-cli php-mysql`` and a MariaDB/MySQL
server reachable as ``ORCH_TEST_MYSQL`` (default ``root@127.0.0.1:3306``, no password).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path

import requests

from tests.services import free_port

WP_DIR = Path("/usr/share/wordpress")
MYSQL_HOST = os.environ.get("ORCH_TEST_MYSQL_HOST", "127.0.0.1")
MYSQL_PORT = int(os.environ.get("ORCH_TEST_MYSQL_PORT", "3306"))
MYSQL_USER = os.environ.get("ORCH_TEST_MYSQL_USER", "root")
MYSQL_PASSWORD = os.environ.get("ORCH_TEST_MYSQL_PASSWORD", "")
ADMIN_USER = "orchadmin"

MU_PLUGIN = r"""<?php
/* Plugin Name: Orchestrator post meta
 * The publishing orchestrator stores its idempotency key and document reference on each post, readable and
 * writable over REST by users who can edit posts. */
add_action('init', function () {
    foreach (['orch_key', 'orch_doc'] as $key) {
        register_post_meta('post', $key, [
            'type' => 'string', 'single' => true, 'show_in_rest' => true, 'default' => '',
            'auth_callback' => function () { return current_user_can('edit_posts'); },
        ]);
    }
});
"""

INSTALL_PHP = r"""<?php
define('WP_INSTALLING', true);
require __DIR__ . '/wp-load.php';
require_once ABSPATH . 'wp-admin/includes/upgrade.php';
$result = wp_install('测试政府网站', getenv('WP_ADMIN_USER'), 'admin@example.org', false, '', getenv('WP_ADMIN_PASSWORD'));
$user_id = $result['user_id'];
update_option('blogdescription', '');
update_option('timezone_string', 'Asia/Shanghai');
$created = WP_Application_Passwords::create_new_application_password($user_id, ['name' => 'orchestrator']);
if (is_wp_error($created)) { fwrite(STDERR, $created->get_error_message()); exit(1); }
echo json_encode(['user_id' => $user_id, 'app_password' => $created[0]]);
"""


def _mysql(*sql: str) -> None:
    cmd = ["mysql", f"-h{MYSQL_HOST}", f"-P{MYSQL_PORT}", f"-u{MYSQL_USER}"]
    if MYSQL_PASSWORD:
        cmd.append(f"-p{MYSQL_PASSWORD}")
    subprocess.run([*cmd, "-e", ";".join(sql)], check=True, capture_output=True, timeout=60)


def unavailable_reason() -> str | None:
    """Why a real WordPress cannot run here, or None when it can."""
    if not (WP_DIR / "wp-settings.php").exists():
        return "Debian package 'wordpress' is not installed (apt-get install wordpress php-cli php-mysql)"
    if not any((WP_DIR / "wp-content" / "themes").glob("*/style.css")):
        return "no WordPress theme installed (apt-get install wordpress-theme-twentytwentythree)"
    if not shutil.which("php"):
        return "php CLI is not installed (apt-get install php-cli)"
    modules = subprocess.run(["php", "-m"], capture_output=True, text=True).stdout.lower().split()
    if "mysqli" not in modules:
        return "PHP has no mysqli extension (apt-get install php-mysql)"
    if not shutil.which("mysql"):
        return "mysql/mariadb client is not installed"
    try:
        _mysql("SELECT 1")
    except (subprocess.SubprocessError, OSError) as exc:
        return f"no MariaDB/MySQL server at {MYSQL_USER}@{MYSQL_HOST}:{MYSQL_PORT}: {exc}"
    return None


class WordPressServer:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.docroot = workdir / "wp"
        self.content = workdir / "wp-content"
        self.port = free_port()
        self.db_name = f"orch_wp_{uuid.uuid4().hex[:10]}"
        self.admin_password = uuid.uuid4().hex
        self.app_password = ""
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _write_site(self) -> None:
        self.docroot.mkdir(parents=True)
        for entry in WP_DIR.iterdir():
            if entry.name in ("wp-config.php", "wp-content", ".htaccess"):
                continue
            if entry.is_dir():
                (self.docroot / entry.name).symlink_to(entry)
            else:
                # Copied, not linked: PHP resolves __DIR__ through symlinks, and ABSPATH must be this directory.
                shutil.copy2(entry, self.docroot / entry.name)
        (self.content / "uploads").mkdir(parents=True)
        (self.content / "plugins").mkdir()
        (self.content / "mu-plugins").mkdir()
        (self.content / "themes").symlink_to(WP_DIR / "wp-content" / "themes")
        (self.content / "mu-plugins" / "orch-meta.php").write_text(MU_PLUGIN)
        (self.docroot / "wp-content").symlink_to(self.content)
        salts = "".join(
            f"define('{k}', '{uuid.uuid4().hex}');\n"
            for k in ("AUTH_KEY", "SECURE_AUTH_KEY", "LOGGED_IN_KEY", "NONCE_KEY",
                      "AUTH_SALT", "SECURE_AUTH_SALT", "LOGGED_IN_SALT", "NONCE_SALT")
        )
        (self.docroot / "wp-config.php").write_text(
            "<?php\n"
            f"define('DB_NAME', '{self.db_name}');\n"
            f"define('DB_USER', '{MYSQL_USER}');\n"
            f"define('DB_PASSWORD', '{MYSQL_PASSWORD}');\n"
            f"define('DB_HOST', '{MYSQL_HOST}:{MYSQL_PORT}');\n"
            "define('DB_CHARSET', 'utf8mb4');\n"
            f"define('WP_HOME', '{self.base_url}');\n"
            f"define('WP_SITEURL', '{self.base_url}');\n"
            f"define('WP_CONTENT_DIR', '{self.content}');\n"
            f"define('WP_CONTENT_URL', '{self.base_url}/wp-content');\n"
            # Application Passwords need HTTPS unless the environment is 'local'.
            "define('WP_ENVIRONMENT_TYPE', 'local');\n"
            # No internet here: never let WordPress block on update checks or cron loopbacks.
            "define('WP_HTTP_BLOCK_EXTERNAL', true);\n"
            "define('AUTOMATIC_UPDATER_DISABLED', true);\n"
            "define('DISABLE_WP_CRON', true);\n"
            "define('WP_DEBUG', false);\n"
            f"{salts}"
            "$table_prefix = 'wp_';\n"
            "if (!defined('ABSPATH')) define('ABSPATH', __DIR__ . '/');\n"
            "require_once ABSPATH . 'wp-settings.php';\n"
        )
        (self.docroot / "orch-install.php").write_text(INSTALL_PHP)

    def install(self) -> WordPressServer:
        self._write_site()
        _mysql(f"CREATE DATABASE `{self.db_name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        proc = subprocess.run(
            ["php", "orch-install.php"],
            cwd=self.docroot,
            env={**os.environ, "WP_ADMIN_USER": ADMIN_USER, "WP_ADMIN_PASSWORD": self.admin_password,
                 "HTTP_HOST": f"127.0.0.1:{self.port}"},
            capture_output=True,
            text=True,
            timeout=180,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"wp_install failed: {proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
        self.app_password = json.loads(proc.stdout.strip().splitlines()[-1])["app_password"]
        (self.docroot / "orch-install.php").unlink()  # never leave an installer reachable over HTTP
        return self

    def start(self, timeout: float = 30.0) -> WordPressServer:
        log = open(self.workdir / "php-server.log", "ab")  # noqa: SIM115 - lives as long as the process
        self.proc = subprocess.Popen(
            ["php", "-S", f"127.0.0.1:{self.port}", "-t", str(self.docroot)],
            cwd=self.docroot,
            env={**os.environ, "PHP_CLI_SERVER_WORKERS": "4"},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # php -S forks workers: stop() ends the whole group it started
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"php -S exited early; see {self.workdir / 'php-server.log'}")
            try:
                if requests.get(self.rest("/"), timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"WordPress did not answer on {self.base_url}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None

    def drop(self) -> None:
        self.stop()
        _mysql(f"DROP DATABASE IF EXISTS `{self.db_name}`")

    def rest(self, route: str) -> str:
        # ?rest_route= works with any permalink setting (php -S has no rewrite rules).
        return f"{self.base_url}/?rest_route={route}"

    def api(self, method: str, route: str, **kwargs) -> requests.Response:
        """Call the REST API as the admin with the Application Password (for reading results back)."""
        params = {"rest_route": route, **kwargs.pop("params", {})}
        return requests.request(method, f"{self.base_url}/", params=params,
                                auth=(ADMIN_USER, self.app_password), timeout=15, **kwargs)
