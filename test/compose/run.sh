#!/usr/bin/env bash
# npm run test:compose — the docker-compose deployment, end to end (issue 5).
#
#  1. validates docker-compose.yml, alone and with docker-compose.host.yml (`config`), and
#     checks their shape (test/compose/check-config.mjs);
#  2. where a Docker daemon can run: starts dockerd if none answers (no docker0 bridge),
#     builds the image without any image registry (node:20-bookworm-slim when present
#     locally, else a base built by scripts/docker-base-image.sh from debootstrap + this
#     machine's Node.js), starts the cluster with host networking (loopback only, free ports),
#     runs an aws-cli and curl smoke test, then the replica sets at work (issue 16): stops one
#     brick of the DS set (a follower) and checks that /-/ready stays 200, /-/health names the
#     degraded set and aws s3 cp still writes and reads; stops a second brick of the same set
#     (its primary) and checks /-/ready answers 503 naming the set without a primary; starts
#     both again, waits for ready, reads the objects back, restarts the gateway (its start
#     installs the layout again) and reads again, and tears everything down (compose down -v),
#     then stops the dockerd it started.
#
# Exit status: non-zero when the validation fails, or when Docker runs but the build or the
# smoke test fails. When no Docker daemon can run here, it says why and exits 0 after the
# validation. Environment:
#   DHT2_COMPOSE_VALIDATE_ONLY=1   only step 1
#   DHT2_COMPOSE_REQUIRE_DOCKER=1  fail (exit 2) instead of skipping when Docker cannot run
#   DHT2_COMPOSE_KEEP=1            leave the cluster running (prints how to remove it)
#   DHT2_BASE_IMAGE=IMAGE          base image to build on (default: see above)
#   DHT2_TEST_IMAGE=NAME:TAG       image built and run (default dht2-gateway:compose-test)
#   DHT2_DOCKER_DATA_ROOT=DIR      data-root of a dockerd started here (default /var/lib/docker)
#   DHT2_COMPOSE_TIMEOUT=SECONDS   stop everything after this long (default 900; a cold run,
#                                  base image and all, takes about 3.5 minutes on 2 cores)
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1

# Compose prefers the shell's variables to the env file: drop the DHT2_* / COMPOSE_* settings
# of the calling shell (DHT2_PORT of an `npm start` session...), keeping this script's options.
for v in $(compgen -e | grep -E '^(DHT2_|COMPOSE_)'); do
  case $v in
    DHT2_COMPOSE_*|DHT2_BASE_IMAGE|DHT2_DOCKER_DATA_ROOT|DHT2_TEST_IMAGE) ;;
    *) unset "$v" ;;
  esac
done

