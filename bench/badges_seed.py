#!/usr/bin/env python3
"""Seeds a stopped Kiln's database with many badge-enabled projects and built branches.

Usage: badges_seed.py DATA_DIR PROJECTS BRANCHES

The database must hold at least one project with one complete build, made through the API: their
rows are the templates, so every seeded row has the shape Kiln itself writes (settings and build
records included, which Kiln parses on some paths). Each seeded project gets its own badge token,
`sourceVersion` branch-00 and one complete build on each of branch-00 … branch-NN, with statuses
cycling through SUCCEEDED, FAILED, SUCCEEDED, STOPPED.

Prints one JSON line: {"projects": [names…], "tokens": {name: token}} for a few sample projects.
"""

import base64
import json
import os
import sqlite3
import sys
import uuid

STATUSES = ["SUCCEEDED", "FAILED", "SUCCEEDED", "STOPPED"]


def main():
    data_dir, projects, branches = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    db = sqlite3.connect(os.path.join(data_dir, "kiln.db"))
    db.row_factory = sqlite3.Row
    project = db.execute("SELECT * FROM projects ORDER BY created LIMIT 1").fetchone()
    build = db.execute(
        "SELECT * FROM builds WHERE complete = 1 ORDER BY start_time LIMIT 1"
    ).fetchone()
    if project is None or build is None:
        sys.exit("the database needs one project with one complete build as templates")
    settings = json.loads(project["settings"])
    settings["sourceVersion"] = "branch-00"
    record = json.loads(build["record"])
    samples = {}
    start = build["start_time"] - 86400.0
    # Every build's place in its account's listing, from the counter Kiln keeps (migration 0007).
    seq = db.execute("SELECT last FROM build_seq WHERE id = 1").fetchone()[0]
    with db:
        for p in range(projects):
            name = f"seeded-{p:05d}"
            token = base64.urlsafe_b64encode(os.urandom(24)).decode().rstrip("=")
            db.execute(
                "INSERT INTO projects (account_id, name, settings, badge_enabled, badge_token,"
                " created, last_modified, source_epoch, build_counter)"
                " VALUES (?, ?, ?, 1, ?, ?, ?, 0, ?)",
                (
                    project["account_id"],
                    name,
                    json.dumps(settings, separators=(",", ":")),
                    token,
                    start,
                    start,
                    branches,
                ),
            )
            if p % max(1, projects // 10) == 0 or p == projects - 1:
                samples[name] = token
            rows = []
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
                rows.append(
                    (
                        build_uuid,
                        project["account_id"],
                        name,
                        b + 1,
                        status,
                        branch,
                        started,
                        json.dumps(record, separators=(",", ":")),
                        seq,
                    )
                )
            db.executemany(
                "INSERT INTO builds (uuid, account_id, project_name, build_number, status,"
                " complete, ref_kind, ref_name, source_epoch, start_time, idempotency_token,"
                " record, seq) VALUES (?, ?, ?, ?, ?, 1, 'branch', ?, 0, ?, NULL, ?, ?)",
                rows,
            )
        db.execute("UPDATE build_seq SET last = ? WHERE id = 1", (seq,))
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    print(json.dumps({"tokens": samples}))


if __name__ == "__main__":
    main()
