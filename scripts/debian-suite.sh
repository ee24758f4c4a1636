# Sourced by pg-matrix.sh and redis-matrix.sh: unpack packages of another Debian suite into a
# cache directory, without installing them and without touching the machine's apt state.
#
# The cache survives clones: $PE_CACHE, else /var/cache/persistence_exporter when we are root
# (servers then run as the postgres user, who cannot enter /root), else
# ~/.cache/persistence_exporter.

if [ -n "${PE_CACHE:-}" ]; then CACHE=$PE_CACHE
elif [ "$(id -u)" = 0 ]; then CACHE=/var/cache/persistence_exporter
else CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/persistence_exporter; fi
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
MIRROR=${PE_DEBIAN_MIRROR:-$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
MIRROR=${MIRROR%/}
SECURITY=${MIRROR%/debian}/debian-security

# apt_private DIR ARGS...: apt with a private state directory and sources list
apt_private() {
  local dir=$1; shift
  apt-get -q -o Dir::Etc::SourceList="$dir/sources.list" -o Dir::Etc::SourceParts=/dev/null \
    -o Dir::State::Lists="$dir/lists" -o Dir::Cache="$dir/cache" -o Dir::State::status=/dev/null \
    -o APT::Sandbox::User=root "$@"
}

# unpack_suite NAME SUITE ROOT PACKAGE...: download the packages of SUITE (and its security
# updates, where the suite has them) with apt state of its own under $CACHE/NAME-apt-SUITE
# (scripts running at once do not share it), and unpack them into ROOT.
unpack_suite() {
  local name=$1 suite=$2 root=$3; shift 3
  local apt=$CACHE/$name-apt-$suite debs=$CACHE/$name-debs-$suite deb
  mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$root" "$debs"
  {
    echo "deb [signed-by=$KEYRING] $MIRROR $suite main"
    # Debian testing has no security suite
    [ "$suite" = forky ] || echo "deb [signed-by=$KEYRING] $SECURITY $suite-security main"
  } > "$apt/sources.list"
  apt_private "$apt" update >/dev/null
  rm -f "$debs"/*.deb
  (cd "$debs" && apt_private "$apt" download "$@" >/dev/null)
  for deb in "$debs"/*.deb; do dpkg -x "$deb" "$root"; done
  rm -rf "$debs"
  # the servers run as whoever runs the tests (or as postgres)
  chmod -R a+rX "$root"
}

# fetch_release NAME VERSION LABEL BIN FINISH: unpack release VERSION (the packages
# `packages_of VERSION` names, from the suite `suite_of VERSION` names; the sourcing script
# defines both, and log) into $CACHE/NAMEVERSION, unless a complete earlier fetch left BIN
# (a path under it) there. FINISH ROOT VERSION then makes it runnable, or fails; only after it
# is the release marked complete.
fetch_release() {
  local name=$1 v=$2 label=$3 bin=$4 finish=$5 suite root
  suite=$(suite_of "$v")
  root=$CACHE/$name$v
  if [ -x "$root/$bin" ] && [ -f "$root/.complete" ]; then
    return
  fi
  rm -rf "$root"
  log "fetching $label $v from $suite"
  # shellcheck disable=SC2046
  unpack_suite "$name" "$suite" "$root" $(packages_of "$v")
  "$finish" "$root" "$v"
  touch "$root/.complete"
}
