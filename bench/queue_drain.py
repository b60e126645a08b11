"""Queues trivial NO_SOURCE builds across Kiln replicas and drains them (bench/queue.sh).

usage: queue_drain.py IDS_FILE BUILDS URL [URL ...]

Each build appends its id to IDS_FILE. Prints builds/s from the first StartBuild to the last
build's end, and the queue wait (startTime to the end of QUEUED) p50/p99; exits 1 when a build
did not succeed, was lost, or ran more than once.
"""
import collections
import concurrent.futures
import os
import statistics
import sys
import time

import boto3
from botocore.config import Config

ids_file, count, urls = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
clients = [
    boto3.client(
        "codebuild", endpoint_url=url, region_name="us-east-1",
        aws_access_key_id=os.environ["KILN_ACCESS_KEY_ID"],
        aws_secret_access_key=os.environ["KILN_SECRET_ACCESS_KEY"],
        config=Config(retries={"max_attempts": 1}, max_pool_connections=16),
    )
    for url in urls
]
buildspec = f"version: 0.2\nphases:\n  build:\n    commands:\n      - echo $CODEBUILD_BUILD_ID >> {ids_file}\n"
clients[0].create_project(
    name="drain",
    source={"type": "NO_SOURCE", "buildspec": buildspec},
    artifacts={"type": "NO_ARTIFACTS"},
    environment={"type": "LINUX_CONTAINER", "image": "aws/codebuild/standard:7.0",
                 "computeType": "BUILD_GENERAL1_SMALL"},
    serviceRole="arn:aws:iam::111122223333:role/bench",
)

began = time.time()
with concurrent.futures.ThreadPoolExecutor(8) as pool:
    ids = list(pool.map(
        lambda i: clients[i % len(clients)].start_build(projectName="drain")["build"]["id"],
        range(count)))
queued = time.time()

done = {}
while len(done) < count:
    pending = [i for i in ids if i not in done]
    for chunk in range(0, len(pending), 100):
        for b in clients[0].batch_get_builds(ids=pending[chunk:chunk + 100])["builds"]:
            if b["buildComplete"]:
                done[b["id"]] = b
    if len(done) < count:
        if time.time() - began > 1800:
            sys.exit(f"timed out: {count - len(done)} builds not complete")
        time.sleep(0.2)

ended = max(b["endTime"].timestamp() for b in done.values())
first = min(b["startTime"].timestamp() for b in done.values())
statuses = collections.Counter(b["buildStatus"] for b in done.values())
ran = collections.Counter(open(ids_file).read().split())
waits = sorted(
    next(p["endTime"] for p in b["phases"] if p["phaseType"] == "QUEUED").timestamp()
    - b["startTime"].timestamp()
    for b in done.values())
p99 = waits[min(len(waits) - 1, int(len(waits) * 0.99))]
print(f"  {count} builds on {len(urls)} replica(s): queued in {queued - began:.1f} s, "
      f"drained at {count / (ended - first):.1f} builds/s ({ended - first:.1f} s)")
print(f"  queue wait p50 {statistics.median(waits) * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms")
problems = []
if statuses != {"SUCCEEDED": count}:
    problems.append(f"statuses {dict(statuses)}")
lost = [i for i in ids if ran[i] == 0]
twice = [i for i in ids if ran[i] > 1]
if lost or twice or len(ran) != count:
    problems.append(f"{len(lost)} never ran, {len(twice)} ran twice, {len(ran)} distinct ids")
if problems:
    sys.exit("FAILED: " + "; ".join(problems))
print("  every build ran exactly once")
