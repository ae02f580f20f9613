#!/usr/bin/env bash
# Builds a local stand-in for the official node:20-bookworm-slim image without any image
# registry: a Debian bookworm rootfs made by debootstrap (--variant=minbase) from this
# machine's apt mirror, plus this machine's Node.js (node, npm, the C headers node-gyp
# needs) and its npm/TLS configuration, imported with `docker import`.
#
#   scripts/docker-base-image.sh [TAG]        (default TAG: dht2-local/node:20-bookworm-slim)
#
# Then: docker build --network host --build-arg BASE_IMAGE=TAG -t dht2-gateway:local .
# Needs root, debootstrap and a running Docker daemon. Takes 1-3 minutes.
set -euo pipefail
TAG="${1:-${DHT2_BASE_TAG:-dht2-local/node:20-bookworm-slim}}"
SUITE="${DHT2_BASE_SUITE:-bookworm}"

log() { printf '[base-image] %s\n' "$*" >&2; }

command -v debootstrap >/dev/null || { log "debootstrap is not installed (apt-get install debootstrap)"; exit 2; }
[ "$(id -u)" = 0 ] || { log "debootstrap needs root"; exit 2; }
NODE_BIN="$(readlink -f "$(command -v node)")"
[ -x "$NODE_BIN" ] || { log "no node on PATH"; exit 2; }

# The machine's Debian mirror: the first non-security URI of the apt sources (deb822 or one-line).
mirror() {
  local f u
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    u="$(awk '/^URIs:/{for(i=2;i<=NF;i++) if ($i !~ /security/ && $i ~ /debian\/?$/) {print $i; exit}}' "$f")"
    [ -n "$u" ] && { echo "$u"; return; }
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    u="$(awk '$1=="deb" {for(i=2;i<=NF;i++) if ($i ~ /^https?:/) { if ($i !~ /security/ && $i ~ /debian\/?$/) {print $i; exit} else break }}' "$f")"
    [ -n "$u" ] && { echo "$u"; return; }
  done
  echo "http://deb.debian.org/debian"
}
MIRROR="${DHT2_DEBIAN_MIRROR:-$(mirror)}"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/dht2-base.XXXXXX")"
ROOT="$WORK/rootfs"
cleanup() {
  # debootstrap mounts proc/sys inside the target; never leave them behind.
  local m
  for m in $(awk -v r="$ROOT" 'index($2, r) == 1 {print $2}' /proc/mounts | sort -r); do umount -l "$m" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

log "debootstrap --variant=minbase $SUITE from $MIRROR"
if ! debootstrap --variant=minbase "$SUITE" "$ROOT" "$MIRROR" >"$WORK/debootstrap.log" 2>&1; then
  tail -n 30 "$WORK/debootstrap.log" >&2
  [ -f "$ROOT/debootstrap/debootstrap.log" ] && tail -n 30 "$ROOT/debootstrap/debootstrap.log" >&2
  log "debootstrap failed"; exit 1
fi

log "adding this machine's Node.js: $NODE_BIN ($("$NODE_BIN" --version))"
install -D -m 0755 "$NODE_BIN" "$ROOT/usr/local/bin/node"
# Shared libraries node links against that the rootfs lacks (normally none on bookworm).
for lib in $(ldd "$NODE_BIN" | grep -o '/[^ ]*'); do
  [ -e "$ROOT$lib" ] || install -D -m 0755 "$(readlink -f "$lib")" "$ROOT$lib"
done
NPM_CLI="$(readlink -f "$(command -v npm)" 2>/dev/null || true)"
if [ -n "$NPM_CLI" ]; then
  NPM_DIR="$(cd "$(dirname "$NPM_CLI")/.." && pwd)"            # .../node_modules/npm
  mkdir -p "$ROOT/usr/local/lib/node_modules"
  cp -a "$NPM_DIR" "$ROOT/usr/local/lib/node_modules/npm"
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$ROOT/usr/local/bin/npm"
  ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$ROOT/usr/local/bin/npx"
fi
# Node's C headers, so node-gyp (better-sqlite3) builds without downloading them.
NODE_PREFIX="$(dirname "$(dirname "$NODE_BIN")")"
if [ -d "$NODE_PREFIX/include/node" ]; then
  mkdir -p "$ROOT/usr/local/include"
  cp -a "$NODE_PREFIX/include/node" "$ROOT/usr/local/include/node"
fi
# npm's global config of this machine (registry, cafile...), with nodedir pointing at the headers.
mkdir -p "$ROOT/usr/local/etc"
if [ -f "$NODE_PREFIX/etc/npmrc" ]; then
  grep -v '^nodedir' "$NODE_PREFIX/etc/npmrc" > "$ROOT/usr/local/etc/npmrc" || true
fi
echo "nodedir=/usr/local" >> "$ROOT/usr/local/etc/npmrc"
# TLS trust of this machine (a site CA may sit between us and the npm registry).
CHANGES=(--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' --change 'ENV NODE_VERSION='"$("$NODE_BIN" --version | tr -d v)" --change 'CMD ["node"]')
CAFILE="$(sed -n 's/^cafile *= *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$ROOT/usr/local/etc/npmrc" | tail -n 1)"
for f in "$CAFILE" "${NODE_EXTRA_CA_CERTS:-}"; do
  [ -n "$f" ] && [ -f "$f" ] && install -D -m 0644 "$f" "$ROOT$f"
done
if [ -n "${NODE_EXTRA_CA_CERTS:-}" ] && [ -f "$NODE_EXTRA_CA_CERTS" ]; then
  CHANGES+=(--change "ENV NODE_EXTRA_CA_CERTS=$NODE_EXTRA_CA_CERTS")
fi

# Slim it down like the -slim images.
rm -rf "$ROOT"/var/cache/apt/archives/*.deb "$ROOT"/var/lib/apt/lists/* "$ROOT"/usr/share/doc/* \
       "$ROOT"/usr/share/man/* "$ROOT"/usr/share/info/* "$ROOT"/debootstrap
"$ROOT/usr/local/bin/node" --version >/dev/null 2>&1 || true   # (host check only; runs in the image below)

log "docker import -> $TAG"
tar --numeric-owner -C "$ROOT" -c . | docker import "${CHANGES[@]}" - "$TAG" >/dev/null
docker run --rm --network host "$TAG" sh -c 'node --version && npm --version' >&2
log "built $TAG ($(docker image inspect -f '{{.Size}}' "$TAG" | awk '{printf "%d MB", $1/1e6}'))"
