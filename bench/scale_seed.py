#!/usr/bin/env python3
"""Seeds a stopped Kiln's store with many projects and builds, for bench/scale.sh.

Usage: scale_seed.py (--sqlite DB_FILE | --psql DATABASE_URL) PROJECTS BUILDS BIG_BUILDS SMALL_BUILDS

The store must hold one project with one complete build made through the API (a project without
`sourceVersion`, whose build checked out the remote's default branch): their rows are the
templates, so every seeded row has the columns and record shape Kiln itself writes (a column a
later migration adds is copied from the template). Seeded into the template's account:
- `scale-big`: BIG_BUILDS builds, no `sourceVersion` (its badge looks up the default branch);
- `scale-small`: SMALL_BUILDS builds;
- `scale-00002` …: the other builds, round-robin; every other project has `sourceVersion` main.
Builds are interleaved in time (and in the account's listing order), statuses alternate
SUCCEEDED/FAILED, each build checked out branch main.

PostgreSQL rows go through `psql … \\copy` (no driver needed); the tables and columns are the
ones the SQLite migrations define, which the PostgreSQL migrations mirror.

Prints one JSON line: names, the big and small projects' badge tokens, 1,000 build ids
spread over the account.
"""

import base64
import json
import os
import re
import sys
import uuid

from seed_targets import open_target

STATUSES = ["SUCCEEDED", "FAILED"]
BIG, SMALL = "scale-big", "scale-small"


def record_writer(record):
    """A function that renders the template record for one build, fast: the JSON is rendered
    once with placeholders and each build only joins strings."""
    fields = {
        "uuid": "\x00uuid\x00",
        "project_name": "\x00project\x00",
        "build_number": "\x00number\x00",
        "status": "\x00status\x00",
        "start_time": "\x00start\x00",
        "end_time": "\x00end\x00",
    }
    record = dict(record, **fields)
    record["settings"] = dict(record["settings"], sourceVersion="\x00version\x00")
    text = json.dumps(record, separators=(",", ":"))
    # Numbers are written without quotes; the source version is null or a string.
    text = text.replace('"\\u0000number\\u0000"', "\x00number\x00")
    text = text.replace('"\\u0000start\\u0000"', "\x00start\x00")
    text = text.replace('"\\u0000end\\u0000"', "\x00end\x00")
    text = text.replace('"\\u0000version\\u0000"', "\x00version\x00")
    text = re.sub(r"\\u0000(\w+)\\u0000", "\x00\\1\x00", text)
    pieces = text.split("\x00")
    fixed, names = pieces[0::2], pieces[1::2]

    def render(values):
        out = [fixed[0]]
        for name, piece in zip(names, fixed[1:]):
            out.append(values[name])
            out.append(piece)
        return "".join(out)

    return render


def main():
    if len(sys.argv) != 7 or sys.argv[1] not in ("--sqlite", "--psql"):
        sys.exit(__doc__)
    target = open_target(sys.argv[1], sys.argv[2])
    projects, builds, big_builds, small_builds = map(int, sys.argv[3:7])
    project = target.template("SELECT * FROM projects ORDER BY created LIMIT 1")
    build = target.template("SELECT * FROM builds WHERE complete ORDER BY start_time LIMIT 1")
    if project is None or build is None:
        sys.exit("the store needs one project with one complete build as templates")
    account = project["account_id"]
    settings = json.loads(project["settings"])
    settings.pop("sourceVersion", None)
    record = json.loads(build["record"])
    git_ref = record.get("git_ref")
    if git_ref != {"Branch": build["ref_name"]}:
        sys.exit(f"the template build should have checked out a branch, not {git_ref}")
    branch = build["ref_name"]
    render = record_writer(record)
    duration = record["end_time"] - record["start_time"]

    names = [BIG, SMALL] + [f"scale-{p:05d}" for p in range(2, projects)]
    versionless = {BIG, SMALL} | {n for i, n in enumerate(names) if i >= 2 and i % 2 == 0}
    counters = dict.fromkeys(names, 0)
    others = names[2:]
    start = build["start_time"] - builds * 30.0
    base_seq = int(build.get("seq") or 1)

    columns = list(build.keys())
    rows, samples, k, j = [], [], 0, 0
    for i in range(builds):
        if (i + 1) * big_builds // builds > i * big_builds // builds:
            name = BIG
        else:
            rest = builds - big_builds
            name = SMALL if (j + 1) * small_builds // rest > j * small_builds // rest else None
            j += 1
            if name is None:
                name = others[k % len(others)]
                k += 1
        counters[name] += 1
        number = counters[name]
        build_uuid = str(uuid.uuid4())
        status = STATUSES[i % 2]
        started = start + i * 30.0
        version = "null" if name in versionless else f'"{branch}"'
        values = dict(
            build,
            uuid=build_uuid,
            project_name=name,
            build_number=number,
            status=status,
            complete=1,
            ref_kind="branch",
            ref_name=branch,
            source_epoch=0,
            start_time=started,
            idempotency_token=None,
            seq=base_seq + 1 + i,
            project_generation=0,
            record=render(
                dict(uuid=build_uuid, project=name, number=str(number), status=status,
                     start=repr(started), end=repr(started + duration), version=version)
            ),
        )
        if "default_branch" in values:
            values["default_branch"] = branch if name in versionless else None
        rows.append(tuple(values[c] for c in columns))
        if i % max(1, builds // 1000) == 0:
            samples.append(f"{name}:{build_uuid}")
        if len(rows) == 50_000:
            target.insert("builds", columns, rows)
            rows = []
    target.insert("builds", columns, rows)

    project_columns = list(project.keys())
    project_rows, tokens = [], {}
    for i, name in enumerate(names):
        project_settings = dict(settings)
        if name not in versionless:
            project_settings["sourceVersion"] = branch
        token = base64.urlsafe_b64encode(os.urandom(24)).decode().rstrip("=")
        tokens[name] = token
        created = start + i * 0.001
        values = dict(
            project,
            name=name,
            settings=json.dumps(project_settings, separators=(",", ":")),
            badge_enabled=1,
            badge_token=token,
            created=created,
            last_modified=created,
            source_epoch=0,
            build_counter=counters[name],
        )
        project_rows.append(tuple(values[c] for c in project_columns))
    target.insert("projects", project_columns, project_rows)
    target.execute(f"UPDATE build_seq SET last = {base_seq + builds}")
    target.finish()
    print(json.dumps({"account": account, "big": BIG, "small": SMALL, "badge_tokens": {BIG: tokens[BIG], SMALL: tokens[SMALL]},
                      "samples": samples}))


if __name__ == "__main__":
    main()
