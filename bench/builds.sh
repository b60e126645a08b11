#!/usr/bin/env bash
# Build overhead benchmark (issue 3): a release `kiln serve` runs
#   (1) a trivial build (`echo hi`), timed from StartBuild to buildComplete, against
#       `sh -c 'echo hi'` run directly;
#   (2) a build printing 200 MB to its log, against the same script writing to a file.
# Runs alternate between Kiln and the direct command, so both see the same machine.
#
# Usage: bench/builds.sh [RUNS]      (RUNS >= 5, default 9)
# Env:   CARGO_TARGET_DIR (default ./target), KILN_BIN (skip the build, use this binary),
#        BENCH_BYTES (default 200000000),
#        BENCH_LOG: what the loud build prints: `repeated` (default: one character, repeated,
#        which compresses to almost nothing) or `random` (base64 lines of random bytes, made
#        once before the runs and printed with `cat`: the log compression cannot shrink)
set -euo pipefail

RUNS=${1:-9}
if [ "$RUNS" -lt 5 ]; then
  echo "RUNS must be at least 5" >&2
  exit 2
fi
BYTES=${BENCH_BYTES:-200000000}
LOG_KIND=${BENCH_LOG:-repeated}
case $LOG_KIND in
  repeated | random) ;;
  *) echo "BENCH_LOG is repeated or random" >&2; exit 2 ;;
esac
ROOT=$(cd "$(dirname "$0")/.." && pwd)

if [ -z "${KILN_BIN:-}" ]; then
  (cd "$ROOT" && cargo build --release -q -p kiln)
  KILN_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/kiln"
fi

