"""Where the bench seeders write: a stopped Kiln's SQLite file, or a PostgreSQL database.

Both take rows as tuples of column values and read template rows as dicts. PostgreSQL rows go
through `psql … \\copy` (no driver needed); its tables and columns mirror SQLite's.
"""

import csv
import io
import json
import sqlite3
import subprocess


class SqliteTarget:
    def __init__(self, path):
        self.db = sqlite3.connect(path)
        self.db.row_factory = sqlite3.Row
        # One bulk load of a throwaway store: no rollback journal, no fsync.
        self.db.execute("PRAGMA journal_mode=OFF")
        self.db.execute("PRAGMA synchronous=OFF")
        self.db.execute("PRAGMA cache_size=-1000000")

    def template(self, sql):
        row = self.db.execute(sql).fetchone()
        return dict(row) if row else None

    def insert(self, table, columns, rows):
        marks = ", ".join("?" * len(columns))
        self.db.executemany(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows
        )

    def execute(self, sql):
        self.db.execute(sql)

    def finish(self):
        self.db.commit()
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.close()


class PsqlTarget:
    def __init__(self, url):
        self.url = url

    def psql(self, *args, stdin=None):
        done = subprocess.run(
            ["psql", self.url, "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", *args],
            input=stdin, capture_output=True, text=True,
        )
        if done.returncode != 0:
            raise SystemExit(f"psql failed: {done.stderr.strip()}")
        return done.stdout

    def template(self, sql):
        out = self.psql("-c", f"SELECT row_to_json(t) FROM ({sql}) t").strip()
        return json.loads(out) if out else None

    def insert(self, table, columns, rows):
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        for row in rows:
            writer.writerow(["\\N" if v is None else v for v in row])
        self.psql(
            "-c",
            f"\\copy {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv, NULL '\\N')",
            stdin=buffer.getvalue(),
        )

    def execute(self, sql):
        self.psql("-c", sql)

    def finish(self):
        self.psql("-c", "ANALYZE")


def open_target(kind, where):
    """`--sqlite DB_FILE` or `--psql DATABASE_URL`."""
    if kind == "--sqlite":
        return SqliteTarget(where)
    if kind == "--psql":
        return PsqlTarget(where)
    raise ValueError(f"unknown target {kind}")
