#!/usr/bin/env bash
# API latency with a year of history stored (issue 12): 10,000 projects and 1,000,000 builds (one
# project with 200,000), against the same calls on a store of 1,000 builds.
#
#   bench/scale.sh [--backend sqlite|postgres] [--database-url postgres://USER@HOST:PORT/DB]
#
# For each store (small, then large):
# 1. A release `kiln serve` on a fresh store runs one real build through the API (a project
#    without sourceVersion, so the build checks out the default branch); Kiln stops.
# 2. scale_seed.py copies those two rows into PROJECTS projects and BUILDS builds (`scale-big`
#    with BIG_BUILDS, `scale-small` with SMALL_BUILDS, the rest round-robin) straight into the
#    store: SQLite's kiln.db, or PostgreSQL through psql \copy.
# 3. Kiln starts on it. scale_client.py times, on one keep-alive connection with each request
#    signed before its clock starts: BatchGetBuilds of 1 and of 100 ids, page 1 and page 500 of
#    ListBuildsForProject (scale-big) and of ListBuilds (page 500 reached by walking nextToken;
#    the 500th call itself is timed; a store with fewer pages uses its last page), and
#    scale-small's first page. SAMPLES samples each after 10 warm-up calls.
# 4. The badge of scale-big (no sourceVersion: the default-branch lookup) on a cold cache:
#    Kiln restarts before each of BADGE_SAMPLES requests.
# Prints p50 per call for both stores and the large/small ratio (goals: p50 < 2 ms for the
# single-page calls, ratio <= 1.5). Raw samples stay in $OUT.
#
# PostgreSQL: --database-url names a server and a database to connect to for administration;
# the script creates (and drops first) the databases kiln_scale_small and kiln_scale_large
# there. KILN_SERVE_ARGS adds arguments to `kiln serve` (e.g. the S3-compatible artifact store
# Kiln requires with PostgreSQL).
#
# Environment: SAMPLES (200), BADGE_SAMPLES (21), PROJECTS (10000), BUILDS (1000000),
# BIG_BUILDS (200000), SMALL_BUILDS (50), SMALL_STORE_PROJECTS (100), SMALL_STORE_BUILDS (1000),
# SMALL_STORE_BIG_BUILDS (200), KILN_BIN (default: cargo build --release), OUT.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
BACKEND=sqlite DATABASE_URL=
while [[ $# -gt 0 ]]; do
    case $1 in
        --backend) BACKEND=$2; shift 2 ;;
        --database-url) DATABASE_URL=$2; shift 2 ;;
        *) echo "usage: $0 [--backend sqlite|postgres] [--database-url URL]" >&2; exit 2 ;;
    esac
done
case $BACKEND in
    sqlite) ;;
    postgres) [[ -n $DATABASE_URL ]] || { echo "--backend postgres needs --database-url" >&2; exit 2; } ;;
    *) echo "--backend is sqlite or postgres" >&2; exit 2 ;;
esac
SAMPLES=${SAMPLES:-200}
BADGE_SAMPLES=${BADGE_SAMPLES:-21}
OUT=${OUT:-$(mktemp -d /tmp/kiln-bench-scale.XXXXXX)}
mkdir -p "$OUT"
read -r -a SERVE_ARGS <<<"${KILN_SERVE_ARGS:-}"

export AWS_ACCESS_KEY_ID=AKIDKILNBENCH0000001
export AWS_SECRET_ACCESS_KEY=kilnBenchSecret000000000000000000000000001
export AWS_DEFAULT_REGION=us-east-1
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true
export KILN_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID KILN_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY
export KILN_ACCOUNT_ID=111122223333 KILN_LOG=${KILN_LOG:-warn}

if [[ -z "${KILN_BIN:-}" ]]; then
    (cd "$ROOT" && cargo build --release -q -p kiln)
    KILN_BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/kiln
fi

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

KILN_PID=
cleanup() {
    if [[ -n $KILN_PID ]]; then kill "$KILN_PID" 2>/dev/null || true; wait "$KILN_PID" 2>/dev/null || true; fi
}
trap cleanup EXIT

KILN_PORT=$(free_port)
KILN_URL=http://127.0.0.1:$KILN_PORT
STORE= DATA= STORE_URL=
# Starts Kiln on the current store; prints the milliseconds until it listened.
start_kiln() {
    local store_args=(--data-dir "$DATA")
    [[ $BACKEND == postgres ]] && store_args+=(--database-url "$STORE_URL")
    : >"$OUT/$STORE.kiln.stdout"
    local started=$EPOCHREALTIME
    "$KILN_BIN" serve --listen "127.0.0.1:$KILN_PORT" "${store_args[@]}" "${SERVE_ARGS[@]}" \
        >"$OUT/$STORE.kiln.stdout" 2>>"$OUT/$STORE.kiln.stderr" &
    KILN_PID=$!
    for _ in $(seq 2000); do
        if grep -q '^listening on' "$OUT/$STORE.kiln.stdout"; then
            python3 -c "print(f'{($EPOCHREALTIME - $started) * 1000:.0f}')"
            return
        fi
        sleep 0.005
    done
    echo "kiln did not start" >&2; cat "$OUT/$STORE.kiln.stderr" >&2; exit 1
}
stop_kiln() { kill "$KILN_PID"; wait "$KILN_PID" || true; KILN_PID=; }
api() { aws --endpoint-url "$KILN_URL" --output json codebuild "$@"; }

