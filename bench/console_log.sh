#!/usr/bin/env bash
# Log viewer benchmark (issue 16): a release `kiln serve` and headless Chromium, driven through
# chromedriver with plain WebDriver requests (no client library):
#   (1) a build that printed 200 MB to its log: each run opens its page in a fresh tab and
#       reads the browser's own timings (Navigation Timing, Paint Timing): the server's answer,
#       first contentful paint (the page with the log's tail), and the page's size;
#   (2) a build that prints for a while, followed live by three headless browsers: the
#       server's RSS (VmRSS of the kiln process) sampled every 0.2 s before and while they
#       follow, and what the browsers received.
# The project is public, so the browsers need no sign-in (the public build page is the
# console's build page in its public view).
#
# Usage: bench/console_log.sh [RUNS]    (RUNS >= 5, default 9)
# Env:   CARGO_TARGET_DIR (default ./target), KILN_BIN (skip the build, use this binary),
#        BENCH_BYTES (default 200000000), BENCH_LIVE_SECONDS (default 30)
set -euo pipefail

RUNS=${1:-9}
if [ "$RUNS" -lt 5 ]; then
  echo "RUNS must be at least 5" >&2
  exit 2
fi
BYTES=${BENCH_BYTES:-200000000}
LIVE_SECONDS=${BENCH_LIVE_SECONDS:-30}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
for tool in chromium chromedriver; do
  command -v "$tool" >/dev/null || { echo "$tool is missing (apt-get install chromium chromium-driver)" >&2; exit 2; }
done

if [ -z "${KILN_BIN:-}" ]; then
  (cd "$ROOT" && cargo build --release -q -p kiln)
  KILN_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/kiln"
fi

WORK=$(mktemp -d /tmp/kiln-bench.XXXXXX)
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
export KILN_MAX_LOG_BYTES=$((BYTES + 64 * 1024 * 1024))

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
echo "kiln $("$KILN_BIN" --version) at $URL; $RUNS runs; $(nproc) cores"

python3 - "$URL" "$KILN_PID" "$RUNS" "$BYTES" "$LIVE_SECONDS" <<'PY'
import json
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

import boto3
from botocore.config import Config

