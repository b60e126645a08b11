#!/usr/bin/env bash
# Parses a generated ~50 MB JUnit file (150,000 cases, one in three failing with a stack trace)
# with kiln-reports' example binary and reports wall time and peak RSS (GNU time).
#   CARGO_TARGET_DIR=/work/targets/x bench/reports.sh
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
file="$work/junit.xml"

python3 - "$file" <<'PY'
import sys
trace = "".join(f"    at com.example.service.Module{i}.call(Module{i}.java:{i * 7})\n" for i in range(8))
with open(sys.argv[1], "w") as out:
    out.write('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites>\n')
    for suite in range(150):
        out.write(f'<testsuite name="com.example.Suite{suite}" tests="1000">\n')
        for case in range(1000):
            out.write(f'  <testcase classname="com.example.Suite{suite}" name="test_case_number_{case}" time="0.{case:03d}">')
            if case % 3 == 0:
                out.write(f'<failure message="expected &lt;{case}&gt; but was &lt;{case + 1}&gt;" type="java.lang.AssertionError">'
                          f'java.lang.AssertionError: expected &lt;{case}&gt; but was &lt;{case + 1}&gt;\n{trace}</failure>')
            out.write('<system-out>some output of the test\n</system-out></testcase>\n')
        out.write('</testsuite>\n')
    out.write('</testsuites>\n')
PY
echo "file: $(du -m "$file" | cut -f1) MB"

nice -n 10 cargo build -q --release -p kiln-reports --example parse_report
bin="${CARGO_TARGET_DIR:-target}/release/examples/parse_report"
/usr/bin/time -v "$bin" JUNITXML "$file" 2>"$work/time" | head -20
grep -E "Elapsed \(wall clock\)|Maximum resident set size" "$work/time"
