#!/usr/bin/env bash
# Benchmarks Kiln's /badges endpoint against nginx serving the same SVG bytes as a static file.
#
#   bench/badges.sh [--backend sqlite|postgres] [--database-url postgres://USER@HOST:PORT/DB]
#
# Results in $OUT (default: a fresh /tmp/kiln-bench-badges.* dir).
# 1. Seeds 10,000 badge-enabled projects with 10 built branches each (one project and build made
#    through the API as templates, the rest inserted into the stopped Kiln's store: the SQLite
#    database in its data dir, or, with --backend postgres, the database kiln_badges that the
#    script creates (dropping it first) on the server --database-url names).
#    Each build also gets a test and a coverage report (badges_seed.py).
# 2. Quiet: wrk -t2 -c64 -d10s --latency against one project's branch badge and against nginx,
#    RUNS times each, alternating; then the same for that branch's tests badge
#    (`&report=tests`) and its coverage badge (`&report=coverage`), nginx serving their bytes.
# 3. Churn: the same while a driver changes a badge's status through Kiln's API every 10 ms
#    (StartBuild → IN_PROGRESS, StopBuild → FAILING; builds stay queued behind a running one with
#    --max-concurrent-builds 1), and a checker verifies no answer of the changing badge shows a
#    status older than the last one committed before its request started. Twice: "churn" changes
#    the benchmarked badge itself; "churn-other" changes another project's badge (builds
#    finishing elsewhere) while wrk measures the benchmarked one.
#
# Environment: RUNS (3), DURATION (10s), PROJECTS (10000), BRANCHES (10), CHANGE_PERIOD (0.01),
# CHECK_INTERVAL (0.002), KILN_BIN (default: build with cargo --release), OUT.
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
RUNS=${RUNS:-3}
DURATION=${DURATION:-10s}
PROJECTS=${PROJECTS:-10000}
BRANCHES=${BRANCHES:-10}
CHANGE_PERIOD=${CHANGE_PERIOD:-0.01}
CHECK_INTERVAL=${CHECK_INTERVAL:-0.002}
OUT=${OUT:-$(mktemp -d /tmp/kiln-bench-badges.XXXXXX)}
mkdir -p "$OUT" && chmod 755 "$OUT"  # nginx workers run as nobody

export AWS_ACCESS_KEY_ID=AKIDKILNBENCH0000001
export AWS_SECRET_ACCESS_KEY=kilnBenchSecret000000000000000000000000001
export AWS_DEFAULT_REGION=us-east-1
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true
export KILN_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID KILN_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY
export KILN_ACCOUNT_ID=111122223333 KILN_LOG=${KILN_LOG:-warn}

if [[ -z "${KILN_BIN:-}" ]]; then
    (cd "$ROOT" && cargo build --release -p kiln)
    KILN_BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/kiln
fi

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

KILN_PID= NGINX_PID= DRIVER_PID= CHECKER_PID=
cleanup() {
    for pid in $CHECKER_PID $DRIVER_PID $KILN_PID $NGINX_PID; do
        kill "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
}
trap cleanup EXIT

