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
    with open(f"{out}/calls.json") as f:
        both = json.load(f)
    calls = {"samples_ms": both["samples_ms"][store], "notes": both["notes"][store]}
    with open(f"{out}/{store}.badge_ms") as f:
        calls["samples_ms"]["badge, cold cache (scale-big, no sourceVersion)"] = [
            float(line) for line in f if line.strip()]
    with open(f"{out}/{store}.startup_ms") as f:
        calls["startup_ms"] = [float(line) for line in f if line.strip()]
    return calls


def percentile(samples, p):
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, len(ordered) * p // 100)]


def main():
    out = sys.argv[1]
    small, large = load(out, "small"), load(out, "large")
    # p10 beside p50: on a machine others load, the low percentiles show the calls' own cost.
    print(f"{'call':<50} {'small p50':>10} {'large p50':>10} {'ratio':>6}  goals   "
          f"{'small p10':>10} {'large p10':>10} {'ratio':>6}")
    for call, samples in large["samples_ms"].items():
        small_samples = small["samples_ms"][call]
        s, l = statistics.median(small_samples), statistics.median(samples)
        s10, l10 = percentile(small_samples, 10), percentile(samples, 10)
        ratio = l / s
        single_page = "100 ids" not in call
        met = ratio <= RATIO_GOAL and (l < SINGLE_PAGE_GOAL_MS or not single_page)
        print(f"{call:<50} {s:>8.3f}ms {l:>8.3f}ms {ratio:>6.2f}  {'met   ' if met else 'MISSED'}  "
              f"{s10:>8.3f}ms {l10:>8.3f}ms {l10 / s10:>6.2f}")
    for store, calls in (("small", small), ("large", large)):
        print(f"{store}: start-up p50 {statistics.median(calls['startup_ms']):.0f} ms "
              f"(to 'listening on', 5 ms polls); {json.dumps(calls['notes'])}")


if __name__ == "__main__":
    main()