# The template build's source: a local repository whose default branch is main.
REPO=$OUT/repo
rm -rf "$REPO" && git init -q -b main "$REPO"
printf 'version: 0.2\nphases:\n  build:\n    commands:\n      - echo hi\n' >"$REPO/buildspec.yml"
git -C "$REPO" add buildspec.yml
git -C "$REPO" -c user.name=bench -c user.email=bench@kiln.invalid commit -qm bench

# A fresh, empty store named $1.
fresh_store() {
    STORE=$1 DATA=$OUT/$1
    rm -rf "$DATA" && mkdir -p "$DATA"
    if [[ $BACKEND == postgres ]]; then
        psql "$DATABASE_URL" -X -q -v ON_ERROR_STOP=1 \
            -c "DROP DATABASE IF EXISTS kiln_scale_$1" -c "CREATE DATABASE kiln_scale_$1"
        STORE_URL=$(python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/kiln_scale_" + sys.argv[2])))' "$DATABASE_URL" "$1")
    fi
}

template_build() {
    start_kiln >/dev/null
    api create-project --name template --badge-enabled \
        --source "type=GITHUB,location=$REPO" --artifacts type=NO_ARTIFACTS \
        --service-role arn:aws:iam::111122223333:role/bench \
        --environment type=LINUX_CONTAINER,image=aws/codebuild/standard:7.0,computeType=BUILD_GENERAL1_SMALL >/dev/null
    local id
    id=$(api start-build --project-name template --query build.id --output text)
    python3 - "$KILN_URL" "$id" <<'EOF'
import sys, time, boto3
api = boto3.client("codebuild", endpoint_url=sys.argv[1])
deadline = time.time() + 120
while time.time() < deadline:
    build = api.batch_get_builds(ids=[sys.argv[2]])["builds"][0]
    if build["buildComplete"]:
        sys.exit(0 if build["buildStatus"] == "SUCCEEDED" else f"template build: {build['buildStatus']}")
    time.sleep(0.1)
sys.exit("the template build did not complete within 120 s")
EOF
    stop_kiln
}

seed() {
    local target=(--sqlite "$DATA/kiln.db")
    [[ $BACKEND == postgres ]] && target=(--psql "$STORE_URL")
    python3 "$HERE/scale_seed.py" "${target[@]}" "$@" >"$OUT/$STORE.seeded.json"
}

measure() {
    log "$STORE: kiln starts on the seeded store"
    start_kiln >"$OUT/$STORE.startup_ms"
    python3 "$HERE/scale_client.py" calls "$KILN_URL" "$OUT/$STORE.seeded.json" "$SAMPLES" \
        >"$OUT/$STORE.calls.json"
    stop_kiln
    log "$STORE: $BADGE_SAMPLES cold badges, one per start"
    local token
    token=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["big_badge_token"])' "$OUT/$STORE.seeded.json")
    : >"$OUT/$STORE.badge_ms"
    for _ in $(seq "$BADGE_SAMPLES"); do
        start_kiln >>"$OUT/$STORE.startup_ms"
        python3 "$HERE/scale_client.py" badge "$KILN_URL" "$token" >>"$OUT/$STORE.badge_ms"
        stop_kiln
    done
}

run_store() {
    local name=$1 projects=$2 builds=$3 big=$4
    fresh_store "$name"
    log "$name: template build"
    template_build
    log "$name: seeding $projects projects, $builds builds ($big in scale-big) [$BACKEND]"
    local started=$EPOCHREALTIME
    seed "$projects" "$builds" "$big" "${SMALL_BUILDS:-50}"
    log "$name: seeded in $(python3 -c "print(f'{$EPOCHREALTIME - $started:.0f}')") s"
    [[ $BACKEND == sqlite ]] && log "$name: kiln.db is $(du -sh "$DATA/kiln.db" | cut -f1)"
    measure
}

log "kiln $("$KILN_BIN" --version), backend $BACKEND, results in $OUT"
run_store small "${SMALL_STORE_PROJECTS:-100}" "${SMALL_STORE_BUILDS:-1000}" "${SMALL_STORE_BIG_BUILDS:-200}"
run_store large "${PROJECTS:-10000}" "${BUILDS:-1000000}" "${BIG_BUILDS:-200000}"
python3 "$HERE/scale_summary.py" "$OUT" | tee "$OUT/summary.txt"