KILN_PORT=$(free_port)
KILN_URL=http://127.0.0.1:$KILN_PORT
DATA=$OUT/data
STORE_ARGS=()
if [[ $BACKEND == postgres ]]; then
    STORE_URL=$(python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/kiln_badges")))' "$DATABASE_URL")
    # One replica: its data dir holds the artifacts, which no other replica needs to read.
    STORE_ARGS=(--database-url "$STORE_URL" --allow-local-artifacts)
fi
start_kiln() {
    "$KILN_BIN" serve --listen "127.0.0.1:$KILN_PORT" --data-dir "$DATA" "${STORE_ARGS[@]}" \
        --max-concurrent-builds 1 >"$OUT/kiln.stdout" 2>>"$OUT/kiln.stderr" &
    KILN_PID=$!
    for _ in $(seq 200); do
        grep -q '^listening on' "$OUT/kiln.stdout" 2>/dev/null && return
        sleep 0.05
    done
    echo "kiln did not start" >&2; cat "$OUT/kiln.stderr" >&2; exit 1
}
stop_kiln() { kill "$KILN_PID"; wait "$KILN_PID" || true; KILN_PID=; }
api() { aws --endpoint-url "$KILN_URL" --output json codebuild "$@"; }

# A repository for the one real build, and for the long build that holds the only build slot.
REPO=$OUT/repo
rm -rf "$REPO" && git init -q -b branch-00 "$REPO"
git -C "$REPO" -c user.name=bench -c user.email=bench@kiln.invalid commit -q --allow-empty -m bench
GATE=$OUT/release-the-long-build
BUILDSPEC='version: 0.2
phases:
  build:
    commands:
      - if [ -n "$GATE" ]; then while [ ! -e "$GATE" ]; do sleep 0.1; done; fi'
source_json() { python3 -c 'import json,sys; print(json.dumps({"type":"GITHUB","location":sys.argv[1],"buildspec":sys.argv[2]}))' "$REPO" "$BUILDSPEC"; }
create_project() {
    api create-project --name "$1" --badge-enabled --source "$(source_json)" --source-version branch-00 \
        --artifacts type=NO_ARTIFACTS --service-role arn:aws:iam::111122223333:role/bench \
        --environment type=LINUX_CONTAINER,image=aws/codebuild/standard:7.0,computeType=BUILD_GENERAL1_SMALL >/dev/null
}
wait_build() {
    python3 - "$KILN_URL" "$1" "$2" <<'EOF'
import sys, time, boto3
api = boto3.client("codebuild", endpoint_url=sys.argv[1])
deadline = time.time() + 120
while time.time() < deadline:
    build = api.batch_get_builds(ids=[sys.argv[2]])["builds"][0]
    if build["currentPhase"] == sys.argv[3]:
        sys.exit(0)
    time.sleep(0.1)
sys.exit(f"build {sys.argv[2]} never reached {sys.argv[3]}: {build['currentPhase']}")
EOF
}

log "seeding $PROJECTS projects × $BRANCHES branches [$BACKEND]"
rm -rf "$DATA"
SEED_TARGET=(--sqlite "$DATA/kiln.db")
if [[ $BACKEND == postgres ]]; then
    psql "$DATABASE_URL" -X -q -v ON_ERROR_STOP=1 \
        -c "DROP DATABASE IF EXISTS kiln_badges" -c "CREATE DATABASE kiln_badges"
    SEED_TARGET=(--psql "$STORE_URL")
fi
start_kiln
create_project template
wait_build "$(api start-build --project-name template --query build.id --output text)" COMPLETED
stop_kiln
python3 "$HERE/badges_seed.py" "${SEED_TARGET[@]}" "$PROJECTS" "$BRANCHES" >"$OUT/seeded.json"
start_kiln
create_project holder

# The benchmarked badge: a project in the middle, on a branch whose last build passed.
# sample N FIELD: the name (0) or badge token (1) of the Nth sample project the seeder listed
# (every 1000th), from the middle one (N=0) on.
sample() { python3 -c 'import json,sys; t=sorted(json.load(open(sys.argv[1]))["tokens"].items()); print(t[len(t)//2 + int(sys.argv[2])][int(sys.argv[3])])' "$OUT/seeded.json" "$1" "$2"; }
TOKEN=$(sample 0 1)
PROJECT=$(sample 0 0)
BRANCH=branch-07
BADGE="$KILN_URL/badges?uuid=$TOKEN&branch=$BRANCH"
# The project whose builds keep finishing in the churn-other phase.
OTHER_PROJECT=$(sample 1 0)
OTHER_BADGE="$KILN_URL/badges?uuid=$(sample 1 1)&branch=$BRANCH"
curl -sf "$BADGE" >"$OUT/badge.svg"
INITIAL=$(grep -o 'aria-label="[^"]*"' "$OUT/badge.svg" | sed 's/.*: //; s/"$//')
log "benchmarked badge: $PROJECT $BRANCH ($INITIAL), $(wc -c <"$OUT/badge.svg") bytes"
# The same branch's report badges.
declare -A REPORT_BADGE=([tests]="$BADGE&report=tests" [coverage]="$BADGE&report=coverage")
for kind in tests coverage; do
    curl -sf "${REPORT_BADGE[$kind]}" >"$OUT/$kind.svg"
    log "$kind badge: $(grep -o 'aria-label="[^"]*"' "$OUT/$kind.svg"), $(wc -c <"$OUT/$kind.svg") bytes"
done

NGINX_PORT=$(free_port)
mkdir -p "$OUT/nginx/html"
cp "$OUT/badge.svg" "$OUT/tests.svg" "$OUT/coverage.svg" "$OUT/nginx/html/"
cat >"$OUT/nginx/nginx.conf" <<EOF
worker_processes auto;
pid $OUT/nginx/nginx.pid;
error_log $OUT/nginx/error.log warn;
daemon off;
events { worker_connections 1024; }
http {
    access_log off;
    types { image/svg+xml svg; }
    client_body_temp_path $OUT/nginx/tmp; proxy_temp_path $OUT/nginx/tmp;
    fastcgi_temp_path $OUT/nginx/tmp; uwsgi_temp_path $OUT/nginx/tmp; scgi_temp_path $OUT/nginx/tmp;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        root $OUT/nginx/html;
        add_header Cache-Control "no-cache, max-age=0";
    }
}
EOF
mkdir -p "$OUT/nginx/tmp"
nginx -c "$OUT/nginx/nginx.conf" -e "$OUT/nginx/error.log" &
NGINX_PID=$!
NGINX_URL=http://127.0.0.1:$NGINX_PORT/badge.svg
for _ in $(seq 100); do curl -sf "$NGINX_URL" >/dev/null && break; sleep 0.05; done
cmp "$OUT/badge.svg" <(curl -sf "$NGINX_URL")
cmp "$OUT/badge.svg" <(curl -sf "$BADGE")
for kind in tests coverage; do
    cmp "$OUT/$kind.svg" <(curl -sf "http://127.0.0.1:$NGINX_PORT/$kind.svg")
    cmp "$OUT/$kind.svg" <(curl -sf "${REPORT_BADGE[$kind]}")
done

bench_round() { # phase [kind]: the build badge, or the report badge of that kind
    local phase=$1 kind=${2:-} args=()
    for run in $(seq "$RUNS"); do
        for target in kiln nginx; do
            local url=$BADGE
            [[ -n $kind ]] && url=${REPORT_BADGE[$kind]}
            [[ $target == nginx ]] && url=http://127.0.0.1:$NGINX_PORT/${kind:-badge}.svg
            wrk -t2 -c64 -d"$DURATION" --latency "$url" >"$OUT/wrk-$phase-$target-$run.txt"
            log "$phase $target run $run: $(grep -E 'Requests/sec' "$OUT/wrk-$phase-$target-$run.txt")"
            args+=("$target=$OUT/wrk-$phase-$target-$run.txt")
        done
    done
    python3 "$HERE/wrk_summary.py" "${args[@]}" >"$OUT/summary-$phase.json"
}

log "quiet phase: $RUNS runs of $DURATION each, alternating"
bench_round quiet
bench_round quiet-tests tests
bench_round quiet-coverage coverage

LONG=$(api start-build --project-name holder --query build.id --output text \
    --environment-variables-override "name=GATE,value=$GATE")
wait_build "$LONG" BUILD
SECONDS_PER_RUN=${DURATION%s}
CHURN_SECONDS=$((RUNS * 2 * (SECONDS_PER_RUN + 1) + 2))
VERIFIED=0
churn_round() { # phase project badge-url
    local phase=$1 project=$2 url=$3 initial
    initial=$(curl -sf "$url" | grep -o 'aria-label="[^"]*"' | sed 's/.*: //; s/"$//')
    log "$phase phase: one status change of $project's $BRANCH badge every ${CHANGE_PERIOD}s through the API"
    python3 "$HERE/badges_churn.py" drive "$KILN_URL" "$project" "$BRANCH" "$CHANGE_PERIOD" "$CHURN_SECONDS" "$OUT/changes-$phase.json" &
    DRIVER_PID=$!
    python3 "$HERE/badges_churn.py" check "$url" "$CHECK_INTERVAL" "$CHURN_SECONDS" "$OUT/answers-$phase.json" &
    CHECKER_PID=$!
    sleep 1
    bench_round "$phase"
    wait "$DRIVER_PID"; DRIVER_PID=
    wait "$CHECKER_PID"; CHECKER_PID=
    python3 "$HERE/badges_churn.py" verify "$initial" "$OUT/changes-$phase.json" "$OUT/answers-$phase.json" \
        >"$OUT/verify-$phase.json" || VERIFIED=1
}
# Other projects first: the benchmarked badge still shows the bytes nginx serves.
churn_round churn-other "$OTHER_PROJECT" "$OTHER_BADGE"
churn_round churn "$PROJECT" "$BADGE"
touch "$GATE"

python3 - "$OUT" <<'EOF'
import json, sys
out = sys.argv[1]
for phase in ("quiet", "quiet-tests", "quiet-coverage", "churn-other", "churn"):
    s = json.load(open(f"{out}/summary-{phase}.json"))
    k, n = s["kiln"], s["nginx"]
    print(f"{phase:14}  kiln {k['median_rps']:>9.0f} req/s p99 {k['median_p99_ms']:.2f} ms | "
          f"nginx {n['median_rps']:>9.0f} req/s p99 {n['median_p99_ms']:.2f} ms | "
          f"kiln/nginx {k['median_rps'] / n['median_rps']:.2f}x")
    for name in ("kiln", "nginx"):
        runs = ", ".join(f"{r['rps']:.0f}/{r['p99_ms']:.2f}ms" for r in s[name]["runs"])
        bad = sum(r["non_2xx"] + r["errors"] for r in s[name]["runs"])
        print(f"                {name} runs (req/s / p99): {runs}; non-2xx or errors: {bad}")
for phase in ("churn-other", "churn"):
    print(f"{phase} check:", open(f"{out}/verify-{phase}.json").read().strip())
EOF
log "raw outputs in $OUT"
exit "$VERIFIED"
