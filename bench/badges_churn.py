#!/usr/bin/env python3
"""Status churn for the badge benchmark, and the check that no badge answer is stale.

  badges_churn.py drive ENDPOINT PROJECT BRANCH PERIOD_S DURATION_S LOG
      Through Kiln's API (boto3), alternates StartBuild (the build stays queued behind a running
      one: IN_PROGRESS) and StopBuild (STOPPED: FAILING) on PROJECT's BRANCH, one call every
      PERIOD_S seconds. Each call is one committed status change; LOG gets, per change, the
      monotonic time the call was sent, the time Kiln acknowledged it, and the badge it means.

  badges_churn.py check BADGE_URL INTERVAL_S DURATION_S LOG
      Requests BADGE_URL every INTERVAL_S seconds; LOG gets, per answer, the monotonic time the
      request started, when the answer had arrived, and the message the badge showed.

  badges_churn.py verify INITIAL_MESSAGE DRIVE_LOG CHECK_LOG
      Every answer must show the last change acknowledged before its request started, or the
      change after it if that one was sent before the answer arrived (it may have committed
      meanwhile). Prints a JSON summary; exits 1 on any stale answer.

  badges_churn.py staleness DRIVE_LOG CHECK_LOG
      For a CHECK_LOG taken through another replica than the DRIVE_LOG's: how long after each
      change was acknowledged the badge first showed it there (p50, p99, max).

Times are CLOCK_MONOTONIC nanoseconds, shared by all processes of the machine.
"""

import http.client
import json
import os
import re
import sys
import time
import urllib.parse

import boto3
from botocore.config import Config

ARIA = re.compile(rb'aria-label="[^"]*: ([^"]*)"')


def client(endpoint):
    return boto3.client(
        "codebuild",
        endpoint_url=endpoint,
        region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        config=Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=30),
    )


def drive(endpoint, project, branch, period, duration, log_path):
    api = client(endpoint)
    period_ns = int(float(period) * 1e9)
    changes = []
    queued = None
    next_at = time.monotonic_ns()
    end = next_at + int(float(duration) * 1e9)
    while time.monotonic_ns() < end or queued is not None:
        sent = time.monotonic_ns()
        if queued is None:
            build = api.start_build(projectName=project, sourceVersion=branch)["build"]
            assert build["buildStatus"] == "IN_PROGRESS", build
            queued, message = build["id"], "in progress"
        else:
            build = api.stop_build(id=queued)["build"]
            assert build["buildStatus"] == "STOPPED", build
            queued, message = None, "failing"
        changes.append([sent, time.monotonic_ns(), message])
        next_at += period_ns
        pause = next_at - time.monotonic_ns()
        if pause > 0:
            time.sleep(pause / 1e9)
    with open(log_path, "w") as f:
        json.dump(changes, f)


def check(url, interval, duration, log_path):
    parts = urllib.parse.urlsplit(url)
    path = parts.path + "?" + parts.query
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    interval_ns = int(float(interval) * 1e9)
    answers = []
    end = time.monotonic_ns() + int(float(duration) * 1e9)
    while time.monotonic_ns() < end:
        started = time.monotonic_ns()
        conn.request("GET", path)
        reply = conn.getresponse()
        body = reply.read()
        arrived = time.monotonic_ns()
        found = ARIA.search(body)
        shown = found.group(1).decode() if reply.status == 200 and found else f"HTTP {reply.status}"
        answers.append([started, arrived, shown])
        pause = started + interval_ns - time.monotonic_ns()
        if pause > 0:
            time.sleep(pause / 1e9)
    with open(log_path, "w") as f:
        json.dump(answers, f)


def verify(initial, drive_log, check_log):
    with open(drive_log) as f:
        changes = json.load(f)
    with open(check_log) as f:
        answers = json.load(f)
    stale = []
    index = -1  # the last change acknowledged before the current answer's request started
    newer = 0
    for started, arrived, shown in answers:
        while index + 1 < len(changes) and changes[index + 1][1] < started:
            index += 1
        expected = changes[index][2] if index >= 0 else initial
        if shown == expected:
            continue
        following = changes[index + 1] if index + 1 < len(changes) else None
        if following and following[0] < arrived and shown == following[2]:
            newer += 1
            continue
        stale.append({"started": started, "shown": shown, "expected": expected})
    overlapping = [a for a in answers if changes and changes[0][0] <= a[0] <= changes[-1][1]]
    span = (changes[-1][1] - changes[0][0]) / 1e9 if changes else 0
    latencies = sorted(c[1] - c[0] for c in changes)
    summary = {
        "changes": len(changes),
        "changes_per_second": round(len(changes) / span, 1) if span else 0,
        "change_call_p50_ms": round(latencies[len(latencies) // 2] / 1e6, 2) if latencies else None,
        "checked_answers": len(answers),
        "answers_during_churn": len(overlapping),
        "answers_showing_a_change_in_flight": newer,
        "stale_answers": len(stale),
        "first_stale": stale[:5],
    }
    print(json.dumps(summary))
    return 0 if not stale else 1


def staleness(drive_log, check_log):
    """How long after each change was acknowledged the checked replica first showed it.

    A change whose status no answer showed before the next change was sent (statuses alternate,
    so it cannot be told apart) is not counted."""
    with open(drive_log) as f:
        changes = json.load(f)
    with open(check_log) as f:
        answers = json.load(f)
    delays = []
    for k, (sent, acked, message) in enumerate(changes):
        next_sent = changes[k + 1][0] if k + 1 < len(changes) else float("inf")
        shown = next((a for a in answers if a[0] >= sent and a[2] == message), None)
        if shown is None or shown[0] >= next_sent:
            continue
        delays.append(max(0, shown[1] - acked) / 1e6)
    delays.sort()
    if not delays:
        sys.exit("no change was seen")
    pick = lambda q: delays[min(len(delays) - 1, int(len(delays) * q))]
    print(json.dumps({
        "changes": len(changes),
        "measured": len(delays),
        "staleness_p50_ms": round(pick(0.5), 2),
        "staleness_p99_ms": round(pick(0.99), 2),
        "staleness_max_ms": round(delays[-1], 2),
    }))


def main():
    command, args = sys.argv[1], sys.argv[2:]
    if command == "drive":
        drive(*args)
    elif command == "check":
        check(*args)
    elif command == "verify":
        sys.exit(verify(*args))
    elif command == "staleness":
        staleness(*args)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
