#!/usr/bin/env bash
# Project cache benchmark (docs/cache.md): a release `kiln serve` (local executor) runs a
# project whose LOCAL_CUSTOM_CACHE holds 200 MB (base64 of random bytes: compressible as text,
# not as a repeated byte). Each run pair is
#   cold: InvalidateProjectCache, then a build that misses, makes the 200 MB in BUILD
#         (`head -c … /dev/urandom | base64`) and saves the cache;
#   warm: a build that restores the 200 MB, skips making them, and saves again.
# Printed per run and as medians: the client's wall time (StartBuild→buildComplete) and the
# DOWNLOAD_SOURCE (restore), BUILD and UPLOAD_ARTIFACTS (save) phases; then warm / cold.
#
# Usage: bench/cache.sh [RUNS]      (RUNS >= 3, default 3)
# Env:   CARGO_TARGET_DIR (default ./target), KILN_BIN (skip the build, use this binary),
#        BENCH_BYTES (default 200000000)
set -euo pipefail

RUNS=${1:-3}
if [ "$RUNS" -lt 3 ]; then
  echo "RUNS must be at least 3" >&2
  exit 2
fi
BYTES=${BENCH_BYTES:-200000000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)

if [ -z "${KILN_BIN:-}" ]; then
  (cd "$ROOT" && cargo build --release -q -p kiln)
  KILN_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/kiln"
fi

WORK=$(mktemp -d /tmp/kiln-bench-cache.XXXXXX)
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

git init -q -b main "$WORK/repo"
RAW=$((BYTES / 4 * 3))
cat > "$WORK/repo/buildspec.yml" <<YAML
version: 0.2
phases:
  build:
    commands:
      - if [ -f deps/blob ]; then echo "deps restored"; else mkdir -p deps && head -c $RAW /dev/urandom | base64 -w 100 > deps/blob; fi
      - ls -l deps/blob
cache:
  paths:
    - deps/**/*
YAML
git -C "$WORK/repo" add buildspec.yml
git -C "$WORK/repo" -c user.name=bench -c user.email=bench@kiln.invalid commit -qm bench

mkfifo "$WORK/ready"
"$KILN_BIN" serve --listen 127.0.0.1:0 --data-dir "$WORK/data" --max-concurrent-builds 1 \
  > "$WORK/ready" 2> "$WORK/kiln.log" &
KILN_PID=$!
if ! read -r line < "$WORK/ready"; then
  echo "kiln did not start:" >&2
  cat "$WORK/kiln.log" >&2
  exit 1
fi
URL=${line#listening on }
echo "kiln $("$KILN_BIN" --version) at $URL; $RUNS cold and $RUNS warm builds; $(nproc) cores"

python3 - "$URL" "$WORK" "$RUNS" <<'PY'
import statistics
import sys
import time

import boto3
from botocore.config import Config

url, work, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
client = boto3.client(
    "codebuild", endpoint_url=url, region_name="us-east-1",
    aws_access_key_id="AKIDKILNBENCH0000001",
    aws_secret_access_key="kilnBenchSecret000000000000000000000001",
    config=Config(retries={"max_attempts": 1}),
)
client.create_project(
    name="cached",
    source={"type": "GITHUB", "location": f"{work}/repo"},
    artifacts={"type": "NO_ARTIFACTS"},
    environment={"type": "LINUX_CONTAINER", "image": "aws/codebuild/standard:7.0",
                 "computeType": "BUILD_GENERAL1_SMALL"},
    serviceRole="arn:aws:iam::111122223333:role/bench",
    cache={"type": "LOCAL", "modes": ["LOCAL_CUSTOM_CACHE"]},
)
PHASES = ("DOWNLOAD_SOURCE", "BUILD", "UPLOAD_ARTIFACTS")


def build(expect):
    t0 = time.perf_counter()
    b = client.start_build(projectName="cached")["build"]
    while not b["buildComplete"]:
        time.sleep(0.01)
        b = client.batch_get_builds(ids=[b["id"]])["builds"][0]
    wall = time.perf_counter() - t0
    assert b["buildStatus"] == "SUCCEEDED", b
    uuid = b["id"].split(":", 1)[1]
    log = open(f"{work}/data/logs/{uuid}.log").read()
    assert expect in log, log
    phases = {p["phaseType"]: (p["endTime"] - p["startTime"]).total_seconds() for p in b["phases"]
              if p["phaseType"] in PHASES}
    client.batch_delete_builds(ids=[b["id"]])
    return [wall] + [phases.get(p, 0) for p in PHASES]


cold, warm = [], []
for _ in range(runs):
    client.invalidate_project_cache(projectName="cached")
    cold.append(build("Cache miss"))
    warm.append(build("Cache restored"))

columns = ("wall", "restore (DOWNLOAD_SOURCE)", "BUILD", "save (UPLOAD_ARTIFACTS)")
for name, rows in (("cold", cold), ("warm", warm)):
    print(f"\n{name} builds [s]:")
    for i, column in enumerate(columns):
        values = [r[i] for r in rows]
        print(f"  {column:27} {' '.join(f'{v:6.2f}' for v in values)}   median {statistics.median(values):6.2f}")
m_cold = statistics.median(r[0] for r in cold)
m_warm = statistics.median(r[0] for r in warm)
print(f"\nwarm / cold (median client wall): {m_warm:.2f} s / {m_cold:.2f} s = {m_warm / m_cold:.2f}x")
PY