T0=$(date +%s)
log() { printf '[compose-test %3ds] %s\n' "$(( $(date +%s) - T0 ))" "$*"; }
die() { log "FAIL: $*"; exit 1; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/dht2-compose-test.XXXXXX")"
DOCKERD_PID=""
WATCHDOG_PID=""
PROJECT=""
COMPOSE=()
ENV_FILE="$WORK/compose.env"

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  [ -n "$WATCHDOG_PID" ] && kill "$WATCHDOG_PID" 2>/dev/null
  if [ -n "$PROJECT" ] && [ "${DHT2_COMPOSE_KEEP:-0}" != 1 ]; then
    log "teardown: compose down -v"
    timeout 120 "${COMPOSE[@]}" -p "$PROJECT" --env-file "$ENV_FILE" -f docker-compose.yml -f docker-compose.host.yml \
      down -v --remove-orphans --timeout 10 >"$WORK/down.log" 2>&1 || { log "compose down failed:"; tail -n 20 "$WORK/down.log"; }
    local left
    left="$(docker ps -aq --filter "label=com.docker.compose.project=$PROJECT" 2>/dev/null)"
    [ -n "$left" ] && { log "removing leftover containers"; docker rm -f $left >/dev/null 2>&1 || true; }
    left="$(docker volume ls -q --filter "label=com.docker.compose.project=$PROJECT" 2>/dev/null)"
    [ -n "$left" ] && { log "removing leftover volumes"; docker volume rm -f $left >/dev/null 2>&1 || true; }
  elif [ -n "$PROJECT" ]; then
    log "DHT2_COMPOSE_KEEP=1: cluster left running; remove it with:"
    log "  ${COMPOSE[*]} -p $PROJECT --env-file $ENV_FILE -f docker-compose.yml -f docker-compose.host.yml down -v"
  fi
  if [ -n "$DOCKERD_PID" ] && [ "${DHT2_COMPOSE_KEEP:-0}" != 1 ]; then
    log "stopping the dockerd this test started (pid $DOCKERD_PID)"
    kill -TERM "$DOCKERD_PID" 2>/dev/null || true
    for _ in $(seq 1 30); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 1; done
    kill -0 "$DOCKERD_PID" 2>/dev/null && kill -KILL "$DOCKERD_PID" 2>/dev/null
    # dockerd leaves its default network namespace mounted on exit.
    grep -q ' /run/docker/netns/default ' /proc/mounts && umount /run/docker/netns/default 2>/dev/null
  fi
  [ "${DHT2_COMPOSE_KEEP:-0}" = 1 ] || rm -rf "$WORK"
  log "done in $(( $(date +%s) - T0 ))s (exit $rc)"
  exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM
# Watchdog: after DHT2_COMPOSE_TIMEOUT seconds, end the step in progress (our own children) and
# this script; the EXIT trap then tears the cluster down.
(
  for _ in $(seq 1 "${DHT2_COMPOSE_TIMEOUT:-900}"); do sleep 1; done   # (no long sleep left behind when killed)
  printf '[compose-test] FAIL: timeout after %ss\n' "${DHT2_COMPOSE_TIMEOUT:-900}" >&2
  # shellcheck disable=SC2046  # (a list of pids)
  kill -TERM $(pgrep -P $$ | grep -vx "$BASHPID") 2>/dev/null
  kill -TERM $$ 2>/dev/null
) &
WATCHDOG_PID=$!

as_root() { [ "$(id -u)" = 0 ]; }
apt_install() {   # apt_install PKG... — only as root on a Debian-like machine, bounded in time
  as_root && command -v apt-get >/dev/null || return 1
  log "apt-get install $*"
  if [ ! -f "$WORK/apt-updated" ]; then
    timeout 180 apt-get update -qq >"$WORK/apt.log" 2>&1 || { tail -n 5 "$WORK/apt.log"; return 1; }
    touch "$WORK/apt-updated"
  fi
  DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y -qq --no-install-recommends "$@" >>"$WORK/apt.log" 2>&1 \
    || { tail -n 5 "$WORK/apt.log"; return 1; }
}

# A block of 7 consecutive free TCP ports on 127.0.0.1 below the ephemeral range (20000-31999).
free_port_base() {
  local listening base i ok
  listening="$( (ss -Htln 2>/dev/null || netstat -tln 2>/dev/null) | awk '{print $4}' | sed 's/.*://' | sort -u)"
  for _ in $(seq 1 50); do
    base=$(( 20000 + (RANDOM % 1200) * 10 ))
    ok=1
    for i in 0 1 2 3 4 5 6; do
      if grep -qx "$((base + i))" <<<"$listening"; then ok=0; break; fi
    done
    [ $ok = 1 ] && { echo "$base"; return 0; }
  done
  return 1
}

rand_hex() { node -e "process.stdout.write(require('crypto').randomBytes(Number(process.argv[1])).toString('hex'))" "$1"; }

# ---------------------------------------------------------------------------------------------
# 1. validation
# ---------------------------------------------------------------------------------------------
if docker compose version >/dev/null 2>&1; then
  COMPOSE=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then
  COMPOSE=(docker-compose)
elif apt_install docker-compose && command -v docker-compose >/dev/null 2>&1; then
  COMPOSE=(docker-compose)
else
  die "neither 'docker compose' nor 'docker-compose' is available (and apt-get install docker-compose failed): cannot validate"
fi
log "compose: ${COMPOSE[*]} ($("${COMPOSE[@]}" version --short 2>/dev/null || "${COMPOSE[@]}" version 2>/dev/null | head -n 1))"

PORT_BASE="$(free_port_base)" || die "no 7 free ports found on 127.0.0.1"
GW_PORT=$PORT_BASE
SUFFIX="$(rand_hex 3)"
PROJECT_NAME="dht2ct$SUFFIX"
ACCESS_KEY="ct$(rand_hex 6)"
SECRET_KEY="$(rand_hex 16)"
IMAGE="${DHT2_TEST_IMAGE:-dht2-gateway:compose-test}"
# The test's env file: .env.example with fresh secrets, loopback only, free ports.
sed -e "s|^DHT2_CLUSTER_SECRET=.*|DHT2_CLUSTER_SECRET=$(rand_hex 32)|" \
    -e "s|^DHT2_ACCESS_KEY=.*|DHT2_ACCESS_KEY=$ACCESS_KEY|" \
    -e "s|^DHT2_SECRET_KEY=.*|DHT2_SECRET_KEY=$SECRET_KEY|" \
    -e "s|^COMPOSE_PROJECT_NAME=.*|COMPOSE_PROJECT_NAME=$PROJECT_NAME|" \
    -e "s|^DHT2_IMAGE=.*|DHT2_IMAGE=$IMAGE|" \
    -e "s|^DHT2_VOLUME_ID=.*|DHT2_VOLUME_ID=compose-test-$SUFFIX|" \
    -e "s|^DHT2_PORT=.*|DHT2_PORT=$GW_PORT|" \
    -e "s|^DHT2_PUBLISH_ADDR=.*|DHT2_PUBLISH_ADDR=127.0.0.1|" \
    -e "s|^DHT2_BIND_HOST=.*|DHT2_BIND_HOST=127.0.0.1|" \
    -e "s|^DHT2_MDS0_PORT=.*|DHT2_MDS0_PORT=$((PORT_BASE + 1))|" \
    -e "s|^DHT2_MDS1_PORT=.*|DHT2_MDS1_PORT=$((PORT_BASE + 2))|" \
    -e "s|^DHT2_MDS2_PORT=.*|DHT2_MDS2_PORT=$((PORT_BASE + 3))|" \
    -e "s|^DHT2_DS0_PORT=.*|DHT2_DS0_PORT=$((PORT_BASE + 4))|" \
    -e "s|^DHT2_DS1_PORT=.*|DHT2_DS1_PORT=$((PORT_BASE + 5))|" \
    -e "s|^DHT2_DS2_PORT=.*|DHT2_DS2_PORT=$((PORT_BASE + 6))|" \
    -e "s|^# DHT2_ENV_FILE=.*|DHT2_ENV_FILE=$ENV_FILE|" \
    .env.example >"$ENV_FILE"
grep -q "^DHT2_ENV_FILE=$ENV_FILE" "$ENV_FILE" || echo "DHT2_ENV_FILE=$ENV_FILE" >>"$ENV_FILE"
export DHT2_ENV_FILE="$ENV_FILE"

validate() {   # validate MODE FILES...
  local mode=$1; shift
  local files=() f
  for f in "$@"; do files+=(-f "$f"); done
  if ! timeout 60 "${COMPOSE[@]}" --env-file "$ENV_FILE" "${files[@]}" config >"$WORK/config-$mode.yml" 2>"$WORK/config-$mode.err"; then
    cat "$WORK/config-$mode.err"
    die "compose config rejects $*"
  fi
  # Warnings (unset variables...) are failures too.
  if grep -qi 'warn' "$WORK/config-$mode.err"; then cat "$WORK/config-$mode.err"; die "compose config warns about $*"; fi
  node test/compose/check-config.mjs "$mode" <"$WORK/config-$mode.yml"
  case $? in
    0) ;;
    3) log "structural checks skipped (run npm ci first)";;
    *) die "the compose file does not have the required shape ($*)";;
  esac
}
validate bridge docker-compose.yml
validate host docker-compose.yml docker-compose.host.yml
# Issue 14: with the example's DHT2_BIND_HOST=0.0.0.0 (the gateway on every interface), the
# bricks on the host's network still listen on loopback only (check-config.mjs host).
sed -e "s|^DHT2_BIND_HOST=.*|DHT2_BIND_HOST=0.0.0.0|" "$ENV_FILE" >"$WORK/bind-all.env"
DHT2_ENV_FILE="$WORK/bind-all.env" timeout 60 "${COMPOSE[@]}" --env-file "$WORK/bind-all.env" -f docker-compose.yml -f docker-compose.host.yml config \
  >"$WORK/config-bind-all.yml" 2>"$WORK/config-bind-all.err" || { cat "$WORK/config-bind-all.err"; die "compose config rejects DHT2_BIND_HOST=0.0.0.0"; }
