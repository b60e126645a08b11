#!/usr/bin/env python3
"""Seeds a stopped Kiln's store with many badge-enabled projects and built branches.

Usage: badges_seed.py (--sqlite DB_FILE | --psql DATABASE_URL) PROJECTS BRANCHES

The store must hold at least one project with one complete build, made through the API: their
rows are the templates, so every seeded row has the columns and record shape Kiln itself writes
(a column a later migration adds is copied from the template). Each seeded project gets its own
badge token, `sourceVersion` branch-00 and one complete build on each of branch-00 … branch-NN,
with statuses cycling through SUCCEEDED, FAILED, SUCCEEDED, STOPPED. Each build also has a test
report (group `<project>-unit`: 120 cases, 2 of them failing when the build failed) and a
code coverage report (group `<project>-coverage`, 87 % of lines), as a build whose buildspec
declares those two groups stores them (docs/reports.md; tables of migration 0012).

Prints one JSON line: {"tokens": {name: token}} for every 1000th project (and the last).
"""

import base64
import json
import os
import sys
import uuid

from seed_targets import open_target

STATUSES = ["SUCCEEDED", "FAILED", "SUCCEEDED", "STOPPED"]
REGION = "us-east-1"
NO_EXPORT = json.dumps({"exportConfigType": "NO_EXPORT"}, separators=(",", ":"))
GROUP_COLUMNS = ["account_id", "name", "report_type", "export_config", "tags", "created",
                 "last_modified"]
# `seq` is left to the store (SQLite AUTOINCREMENT, PostgreSQL identity).
REPORT_COLUMNS = [
    "arn", "account_id", "group_name", "group_arn", "name", "report_type", "execution_id",
    "build_uuid", "project_name", "ref_kind", "ref_name", "build_start_time", "status",
    "created", "truncated", "export_config", "total", "succeeded", "failed", "errored",
    "skipped", "unknown", "duration_ns", "line_coverage", "lines_covered", "lines_missed",
    "branch_coverage", "branches_covered", "branches_missed",
]


def reports_of_build(account, project, build_uuid, execution_id, branch, started, failing):
    """The test and the coverage report of one build."""
    rows = []
    for group, report_type in (("unit", "TEST"), ("coverage", "CODE_COVERAGE")):
        name = f"{project}-{group}"
        group_arn = f"arn:aws:codebuild:{REGION}:{account}:report-group/{name}"
        arn = f"arn:aws:codebuild:{REGION}:{account}:report/{name}:{build_uuid}"
        if report_type == "TEST":
            failed = 2 if failing else 0
            summary = [120, 120 - failed, failed, 0, 0, 0, 1_000_000] + [None] * 6
            status = "FAILED" if failing else "SUCCEEDED"
        else:
            summary = [None] * 7 + [87.0, 870, 130, 50.0, 10, 10]
            status = "SUCCEEDED"
        rows.append((arn, account, name, group_arn, name, report_type, execution_id,
                     build_uuid, project, "branch", branch, started, status, started + 1.0,
                     0, NO_EXPORT, *summary))
    return rows


def main():
    if len(sys.argv) != 5 or sys.argv[1] not in ("--sqlite", "--psql"):
        sys.exit(__doc__)
    target = open_target(sys.argv[1], sys.argv[2])
    projects, branches = int(sys.argv[3]), int(sys.argv[4])
    project = target.template("SELECT * FROM projects ORDER BY created LIMIT 1")
    build = target.template("SELECT * FROM builds WHERE complete ORDER BY start_time LIMIT 1")
    if project is None or build is None:
        sys.exit("the store needs one project with one complete build as templates")
    settings = json.loads(project["settings"])
    settings["sourceVersion"] = "branch-00"
    record = json.loads(build["record"])
    samples = {}
    start = build["start_time"] - 86400.0
    # Every build's place in its account's listing continues the counter Kiln keeps.
    seq = int(build["seq"])
    project_columns, build_columns = list(project), list(build)
    project_rows, build_rows, group_rows, report_rows = [], [], [], []
    for p in range(projects):
        name = f"seeded-{p:05d}"
        token = base64.urlsafe_b64encode(os.urandom(24)).decode().rstrip("=")
        values = dict(
            project,
            name=name,
            settings=json.dumps(settings, separators=(",", ":")),
            badge_enabled=1,
            badge_token=token,
            created=start,
            last_modified=start,
            source_epoch=0,
            build_counter=branches,
        )
        project_rows.append(tuple(values[c] for c in project_columns))
        if p % 1000 == 0 or p == projects - 1:
            samples[name] = token
        for group, report_type in (("unit", "TEST"), ("coverage", "CODE_COVERAGE")):
            group_rows.append((project["account_id"], f"{name}-{group}", report_type, NO_EXPORT,
                               "[]", start, start))
        for b in range(branches):
            branch = f"branch-{b:02d}"
            status = STATUSES[(p + b) % len(STATUSES)]
            build_uuid = str(uuid.uuid4())
            started = start + p * 0.001 + b * 0.0001
            record.update(
                project_name=name,
                uuid=build_uuid,
                build_number=b + 1,
                status=status,
                git_ref={"Branch": branch},
                source_epoch=0,
                start_time=started,
            )
            record["settings"]["sourceVersion"] = branch
            seq += 1
            values = dict(
                build,
                uuid=build_uuid,
                project_name=name,
                build_number=b + 1,
                status=status,
                complete=1,
                ref_kind="branch",
                ref_name=branch,
                source_epoch=0,
                start_time=started,
                idempotency_token=None,
                record=json.dumps(record, separators=(",", ":")),
                seq=seq,
            )
            build_rows.append(tuple(values[c] for c in build_columns))
            execution_id = f"arn:aws:codebuild:{REGION}:{project['account_id']}:build/{name}:{build_uuid}"
            report_rows += reports_of_build(project["account_id"], name, build_uuid, execution_id,
                                        branch, started, failing=status == "FAILED")
        if len(build_rows) >= 50_000:
            target.insert("builds", build_columns, build_rows)
            target.insert("report_groups", GROUP_COLUMNS, group_rows)
            target.insert("reports", REPORT_COLUMNS, report_rows)
            build_rows, group_rows, report_rows = [], [], []
    target.insert("builds", build_columns, build_rows)
    target.insert("report_groups", GROUP_COLUMNS, group_rows)
    target.insert("reports", REPORT_COLUMNS, report_rows)
    target.insert("projects", project_columns, project_rows)
    target.execute(f"UPDATE build_seq SET last = {seq}")
    target.finish()
    print(json.dumps({"tokens": samples}))


if __name__ == "__main__":
    main()
