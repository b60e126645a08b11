CREATE TABLE projects (
    account_id    TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    settings      TEXT    NOT NULL,
    badge_enabled INTEGER NOT NULL,
    badge_token   TEXT    NOT NULL UNIQUE,
    created       REAL    NOT NULL,
    last_modified REAL    NOT NULL,
    source_epoch  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, name)
);