node test/compose/check-config.mjs host <"$WORK/config-bind-all.yml"
[ $? = 1 ] && die "with DHT2_BIND_HOST=0.0.0.0 the host-network bricks do not listen on loopback only"
# The example env file as a user would use it (cp .env.example .env; here read in place): its
# DHT2_CLUSTER_SECRET is empty, and compose must refuse to start until one is set, saying how
# (issue 14); with one set (the test's env file above is that) it validates.
for files in "docker-compose.yml" "docker-compose.yml docker-compose.host.yml"; do
  fargs=(); for f in $files; do fargs+=(-f "$f"); done
  if DHT2_ENV_FILE=.env.example timeout 60 "${COMPOSE[@]}" --env-file .env.example "${fargs[@]}" config -q 2>"$WORK/example.err"; then
    die "$files accepts .env.example with no DHT2_CLUSTER_SECRET"
  fi
  grep -q 'set DHT2_CLUSTER_SECRET in .env to 32+ random bytes, e.g. openssl rand -hex 32' "$WORK/example.err" \
    || { cat "$WORK/example.err"; die "$files refuses .env.example, but not for its missing DHT2_CLUSTER_SECRET"; }
done
log "validation passed: docker-compose.yml, docker-compose.yml + docker-compose.host.yml; .env.example refused until DHT2_CLUSTER_SECRET is set"

