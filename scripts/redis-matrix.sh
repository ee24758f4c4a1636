#!/usr/bin/env bash
# redis-matrix.sh VERSION... — make other Redis releases runnable on this Debian 12 machine for
# the version tests, without installing them: the server packages of the Debian suite that
# carries each release are downloaded with a private apt configuration (the machine's own is
# not touched) and extracted under the cache, with the libraries they need that bookworm lacks
# or has in another version.
#
#   6.0 <- bullseye   (6.0.16; runs on bookworm's glibc with LD_LIBRARY_PATH)
#
# The binary is redis-tools' redis-check-rdb; redis-server is the symlink that makes it a
# server (redis-server --sentinel runs a sentinel, so redis-sentinel is not needed).
#
# Prints one line per release: VERSION BIN_DIR LD_LIBRARY_PATH. The cache is debian-suite.sh's.
# Runs of this script wait for each other (flock).
set -euo pipefail

. "$(dirname "$0")/debian-suite.sh"

log() { echo "redis-matrix: $*" >&2; }

suite_of() {
  case $1 in
    6.0) echo bullseye ;;
    *) log "no Debian suite known for Redis $1"; return 1 ;;
  esac
}

# the server (redis-tools has the binary, redis-server the symlink) and the libraries it links
# that bookworm lacks (libssl1.1) or has in other versions
packages_of() {
  case $1 in
    6.0) echo "redis-server redis-tools libssl1.1 libjemalloc2 liblua5.1-0 liblzf1 lua-cjson lua-bitop" ;;
  esac
}

# check_runs ROOT V: the extracted server starts (it finds bookworm's missing libraries under ROOT)
check_runs() {
  LD_LIBRARY_PATH=$1/usr/lib/x86_64-linux-gnu "$1/usr/bin/redis-server" --version >/dev/null \
    || { log "the extracted redis-server $2 does not run"; return 1; }
}

fetch() { fetch_release redis "$1" Redis usr/bin/redis-check-rdb check_runs; }

[ $# -gt 0 ] || { echo "usage: $0 VERSION..." >&2; exit 2; }
mkdir -p "$CACHE"
chmod 755 "$CACHE"
exec 9>"$CACHE/redis-matrix.lock"
flock 9
for v in "$@"; do
  fetch "$v"
  echo "$v $CACHE/redis$v/usr/bin $CACHE/redis$v/usr/lib/x86_64-linux-gnu"
done
