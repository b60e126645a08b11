#!/usr/bin/env bash
# Agent benchmark (issue 13): builds of a compute fleet run by `kiln agent` processes on this
# machine, against the same builds run by the server itself or the command run directly:
#   (1) a trivial build (`echo hi`) on an agent against the same build run by the server's
#       local executor (a project of no fleet), timed from StartBuild to buildComplete;
#   (2) a build printing BENCH_BYTES to its log through an agent, against the same script
#       writing to a file (and, for reference, the same build run by the server);
#   (3) BUILDS trivial NO_SOURCE builds, all queued first on a `--no-local-builds` server,
#       then drained by three agents (`--max-builds 2` each); builds/s from the agents' start
#       to the last build's end. Every build must SUCCEED exactly once: BUILDS distinct ids in
#       the file the builds append to, each once, and each log with one "Running on agent" line.
# Runs of (1) and (2) alternate between the sides (the order swapped every run), so both see
# the same machine. The driver is bench/agents_bench.py.
#
# Usage: bench/agents.sh [RUNS]      (RUNS >= 5, default 9)
# Env:   CARGO_TARGET_DIR (default ./target), KILN_BIN (skip the build, use this binary),
#        BENCH_BYTES (default 200000000), BUILDS (default 1000), AGENTS (default 3),
#        AGENT_SLOTS (--max-builds of each draining agent, default 2),
#        OUT (keep the servers' and agents' logs and results there; default: a temporary
#        directory, removed unless the run failed),
#        PARTS (which of trivial, loud, drain to run, comma-separated; default all three:
#        PARTS=loud measures only (2))
set -euo pipefail

RUNS=${1:-9}
if [ "$RUNS" -lt 5 ]; then
  echo "RUNS must be at least 5" >&2
  exit 2
fi
BYTES=${BENCH_BYTES:-200000000}
BUILDS=${BUILDS:-1000}
AGENTS=${AGENTS:-3}
AGENT_SLOTS=${AGENT_SLOTS:-2}
PARTS=${PARTS:-trivial,loud,drain}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)

if [ -z "${KILN_BIN:-}" ]; then
  (cd "$ROOT" && cargo build --release -q -p kiln)
  KILN_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/kiln"
fi
KILN_BIN=$(realpath "$KILN_BIN")

KEEP=${OUT:+1}
WORK=${OUT:-$(mktemp -d /tmp/kiln-bench-agents.XXXXXX)}
mkdir -p "$WORK"
# Builds run as uids of their own when Kiln is root: they must reach the repository and the
# file the drained builds append to.
chmod 755 "$WORK"
PIDS=$WORK/pids
: > "$PIDS"
OK=
cleanup() {
  # The servers, and agents the driver left behind if it died.
  while read -r pid; do kill "$pid" 2>/dev/null || true; done < "$PIDS"
  wait 2>/dev/null || true
  if [ -z "$KEEP" ] && [ -n "$OK" ]; then
    rm -rf "$WORK"
  else
    echo "logs and results kept in $WORK" >&2
  fi
}
trap cleanup EXIT

export KILN_ACCESS_KEY_ID=AKIDKILNBENCH0000001
export KILN_SECRET_ACCESS_KEY=kilnBenchSecret000000000000000000000001
export KILN_ACCOUNT_ID=111122223333
# The loud build prints more than the default 64 MiB log limit.
export KILN_MAX_LOG_BYTES=$((BYTES + 64 * 1024 * 1024))
export NO_COLOR=1

# The source of (1) and (2): a local repository with a one-command buildspec.
git init -q -b main "$WORK/repo"
printf 'version: 0.2\nphases:\n  build:\n    commands:\n      - echo hi\n' > "$WORK/repo/buildspec.yml"
git -C "$WORK/repo" add buildspec.yml
git -C "$WORK/repo" -c user.name=bench -c user.email=bench@kiln.invalid commit -qm bench

# Starts a server; prints its URL. $1: name, the rest: extra flags of `kiln serve`.
start_server() {
  local name=$1 dir=$WORK/$1
  shift
  mkdir -p "$dir"
  mkfifo "$dir/ready"
  "$KILN_BIN" serve --listen 127.0.0.1:0 --data-dir "$dir/data" "$@" \
    > "$dir/ready" 2> "$dir/kiln.log" &
  echo $! >> "$PIDS"
  local line
  if ! read -r line < "$dir/ready"; then
    echo "kiln $name did not start:" >&2
    cat "$dir/kiln.log" >&2
    exit 1
  fi
  echo "${line#listening on }"
}

# Creates fleet "linux" on a server; prints its ARN. $1: URL, $2: base capacity.
create_fleet() {
  AWS_ACCESS_KEY_ID=$KILN_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$KILN_SECRET_ACCESS_KEY \
    AWS_DEFAULT_REGION=us-east-1 aws codebuild create-fleet --endpoint-url "$1" --name linux \
    --base-capacity "$2" --environment-type LINUX_CONTAINER --compute-type BUILD_GENERAL1_SMALL \
    --overflow-behavior QUEUE --query fleet.arn --output text
}

# A token for fleet "linux" in a server's store. $1: the server's name.
agent_token() {
  "$KILN_BIN" agent-token create --fleet linux --account "$KILN_ACCOUNT_ID" \
    --data-dir "$WORK/$1/data" 2>> "$WORK/$1/token.log"
}

echo "kiln $("$KILN_BIN" --version); $RUNS runs each; $BYTES bytes; $BUILDS builds drained by" \
  "$AGENTS agents x $AGENT_SLOTS slots; $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg)"

# (1) and (2): one server running builds itself, with one agent of its fleet.
if [[ ",$PARTS," == *,trivial,* || ",$PARTS," == *,loud,* ]]; then
  URL=$(start_server overhead --max-concurrent-builds 2)
  ARN=$(create_fleet "$URL" 1)
  TOKEN=$(agent_token overhead)
  mkdir -p "$WORK/agent-overhead"
  KILN_AGENT_TOKEN=$TOKEN KILN_LOG=info "$KILN_BIN" agent --server "$URL" --name a0 \
    --max-builds 1 --executor local --work-dir "$WORK/agent-overhead/work" \
    > /dev/null 2> "$WORK/agent-overhead/agent.log" &
  echo $! >> "$PIDS"
  python3 "$HERE/agents_bench.py" overhead "$WORK" "$URL" "$ARN" "$RUNS" "$BYTES" "$PARTS"
fi

# (3): a server that runs nothing itself; the driver queues every build, then starts the agents.
STATUS=0
if [[ ",$PARTS," == *,drain,* ]]; then
  URL=$(start_server drain --no-local-builds)
  ARN=$(create_fleet "$URL" $((AGENTS * AGENT_SLOTS)))
  TOKEN=$(agent_token drain)
  KILN_AGENT_TOKEN=$TOKEN python3 "$HERE/agents_bench.py" drain "$WORK" "$URL" "$ARN" "$BUILDS" \
    "$KILN_BIN" "$AGENTS" "$AGENT_SLOTS" || STATUS=$?
fi

python3 "$HERE/agents_bench.py" summary "$WORK"
if [ "$STATUS" -eq 0 ]; then OK=1; fi
exit "$STATUS"
