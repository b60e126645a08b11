ALTER TABLE projects ADD COLUMN build_counter INTEGER NOT NULL DEFAULT 0;

CREATE TABLE builds (
    uuid              TEXT    PRIMARY KEY,
    account_id        TEXT    NOT NULL,
    project_name      TEXT    NOT NULL,
    build_number      INTEGER NOT NULL,
    status            TEXT    NOT NULL,
    complete          INTEGER NOT NULL,
    ref_kind          TEXT,
    ref_name          TEXT,
    source_epoch      INTEGER NOT NULL,
    start_time        REAL    NOT NULL,
    idempotency_token TEXT,
    record            TEXT    NOT NULL
);
CREATE UNIQUE INDEX builds_by_project ON builds (account_id, project_name, build_number);
CREATE INDEX builds_by_account ON builds (account_id, start_time);
CREATE INDEX builds_by_ref ON builds (account_id, project_name, ref_kind, ref_name, source_epoch, start_time);
CREATE INDEX builds_incomplete ON builds (complete) WHERE complete = 0;

CREATE TABLE source_credentials (
    arn         TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL,
    server_type TEXT NOT NULL,
    auth_type   TEXT NOT NULL,
    username    TEXT,
    token       TEXT NOT NULL,
    UNIQUE (account_id, server_type)
);