if [ "${DHT2_COMPOSE_VALIDATE_ONLY:-0}" = 1 ]; then
  log "DHT2_COMPOSE_VALIDATE_ONLY=1: not starting anything"
  exit 0
fi

# ---------------------------------------------------------------------------------------------
# 2. a Docker daemon
# ---------------------------------------------------------------------------------------------
cannot_run() {
  log "SKIPPED: the containers cannot run here: $*"
  log "the compose files were validated; nothing else was tested"
  [ "${DHT2_COMPOSE_REQUIRE_DOCKER:-0}" = 1 ] && exit 2
  exit 0
}

if ! timeout 20 docker info >/dev/null 2>&1; then
  if ! command -v dockerd >/dev/null 2>&1; then
    apt_install docker.io || cannot_run "no Docker daemon answers, dockerd is not installed and apt-get install docker.io failed"
  fi
  command -v docker >/dev/null 2>&1 || cannot_run "no docker client"
  as_root || cannot_run "no Docker daemon answers and dockerd can only be started as root"
  DATA_ROOT="${DHT2_DOCKER_DATA_ROOT:-/var/lib/docker}"
  mkdir -p "$DATA_ROOT"
  log "starting dockerd (data-root $DATA_ROOT, no bridge, no iptables; log $WORK/dockerd.log)"
  # setsid: the daemon does not get the terminal's Ctrl-C; the trap stops it.
  setsid dockerd --data-root "$DATA_ROOT" --bridge=none --iptables=false --ip6tables=false --ip-masq=false \
    >"$WORK/dockerd.log" 2>&1 </dev/null &
  DOCKERD_PID=$!
  for _ in $(seq 1 60); do
    timeout 5 docker info >/dev/null 2>&1 && break
    kill -0 "$DOCKERD_PID" 2>/dev/null || break
    sleep 1
  done
  if ! timeout 10 docker info >/dev/null 2>&1; then
    log "dockerd did not come up; the end of its log:"
    { grep -iE 'level=(error|fatal)|failed|denied|not permitted' "$WORK/dockerd.log" || tail -n 10 "$WORK/dockerd.log"; } \
      | tail -n 15 | sed 's/^/    /'
    kill -0 "$DOCKERD_PID" 2>/dev/null || DOCKERD_PID=""
    cannot_run "dockerd could not start (see its log above)"
  fi
