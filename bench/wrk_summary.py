#!/usr/bin/env python3
"""Reads `wrk --latency` outputs and prints, per target, each run and the medians.

Usage: wrk_summary.py NAME=FILE [NAME=FILE ...]   (a NAME may repeat: one FILE per run)

Prints a JSON object {NAME: {"runs": [{"rps", "p50_ms", "p99_ms", "non_2xx", "errors"}],
"median_rps", "median_p99_ms"}}.
"""

import json
import re
import statistics
import sys

UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def millis(text):
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(number) * UNITS[unit]


def parse(path):
    with open(path) as f:
        out = f.read()
    run = {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50_ms": millis(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1)),
        "p99_ms": millis(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1)),
        "non_2xx": 0,
        "errors": 0,
    }
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if non_2xx:
        run["non_2xx"] = int(non_2xx.group(1))
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if errors:
        run["errors"] = sum(int(n) for n in errors.groups())
    return run


def main():
    results = {}
    for arg in sys.argv[1:]:
        name, path = arg.split("=", 1)
        results.setdefault(name, {"runs": []})["runs"].append(parse(path))
    for result in results.values():
        result["median_rps"] = round(statistics.median(r["rps"] for r in result["runs"]), 1)
        result["median_p99_ms"] = round(statistics.median(r["p99_ms"] for r in result["runs"]), 3)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
