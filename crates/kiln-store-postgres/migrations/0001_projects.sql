-- Names sort bytewise (COLLATE "C"), as in SQLite, whatever the database's locale: listings
-- order the same on both backends.
CREATE TABLE projects (
    account_id    TEXT             NOT NULL,
    name          TEXT COLLATE "C" NOT NULL,
    settings      TEXT             NOT NULL,
    badge_enabled BOOLEAN          NOT NULL,
    badge_token   TEXT             NOT NULL UNIQUE,
    created       DOUBLE PRECISION NOT NULL,
    last_modified DOUBLE PRECISION NOT NULL,
    source_epoch  BIGINT           NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, name)
);
