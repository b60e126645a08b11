#!/usr/bin/env bash
# Cross-replica badge staleness (issue 12): two replicas on one PostgreSQL database. A driver
# changes a badge's status through replica A 100 times a second (StartBuild → IN_PROGRESS: the
# build stays queued because the account's only slot, `--max-concurrent-builds-per-account 1`,
# is held by a long build; StopBuild → FAILING) while a checker reads the badge through replica
# B every 2 ms; `badges_churn.py staleness` reports how long after each change's
# acknowledgement B first showed it (p50/p99). Goal: p99 < 100 ms.
#
# Usage: bench/badges_replicas.sh     Env: DURATION (10), KILN_BIN (default: cargo --release)
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
DURATION=${DURATION:-10}
OUT=$(mktemp -d /tmp/kiln-bench-badge-replicas.XXXXXX)
chmod 755 "$OUT"

if [[ -z "${KILN_BIN:-}" ]]; then
    (cd "$ROOT" && cargo build --release -q -p kiln)
    KILN_BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/kiln
fi

export AWS_ACCESS_KEY_ID=AKIDKILNBENCH0000001
export AWS_SECRET_ACCESS_KEY=kilnBenchSecret000000000000000000000001
export AWS_DEFAULT_REGION=us-east-1
export KILN_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID KILN_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY
export KILN_ACCOUNT_ID=111122223333 KILN_LOG=${KILN_LOG:-warn}

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
psql "$KILN_TEST_POSTGRES_URL" -qc "CREATE DATABASE bench_badges"
DATABASE=${KILN_TEST_POSTGRES_URL%/*}/bench_badges

start_replica() {
    local name=$1 dir=$OUT/$1
    mkdir -p "$dir"
    mkfifo "$dir/ready"
    "$KILN_BIN" serve --listen 127.0.0.1:0 --data-dir "$dir/data" --instance "$name" \
        --database-url "$DATABASE" --allow-local-artifacts \
        --max-concurrent-builds-per-account 1 > "$dir/ready" 2> "$dir/kiln.log" &
    echo $! >> "$PIDS"
    local line
    read -r line < "$dir/ready"
    echo "${line#listening on }"
}
A=$(start_replica a)
B=$(start_replica b)

git init -q -b main "$OUT/repo"
printf 'version: 0.2\nphases:\n  build:\n    commands:\n      - echo hi\n' > "$OUT/repo/buildspec.yml"
git -C "$OUT/repo" add buildspec.yml
git -C "$OUT/repo" -c user.name=bench -c user.email=bench@kiln.invalid commit -qm bench

BADGE=$(python3 - "$A" "$OUT/repo" <<'PY'
import sys, time
import boto3
url, repo = sys.argv[1], sys.argv[2]
api = boto3.client("codebuild", endpoint_url=url)
base = {"artifacts": {"type": "NO_ARTIFACTS"},
        "environment": {"type": "LINUX_CONTAINER", "image": "aws/codebuild/standard:7.0",
                        "computeType": "BUILD_GENERAL1_SMALL"},
        "serviceRole": "arn:aws:iam::111122223333:role/bench"}
api.create_project(name="holder", source={"type": "NO_SOURCE", "buildspec":
    "version: 0.2\nphases:\n  build:\n    commands:\n      - sleep 3600\n"}, **base)
holder = api.start_build(projectName="holder")["build"]["id"]
while api.batch_get_builds(ids=[holder])["builds"][0]["currentPhase"] in ("SUBMITTED", "QUEUED"):
    time.sleep(0.05)
project = api.create_project(name="badged", badgeEnabled=True,
                             source={"type": "GITHUB", "location": repo}, **base)["project"]
print(project["badge"]["badgeRequestUrl"])
PY
)
BADGE_B="$B/badges?${BADGE#*\?}&branch=main"
echo "driving through $A, reading $BADGE_B"
python3 "$HERE/badges_churn.py" check "$BADGE_B" 0.002 $((DURATION + 2)) "$OUT/check.json" &
CHECKER=$!
python3 "$HERE/badges_churn.py" drive "$A" badged main 0.01 "$DURATION" "$OUT/drive.json"
wait "$CHECKER"
python3 "$HERE/badges_churn.py" staleness "$OUT/drive.json" "$OUT/check.json"
