#!/usr/bin/env bash
# API latency with a year of history stored (issue 12): 10,000 projects and 1,000,000 builds (one
# project with 200,000), against the same calls on a store of 1,000 builds.
#
#   bench/scale.sh [--backend sqlite|postgres] [--database-url postgres://USER@HOST:PORT/DB]
#
# Steps 1-2 for each store (small, then large), 3-4 on both:
# 1. A release `kiln serve` on a fresh store runs one real build through the API (a project
#    without sourceVersion, so the build checks out the default branch); Kiln stops.
# 2. scale_seed.py copies those two rows into PROJECTS projects and BUILDS builds (`scale-big`
#    with BIG_BUILDS, `scale-small` with SMALL_BUILDS, the rest round-robin) straight into the
#    store: SQLite's kiln.db, or PostgreSQL through psql \copy.
# 3. One Kiln starts on each store, side by side. scale_client.py times, on one keep-alive
#    connection per Kiln with each request signed before its clock starts: BatchGetBuilds of 1
#    and of 100 ids, page 1 and page 500 of ListBuildsForProject (scale-big) and of ListBuilds
#    (page 500 reached by walking nextToken; the 500th call itself is timed; a store with fewer
#    pages uses its last full page), and scale-small's first page. 10 warm-up rounds, then
#    SAMPLES rounds; each round makes every call once on each store in turn, so load from
#    elsewhere on the machine weighs on both stores alike.
# 4. The badge of scale-big (no sourceVersion: the default-branch lookup) on a cold cache: for
#    each of BADGE_SAMPLES samples Kiln starts, serves scale-small's badge (warming the process,
#    not scale-big's cache entry), then scale-big's, which is timed.
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
# SMALL_STORE_BIG_BUILDS (200), KILN_BIN (default: cargo build --release), OUT, REUSE (set: measure
# the stores an earlier run seeded in $OUT again, without seeding).
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