WORK=$(mktemp -d /tmp/kiln-bench.XXXXXX)
# Local builds run as uids of their own when Kiln is root: they must reach the repository.
chmod 755 "$WORK"
KILN_PID=
cleanup() {
  if [ -n "$KILN_PID" ]; then kill "$KILN_PID" 2>/dev/null || true; wait "$KILN_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

export KILN_ACCESS_KEY_ID=AKIDKILNBENCH0000001
export KILN_SECRET_ACCESS_KEY=kilnBenchSecret000000000000000000000001
export KILN_ACCOUNT_ID=111122223333
# The loud build prints more than the default 64 MiB log limit.
export KILN_MAX_LOG_BYTES=$((BYTES + 64 * 1024 * 1024))

# The source: a local repository with a one-command buildspec.
git init -q -b main "$WORK/repo"
printf 'version: 0.2\nphases:\n  build:\n    commands:\n      - echo hi\n' > "$WORK/repo/buildspec.yml"
git -C "$WORK/repo" add buildspec.yml
git -C "$WORK/repo" -c user.name=bench -c user.email=bench@kiln.invalid commit -qm bench

mkfifo "$WORK/ready"
"$KILN_BIN" serve --listen 127.0.0.1:0 --data-dir "$WORK/data" --max-concurrent-builds 2 \
  > "$WORK/ready" 2> "$WORK/kiln.log" &
KILN_PID=$!
if ! read -r line < "$WORK/ready"; then
  echo "kiln did not start:" >&2
  cat "$WORK/kiln.log" >&2
  exit 1
fi
URL=${line#listening on }
echo "kiln $("$KILN_BIN" --version) at $URL; $RUNS runs each; $(nproc) cores"

if [ "$LOG_KIND" = random ]; then
  head -c $((BYTES / 4 * 3 + 300)) /dev/urandom | base64 -w 100 > "$WORK/random.log"
  truncate -s "$BYTES" "$WORK/random.log"
  chmod 644 "$WORK/random.log"
fi

python3 - "$URL" "$WORK" "$RUNS" "$BYTES" "$LOG_KIND" <<'PY'
import statistics
import subprocess
import sys
import time

import boto3
from botocore.config import Config

url, work, runs, size, kind = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
client = boto3.client(
    "codebuild", endpoint_url=url, region_name="us-east-1",
    aws_access_key_id="AKIDKILNBENCH0000001",
    aws_secret_access_key="kilnBenchSecret000000000000000000000001",
    config=Config(retries={"max_attempts": 1}),
)
big = f"head -c {size} /dev/zero | tr '\\0' 'a'" if kind == "repeated" else f"cat {work}/random.log"
base = {
    "source": {"type": "GITHUB", "location": f"{work}/repo"},
    "artifacts": {"type": "NO_ARTIFACTS"},
    "environment": {"type": "LINUX_CONTAINER", "image": "aws/codebuild/standard:7.0",
                    "computeType": "BUILD_GENERAL1_SMALL"},
    "serviceRole": "arn:aws:iam::111122223333:role/bench",
}
client.create_project(name="trivial", **base)
client.create_project(
    name="loud", **{**base, "source": {**base["source"], "buildspec":
        "version: 0.2\nphases:\n  build:\n    commands:\n      - " + big + "\n"}})


def build(project):
    """Client wall time from StartBuild to buildComplete, the build's own startTime→endTime,
    and its BUILD phase."""
    t0 = time.perf_counter()
    b = client.start_build(projectName=project)["build"]
    while not b["buildComplete"]:
        time.sleep(0.002)
        b = client.batch_get_builds(ids=[b["id"]])["builds"][0]
    wall = time.perf_counter() - t0
    assert b["buildStatus"] == "SUCCEEDED", b
    phase = next(p for p in b["phases"] if p["phaseType"] == "BUILD")
    server = (b["endTime"] - b["startTime"]).total_seconds()
    in_phase = (phase["endTime"] - phase["startTime"]).total_seconds()
    client.batch_delete_builds(ids=[b["id"]])  # drops the log too
    return wall, server, in_phase


def direct(script, fresh_file=None):
    if fresh_file:  # as the build's log, the output goes to a new file
        subprocess.run(["rm", "-f", fresh_file], check=True)
    t0 = time.perf_counter()
    subprocess.run(["sh", "-c", script], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def ms(xs):
    return " ".join(f"{x * 1000:.0f}" for x in xs)


build("trivial")  # warm-up: page cache, SQLite, first process spawns
direct("echo hi")

trivial, direct_hi = [], []
for _ in range(runs):
    trivial.append(build("trivial"))
    direct_hi.append(direct("echo hi"))
walls, servers, _ = zip(*trivial)
print("\n(1) trivial build vs sh -c 'echo hi'  [ms]")
print(f"  kiln client wall (StartBuild→buildComplete): {ms(walls)}")
print(f"  kiln startTime→endTime:                      {ms(servers)}")
print(f"  sh -c 'echo hi':                             {ms(direct_hi)}")
m_wall, m_server, m_direct = (statistics.median(x) for x in (walls, servers, direct_hi))
print(f"  medians: client {m_wall * 1000:.0f} ms, server {m_server * 1000:.0f} ms, "
      f"direct {m_direct * 1000:.1f} ms")
print(f"  overhead (median client wall - median direct): {(m_wall - m_direct) * 1000:.0f} ms "
      f"(target < 150 ms)")

out_file = f"{work}/out"
loud, direct_big = [], []
for _ in range(runs):
    loud.append(build("loud"))
    direct_big.append(direct(f"{big} > {out_file}", fresh_file=out_file))
walls, servers, phases = zip(*loud)
print(f"\n(2) build printing {size} bytes ({kind}) vs sh -c '… > file'  [ms]")
print(f"  kiln client wall:  {ms(walls)}")
print(f"  kiln BUILD phase:  {ms(phases)}")
print(f"  sh -c '… > file':  {ms(direct_big)}")
m_wall, m_phase, m_direct = (statistics.median(x) for x in (walls, phases, direct_big))
print(f"  medians: client {m_wall * 1000:.0f} ms, BUILD phase {m_phase * 1000:.0f} ms, "
      f"direct {m_direct * 1000:.0f} ms")
print(f"  ratio whole build / direct: {m_wall / m_direct:.2f}x; "
      f"BUILD phase / direct: {m_phase / m_direct:.2f}x (target <= 1.3x)")
PY
