#!/usr/bin/env bash
# Docker executor overhead benchmark (issue 6): two release `kiln serve`, one with
# `--executor local` and one with `--executor docker`, run the same trivial build (one
# `echo hi` command), timed from StartBuild to buildComplete. Builds alternate between the two
# servers, so both see the same machine. The image is `kiln-test-busybox:latest`, imported
# here from Debian's static busybox when the engine lacks it (the engine cannot pull).
#
# Usage: bench/docker.sh [RUNS]      (RUNS >= 5, default 9)
# Env:   CARGO_TARGET_DIR (default ./target), KILN_BIN (skip the build, use this binary)
set -euo pipefail

RUNS=${1:-9}
if [ "$RUNS" -lt 5 ]; then
  echo "RUNS must be at least 5" >&2
  exit 2
fi
ROOT=$(cd "$(dirname "$0")/.." && pwd)
IMAGE=kiln-test-busybox:latest

if ! docker info > /dev/null 2>&1; then
  echo "docker info failed: this benchmark needs a Docker Engine" >&2
  exit 1
fi

if [ -z "${KILN_BIN:-}" ]; then
  (cd "$ROOT" && cargo build --release -q -p kiln)
  KILN_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/kiln"
fi

WORK=$(mktemp -d /tmp/kiln-bench-docker.XXXXXX)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

# The image: a root file system of static busybox and its applet links.
if ! docker image inspect "$IMAGE" > /dev/null 2>&1; then
  mkdir -p "$WORK/rootfs/bin" "$WORK/rootfs/etc" "$WORK/rootfs/tmp" "$WORK/rootfs/root"
  cp /bin/busybox "$WORK/rootfs/bin/busybox"
  for applet in $(/bin/busybox --list); do
    [ "$applet" = busybox ] || ln -s busybox "$WORK/rootfs/bin/$applet"
  done
  echo "kiln busybox" > "$WORK/rootfs/etc/kiln-test-image"
  tar -C "$WORK/rootfs" -cf - . | docker import - "$IMAGE" > /dev/null
fi

export KILN_ACCESS_KEY_ID=AKIDKILNBENCH0000001
export KILN_SECRET_ACCESS_KEY=kilnBenchSecret000000000000000000000001
export KILN_ACCOUNT_ID=111122223333

# The source: a local repository with a one-command buildspec busybox can run.
git init -q -b main "$WORK/repo"
printf 'version: 0.2\nenv:\n  shell: sh\nphases:\n  build:\n    commands:\n      - echo hi\n' \
  > "$WORK/repo/buildspec.yml"
git -C "$WORK/repo" add buildspec.yml
git -C "$WORK/repo" -c user.name=bench -c user.email=bench@kiln.invalid commit -qm bench

# start_kiln EXECUTOR: starts a server and sets URL to its address.
start_kiln() {
  local executor=$1
  # Its own instance label, so its reaping at start touches no one else's containers.
  printf '[docker]\ninstance = "kiln-bench-%s-%s"\n' "$$" "$executor" > "$WORK/$executor.toml"
  mkfifo "$WORK/$executor.ready"
  "$KILN_BIN" serve --listen 127.0.0.1:0 --data-dir "$WORK/$executor-data" \
    --config "$WORK/$executor.toml" --executor "$executor" \
    > "$WORK/$executor.ready" 2> "$WORK/$executor.log" &
  PIDS+=($!)
  local line
  if ! read -r line < "$WORK/$executor.ready"; then
    echo "kiln --executor $executor did not start:" >&2
    cat "$WORK/$executor.log" >&2
    exit 1
  fi
  URL=${line#listening on }
}
start_kiln local
LOCAL_URL=$URL
start_kiln docker
DOCKER_URL=$URL
echo "kiln $("$KILN_BIN" --version); docker $(docker info --format '{{.ServerVersion}}');" \
  "$RUNS runs each; $(nproc) cores"

python3 - "$LOCAL_URL" "$DOCKER_URL" "$WORK" "$RUNS" "$IMAGE" <<'PY'
import statistics
import sys
import time

import boto3
from botocore.config import Config

local_url, docker_url, work, runs, image = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]


def client(url):
    return boto3.client(
        "codebuild", endpoint_url=url, region_name="us-east-1",
        aws_access_key_id="AKIDKILNBENCH0000001",
        aws_secret_access_key="kilnBenchSecret000000000000000000000001",
        config=Config(retries={"max_attempts": 1}),
    )


clients = {"local": client(local_url), "docker": client(docker_url)}
for c in clients.values():
    c.create_project(
        name="trivial",
        source={"type": "GITHUB", "location": f"{work}/repo"},
        artifacts={"type": "NO_ARTIFACTS"},
        environment={"type": "LINUX_CONTAINER", "image": image,
                     "computeType": "BUILD_GENERAL1_SMALL"},
        serviceRole="arn:aws:iam::111122223333:role/bench",
    )


def build(c):
    """Client wall time from StartBuild to buildComplete, and the PROVISIONING phase."""
    t0 = time.perf_counter()
    b = c.start_build(projectName="trivial")["build"]
    while not b["buildComplete"]:
        time.sleep(0.002)
        b = c.batch_get_builds(ids=[b["id"]])["builds"][0]
    wall = time.perf_counter() - t0
    assert b["buildStatus"] == "SUCCEEDED", b
    phase = next(p for p in b["phases"] if p["phaseType"] == "PROVISIONING")
    provisioning = (phase["endTime"] - phase["startTime"]).total_seconds()
    c.batch_delete_builds(ids=[b["id"]])
    return wall, provisioning


def ms(xs):
    return " ".join(f"{x * 1000:.0f}" for x in xs)


for c in clients.values():  # warm-up: page cache, SQLite, the engine's first container
    build(c)

results = {"local": [], "docker": []}
for _ in range(runs):
    for name, c in clients.items():
        results[name].append(build(c))

print("\ntrivial build (echo hi), StartBuild→buildComplete  [ms]")
medians = {}
for name, rows in results.items():
    walls, provisioning = zip(*rows)
    medians[name] = statistics.median(walls)
    print(f"  {name:6} client wall: {ms(walls)}")
    print(f"  {name:6} PROVISIONING phase: {ms(provisioning)}")
print(f"  medians: local {medians['local'] * 1000:.0f} ms, docker {medians['docker'] * 1000:.0f} ms")
print(f"  docker extra (median docker - median local): "
      f"{(medians['docker'] - medians['local']) * 1000:.0f} ms")
PY
