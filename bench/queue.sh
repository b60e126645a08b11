#!/usr/bin/env bash
# Queue benchmark (issue 12): queues 1,000 trivial NO_SOURCE builds and drains them, with
#   (a) one replica on SQLite, (b) one replica on PostgreSQL, (c) three replicas on PostgreSQL.
# Each build appends its id to a shared file; the driver (queue_drain.py) asserts every build
# succeeded and ran exactly once, and reports builds/s and the queue wait. Claim latency (one
# claim_builds call, p50/p99) comes from each replica's `claimed builds` trace events.
#
# Usage: bench/queue.sh            Env: BUILDS (1000), SLOTS (builds per replica, 4),
#        KILN_BIN (default: cargo build --release), OUT (default: a fresh /tmp dir)
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
BUILDS=${BUILDS:-1000}
SLOTS=${SLOTS:-4}
OUT=${OUT:-$(mktemp -d /tmp/kiln-bench-queue.XXXXXX)}
chmod 755 "$OUT"

if [[ -z "${KILN_BIN:-}" ]]; then
    (cd "$ROOT" && cargo build --release -q -p kiln)
    KILN_BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/kiln
fi

export KILN_ACCESS_KEY_ID=AKIDKILNBENCH0000001
export KILN_SECRET_ACCESS_KEY=kilnBenchSecret000000000000000000000001
export KILN_ACCOUNT_ID=111122223333
export KILN_LOG=${KILN_LOG:-warn,kiln_scheduler=debug}

# shellcheck source=../scripts/postgres-cluster.sh
source "$ROOT/scripts/postgres-cluster.sh"
# Replicas start inside command substitutions (subshells): their pids go to a file.
PIDS=$OUT/pids
: > "$PIDS"
stop_replicas() {
    while read -r pid; do kill "$pid" 2>/dev/null || true; done < "$PIDS"
    : > "$PIDS"
    wait 2>/dev/null || true
}
cleanup() {
    stop_replicas
    postgres_cluster_stop
}
trap cleanup EXIT
postgres_cluster_start

# Starts a replica; prints its URL. $1: name, $2: database URL or "" for SQLite.
start_replica() {
    local name=$1 database=$2 dir=$OUT/$1
    mkdir -p "$dir"
    local args=(serve --listen 127.0.0.1:0 --data-dir "$dir/data" --instance "$name"
                --max-concurrent-builds "$SLOTS")
    [[ -n "$database" ]] && args+=(--database-url "$database" --allow-local-artifacts)
    mkfifo "$dir/ready"
    "$KILN_BIN" "${args[@]}" > "$dir/ready" 2> "$dir/kiln.log" &
    echo $! >> "$PIDS"
    local line
    read -r line < "$dir/ready"
    echo "${line#listening on }"
}

# Claim latencies (ms) from the replicas' logs: p50 and p99.
claim_latency() {
    python3 - "$@" <<'PY'
import re, statistics, sys
ms = []
for path in sys.argv[1:]:
    for line in open(path, errors="replace"):
        line = re.sub(r"\x1b\[[0-9;]*m", "", line)  # tracing's colours
        m = re.search(r"claimed builds.*?elapsed_ms=([0-9.]+)", line)
        if m:
            ms.append(float(m.group(1)))
ms.sort()
if not ms:
    sys.exit("no `claimed builds` trace events (KILN_LOG must enable kiln_scheduler=debug)")
print(f"  claim latency p50 {statistics.median(ms):.2f} ms, "
      f"p99 {ms[min(len(ms) - 1, int(len(ms) * 0.99))]:.2f} ms ({len(ms)} claims)")
PY
}

run() {
    local label=$1 count=$2 database=$3
    echo "($label)"
    local ids=$OUT/$label.ids urls=() logs=()
    : > "$ids" && chmod 666 "$ids"
    for i in $(seq 1 "$count"); do
        urls+=("$(start_replica "$label-$i" "$database")")
        logs+=("$OUT/$label-$i/kiln.log")
    done
    python3 "$HERE/queue_drain.py" "$ids" "$BUILDS" "${urls[@]}"
    claim_latency "${logs[@]}"
    stop_replicas
}

fresh_database() {
    local name=bench_$1
    psql "$KILN_TEST_POSTGRES_URL" -qc "CREATE DATABASE $name"
    echo "${KILN_TEST_POSTGRES_URL%/*}/$name"
}

echo "kiln $("$KILN_BIN" --version); $BUILDS builds; $SLOTS slots per replica; $(nproc) cores"
run sqlite-1 1 ""
run postgres-1 1 "$(fresh_database one)"
run postgres-3 3 "$(fresh_database three)"
