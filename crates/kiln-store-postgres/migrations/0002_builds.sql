ALTER TABLE projects ADD COLUMN build_counter BIGINT NOT NULL DEFAULT 0;

CREATE TABLE builds (
    uuid              TEXT             PRIMARY KEY,
    account_id        TEXT             NOT NULL,
    project_name      TEXT COLLATE "C" NOT NULL,
    build_number      BIGINT           NOT NULL,
    status            TEXT             NOT NULL,
    complete          BOOLEAN          NOT NULL,
    ref_kind          TEXT,
    ref_name          TEXT,
    source_epoch      BIGINT           NOT NULL,
    start_time        DOUBLE PRECISION NOT NULL,
    idempotency_token TEXT,
    record            TEXT             NOT NULL
);
CREATE UNIQUE INDEX builds_by_project ON builds (account_id, project_name, build_number);
CREATE INDEX builds_by_account ON builds (account_id, start_time);
CREATE INDEX builds_by_ref ON builds (account_id, project_name, ref_kind, ref_name, source_epoch, start_time);
CREATE INDEX builds_incomplete ON builds (complete) WHERE NOT complete;

CREATE TABLE source_credentials (
    arn         TEXT             PRIMARY KEY,
    account_id  TEXT             NOT NULL,
    server_type TEXT COLLATE "C" NOT NULL,
    auth_type   TEXT             NOT NULL,
    username    TEXT,
    token       TEXT             NOT NULL,
    UNIQUE (account_id, server_type)
);