url, kiln_pid, runs, size, live_seconds = (
    sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
client = boto3.client(
    "codebuild", endpoint_url=url, region_name="us-east-1",
    aws_access_key_id="AKIDKILNBENCH0000001",
    aws_secret_access_key="kilnBenchSecret000000000000000000000001",
    config=Config(retries={"max_attempts": 1}),
)
env = {"type": "LINUX_CONTAINER", "image": "aws/codebuild/standard:7.0",
       "computeType": "BUILD_GENERAL1_SMALL"}


def public_project(name, commands):
    spec = "version: 0.2\nphases:\n  build:\n    commands:\n" + "".join(
        f"      - {c}\n" for c in commands)
    project = client.create_project(
        name=name, source={"type": "NO_SOURCE", "buildspec": spec},
        artifacts={"type": "NO_ARTIFACTS"}, environment=env,
        serviceRole="arn:aws:iam::111122223333:role/bench")["project"]
    return client.update_project_visibility(
        projectArn=project["arn"], projectVisibility="PUBLIC_READ")["publicProjectAlias"]


def wait(build, status=None):
    while not build["buildComplete"]:
        time.sleep(0.2)
        build = client.batch_get_builds(ids=[build["id"]])["builds"][0]
    assert status is None or build["buildStatus"] == status, build
    return build


def page_of(alias, build):
    return f"{url}/project/{alias}/build/{build['id'].split(':', 1)[1]}"


class Chrome:
    """One chromedriver and one headless Chromium session, over WebDriver's HTTP protocol."""

    def __init__(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.driver = subprocess.Popen(
            ["chromedriver", f"--port={self.port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port)).close()
                break
            except OSError:
                time.sleep(0.1)
        args = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,900"]
        caps = {"capabilities": {"alwaysMatch": {"goog:chromeOptions": {
            "binary": subprocess.check_output(["sh", "-c", "command -v chromium"]).decode().strip(),
            "args": args}}}}
        self.session = self.call("POST", "/session", caps)["sessionId"]

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}", data=data, method=method,
            headers={"content-type": "application/json"})
        with urllib.request.urlopen(request, timeout=300) as response:
            return json.load(response)["value"]

    def goto(self, address):
        self.call("POST", f"/session/{self.session}/url", {"url": address})

    def js(self, script):
        return self.call("POST", f"/session/{self.session}/execute/sync",
                         {"script": script, "args": []})

    def close(self):
        try:
            self.call("DELETE", f"/session/{self.session}")
        finally:
            self.driver.kill()
            self.driver.wait()


# (1) The page of a build with a 200 MB log.
lines = size // 100
big_alias = public_project("big", [
    f"seq -f '%012g {'x' * 74} big log line' 1 {lines}"])
t0 = time.perf_counter()
big = wait(client.start_build(projectName="big")["build"], "SUCCEEDED")
print(f"\n(1) a build that printed {lines} lines of 100 bytes "
      f"({lines * 100 / 1e6:.0f} MB; built in {time.perf_counter() - t0:.0f} s)")
page = page_of(big_alias, big)
with urllib.request.urlopen(f"{page}/log") as response:
    head = response.read(100)
    stored = int(response.headers["x-kiln-log-size"])
print(f"  stored log: {stored / 1e6:.1f} MB")
chrome = Chrome()
timings = []
chrome.goto(page)  # warm-up: the browser's own start, the server's first read
for _ in range(runs):
    chrome.goto("about:blank")
    chrome.goto(page)
    timings.append(chrome.js("""
        const nav = performance.getEntriesByType('navigation')[0];
        const fcp = performance.getEntriesByName('first-contentful-paint')[0];
        const lines = document.querySelectorAll('#log .ll');
        return {ttfb: nav.responseStart - nav.requestStart, response: nav.responseEnd - nav.requestStart,
                fcp: fcp ? fcp.startTime : null, dcl: nav.domContentLoadedEventEnd,
                bytes: nav.transferSize, lines: lines.length,
                last: lines.length ? lines[lines.length - 1].textContent : ''};"""))
chrome.close()
for key, label in [("ttfb", "server's first byte"), ("response", "page received"),
                   ("fcp", "first contentful paint"), ("dcl", "DOMContentLoaded")]:
    values = [t[key] for t in timings if t[key] is not None]
    print(f"  {label:24} median {statistics.median(values):7.1f} ms   "
          f"(min {min(values):.1f}, max {max(values):.1f})")
print(f"  page: {timings[-1]['bytes'] / 1024:.0f} KiB, {timings[-1]['lines']} log lines; "
      f"last line shown: {timings[-1]['last'][-40:]!r}")
client.batch_delete_builds(ids=[big["id"]])


# (2) Three browsers follow a running build's log.
def rss_kib():
    with open(f"/proc/{kiln_pid}/status") as status:
        return next(int(l.split()[1]) for l in status if l.startswith("VmRSS:"))


steps = live_seconds * 10
live_alias = public_project("live", [
    f"for i in $(seq 1 {steps}); do seq -f \"step $i line %g of a build that prints while it runs\" 1 200; sleep 0.1; done"])
samples, stop = [], threading.Event()


def sample(into):
    while not stop.is_set():
        into.append(rss_kib())
        time.sleep(0.2)


idle = []
stop.clear()
sampler = threading.Thread(target=sample, args=(idle,))
sampler.start()
time.sleep(3)
stop.set()
sampler.join()
build = client.start_build(projectName="live")["build"]
browsers = [Chrome() for _ in range(3)]
live_page = page_of(live_alias, build)
for browser in browsers:
    browser.goto(live_page)
stop.clear()
sampler = threading.Thread(target=sample, args=(samples,))
sampler.start()
t0 = time.perf_counter()
offsets = []
while True:
    now = client.batch_get_builds(ids=[build["id"]])["builds"][0]
    if now["buildComplete"]:
        break
    offsets = [int(b.js("return document.getElementById('log').dataset.offset;") or 0)
               for b in browsers]
    time.sleep(1)
stop.set()
sampler.join()
with urllib.request.urlopen(f"{live_page}/log") as response:
    final = int(response.headers["x-kiln-log-size"])
for browser in browsers:
    browser.close()
print(f"\n(2) three browsers follow a build printing {steps * 200} lines over "
      f"{time.perf_counter() - t0:.0f} s ({final / 1e6:.1f} MB)")
print(f"  kiln RSS idle:      median {statistics.median(idle) / 1024:.1f} MiB")
print(f"  kiln RSS following: median {statistics.median(samples) / 1024:.1f} MiB, "
      f"max {max(samples) / 1024:.1f} MiB ({len(samples)} samples)")
print(f"  each browser had received, at the last look before the end: "
      f"{', '.join(f'{o / 1e6:.1f} MB' for o in offsets)} of {final / 1e6:.1f} MB")
PY
