#!/usr/bin/env bash
# Installs what `make test` and `make demo` need, when it is missing: Debian packages (real
# servers for the tests and the demo) and the Go modules. Idempotent; quiet when all is there.
set -euo pipefail

PG_MAJOR=${PG_MAJOR:-15}
need=()
# want PATH-OR-COMMAND PACKAGE: the package is needed when the file (or command) is missing
want() {
  if [[ $1 == /* ]]; then [ -e "$1" ] || need+=("$2")
  else command -v "$1" >/dev/null 2>&1 || need+=("$2"); fi
}
want "/usr/lib/postgresql/$PG_MAJOR/bin/postgres" "postgresql-$PG_MAJOR"
want "/usr/lib/postgresql/$PG_MAJOR/lib/pg_stat_statements.so" "postgresql-contrib"
want "/usr/lib/postgresql/$PG_MAJOR/lib/hypopg.so" "postgresql-$PG_MAJOR-hypopg"
want "/usr/lib/postgresql/$PG_MAJOR/lib/pg_cron.so" "postgresql-$PG_MAJOR-cron"
want pgbackrest pgbackrest
want /usr/sbin/pgbouncer pgbouncer
want redis-server redis-server
want redis-sentinel redis-sentinel
want promtool prometheus
want runuser util-linux
# the advisor's HTML report is tested in headless Chromium, with a font to render it
want chromium chromium
want /usr/share/fonts/truetype/dejavu fonts-dejavu-core

if [ ${#need[@]} -gt 0 ]; then
  echo "deps: installing ${need[*]}" >&2
  sudo=()
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "deps: need root (or sudo) to install: ${need[*]}" >&2; exit 1; }
    sudo=(sudo)
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=300 update -qq
  "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

command -v go >/dev/null 2>&1 || { echo "deps: no go on PATH (expected /usr/local/go/bin)" >&2; exit 1; }
go mod download