fi
log "docker daemon: $(docker info --format 'server {{.ServerVersion}}, storage {{.Driver}}, cgroup v{{.CgroupVersion}}' 2>/dev/null)"

# ---------------------------------------------------------------------------------------------
# 3. the image, without any image registry
# ---------------------------------------------------------------------------------------------
LOCAL_BASE="dht2-local/node:20-bookworm-slim"
if [ -n "${DHT2_BASE_IMAGE:-}" ]; then
  BASE="$DHT2_BASE_IMAGE"
elif docker image inspect node:20-bookworm-slim >/dev/null 2>&1; then
  BASE=node:20-bookworm-slim
else
  BASE="$LOCAL_BASE"
fi
if ! docker image inspect "$BASE" >/dev/null 2>&1; then
  [ "$BASE" = "$LOCAL_BASE" ] || die "base image $BASE is not present locally (no registry to pull from)"
  command -v debootstrap >/dev/null 2>&1 || apt_install debootstrap \
    || cannot_run "node:20-bookworm-slim is not present, no registry is reachable, and debootstrap is not installable"
  log "node:20-bookworm-slim is not present locally: building $BASE (debootstrap + this machine's Node.js)"
  timeout 420 scripts/docker-base-image.sh "$BASE" || die "could not build the base image $BASE"
else
  log "base image: $BASE (present locally)"
fi
sed -i "s|^DHT2_BASE_IMAGE=.*|DHT2_BASE_IMAGE=$BASE|" "$ENV_FILE"

log "probe: docker run --network host $BASE"
timeout 60 docker run --rm --network host "$BASE" node -e 'process.stdout.write("node " + process.version + " in a container\n")' \
  || cannot_run "a container cannot start here: docker run --network host $BASE failed"

log "docker build --network host --build-arg BASE_IMAGE=$BASE -t $IMAGE ."
# The classic builder: uses the local base image as is, and RUN steps reach the npm registry
# and the Debian mirror through the host's network (no bridge).
# The deps stage (the compiled production packages, ~2 minutes) is tagged so that it stays the
# cache of the next run; the untagged stage images of earlier builds are then pruned, so that
# repeated runs do not pile up images (each stage carries an org.dht2.stage label).
build() { DOCKER_BUILDKIT=0 timeout 480 docker build --network host --build-arg "BASE_IMAGE=$BASE" "$@" . >>"$WORK/build.log" 2>&1; }
if ! build --target deps -t "$IMAGE-deps" || ! build -t "$IMAGE"; then
  tail -n 40 "$WORK/build.log"
  die "docker build failed"
fi
docker image prune -f --filter label=org.dht2.stage >/dev/null 2>&1 || true
log "image $IMAGE: $(docker image inspect -f '{{.Size}}' "$IMAGE" | awk '{printf "%d MB", $1/1e6}'), user $(docker image inspect -f '{{.Config.User}}' "$IMAGE"), entrypoint $(docker image inspect -f '{{json .Config.Entrypoint}}' "$IMAGE")"

# ---------------------------------------------------------------------------------------------
# 4. the cluster, host networking
# ---------------------------------------------------------------------------------------------
DC=("${COMPOSE[@]}" -p "$PROJECT_NAME" --env-file "$ENV_FILE" -f docker-compose.yml -f docker-compose.host.yml)
PROJECT="$PROJECT_NAME"
dump_logs() { log "container states and logs:"; "${DC[@]}" ps 2>&1 | tail -n 20; timeout 30 "${DC[@]}" logs --no-color --tail 20 2>&1 | tail -n 80; }

