#!/usr/bin/env bash
# Install (as root, with apt) and start what the tests need: PostgreSQL and Redis if installed but stopped; Debian's
# Chromium and a CJK font for the browser tests; WordPress, PHP and MariaDB for the WordPress CMS tests.
# Idempotent. Nothing fails silently: an install or start that does not work prints apt's (or the server's) own
# error and makes the script exit 1, after it has done everything else it could. Under CI a test skipped for want
# of a service fails the run anyway (tests/conftest.py).
set -u
status=0
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
complain() { echo "ensure-services: $*" >&2; status=1; }
can_apt() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; }

apt_updated=0
apt_install() {  # apt_install PACKAGE...: install, printing apt's output when it fails
  if ! can_apt; then
    complain "cannot install $* (needs root and apt-get); install them by hand"
    return 1
  fi
  local out
  if [ "$apt_updated" = 0 ]; then
    if ! out=$(apt-get update -qq 2>&1); then
      complain "apt-get update failed:"; echo "$out" >&2
      return 1
    fi
    apt_updated=1
  fi
  echo "ensure-services: installing $*" >&2
  if ! out=$(DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" 2>&1); then
    complain "apt-get install $* failed:"; echo "$out" >&2
    return 1
  fi
}

# --- PostgreSQL and Redis (started when installed; dev.py stops with a clear message when PostgreSQL is missing) ---
if ! listening 5432 && command -v pg_ctlcluster >/dev/null 2>&1; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || complain "PostgreSQL did not start"
fi
if ! listening 6379 && command -v redis-server >/dev/null 2>&1; then
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log || complain "Redis did not start"
fi

# --- Browser tests: Debian's Chromium (never a downloaded browser) and a CJK font for the pages' Chinese text ---
if [ ! -x /usr/bin/chromium ]; then
  apt_install chromium
fi
if ! command -v fc-list >/dev/null 2>&1 || [ -z "$(fc-list :lang=zh family 2>/dev/null)" ]; then
  apt_install fontconfig fonts-wqy-zenhei
fi

# --- Word import (.doc/.wps through LibreOffice headless; tests/test_docimport.py also makes its PDFs with it) ---
if ! command -v soffice >/dev/null 2>&1; then
  apt_install libreoffice-writer
fi

# --- WordPress CMS tests (tests/test_cms_wordpress.py): Debian's wordpress + PHP served by `php -S`, data in MariaDB ---
wp_packages=()
[ -f /usr/share/wordpress/wp-settings.php ] || wp_packages+=(wordpress)
compgen -G "/usr/share/wordpress/wp-content/themes/*/style.css" >/dev/null || wp_packages+=(wordpress-theme-twentytwentythree)
command -v php >/dev/null 2>&1 || wp_packages+=(php-cli)
{ command -v php >/dev/null 2>&1 && php -m 2>/dev/null | grep -qi '^mysqli$'; } || wp_packages+=(php-mysql)
command -v mysqld_safe >/dev/null 2>&1 || wp_packages+=(mariadb-server)
command -v mysql >/dev/null 2>&1 || wp_packages+=(mariadb-client)
if [ "${#wp_packages[@]}" -gt 0 ]; then
  apt_install "${wp_packages[@]}"
fi
# Legacy Word catalogs (.doc/.wps) are converted by LibreOffice headless (tests/test_catalog_readers.py, the catalog corpus).
if ! command -v soffice >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libreoffice-writer-nogui) \
    >/dev/null 2>&1 || true
fi
if ! listening 3306 && command -v mysqld_safe >/dev/null 2>&1; then
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null
  (mysqld_safe --bind-address=127.0.0.1 >/var/log/mysqld_safe-ci.log 2>&1 &)
  for _ in $(seq 1 30); do listening 3306 && break; sleep 1; done
  listening 3306 || { complain "MariaDB did not start:"; tail -20 /var/log/mysqld_safe-ci.log >&2; }
fi
# The tests connect as root@127.0.0.1 over TCP without a password (ORCH_TEST_MYSQL_*); Debian's root uses the socket.
if listening 3306 && command -v mysql >/dev/null 2>&1 && ! mysql -h127.0.0.1 -P3306 -uroot -e 'SELECT 1' >/dev/null 2>&1; then
  if ! out=$(mysql -uroot -e "CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY ''; \
      GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION; FLUSH PRIVILEGES;" 2>&1); then
    complain "could not let root@127.0.0.1 into MariaDB:"; echo "$out" >&2
  fi
fi

for _ in $(seq 1 30); do listening 5432 && break; sleep 1; done
exit $status
