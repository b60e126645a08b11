#!/usr/bin/env python3
"""Prints bench/scale.sh's table: p50 per call on the small and the large store, and their ratio.

Usage: scale_summary.py OUT_DIR
"""

import json
import statistics
import sys

SINGLE_PAGE_GOAL_MS = 2.0
RATIO_GOAL = 1.5


def load(out, store):
    with open(f"{out}/{store}.calls.json") as f:
        calls = json.load(f)
    with open(f"{out}/{store}.badge_ms") as f:
        calls["samples_ms"]["badge, cold cache (scale-big, no sourceVersion)"] = [
            float(line) for line in f if line.strip()]
    with open(f"{out}/{store}.startup_ms") as f:
        calls["startup_ms"] = [float(line) for line in f if line.strip()]
    return calls


def main():
    out = sys.argv[1]
    small, large = load(out, "small"), load(out, "large")
    print(f"{'call':<50} {'small p50':>10} {'large p50':>10} {'ratio':>6}  goals")
    for call, samples in large["samples_ms"].items():
        s, l = statistics.median(small["samples_ms"][call]), statistics.median(samples)
        ratio = l / s
        single_page = "100 ids" not in call
        met = ratio <= RATIO_GOAL and (l < SINGLE_PAGE_GOAL_MS or not single_page)
        print(f"{call:<50} {s:>8.3f}ms {l:>8.3f}ms {ratio:>6.2f}  {'met' if met else 'MISSED'}")
    for store, calls in (("small", small), ("large", large)):
        print(f"{store}: start-up p50 {statistics.median(calls['startup_ms']):.0f} ms "
              f"(to 'listening on', 5 ms polls); {json.dumps(calls['notes'])}")


if __name__ == "__main__":
    main()