log "compose up (project $PROJECT, gateway on 127.0.0.1:$GW_PORT, bricks on 127.0.0.1:$((PORT_BASE + 1))-$((PORT_BASE + 6)))"
if ! timeout 240 "${DC[@]}" up -d --no-build >"$WORK/up.log" 2>&1; then
  cat "$WORK/up.log"; dump_logs; die "compose up failed"
fi
grep -v '^\s*$' "$WORK/up.log" | sed 's/^/    /'
networks="$(docker network ls -q --filter "label=com.docker.compose.project=$PROJECT")"
[ -z "$networks" ] || { docker network ls --filter "label=com.docker.compose.project=$PROJECT"; die "compose created a network in host mode"; }

EP="http://127.0.0.1:$GW_PORT"
wait_status() {   # wait_status URL STATUS SECONDS -> body in $WORK/body
  local url=$1 want=$2 secs=$3 got=""
  for _ in $(seq 1 "$secs"); do
    got="$(curl -s -m 5 -o "$WORK/body" -w '%{http_code}' "$url")"
    [ "$got" = "$want" ] && return 0
    sleep 1
  done
  log "$url: status $got after ${secs}s, wanted $want: $(head -c 600 "$WORK/body" 2>/dev/null)"
  return 1
}
wait_status "$EP/-/ready" 200 60 || { dump_logs; die "the gateway never became ready"; }
# Ready means every set elected a primary, so the gateway's volume create installed the layout.
sets_of() { node -e 'const r=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")); console.log(r.status + ";", (r.sets||[]).map(s=>s.id+": "+(s.available?"primary "+s.primary+" term "+s.term:"NO PRIMARY")+(s.degraded.length?" ("+s.degraded.join(", ")+")":"")).join("; "))' "$1"; }
log "GET /-/ready -> 200: $(sets_of "$WORK/body")"
"${DC[@]}" ps 2>&1 | sed 's/^/    /'

# ---------------------------------------------------------------------------------------------
# 5. smoke test: aws-cli and curl
# ---------------------------------------------------------------------------------------------
command -v aws >/dev/null 2>&1 || apt_install awscli || die "aws-cli is not installed"
export AWS_ACCESS_KEY_ID="$ACCESS_KEY" AWS_SECRET_ACCESS_KEY="$SECRET_KEY" AWS_DEFAULT_REGION=us-east-1
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true
S3=(timeout 120 aws --endpoint-url "$EP" s3)
S3CP=("${S3[@]}" cp --no-progress)
BUCKET="smoke-$SUFFIX"
step() {   # step CMD... : logs the command (secret masked), runs it, indents its output
  local shown="$*"
  log "\$ ${shown//$SECRET_KEY/***}"
  "$@" 2>&1 | sed 's/^/    /'
  local rc=${PIPESTATUS[0]}
  echo
  return "$rc"
}

head -c $((12 * 1024 * 1024 + 12345)) /dev/urandom >"$WORK/big.bin"     # multipart (above 8 MiB)
printf 'hello from the compose smoke test %s\n' "$SUFFIX" >"$WORK/small.txt"
step "${S3[@]}" mb "s3://$BUCKET" || { dump_logs; die "aws s3 mb failed"; }
step "${S3CP[@]}" "$WORK/small.txt" "s3://$BUCKET/docs/small.txt" || die "aws s3 cp (up, small) failed"
step "${S3CP[@]}" "$WORK/big.bin" "s3://$BUCKET/big.bin" || die "aws s3 cp (up, multipart) failed"
step "${S3[@]}" ls --recursive "s3://$BUCKET/" >"$WORK/ls.out"; cat "$WORK/ls.out"
grep -q 'docs/small.txt' "$WORK/ls.out" && grep -q 'big.bin' "$WORK/ls.out" || die "aws s3 ls does not list both objects"
step "${S3CP[@]}" "s3://$BUCKET/big.bin" "$WORK/big.down" || die "aws s3 cp (down) failed"
cmp "$WORK/big.bin" "$WORK/big.down" || die "the multipart object read back differs"
log "big.bin: $(stat -c %s "$WORK/big.down") bytes read back, identical"