declare -A KILN_PID=() KILN_URL=()
cleanup() {
    for pid in "${KILN_PID[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT

# The data dir (SQLite) and database URL (PostgreSQL) of store $1.
data_dir() { echo "$OUT/$1"; }
store_url() {
    python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/kiln_scale_" + sys.argv[2])))' "$DATABASE_URL" "$1"
}

# Starts Kiln on store $1; appends the milliseconds until it listened to $OUT/$1.startup_ms.
start_kiln() {
    local store=$1 port
    port=$(free_port)
    local store_args=(--data-dir "$(data_dir "$store")")
    [[ $BACKEND == postgres ]] && store_args+=(--database-url "$(store_url "$store")")
    : >"$OUT/$store.kiln.stdout"
    local started=$EPOCHREALTIME
    "$KILN_BIN" serve --listen "127.0.0.1:$port" "${store_args[@]}" "${SERVE_ARGS[@]}" \
        >"$OUT/$store.kiln.stdout" 2>>"$OUT/$store.kiln.stderr" &
    KILN_PID[$store]=$!
    KILN_URL[$store]=http://127.0.0.1:$port
    for _ in $(seq 2000); do
        if grep -q '^listening on' "$OUT/$store.kiln.stdout"; then
            python3 -c "print(f'{($EPOCHREALTIME - $started) * 1000:.0f}')" >>"$OUT/$store.startup_ms"
            return
        fi
        sleep 0.005
    done
    echo "kiln did not start on $store" >&2; cat "$OUT/$store.kiln.stderr" >&2; exit 1
}
stop_kiln() { kill "${KILN_PID[$1]}"; wait "${KILN_PID[$1]}" || true; unset "KILN_PID[$1]"; }
api() { aws --endpoint-url "${KILN_URL[$1]}" --output json codebuild "${@:2}"; }

# The template build's source: a local repository whose default branch is main.
REPO=$OUT/repo
rm -rf "$REPO" && git init -q -b main "$REPO"
printf 'version: 0.2\nphases:\n  build:\n    commands:\n      - echo hi\n' >"$REPO/buildspec.yml"
git -C "$REPO" add buildspec.yml
git -C "$REPO" -c user.name=bench -c user.email=bench@kiln.invalid commit -qm bench

# Store $1, fresh and empty, with one project and one real build made through the API.
template_build() {
    local store=$1
    rm -rf "$(data_dir "$store")" "$OUT/$store".* && mkdir -p "$(data_dir "$store")"
    if [[ $BACKEND == postgres ]]; then
        psql "$DATABASE_URL" -X -q -v ON_ERROR_STOP=1 \
            -c "DROP DATABASE IF EXISTS kiln_scale_$store" -c "CREATE DATABASE kiln_scale_$store"
    fi
    start_kiln "$store"
    api "$store" create-project --name template --badge-enabled \
        --source "type=GITHUB,location=$REPO" --artifacts type=NO_ARTIFACTS \
        --service-role arn:aws:iam::111122223333:role/bench \
        --environment type=LINUX_CONTAINER,image=aws/codebuild/standard:7.0,computeType=BUILD_GENERAL1_SMALL >/dev/null
    local id
    id=$(api "$store" start-build --project-name template --query build.id --output text)
    python3 - "${KILN_URL[$store]}" "$id" <<'EOF'
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
    stop_kiln "$store"
}

# Seeds store $1 with $2 projects and $3 builds, $4 of them scale-big's.
seed_store() {
    local store=$1
    if [[ -n ${REUSE:-} && -s $OUT/$store.seeded.json ]]; then
        log "$store: seeded before (REUSE)"
        return
    fi
    log "$store: template build"
    template_build "$store"
    log "$store: seeding $2 projects, $3 builds ($4 in scale-big) [$BACKEND]"
    local target=(--sqlite "$(data_dir "$store")/kiln.db") started=$EPOCHREALTIME
    [[ $BACKEND == postgres ]] && target=(--psql "$(store_url "$store")")
    python3 "$HERE/scale_seed.py" "${target[@]}" "$2" "$3" "$4" "${SMALL_BUILDS:-50}" \
        >"$OUT/$store.seeded.json"
    log "$store: seeded in $(python3 -c "print(f'{$EPOCHREALTIME - $started:.0f}')") s"
    if [[ $BACKEND == sqlite ]]; then
        log "$store: kiln.db is $(du -sh "$(data_dir "$store")/kiln.db" | cut -f1)"
    fi
}

badge_tokens() {
    python3 -c 'import json, sys; t = json.load(open(sys.argv[1]))["badge_tokens"]; print(t["scale-small"], t["scale-big"])' "$OUT/$1.seeded.json"
}

log "kiln $("$KILN_BIN" --version), backend $BACKEND, results in $OUT"
seed_store small "${SMALL_STORE_PROJECTS:-100}" "${SMALL_STORE_BUILDS:-1000}" "${SMALL_STORE_BIG_BUILDS:-200}"
seed_store large "${PROJECTS:-10000}" "${BUILDS:-1000000}" "${BIG_BUILDS:-200000}"
rm -f "$OUT"/{small,large}.{startup_ms,badge_ms}

log "both stores: API calls, $SAMPLES rounds"
start_kiln small
start_kiln large
python3 "$HERE/scale_client.py" calls "${KILN_URL[small]}" "$OUT/small.seeded.json" \
    "${KILN_URL[large]}" "$OUT/large.seeded.json" "$SAMPLES" >"$OUT/calls.json"
stop_kiln small
stop_kiln large

log "both stores: $BADGE_SAMPLES cold badges, each on a Kiln just started"
for _ in $(seq "$BADGE_SAMPLES"); do
    for store in small large; do
        start_kiln "$store"
        # shellcheck disable=SC2046 # two tokens
        python3 "$HERE/scale_client.py" badge "${KILN_URL[$store]}" $(badge_tokens "$store") \
            >>"$OUT/$store.badge_ms"
        stop_kiln "$store"
    done
done
python3 "$HERE/scale_summary.py" "$OUT" | tee "$OUT/summary.txt"
