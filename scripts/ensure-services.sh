#!/usr/bin/env bash
# Start what the tests need, if installed and not already running. Idempotent; never fails the caller.
set -u
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if ! listening 5432 && command -v pg_ctlcluster >/dev/null 2>&1; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
fi
if ! listening 6379 && command -v redis-server >/dev/null 2>&1; then
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
fi
# Browser tests drive Debian's Chromium (never a downloaded browser).
if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-zenhei) >/dev/null 2>&1 || true
fi
# WordPress CMS tests (tests/test_cms_wordpress.py): Debian's wordpress + PHP served by `php -S`, data in MariaDB (~20 s of apt).
if [ ! -f /usr/share/wordpress/wp-settings.php ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wordpress wordpress-theme-twentytwentythree php-cli php-mysql) \
    >/dev/null 2>&1 || true
fi
# Legacy Word catalogs (.doc/.wps) are converted by LibreOffice headless (tests/test_catalog_readers.py, the catalog corpus).
if ! command -v soffice >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libreoffice-writer-nogui) \
    >/dev/null 2>&1 || true
fi
if ! listening 3306 && command -v mysqld_safe >/dev/null 2>&1; then
  (mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null; mysqld_safe --bind-address=127.0.0.1 >/dev/null 2>&1 &) || true
fi
for i in $(seq 1 30); do listening 5432 && break; sleep 1; done
exit 0