# The same objects as files, through the REST file API.
CURL=(curl -sS -m 30 --fail-with-body -u "$ACCESS_KEY:$SECRET_KEY")
step "${CURL[@]}" -o "$WORK/small.down" "$EP/fs/$BUCKET/docs/small.txt" || die "curl GET /fs/$BUCKET/docs/small.txt failed"
cmp "$WORK/small.txt" "$WORK/small.down" || die "curl read back another content than aws s3 cp wrote"
log "curl /fs/$BUCKET/docs/small.txt: $(cat "$WORK/small.down")"
printf 'written with curl %s\n' "$SUFFIX" >"$WORK/notes.txt"
step "${CURL[@]}" -T "$WORK/notes.txt" "$EP/fs/$BUCKET/notes/today.txt?parents=1" || die "curl PUT /fs/ failed"
step "${S3CP[@]}" "s3://$BUCKET/notes/today.txt" "$WORK/notes.down" || die "aws s3 cp of the file written with curl failed"
cmp "$WORK/notes.txt" "$WORK/notes.down" || die "aws-cli read back another content than curl wrote"
step "${CURL[@]}" "$EP/fs/$BUCKET/?detail=1" || die "curl directory listing failed"
echo
code="$(curl -s -m 10 -o /dev/null -w '%{http_code}' -u "$ACCESS_KEY:wrong-secret" "$EP/fs/$BUCKET/docs/small.txt")"
[ "$code" = 401 ] || [ "$code" = 403 ] || die "a wrong secret got HTTP $code from the file API"
log "wrong password -> HTTP $code"

# ---------------------------------------------------------------------------------------------
# 6. replica sets (issue 16): one brick of a set down, then two
# ---------------------------------------------------------------------------------------------
# The DS set ds-0 (ds0 ds1 ds2): its primary now, and one follower.
curl -s -m 10 -o "$WORK/ready.json" "$EP/-/ready"
PRIMARY="$(node -e 'const r=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")); const s=(r.sets||[]).find(s=>s.id==="ds-0"); process.stdout.write(s&&s.primary||"")' "$WORK/ready.json")"
case "$PRIMARY" in ds0|ds1|ds2) ;; *) cat "$WORK/ready.json"; die "/-/ready names no primary of ds-0 (got '$PRIMARY')";; esac
FOLLOWER=ds0; [ "$PRIMARY" = ds0 ] && FOLLOWER=ds1
log "ds-0: primary $PRIMARY; stopping the follower $FOLLOWER"
timeout 60 "${DC[@]}" stop -t 10 "$FOLLOWER" 2>&1 | sed 's/^/    /'
# /-/ready stays 200 (the set keeps its primary and a majority) while /-/health notices the
# member down; every /-/ready until then must be 200.
degraded=""
for _ in $(seq 1 30); do
  code="$(curl -s -m 5 -o "$WORK/body" -w '%{http_code}' "$EP/-/ready")"
  [ "$code" = 200 ] || { cat "$WORK/body"; dump_logs; die "/-/ready answered $code with one brick of ds-0 stopped"; }
  code="$(curl -s -m 5 -o "$WORK/health" -w '%{http_code}' "$EP/-/health")"
  [ "$code" = 200 ] || die "/-/health answered $code with one brick of ds-0 stopped"
  if node -e '
    const h = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    process.exit(h.status === "degraded" && h.degraded.length === 1 && h.degraded[0].set === "ds-0" ? 0 : 1);' "$WORK/health"; then
    degraded=1; break
  fi
  sleep 1
