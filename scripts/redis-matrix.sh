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
# Prints one line per release: VERSION BIN_DIR LD_LIBRARY_PATH. The cache is scripts/pg-matrix.sh's:
# $PE_CACHE, else /var/cache/persistence_exporter when we are root, else
# ~/.cache/persistence_exporter. Runs of this script wait for each other (flock).
set -euo pipefail

if [ -n "${PE_CACHE:-}" ]; then CACHE=$PE_CACHE
elif [ "$(id -u)" = 0 ]; then CACHE=/var/cache/persistence_exporter
else CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/persistence_exporter; fi
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
MIRROR=${PE_DEBIAN_MIRROR:-$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
MIRROR=${MIRROR%/}
SECURITY=${MIRROR%/debian}/debian-security

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

# apt with a private state directory and sources list for one suite (its own, not
# pg-matrix.sh's: the two may run at once from different test packages)
apt_private() {
  local dir=$1; shift
  apt-get -q -o Dir::Etc::SourceList="$dir/sources.list" -o Dir::Etc::SourceParts=/dev/null \
    -o Dir::State::Lists="$dir/lists" -o Dir::Cache="$dir/cache" -o Dir::State::status=/dev/null \
    -o APT::Sandbox::User=root "$@"
}

fetch() {
  local v=$1 suite root apt debs deb
  suite=$(suite_of "$v")
  root=$CACHE/redis$v
  if [ -x "$root/usr/bin/redis-check-rdb" ] && [ -f "$root/.complete" ]; then
    return
  fi
  rm -rf "$root"
  apt=$CACHE/redis-apt-$suite
  debs=$CACHE/redis-debs$v
  mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$root" "$debs"
  {
    echo "deb [signed-by=$KEYRING] $MIRROR $suite main"
    echo "deb [signed-by=$KEYRING] $SECURITY $suite-security main"
  } > "$apt/sources.list"
  log "fetching Redis $v from $suite"
  apt_private "$apt" update >/dev/null
  rm -f "$debs"/*.deb
  # shellcheck disable=SC2046
  (cd "$debs" && apt_private "$apt" download $(packages_of "$v") >/dev/null)
  for deb in "$debs"/*.deb; do dpkg -x "$deb" "$root"; done
  # the server runs as whoever runs the tests
  chmod -R a+rX "$root"
  LD_LIBRARY_PATH=$root/usr/lib/x86_64-linux-gnu "$root/usr/bin/redis-server" --version >/dev/null \
    || { log "the extracted redis-server $v does not run"; return 1; }
  touch "$root/.complete"
  rm -rf "$debs"
}

[ $# -gt 0 ] || { echo "usage: $0 VERSION..." >&2; exit 2; }
mkdir -p "$CACHE"
chmod 755 "$CACHE"
exec 9>"$CACHE/redis-matrix.lock"
flock 9
for v in "$@"; do
  fetch "$v"
  echo "$v $CACHE/redis$v/usr/bin $CACHE/redis$v/usr/lib/x86_64-linux-gnu"
done
