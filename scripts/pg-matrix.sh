#!/usr/bin/env bash
# pg-matrix.sh MAJOR... — make other PostgreSQL majors runnable on this Debian 12 machine for the
# version-matrix tests, without installing them: the server packages of the Debian suite that
# carries each major are downloaded with a private apt configuration (the machine's own is not
# touched) and extracted under the cache. Majors built against a newer glibc than the machine's
# get their ELF interpreter and rpath pointed at the extracted libraries.
#
#   13 <- bullseye   (runs on bookworm's glibc with LD_LIBRARY_PATH)
#   17 <- trixie     (newer glibc: patched)
#   18 <- forky      (Debian testing, newer glibc: patched; may move or disappear)
#
# Prints one line per major: MAJOR BIN_DIR [LD_LIBRARY_PATH]. The cache is debian-suite.sh's.
set -euo pipefail

. "$(dirname "$0")/debian-suite.sh"

log() { echo "pg-matrix: $*" >&2; }

suite_of() {
  case $1 in
    13) echo bullseye ;;
    17) echo trixie ;;
    18) echo forky ;;
    *) log "no Debian suite known for PostgreSQL $1"; return 1 ;;
  esac
}

# The server, the client (pg_basebackup) and the libraries they need that bookworm lacks or has
# too old, plus the extensions the tests load.
packages_of() {
  case $1 in
    13) echo "postgresql-13 postgresql-client-13 libpq5 libicu67 libssl1.1 libldap-2.4-2 libllvm11 libffi7 postgresql-13-hypopg postgresql-13-cron" ;;
    17) echo "postgresql-17 postgresql-client-17 libpq5 libicu76 libssl3t64 libldap2 liblz4-1 libzstd1 libc6 libstdc++6 libgcc-s1 postgresql-17-hypopg postgresql-17-cron" ;;
    18) echo "postgresql-18 postgresql-client-18 libpq5 libicu78 libssl3t64 libldap2 liblz4-1 libzstd1 libc6 libstdc++6 libgcc-s1 libnuma1 liburing2 libxml2-16 postgresql-18-hypopg postgresql-18-cron" ;;
  esac
}

patched() { [ "$1" != 13 ]; }

patchelf_bin() {
  if command -v patchelf >/dev/null 2>&1; then command -v patchelf; return; fi
  local d=$CACHE/tools
  if [ ! -x "$d/usr/bin/patchelf" ]; then
    mkdir -p "$d"
    (cd "$d" && apt-get download -q patchelf >/dev/null && dpkg -x patchelf_*.deb .)
  fi
  echo "$d/usr/bin/patchelf"
}

# relink ROOT V: point the binaries and libraries of a major built against a newer glibc at
# the extracted libraries
relink() {
  local root=$1 v=$2
  if patched "$v"; then
    local pe lib f
    pe=$(patchelf_bin)
    lib=$root/usr/lib/x86_64-linux-gnu
    # the interpreter of the newer glibc, and an rpath (DT_RPATH: it also covers libraries and
    # extensions loaded later) to the extracted libraries; LD_LIBRARY_PATH would leak the new
    # glibc into the machine's own programs that the server starts (archive_command, sh)
    for f in "$root/usr/lib/postgresql/$v/bin"/* "$root/usr/lib/postgresql/$v/lib"/*.so; do
      [ -f "$f" ] && [ ! -L "$f" ] || continue
      [ "$(head -c4 "$f" | tail -c3)" = ELF ] || continue
      case $f in
        *.so) "$pe" --force-rpath --set-rpath "$lib" "$f" ;;
        *) "$pe" --set-interpreter "$lib/ld-linux-x86-64.so.2" --force-rpath --set-rpath "$lib" "$f" ;;
      esac
    done
  fi
}

fetch() { fetch_release pg "$1" PostgreSQL "usr/lib/postgresql/$1/bin/postgres" relink; }

[ $# -gt 0 ] || { echo "usage: $0 MAJOR..." >&2; exit 2; }
mkdir -p "$CACHE"
chmod 755 "$CACHE"
for v in "$@"; do
  fetch "$v"
  bin=$CACHE/pg$v/usr/lib/postgresql/$v/bin
  if patched "$v"; then echo "$v $bin"; else echo "$v $bin $CACHE/pg$v/usr/lib/x86_64-linux-gnu"; fi
done