done
[ -n "$degraded" ] || { cat "$WORK/health"; die "/-/health does not name ds-0 (alone) as degraded with $FOLLOWER stopped"; }
log "GET /-/ready -> 200 ($(sets_of "$WORK/body")); GET /-/health -> 200 $(cat "$WORK/health")"
printf 'written with %s down %s\n' "$FOLLOWER" "$SUFFIX" >"$WORK/degraded.txt"
step "${S3CP[@]}" "$WORK/degraded.txt" "s3://$BUCKET/degraded.txt" || { dump_logs; die "aws s3 cp (up) failed with one brick of ds-0 stopped"; }
step "${S3CP[@]}" "s3://$BUCKET/big.bin" "$WORK/big.deg" || die "aws s3 cp (down) failed with one brick of ds-0 stopped"
cmp "$WORK/big.bin" "$WORK/big.deg" || die "the object read back with one brick of ds-0 stopped differs"
code="$(curl -s -m 10 -o /dev/null -w '%{http_code}' "$EP/-/ready")"
[ "$code" = 200 ] || die "/-/ready answered $code after the copies with one brick of ds-0 stopped"

log "stopping a second brick of ds-0: its primary $PRIMARY (one member of three left: no majority)"
timeout 60 "${DC[@]}" stop -t 10 "$PRIMARY" 2>&1 | sed 's/^/    /'
wait_status "$EP/-/ready" 503 30 || { dump_logs; die "/-/ready did not answer 503 with two bricks of ds-0 stopped"; }
log "GET /-/ready -> 503: $(sets_of "$WORK/body")"
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const none = (r.sets || []).filter((s) => !s.available).map((s) => s.id);
  if (r.status !== "unavailable" || none.join() !== "ds-0") { console.error("expected exactly ds-0 without a primary, got", none); process.exit(1); }
' "$WORK/body" || die "/-/ready does not name ds-0 (alone) as the set without a primary"
code="$(curl -s -m 10 -o /dev/null -w '%{http_code}' "$EP/-/health")"
[ "$code" = 200 ] || die "/-/health answered $code with two bricks down (the process is alive)"
log "GET /-/health -> 200 (the gateway process is alive)"

log "starting $FOLLOWER and $PRIMARY again"
timeout 90 "${DC[@]}" start "$FOLLOWER" "$PRIMARY" 2>&1 | sed 's/^/    /'
wait_status "$EP/-/ready" 200 90 || { dump_logs; die "/-/ready did not come back to 200 after $FOLLOWER and $PRIMARY restarted"; }
log "GET /-/ready -> 200 again: $(sets_of "$WORK/body")"
step "${S3CP[@]}" "s3://$BUCKET/big.bin" "$WORK/big.down2" || die "aws s3 cp (down) after the bricks restarted failed"
cmp "$WORK/big.bin" "$WORK/big.down2" || die "the object read back after the bricks restarted differs"
step "${S3CP[@]}" "s3://$BUCKET/degraded.txt" "$WORK/degraded.down" || die "aws s3 cp (down) of the object written while degraded failed"
cmp "$WORK/degraded.txt" "$WORK/degraded.down" || die "the object written while ds-0 was degraded reads back different"
# A restart of the gateway runs its `volume create --replica 3` again: the layout it installs is
# a repeat the bricks accept (ARCHITECTURE.md §10.9), and the gateway serves the same volume.
log "restarting the gateway (its volume create installs the same layout again)"
timeout 90 "${DC[@]}" restart -t 10 gateway-host 2>&1 | sed 's/^/    /'
sleep 2
wait_status "$EP/-/ready" 200 60 || { dump_logs; die "/-/ready did not come back to 200 after the gateway restarted"; }
log "GET /-/ready -> 200 after the gateway restart: $(sets_of "$WORK/body")"
step "${S3CP[@]}" "s3://$BUCKET/degraded.txt" "$WORK/degraded.down2" || die "aws s3 cp (down) after the gateway restart failed"
cmp "$WORK/degraded.txt" "$WORK/degraded.down2" || die "the object read back after the gateway restart differs"
step "${S3[@]}" rm --recursive "s3://$BUCKET/" || die "aws s3 rm failed"
step "${S3[@]}" rb "s3://$BUCKET" || die "aws s3 rb failed"

log "PASS: compose cluster (replica 3) built, started with host networking, served aws-cli and curl, served with one brick of a set stopped, reported the set without a primary with two, came back, and survived a gateway restart"
